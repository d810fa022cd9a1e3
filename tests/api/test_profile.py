"""Customer profile: a hand-worked customer (stage ties, currencies, items bought vs seen, visit
days, last scores, feedback items, duplicates), 404s, and a property test against
tests/api/experience_reference.py."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings

from tests.api import experience_reference as ref
from tests.api.conftest import make_event
from tests.conftest import examples

UTC = timezone.utc


def d(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def profile(api, customer_id: str) -> dict:
    response = api.get(f"/v1/customers/{customer_id}/profile")
    assert response.status_code == 200, response.text
    return response.json()


def test_profile_of_a_regular(api, events):
    def ev(stage, when, **fields):
        return make_event("cx-ann", stage, when, **fields)

    latte = {"item": "latte"}
    first = ev("awareness", d(2016, 2, 1, 7, 30), channel="social", touchpoint="instagram")
    evs = [
        first,
        # Monday 2016-02-01: first order, with a low NPS and a comment
        ev("purchase", d(2016, 2, 1, 8), channel="pos", touchpoint="till", properties=latte, revenue=3.5,
           currency="EUR", feedback={"nps": 5, "comment": "cold"}),
        ev("use", d(2016, 2, 1, 8, 10), channel="store", touchpoint="counter", properties=latte),  # not bought
        # Wednesday 2016-02-03: two reorders in the retention stage (revenue: bought)
        ev("retention", d(2016, 2, 3, 8, 5), channel="pos", touchpoint="till", properties=latte, revenue=3.5,
           currency="EUR"),
        ev("retention", d(2016, 2, 3, 8, 6), channel="pos", touchpoint="till", properties={"item": "scone"},
           revenue=2.25, currency="EUR", feedback={"csat": 4}),
        # a USD order and one without currency: never added to the euros
        ev("retention", "2016-02-05T09:00:00+01:00", channel="app", touchpoint="app_order",
           properties={"item": "mocha"}, revenue=4, currency="USD", feedback={"csat": 2, "nps": 9}),
        ev("retention", d(2016, 2, 8, 8), channel="app", touchpoint="app_order", properties={"item": 7},
           revenue=0),
        # a reward: no revenue, not purchase stage: not bought. Same instant as the advocacy
        # event below: the later stage in canonical order is current.
        ev("retention", d(2016, 2, 10, 12), channel="app", touchpoint="app_order", properties={"item": "muffin"}),
        ev("advocacy", d(2016, 2, 10, 12), channel="other", touchpoint="google_maps",
           feedback={"rating": 5, "ces": 3}),
    ]
    events.insert(evs)
    events.insert(evs[1:3])  # duplicate copies
    events.insert([make_event("cx-bob", "purchase", d(2016, 2, 1, 8), properties=latte, revenue=1,
                              currency="EUR", feedback={"nps": 0})])  # someone else

    body = profile(api, "cx-ann")
    assert body == {
        "customer_id": "cx-ann",
        "first_seen": "2016-02-01T07:30:00.000Z",
        "last_seen": "2016-02-10T12:00:00.000Z",
        "events": 9,
        "current_stage": "advocacy",
        "orders": 5,
        "revenue": [
            {"currency": None, "orders": 1, "revenue": "0.0000"},
            {"currency": "EUR", "orders": 3, "revenue": "9.2500"},
            {"currency": "USD", "orders": 1, "revenue": "4.0000"},
        ],
        "favourite_items": [{"name": "latte", "events": 2}, {"name": "mocha", "events": 1},
                            {"name": "scone", "events": 1}],
        "favourite_touchpoints": [{"name": "app_order", "events": 3}, {"name": "till", "events": 3},
                                  {"name": "counter", "events": 1}, {"name": "google_maps", "events": 1},
                                  {"name": "instagram", "events": 1}],
        "preferred_channel": "app",  # app 3, pos 3: ties by name
        # hour 8: Feb 1, 3 and 5 (09:00+01:00), 8; hour 7: Feb 1; hour 12: Feb 10
        "visit_hours": [{"value": 8, "days": 4}, {"value": 7, "days": 1}, {"value": 12, "days": 1}],
        # Monday: Feb 1 and 8; Wednesday: Feb 3 and 10; Friday: Feb 5
        "visit_weekdays": [{"value": 1, "days": 2}, {"value": 3, "days": 2}, {"value": 5, "days": 1}],
        "last_nps": {"score": 9, "at": "2016-02-05T08:00:00.000Z", "event_id": evs[5]["event_id"]},
        "last_csat": {"score": 2, "at": "2016-02-05T08:00:00.000Z", "event_id": evs[5]["event_id"]},
        # NPS 5 with a comment; CSAT 2; CES 3. Not: CSAT 4, rating 5.
        "feedback_items": 3,
        "open_feedback_items": 3,
        "anonymous_ids": [],
        "traits": {},
    }
    assert body == ref.profile([*evs, *evs[1:3]], "cx-ann")


def test_customer_without_scores_or_orders(api, events):
    events.insert([make_event("cx-eve", "awareness", d(2016, 5, 1, 23, 59), channel="web", touchpoint="site",
                              feedback={"comment": ""})])
    body = profile(api, "cx-eve")
    assert body["orders"] == 0 and body["revenue"] == [] and body["favourite_items"] == []
    assert body["last_nps"] is None and body["last_csat"] is None
    assert body["feedback_items"] == 0  # an empty comment is no comment
    assert body["visit_weekdays"] == [{"value": 7, "days": 1}]  # Sunday
    assert body["current_stage"] == "awareness" and body["preferred_channel"] == "web"


def test_unknown_customer_is_404(api, events):
    events.insert([make_event("cx-known", "awareness", d(2016, 5, 1))])
    response = api.get("/v1/customers/cx-unknown/profile")
    assert response.status_code == 404
    assert response.json() == {"detail": "Customer 'cx-unknown' has no events"}
    assert api.get(f"/v1/customers/{'x' * 257}/profile").status_code == 422


@settings(max_examples=examples(30), deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=ref.event_data(make_event))
def test_matches_reference(api, events, data):
    unique, batches = data
    events.truncate()
    for batch in batches:
        events.insert(batch)
    for customer in [*ref.CUSTOMERS, "nobody"]:
        response = api.get(f"/v1/customers/{customer}/profile")
        expected = ref.profile(unique, customer)
        if expected is None:
            assert response.status_code == 404, response.text
        else:
            assert response.status_code == 200, response.text
            assert response.json() == expected


def test_open_items_leave_out_acknowledged_and_resolved(api, events, chdb):
    evs = [make_event("cx-cara", "use", d(2016, 3, day, 9), feedback={"csat": 1, "comment": f"late {day}"})
           for day in (1, 2, 3)]
    events.insert(evs)
    assert profile(api, "cx-cara")["open_feedback_items"] == 3

    def status(event, value, micros):
        changed = datetime(2016, 3, 9, tzinfo=timezone.utc) + timedelta(microseconds=micros)
        return [event["event_id"], "cx-cara", f"chg-{micros}", value, "", "cx-team", changed, micros]

    columns = ["event_id", "customer_id", "change_id", "status", "note", "who", "changed_at", "version"]
    chdb.insert("feedback_status", [status(evs[0], "resolved", 1), status(evs[1], "acknowledged", 2),
                                    status(evs[2], "resolved", 3), status(evs[2], "open", 4)],  # reopened
                column_names=columns)
    body = profile(api, "cx-cara")
    assert (body["feedback_items"], body["open_feedback_items"]) == (3, 1)
