from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from schemas.events import STAGE_INDEX, STAGES, EventBatch, TouchpointEvent
from services.demo import BUSINESSES, WINDOW_DAYS, generate

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def events() -> list[dict]:
    return generate(customers=300, seed=7, now=NOW)


def _person(events: list[dict]):
    """The person an event is about, as ClickHouse resolves it: the customer, else the customer
    linked to the anonymous id by an event carrying both, else anon:<anonymous_id>."""
    links = {e["anonymous_id"]: e["customer_id"] for e in events if "customer_id" in e and "anonymous_id" in e}
    return lambda e: e.get("customer_id") or links.get(e["anonymous_id"], "anon:" + e["anonymous_id"])


def _by_customer(events: list[dict]) -> dict[str, list[dict]]:
    journeys: dict[str, list[dict]] = defaultdict(list)
    person = _person(events)
    for event in events:
        journeys[person(event)].append(event)
    return journeys


def test_every_event_validates(events):
    for event in events:
        TouchpointEvent.model_validate(event)
    # and as JSON, the way the ingest service sees it
    for start in range(0, len(events), 1000):
        EventBatch.model_validate_json(orjson.dumps({"events": events[start : start + 1000]}))


def test_json_ready_and_rfc3339_z(events):
    assert orjson.loads(orjson.dumps(events)) == events
    for event in events:
        assert event["occurred_at"].endswith("Z")
        assert datetime.fromisoformat(event["occurred_at"]).tzinfo is not None


def test_deterministic_for_a_seed(events):
    assert generate(customers=300, seed=7, now=NOW) == events
    assert generate(customers=300, seed=8, now=NOW) != events
    # a customer's journey does not depend on how many customers are generated
    small = generate(customers=40, seed=7, now=NOW)
    person, small_person = _person(events), _person(small)
    small_ids = {small_person(e) for e in small}
    assert small == [e for e in events if person(e) in small_ids]


def test_event_ids_unique(events):
    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids))


def test_sorted_and_within_window(events):
    times = [e["occurred_at"] for e in events]
    assert times == sorted(times)
    first = datetime.fromisoformat(times[0])
    last = datetime.fromisoformat(times[-1])
    assert NOW - timedelta(days=WINDOW_DAYS) <= first < last <= NOW
    assert last - first > timedelta(days=60)


def test_customer_times_strictly_increase(events):
    for customer, journey in _by_customer(events).items():
        times = [datetime.fromisoformat(e["occurred_at"]) for e in journey]
        assert all(a < b for a, b in zip(times, times[1:], strict=False)), customer


def test_readable_customer_ids_and_volume(events):
    journeys = _by_customer(events)
    assert len(journeys) == 300
    prefixes = Counter(cid.rsplit("-", 1)[0] for cid in journeys)
    # Shop visitors who leave before checkout never get an account: they stay anonymous.
    assert set(prefixes) == {"cafe-cust", "salon-cust", "shop-cust", "brand-cust", "anon:shop-web"}
    assert prefixes["anon:shop-web"] >= 5 and prefixes["shop-cust"] >= 5
    assert "cafe-cust-0007" in journeys and "salon-cust-0012" in journeys and "shop-cust-0041" in journeys
    assert 5 <= len(events) / len(journeys) <= 30
    assert 1500 <= len(events) <= 9000


def test_three_businesses_present(events):
    businesses = Counter(e["properties"]["business"] for e in events)
    assert {"cafe_lina", "studio_mira", "northwind_goods"} <= set(businesses)
    assert set(businesses) <= set(BUSINESSES)
    assert {e["properties"]["business"] for e in generate(customers=3, seed=1, now=NOW)} == {
        "cafe_lina",
        "studio_mira",
        "northwind_goods",
    }


def test_funnel_decreases(events):
    customers_at: dict[str, set[str]] = defaultdict(set)
    person = _person(events)
    for e in events:
        customers_at[e["stage"]].add(person(e))
    aware, purchase, advocacy = (len(customers_at[s]) for s in ("awareness", "purchase", "advocacy"))
    assert aware >= purchase >= advocacy > 0
    assert aware > purchase > advocacy  # real drop-off, not everyone goes all the way
    counts = [len(customers_at[s]) for s in STAGES]
    assert counts == sorted(counts, reverse=True), dict(zip(STAGES, counts, strict=True))


def test_journeys_start_with_awareness_and_advocacy_follows_purchase(events):
    for customer, journey in _by_customer(events).items():
        assert journey[0]["stage"] == "awareness", customer
        stages = [e["stage"] for e in journey]
        if "advocacy" in stages:
            assert "purchase" in stages[: stages.index("advocacy")], customer


def test_plausible_stages(events):
    expected = {
        "order_completed": {"purchase", "retention"},
        "app_order_placed": {"purchase"},
        "order_placed": {"purchase"},
        "appointment_booked": {"purchase"},
        "contract_signed": {"purchase"},
        "app_reorder": {"retention"},
        "repeat_order_placed": {"retention"},
        "loyalty_stamp": {"retention"},
        "regulars_offer_sent": {"retention"},
        "offer_redeemed": {"retention"},
        "goodwill_voucher_issued": {"retention"},
        "order_delivered": {"use"},
        "delivery_late": {"use"},
        "appointment_attended": {"use"},
        "order_picked_up": {"use"},
        "google_review_posted": {"advocacy"},
        "review_posted": {"advocacy"},
        "product_review_posted": {"advocacy"},
        "product_viewed": {"consideration"},
        "added_to_cart": {"consideration"},
    }
    seen = defaultdict(set)
    for e in events:
        seen[e["event"]].add(e["stage"])
    for name, stages in expected.items():
        assert name in seen, name
        assert seen[name] <= stages, (name, seen[name])
    # the first order of a café customer is a purchase, later ones retention
    for journey in _by_customer(events).values():
        orders = [e for e in journey if e["event"] in ("order_completed", "app_order_placed", "app_reorder")]
        if orders:
            assert orders[0]["stage"] == "purchase"
            assert all(o["stage"] == "retention" for o in orders[1:])


def test_business_flavour(events):
    cafe = [e for e in events if e["properties"]["business"] == "cafe_lina"]
    touchpoints = {e["touchpoint"] for e in cafe}
    assert {"cafe_counter_pos", "cafe_app"} <= touchpoints
    items = Counter(
        e["properties"]["item"]
        for e in cafe
        if e["event"] in ("order_completed", "app_order_placed", "app_reorder")
    )
    assert {"flat white", "oat latte"} <= set(items)
    # morning rush and lunch in Café Lina's local time (UTC+1)
    hours = Counter(
        (datetime.fromisoformat(e["occurred_at"]).hour + 1) % 24 for e in cafe if e["channel"] == "pos"
    )
    rush = sum(hours[h] for h in (7, 8, 9, 12, 13))
    assert rush / sum(hours.values()) > 0.6
    assert all(7 <= h <= 18 for h in hours)

    salon = [e for e in events if e["properties"]["business"] == "studio_mira"]
    assert any(
        e["channel"] == "social" and e["touchpoint"] == "instagram" and e["stage"] == "awareness"
        for e in salon
    )
    assert any(e["event"] == "regulars_offer_sent" and e["channel"] == "email" for e in salon)
    assert any(e["event"] == "appointment_attended" and e["channel"] == "store" for e in salon)

    shop = [e for e in events if e["properties"]["business"] == "northwind_goods"]
    late = [e for e in shop if e["event"] == "delivery_late"]
    assert late
    for e in late:
        assert e["feedback"]["csat"] <= 2 and e["feedback"]["comment"]
    vouchers = [e for e in shop if e["event"] == "goodwill_voucher_issued"]
    assert vouchers and {e["channel"] for e in vouchers} <= {"email", "call_center"}
    late_customers = {e["customer_id"] for e in late}
    assert {e["customer_id"] for e in vouchers} == late_customers
    assert any(e["event"] == "product_review_posted" and e.get("customer_id") in late_customers for e in shop)
    assert {e["currency"] for e in shop if "revenue" in e} == {"EUR", "USD", "GBP"}


def test_feedback_with_detractors_and_comments(events):
    feedback = [e["feedback"] for e in events if "feedback" in e]
    nps = [f["nps"] for f in feedback if "nps" in f]
    assert len(nps) >= 30
    assert any(score <= 6 for score in nps) and any(score >= 9 for score in nps)
    assert sum(1 for f in feedback if f.get("comment")) >= 20
    assert any(f.get("comment") and f.get("nps", 10) <= 6 for f in feedback)
    assert any("rating" in f for f in feedback)


def test_revenue_has_currency(events):
    with_revenue = [e for e in events if "revenue" in e]
    assert len(with_revenue) > 100
    for e in with_revenue:
        assert e["revenue"] >= 0 and e["currency"] in {"EUR", "USD", "GBP"}
        assert STAGE_INDEX[e["stage"]] >= STAGE_INDEX["purchase"]


def test_small_and_default_now():
    assert generate(customers=0) == []
    recent = generate(customers=5, seed=3)
    assert recent and all(datetime.fromisoformat(e["occurred_at"]) <= datetime.now(UTC) for e in recent)
    naive = generate(customers=5, seed=3, now=NOW.replace(tzinfo=None))
    assert naive == generate(customers=5, seed=3, now=NOW)
