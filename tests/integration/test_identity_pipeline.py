"""Identity stitching through the whole pipeline: ingest -> Kafka -> processors -> ClickHouse -> API.

An online shop visitor browses anonymously, signs up (POST /v1/identify), buys, and keeps using
the app with only the device id; a retried batch repeats events. The person counts once, with
every event, in the journey, the stage funnel and the BI views; the raw log holds each event once.
"""
from datetime import datetime, timedelta, timezone

from tests.conftest import wait_for

T0 = datetime(2024, 4, 8, 19, 0, tzinfo=timezone.utc)  # this file's own year on the shared stack
RANGE = {"start": "2024-04-01T00:00:00Z", "end": "2024-05-01T00:00:00Z"}


def ev(n, stage, minutes, **who):
    return {"event_id": f"idn-{n}", "stage": stage, "channel": "web", "touchpoint": "shop_site",
            "event": f"{stage}_evt", "occurred_at": (T0 + timedelta(minutes=minutes)).isoformat(), **who}


def raw_count(clickhouse) -> int:
    return clickhouse.query("SELECT uniqExact(event_id) FROM events WHERE event_id LIKE 'idn-%'").result_rows[0][0]


def stage_counts(api) -> list[int]:
    return [s["customers"] for s in api.get("/v1/funnels/stages", params=RANGE).json()["stages"]]


def test_visitor_signs_up_and_counts_once(ingest, api, clickhouse):
    browsing = [ev(1, "awareness", 0, anonymous_id="idn-dev-1"), ev(2, "consideration", 10, anonymous_id="idn-dev-1"),
                ev(3, "awareness", 5, anonymous_id="idn-dev-2")]  # someone else, never signs up
    assert ingest.post("/v1/events", json={"events": browsing}).status_code == 202
    wait_for(lambda: raw_count(clickhouse) == 3, what="anonymous events in ClickHouse")
    wait_for(lambda: stage_counts(api)[:2] == [2, 1], what="two anonymous visitors in the funnel")

    identify = {"anonymous_id": "idn-dev-1", "customer_id": "idn-ana", "traits": {"plan": "newsletter"}}
    assert ingest.post("/v1/identify", json=identify).status_code == 202
    after = [ev(4, "purchase", 60, customer_id="idn-ana", anonymous_id="idn-dev-1"),
             ev(5, "use", 24 * 60, anonymous_id="idn-dev-1")]
    assert ingest.post("/v1/events", json={"events": after}).status_code == 202
    # A client retrying both batches (it never saw the 202s) changes nothing.
    assert ingest.post("/v1/events", json={"events": browsing + after}).status_code == 202

    wait_for(lambda: raw_count(clickhouse) == 5, what="all events in ClickHouse")
    wait_for(lambda: stage_counts(api) == [2, 1, 1, 1, 0, 0], what="the person counted once through use")
    journey = api.get("/v1/customers/idn-ana/journey").json()
    assert [e["event_id"] for e in journey["events"]] == ["idn-1", "idn-2", "idn-4", "idn-5"]
    assert journey["current_stage"] == "use"
    assert api.get("/v1/customers/anon:idn-dev-1/journey").status_code == 404
    assert api.get("/v1/customers/anon:idn-dev-2/journey").json()["events"][0]["event_id"] == "idn-3"

    # Exactly once in the raw log, projections per identity key, BI per person.
    assert clickhouse.query("SELECT count() FROM events FINAL WHERE event_id LIKE 'idn-%'").result_rows[0][0] == 5
    wait_for(lambda: clickhouse.query(
        "SELECT customer_id, sum(events) FROM journey_stages FINAL WHERE customer_id IN "
        "('idn-ana', 'anon:idn-dev-1') GROUP BY customer_id ORDER BY customer_id").result_rows
        == [("anon:idn-dev-1", 3), ("idn-ana", 1)], what="journey projection per identity key")
    assert clickhouse.query("SELECT current_stage, events FROM bi_journeys WHERE customer_id = 'idn-ana'"
                            ).result_rows == [("use", 4)]
    links = clickhouse.query("SELECT DISTINCT anonymous_id, customer_id, traits FROM identities "
                             "WHERE anonymous_id = 'idn-dev-1' ORDER BY traits").result_rows
    assert links == [("idn-dev-1", "idn-ana", "{\"plan\":\"newsletter\"}"), ("idn-dev-1", "idn-ana", "{}")]


def test_an_event_with_both_ids_links_them(ingest, api, clickhouse):
    # The POS knows the loyalty card and the app's device id: no identify call needed.
    signed_in = [ev(10, "awareness", 2 * 24 * 60, customer_id="idn-bo", anonymous_id="idn-dev-3")]
    assert ingest.post("/v1/events", json={"events": signed_in}).status_code == 202
    later = [ev(11, "consideration", 2 * 24 * 60 + 30, anonymous_id="idn-dev-3")]
    assert ingest.post("/v1/events", json={"events": later}).status_code == 202
    wait_for(lambda: [e["event_id"] for e in api.get("/v1/customers/idn-bo/journey").json().get("events", [])]
             == ["idn-10", "idn-11"], what="the device's later event in the customer's journey")
