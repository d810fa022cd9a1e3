"""/metrics of ingest, API and processors on the session stack: the counters move by what was sent.

Events in 2011, customers "ops-*". Ingest and API deltas are exact (only this test talks to them
meanwhile); the processors' are "at least", since earlier tests' batches may still be landing.
"""
from __future__ import annotations

import base64

import httpx
import orjson
from kafka import KafkaProducer

from services.common.settings import KafkaSettings
from tests.conftest import WRITE_KEY, wait_for
from tests.ops.scrape import delta, scrape, series, value

TOPICS = KafkaSettings()  # topic names only


def event(i: int, customer: str, **changes) -> dict:
    return {"event_id": f"ops-ev-{customer}-{i}", "customer_id": customer, "stage": "awareness", "channel": "web",
            "touchpoint": "ops_test", "event": "seen", "occurred_at": f"2011-03-0{1 + i % 9}T10:00:00Z", **changes}


def basic() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}


def test_ingest_counts_accepted_refused_and_dead_lettered(stack, ingest):
    before = scrape(stack.ingest_url)
    assert ingest.post("/v1/events", json={"events": [event(i, "ops-in-1") for i in range(3)]}).status_code == 202
    assert ingest.post("/v1/events", json={"events": [event(9, "ops-in-1", stage="nope")]}).status_code == 422
    assert httpx.post(f"{stack.ingest_url}/v1/events", json={"events": [event(8, "ops-in-1")]}).status_code == 401
    big = orjson.dumps({"events": [event(7, "ops-in-1", properties={"pad": "x" * 1_100_000})]})
    assert ingest.post("/v1/events", content=big, headers={"Content-Type": "application/json"}).status_code == 413
    identify = {"anonymous_id": "ops-anon-1", "customer_id": "ops-in-1"}
    assert ingest.post("/v1/identify", json=identify).status_code == 202
    # Segment: one mapped track call, a group call and a track call with no stage (dead letters).
    calls = [{"type": "track", "userId": "ops-in-2", "event": "Ops Seen", "messageId": "ops-seg-1",
              "properties": {"stage": "awareness"}, "timestamp": "2011-03-02T10:00:00Z"},
             {"type": "group", "userId": "ops-in-2", "groupId": "g1", "messageId": "ops-seg-2"},
             {"type": "track", "userId": "ops-in-2", "event": "Ops Unruled", "messageId": "ops-seg-3"}]
    response = httpx.post(f"{stack.ingest_url}/v1/batch", json={"batch": calls}, headers=basic())
    assert response.json() == {"success": True, "accepted": 1, "dead_lettered": 2}
    after = scrape(stack.ingest_url)

    assert delta(before, after, "journeyline_ingest_events_accepted_total", source="default") == 4
    assert delta(before, after, "journeyline_ingest_identities_accepted_total", source="default") == 1
    for reason in ("validation", "unauthorized", "too_large"):
        assert delta(before, after, "journeyline_ingest_requests_refused_total", reason=reason) == 1, reason
    for reason in ("rate_limited", "broker_unavailable", "key_store_unavailable", "bad_request"):
        assert delta(before, after, "journeyline_ingest_requests_refused_total", reason=reason) == 0, reason
    assert delta(before, after, "journeyline_ingest_segment_dead_lettered_total", kind="unsupported_call") == 1
    assert delta(before, after, "journeyline_ingest_segment_dead_lettered_total", kind="no_stage") == 1
    route = {"method": "POST", "handler": "/v1/events"}
    assert delta(before, after, "journeyline_http_requests_total", **route, status="202") == 1
    assert delta(before, after, "journeyline_http_requests_total", **route, status="422") == 1
    assert delta(before, after, "journeyline_http_request_duration_seconds_count", **route) == 4
    assert value(after, "process_resident_memory_bytes") > 0


def test_api_times_queries_by_route_and_shows_no_customer_data(stack, api):
    secret = "ops-api-private-customer-7f3a"
    journey = {"method": "GET", "handler": "/v1/customers/{customer_id:path}/journey"}
    funnel = {"method": "GET", "handler": "/v1/funnels/stages"}
    before = scrape(stack.api_url)
    assert api.get(f"/v1/customers/{secret}/journey").status_code == 404
    assert httpx.get(f"{stack.api_url}/v1/customers/{secret}/journey").status_code == 401
    window = {"start": "2011-01-01T00:00:00Z", "end": "2011-12-31T00:00:00Z"}
    assert api.get("/v1/funnels/stages", params=window).status_code == 200
    assert httpx.get(f"{stack.api_url}/v1/no-such-{secret}").status_code == 404
    text = httpx.get(f"{stack.api_url}/metrics").text  # no token needed
    after = scrape(stack.api_url)

    assert secret not in text
    assert delta(before, after, "journeyline_http_request_duration_seconds_count", **journey) == 2
    assert delta(before, after, "journeyline_http_requests_total", **journey, status="404") == 1
    assert delta(before, after, "journeyline_http_requests_total", **journey, status="401") == 1
    assert delta(before, after, "journeyline_http_requests_total", **funnel, status="200") == 1
    assert delta(before, after, "journeyline_http_request_duration_seconds_count", **funnel) == 1
    assert delta(before, after, "journeyline_http_requests_total", method="GET", handler="none", status="404") == 1


def test_processors_count_writes_dead_letters_links_and_lag(stack, ingest, clickhouse):
    before = scrape(stack.processors_url)
    events = [event(i, f"ops-proc-{i % 2}") for i in range(7)]
    assert ingest.post("/v1/events", json={"events": events}).status_code == 202
    assert ingest.post("/v1/identify", json={"anonymous_id": "ops-anon-9", "customer_id": "ops-proc-0"}).status_code \
        == 202
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap_servers, acks="all")
    try:
        producer.send(TOPICS.topic_touchpoints, key=b"ops-proc-bad", value=b"{not json").get(timeout=30)
    finally:
        producer.close()

    landed = "SELECT count() FROM events WHERE customer_id LIKE 'ops-proc-%'"
    wait_for(lambda: clickhouse.query(landed).result_rows[0][0] == 7, what="the 7 events in ClickHouse")

    def moved() -> bool:
        after = scrape(stack.processors_url)
        return (delta(before, after, "journeyline_sink_events_written_total") >= 7
                and delta(before, after, "journeyline_identity_links_written_total") >= 1
                and delta(before, after, "journeyline_processor_dead_lettered_total", kind="invalid_event") >= 1)

    wait_for(moved, what="the processors' counters")
    after = scrape(stack.processors_url)
    assert delta(before, after, "journeyline_sink_batch_events_count") >= 1
    assert delta(before, after, "journeyline_sink_batch_events_sum") >= 7
    assert delta(before, after, "journeyline_sink_write_duration_seconds_count") >= 1
    assert value(after, "journeyline_sink_write_duration_seconds_sum") > 0

    def lag() -> dict:
        return {dict(labels)["partition"]: v for labels, v in series(scrape(stack.processors_url),
                "journeyline_consumer_lag").items() if dict(labels)["topic"] == TOPICS.topic_touchpoints}

    assert set(lag()) == {"0", "1", "2"}  # TOPIC_PARTITIONS=3 on the session stack
    wait_for(lambda: set(lag().values()) == {0.0}, what="touchpoint lag 0 once committed")
