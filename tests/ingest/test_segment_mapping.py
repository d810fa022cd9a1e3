"""Segment calls -> touchpoint events, identity links or dead letters (pure mapping, no I/O)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from schemas.events import Channel
from services.ingest.segment.mapping import map_call
from services.ingest.segment.rules import RulesError, load_rules

RULES = load_rules()
FUTURE = timedelta(hours=24)


def mapped(call: dict, default: Channel = Channel.web):
    return map_call(call, RULES, default, FUTURE)


def track(event: str, **fields) -> dict:
    return {"type": "track", "event": event, "messageId": "m-1", "userId": "shop-cust-7",
            "timestamp": "2026-03-02T10:00:00.000+01:00", **fields}


def test_order_completed_is_a_purchase_with_revenue():
    result = mapped(track("Order Completed", properties={"order_id": "NW-1", "total": 54.9, "currency": "gbp"},
                          context={"channel": "browser", "page": {"path": "/checkout/thanks"}}))
    e = result.event
    assert (e.event_id, e.customer_id, e.stage, e.channel, e.touchpoint, e.event) == (
        "m-1", "shop-cust-7", "purchase", "web", "/checkout/thanks", "Order Completed")
    assert (e.revenue, e.currency) == (54.9, "GBP")
    assert e.occurred_at.isoformat() == "2026-03-02T10:00:00+01:00"
    assert e.properties == {"order_id": "NW-1", "total": 54.9, "currency": "gbp"}


def test_revenue_without_a_currency_is_in_us_dollars_as_segments_spec_has_it():
    e = mapped(track("Order Completed", properties={"revenue": 12.5})).event
    assert (e.revenue, e.currency) == (12.5, "USD")
    assert mapped(track("Order Completed", properties={"order_id": "NW-2"})).event.currency is None


def test_properties_name_stage_channel_touchpoint_and_win_over_rules():
    e = mapped(track("Product Viewed", anonymousId="dev-1", properties={
        "stage": "advocacy", "channel": "chat", "touchpoint": "support_widget", "sku": "A1"})).event
    assert (e.stage, e.channel, e.touchpoint, e.anonymous_id) == ("advocacy", "chat", "support_widget", "dev-1")
    assert e.properties == {"sku": "A1"}


def test_channel_from_rule_then_context_then_default():
    assert mapped(track("Email Opened")).event.channel == "email"
    assert mapped(track("Product Viewed", context={"channel": "mobile"})).event.channel == "app"
    assert mapped(track("Product Viewed", context={"channel": "server"}), Channel.pos).event.channel == "pos"


def test_page_and_screen_calls():
    page = mapped({"type": "page", "name": "Pricing", "anonymousId": "web-9", "messageId": "p-1",
                   "properties": {"path": "/pricing", "url": "https://salon.example/pricing"}}).event
    assert (page.stage, page.channel, page.event, page.touchpoint, page.customer_id) == (
        "awareness", "web", "page_viewed", "/pricing", None)
    screen = mapped({"type": "screen", "name": "Booking", "userId": "salon-cust-3", "messageId": "s-1"}).event
    assert (screen.stage, screen.channel, screen.touchpoint) == ("use", "app", "Booking")


def test_feedback_properties_become_the_feedback():
    e = mapped(track("Survey Answered", properties={"nps": 3, "comment": "parcel came late"})).event
    assert (e.stage, e.feedback.nps, e.feedback.comment) == ("advocacy", 3, "parcel came late")


def test_no_message_id_gives_the_same_id_to_the_same_call():
    call = track("Cart Viewed")
    del call["messageId"]
    first, again = mapped(call).event.event_id, mapped(dict(call)).event.event_id
    assert first == again and first.startswith("seg-")
    assert mapped({**call, "timestamp": "2026-03-02T10:00:01Z"}).event.event_id != first


def test_offset_less_timestamp_is_utc():
    assert mapped(track("Cart Viewed", timestamp="2026-03-02T10:00:00")).event.occurred_at.isoformat() == (
        "2026-03-02T10:00:00+00:00")


@pytest.mark.parametrize("call, reason", [
    (track("Newsletter Read"), "no stage for 'Newsletter Read'"),
    (track("Cart Viewed", properties={"stage": "loyalty"}), "properties.stage must be one of"),
    (track("Cart Viewed", properties={"channel": "fax"}), "properties.channel"),
    (track("Cart Viewed", timestamp="yesterday"), "timestamp is not an ISO 8601 time"),
    (track("Cart Viewed", timestamp="2099-01-01T00:00:00Z"), "timestamp: Value error, is more than 24 h"),
    (track("Cart Viewed", userId=None), "userId or anonymousId is required"),
    (track("Order Completed", properties={"revenue": -5}), "properties.revenue"),
    (track("Survey Answered", properties={"nps": 11}), "properties.nps"),
    (track(""), "track call without an event name"),
    ({"type": "group", "groupId": "acme", "userId": "u"}, "group calls"),
    ({"type": "identify", "anonymousId": "a"}, "identify call without userId"),
    ({"type": "alias", "userId": "u"}, "alias call needs previousId"),
    ({"type": "flush"}, "type must be one of"),
])
def test_unmappable_calls_are_dead_lettered_with_the_reason(call, reason):
    result = mapped(call)
    assert result.event is None and result.link is None
    assert reason in result.dead_letter, result.dead_letter


def test_identify_and_alias_link_ids():
    link = mapped({"type": "identify", "userId": "cafe-cust-1", "anonymousId": "app-5",
                   "traits": {"name": "Jo"}}).link
    assert (link.anonymous_id, link.customer_id, link.traits) == ("app-5", "cafe-cust-1", {"name": "Jo"})
    traits_only = mapped({"type": "identify", "userId": 42, "traits": {"plan": "regular"}}).link
    assert (traits_only.anonymous_id, traits_only.customer_id) == ("", "42")
    alias = mapped({"type": "alias", "previousId": "web-1", "userId": "cafe-cust-1"}).link
    assert (alias.anonymous_id, alias.customer_id) == ("web-1", "cafe-cust-1")


def test_rules_file_is_checked_at_start(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("events:\n  Table Booked: {stage: purchase, channel: phone}\n")
    with pytest.raises(RulesError, match="events.Table Booked.channel"):
        load_rules(path)
    path.write_text("events:\n  Table Booked: {stage: purchase, channel: call_center}\n")
    assert load_rules(path).events["Table Booked"].channel == "call_center"
