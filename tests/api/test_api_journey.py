"""GET /v1/customers/{customer_id}/journey on the real engine."""
from __future__ import annotations

from datetime import datetime, timezone

from tests.api.conftest import make_event

UTC = timezone.utc


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def journey(api, customer_id: str):
    return api.get(f"/v1/customers/{customer_id}/journey")


def test_events_in_time_order_ties_by_stage_then_event_id(api, events):
    evs = [
        make_event("c1", "purchase", t("2026-11-20T08:00:00"), event_id="b"),
        make_event("c1", "awareness", t("2026-11-20T08:00:00"), event_id="z"),
        make_event("c1", "purchase", t("2026-11-20T08:00:00"), event_id="a"),
        make_event("c1", "consideration", t("2026-11-19T10:00:00.123"), event_id="y"),
        make_event("c1", "use", t("2026-12-02T00:00:00"), event_id="x"),  # next monthly partition
        make_event("other", "awareness", t("2026-11-20T08:00:00"), event_id="o"),
    ]
    events.insert(evs[:3])
    events.insert(evs[3:])
    response = journey(api, "c1")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["customer_id"] == "c1"
    assert [e["event_id"] for e in body["events"]] == ["y", "z", "a", "b", "x"]
    assert [e["occurred_at"] for e in body["events"]] == [
        "2026-11-19T10:00:00.123Z", "2026-11-20T08:00:00.000Z", "2026-11-20T08:00:00.000Z",
        "2026-11-20T08:00:00.000Z", "2026-12-02T00:00:00.000Z",
    ]
    assert body["current_stage"] == "use"
    assert body["stages"] == [
        {"stage": "awareness", "first_at": "2026-11-20T08:00:00.000Z", "last_at": "2026-11-20T08:00:00.000Z",
         "events": 1},
        {"stage": "consideration", "first_at": "2026-11-19T10:00:00.123Z",
         "last_at": "2026-11-19T10:00:00.123Z", "events": 1},
        {"stage": "purchase", "first_at": "2026-11-20T08:00:00.000Z", "last_at": "2026-11-20T08:00:00.000Z",
         "events": 2},
        {"stage": "use", "first_at": "2026-12-02T00:00:00.000Z", "last_at": "2026-12-02T00:00:00.000Z",
         "events": 1},
    ]


def test_current_stage_tie_takes_the_later_stage(api, events):
    events.insert([
        make_event("c1", "retention", t("2026-11-20T08:00:00"), event_id="r"),
        make_event("c1", "use", t("2026-11-20T08:00:00"), event_id="u"),
        make_event("c1", "advocacy", t("2026-11-01T08:00:00"), event_id="adv"),
    ])
    body = journey(api, "c1").json()
    assert body["current_stage"] == "retention"
    assert [e["event_id"] for e in body["events"]] == ["adv", "u", "r"]


def test_duplicate_copies_show_once(api, events):
    evs = [
        make_event("c1", "awareness", t("2026-11-20T08:00:00")),
        make_event("c1", "purchase", t("2026-11-21T08:00:00"), revenue=9.5, currency="EUR"),
    ]
    events.insert(evs)
    events.insert(evs)  # redelivered: a second physical copy until the parts merge
    events.insert([evs[1]])
    assert events.client.command("SELECT count() FROM events") == 5
    body = journey(api, "c1").json()
    assert [e["event_id"] for e in body["events"]] == [evs[0]["event_id"], evs[1]["event_id"]]
    assert [(s["stage"], s["events"]) for s in body["stages"]] == [("awareness", 1), ("purchase", 1)]


def test_event_format(api, events):
    events.insert([
        make_event(
            "c1", "purchase", "2026-11-20T09:14:03.5+01:00", event_id="pos-12-000187", channel="pos",
            touchpoint="store_12_pos", event="order_completed",
            properties={"item": "flat white", "size": "regular", "extras": ["oat"], "n": 2},
            revenue=4.2, currency="EUR", feedback={"nps": 9, "comment": "quick"},
            received_at="2026-11-20T08:14:04.25Z", source="pos",
        ),
        make_event("c1", "awareness", "2026-11-19T08:00:00Z", event_id="plain"),
        make_event("c1", "advocacy", "2026-11-21T08:00:00Z", event_id="comment-only",
                   feedback={"comment": "great"}),
    ])
    body = journey(api, "c1").json()
    by_id = {e["event_id"]: e for e in body["events"]}
    assert by_id["pos-12-000187"] == {
        "event_id": "pos-12-000187",
        "customer_id": "c1",
        "anonymous_id": None,
        "stage": "purchase",
        "channel": "pos",
        "touchpoint": "store_12_pos",
        "event": "order_completed",
        "occurred_at": "2026-11-20T08:14:03.500Z",
        "properties": {"item": "flat white", "size": "regular", "extras": ["oat"], "n": 2},
        "revenue": 4.2,
        "currency": "EUR",
        "feedback": {"nps": 9, "csat": None, "ces": None, "rating": None, "comment": "quick"},
        "received_at": "2026-11-20T08:14:04.250Z",
        "source": "pos",
    }
    plain = by_id["plain"]
    assert plain["properties"] == {}
    assert plain["revenue"] is None
    assert plain["currency"] is None
    assert plain["feedback"] is None
    assert plain["source"] == "default"
    assert by_id["comment-only"]["feedback"] == {
        "nps": None, "csat": None, "ces": None, "rating": None, "comment": "great"
    }


def test_unknown_customer_is_404(api, events):
    events.insert([make_event("c1", "awareness", t("2026-11-20T08:00:00"))])
    response = journey(api, "nobody-here")
    assert response.status_code == 404
    assert set(response.json()) == {"detail"}
    assert "nobody-here" in response.json()["detail"]


def test_customer_id_is_a_parameter_not_sql(api, events):
    tricky = "c1' OR 1=1 --"
    events.insert([make_event("c1", "awareness", t("2026-11-20T08:00:00")),
                   make_event(tricky, "purchase", t("2026-11-20T09:00:00"))])
    body = journey(api, "c1' OR 1=1 --").json()
    assert body["customer_id"] == tricky
    assert [e["stage"] for e in body["events"]] == ["purchase"]
    assert journey(api, "c1' OR '1'='1").status_code == 404
