"""Identity stitching on the real engine: anonymous visits join the customer they are linked to,
in journeys, funnels and metrics, before and after the link, and the person counts once.

Links are written by the processors' own IdentitySink; the expected figures come from the
references run on the events with customer_id replaced by the person they resolve to.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from services.processors.identities_sink import IdentitySink
from tests.api import cohort_reference
from tests.api.conftest import make_event
from tests.api.reference import stage_funnel as reference_funnel

UTC = timezone.utc
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)  # a Monday


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def ms(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def anon(anonymous_id: str, stage: str, occurred_at: datetime, **fields: Any) -> dict[str, Any]:
    """An event sent with only an anonymous id, as ingest records it."""
    return make_event("anon:" + anonymous_id, stage, occurred_at, anonymous_id=anonymous_id, **fields)


def link(chdb, anonymous_id: str, customer_id: str, received_at: datetime, traits: str = "{}") -> None:
    sink = IdentitySink(chdb)
    sink._insert([(anonymous_id, customer_id, traits, "web", received_at)])
    sink.reload()


def resolved(events: list[dict[str, Any]], links: dict[str, str]) -> list[dict[str, Any]]:
    return [{**e, "customer_id": links.get(e["customer_id"], e["customer_id"])} for e in events]


def stage_counts(api, start: datetime, end: datetime) -> list[int]:
    params = {"start": iso(start), "end": iso(end), "window_seconds": 30 * 86400}
    response = api.get("/v1/funnels/stages", params=params)
    assert response.status_code == 200, response.text
    return [s["customers"] for s in response.json()["stages"]]


def reference_counts(events: list[dict[str, Any]], start: datetime, end: datetime) -> list[int]:
    stages = reference_funnel([{**e, "occurred_ms": ms(e["occurred_at"])} for e in events],
                              ms(start), ms(end), 30 * 86400 * 1000)
    return [s["customers"] for s in stages]


# A salon client: finds the salon on Instagram and looks at prices on the site before booking
# with an account; after sign-in the app still sends the device id only.
BEFORE = [
    anon("dev-7f3a", "awareness", at(0), channel="social", touchpoint="instagram_ad"),
    anon("dev-7f3a", "consideration", at(1), touchpoint="price_list"),
]
AFTER = [
    make_event("lena", "purchase", at(26), channel="app", touchpoint="booking", revenue=45.0, currency="EUR"),
    anon("dev-7f3a", "use", at(30), channel="store", touchpoint="salon_chair"),
]


def test_anonymous_visits_join_the_journey_before_and_after_the_link(api, events, chdb):
    events.insert(BEFORE + AFTER)
    # Not linked yet: two people, the visitor known by the anonymous key.
    assert api.get("/v1/customers/lena/journey").json()["stages"][0]["stage"] == "purchase"
    visitor = api.get("/v1/customers/anon:dev-7f3a/journey").json()
    assert [e["event_id"] for e in visitor["events"]] == [BEFORE[0]["event_id"], BEFORE[1]["event_id"],
                                                         AFTER[1]["event_id"]]
    assert visitor["events"][0]["anonymous_id"] == "dev-7f3a"

    link(chdb, "dev-7f3a", "lena", at(25))
    body = api.get("/v1/customers/lena/journey").json()
    assert [e["event_id"] for e in body["events"]] == [e["event_id"] for e in BEFORE + AFTER]
    assert {e["customer_id"] for e in body["events"]} == {"lena"}
    assert [e["anonymous_id"] for e in body["events"]] == ["dev-7f3a", "dev-7f3a", None, "dev-7f3a"]
    assert [s["stage"] for s in body["stages"]] == ["awareness", "consideration", "purchase", "use"]
    assert body["current_stage"] == "use"
    # The visitor is lena now: no separate journey left to double count.
    assert api.get("/v1/customers/anon:dev-7f3a/journey").status_code == 404


def test_funnel_counts_the_person_once(api, events, chdb):
    others = [make_event("mia", "awareness", at(2)), anon("dev-0b11", "awareness", at(3)),
              anon("dev-0b11", "consideration", at(4))]
    evs = BEFORE + AFTER + others
    events.insert(evs)
    start, end = at(-1), at(48)
    before = stage_counts(api, start, end)
    assert before == reference_counts(evs, start, end) == [3, 2, 0, 0, 0, 0]

    link(chdb, "dev-7f3a", "lena", at(25))
    after = stage_counts(api, start, end)
    assert after == reference_counts(resolved(evs, {"anon:dev-7f3a": "lena"}), start, end) == [3, 2, 1, 1, 0, 0]


def test_person_key_is_the_hash_of_the_resolved_person(events, chdb):
    # person_events.person_key (migration 0007) is what the funnels and retention group by.
    events.insert(BEFORE + AFTER + [anon("dev-0b11", "awareness", at(3))])

    def keys() -> dict[str, set[int]]:
        rows = chdb.query("SELECT customer_id, groupUniqArray(person_key), "
                          "countIf(person_key != cityHash64(customer_id)) FROM person_events "
                          "GROUP BY customer_id").result_rows
        assert all(mismatched == 0 for _, _, mismatched in rows)
        return {customer: set(found) for customer, found, _ in rows}

    before = keys()
    assert set(before) == {"lena", "anon:dev-7f3a", "anon:dev-0b11"}
    assert len(set.union(*before.values())) == 3
    link(chdb, "dev-7f3a", "lena", at(25))
    after = keys()
    assert set(after) == {"lena", "anon:dev-0b11"}
    assert after["lena"] == before["lena"] and after["anon:dev-0b11"] == before["anon:dev-0b11"]


def test_an_anonymous_id_stays_with_the_first_customer_it_was_linked_to(api, events, chdb):
    events.insert([anon("tablet-1", "awareness", at(0)), make_event("ana", "purchase", at(5)),
                   make_event("bob", "purchase", at(6))])
    link(chdb, "tablet-1", "bob", at(3))   # received later ...
    link(chdb, "tablet-1", "ana", at(2))   # ... than this one, which wins
    link(chdb, "tablet-1", "ana", at(2))   # a redelivered copy changes nothing
    assert len(api.get("/v1/customers/ana/journey").json()["events"]) == 2
    assert len(api.get("/v1/customers/bob/journey").json()["events"]) == 1
    journey = api.get("/v1/customers/ana/journey").json()
    assert [s["stage"] for s in journey["stages"]] == ["awareness", "purchase"]


def test_metrics_and_value_follow_the_person(api, events, chdb):
    evs = [
        anon("web-1", "purchase", at(0), revenue=12.5, currency="EUR", event="order_completed"),
        anon("web-1", "advocacy", at(1), feedback={"nps": 10}),
        make_event("tom", "purchase", at(24 * 7), revenue=20.0, currency="EUR"),
        make_event("tom", "advocacy", at(24 * 7 + 1), feedback={"nps": 3}),
        anon("web-2", "purchase", at(24 * 14), revenue=5.0, currency="EUR"),  # never identified
    ]
    events.insert(evs)
    link(chdb, "web-1", "tom", at(24 * 7))
    people = resolved(evs, {"anon:web-1": "tom"})

    nps = api.get("/v1/metrics/nps", params={"start": iso(at(-1)), "end": iso(at(24 * 30))}).json()
    assert nps["responses"] == 2 and nps["score"] == 0.0  # one promoter, one detractor

    params = {"start": iso(T0), "end": iso(at(24 * 21)), "interval": "week", "periods": 3}
    cohorts = api.get("/v1/retention", params=params).json()["cohorts"]
    expected = cohort_reference.retention(people, T0, at(24 * 21), "week", 3, "purchase", "purchase",
                                          datetime.now(UTC))
    assert [(c["customers"], c["retained"]) for c in cohorts] == [(x["customers"], x["retained"]) for x in expected]
    assert cohorts[0]["customers"] == 1 and cohorts[0]["retained"][:2] == [1, 1]  # tom came back

    value = api.get("/v1/customers/tom/value")
    assert value.status_code == 200, value.text
    assert [(c["currency"], c["revenue"], c["orders"]) for c in value.json()["currencies"]] == [("EUR", "32.5000", 2)]


def test_bi_views_read_per_person(api, events, chdb):
    events.insert(BEFORE + AFTER)
    link(chdb, "dev-7f3a", "lena", at(25))
    rows = chdb.query("SELECT customer_id, count(), groupUniqArray(anonymous_id) FROM bi_events "
                      "GROUP BY customer_id").result_rows
    assert [(c, n, sorted(a)) for c, n, a in rows] == [("lena", 4, ["", "dev-7f3a"])]
    daily = chdb.query("SELECT stage, sum(customers) FROM bi_stage_funnel_daily GROUP BY stage ORDER BY stage")
    assert [tuple(r) for r in daily.result_rows] == [("awareness", 1), ("consideration", 1), ("purchase", 1),
                                                      ("use", 1)]


def test_profile_lists_linked_devices_and_merged_traits(api, events, chdb):
    events.insert(BEFORE + AFTER + [anon("laptop-9", "awareness", at(40))])
    link(chdb, "dev-7f3a", "lena", at(25), traits='{"name": "Lena", "newsletter": false}')
    link(chdb, "dev-7f3a", "lena", at(27), traits='{"newsletter": true}')
    link(chdb, "laptop-9", "kim", at(41))
    link(chdb, "laptop-9", "lena", at(42), traits='{"salon": "Studio Mira"}')  # kim claimed it first
    body = api.get("/v1/customers/lena/profile").json()
    assert body["events"] == 4
    assert body["anonymous_ids"] == ["dev-7f3a"]
    assert body["traits"] == {"name": "Lena", "newsletter": True, "salon": "Studio Mira"}
    assert api.get("/v1/customers/kim/profile").json()["anonymous_ids"] == ["laptop-9"]
