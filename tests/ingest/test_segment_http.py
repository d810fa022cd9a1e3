"""Segment-compatible ingest on the real stack, driven by Segment's own Python library
(segment-analytics-python) as a shop already instrumented with it would send, host and write key
changed only."""
from __future__ import annotations

import base64
import gzip
import uuid
from datetime import datetime

import httpx
import orjson
import pytest
from kafka import KafkaConsumer
from segment.analytics.client import Client

from tests.conftest import WRITE_KEY, wait_for

DLQ = "journeyline.touchpoints.dlq"


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def segment(stack, errors: list, **options) -> Client:
    return Client(write_key=WRITE_KEY, host=stack.ingest_url, max_retries=0,
                  on_error=lambda error, batch: errors.append(error), **options)


def dead_letters(stack) -> dict[str, dict]:
    consumer = KafkaConsumer(bootstrap_servers=stack.bootstrap_servers, auto_offset_reset="earliest",
                             consumer_timeout_ms=2000, enable_auto_commit=False)
    consumer.subscribe([DLQ])
    found = {r.key.decode(): orjson.loads(r.value) for r in consumer if r.key}
    consumer.close()
    return found


def journey(api, customer_id: str) -> list[tuple[str, str]]:
    body = api.get(f"/v1/customers/{customer_id}/journey").json()
    return [(e["stage"], e["event"]) for e in body.get("events", [])]


def test_a_shop_instrumented_with_segment_sends_its_journey(stack, api, clickhouse):
    errors: list = []
    analytics = segment(stack, errors, sync_mode=True)
    context = {"channel": "browser", "page": {"path": "/p/linen-throw"}}
    analytics.page(anonymous_id="seg-dev-1", name="Linen throw", properties={"path": "/p/linen-throw"},
                   timestamp=ts("2008-06-01T19:00:00Z"), message_id="seg-1")
    analytics.track(anonymous_id="seg-dev-1", event="Product Viewed", properties={"sku": "LT-2"},
                    context=context, timestamp=ts("2008-06-01T19:01:00Z"), message_id="seg-2")
    analytics.identify(user_id="seg-cust-1", anonymous_id="seg-dev-1", traits={"email_opt_in": True})
    analytics.track(user_id="seg-cust-1", event="Order Completed", timestamp=ts("2008-06-01T19:05:00Z"),
                    properties={"order_id": "NW-77", "revenue": 64.5, "currency": "GBP"}, message_id="seg-3")
    analytics.track(user_id="seg-cust-1", event="Gift Note Written", message_id="seg-4",
                    timestamp=ts("2008-06-01T19:06:00Z"))  # no rule: dead-lettered
    analytics.group(user_id="seg-cust-1", group_id="northwind", message_id="seg-5")
    assert errors == []

    wait_for(lambda: journey(api, "seg-cust-1") == [
        ("awareness", "page_viewed"), ("consideration", "Product Viewed"), ("purchase", "Order Completed")],
        what="the visitor's page view, product view and order in one journey")
    letters = dead_letters(stack)
    assert "no stage for 'Gift Note Written'" in letters["seg-4"]["reason"]
    assert orjson.loads(letters["seg-4"]["value"])["event"] == "Gift Note Written"
    assert "group calls" in letters["seg-5"]["reason"] and letters["seg-5"]["topic"] == "segment:/v1/batch"
    revenue = clickhouse.query("SELECT toString(revenue), currency, source FROM events WHERE event_id = 'seg-3'")
    assert revenue.result_rows == [("64.5", "GBP", "default")]


def test_batches_from_the_background_queue_gzip_and_retries_count_once(stack, clickhouse):
    errors: list = []
    analytics = segment(stack, errors, gzip=True, upload_size=40, upload_interval=0.1)
    ids = [f"seg-b-{uuid.uuid4().hex}" for _ in range(120)]
    for i, message_id in enumerate(ids):
        analytics.track(user_id=f"seg-cust-{100 + i % 9}", event="Cart Viewed", message_id=message_id,
                        timestamp=ts(f"2008-06-02T10:{i // 60:02d}:{i % 60:02d}Z"))
    analytics.flush()
    # The same calls again, as an SDK retrying after a lost response would.
    for i, message_id in enumerate(ids[:30]):
        analytics.track(user_id=f"seg-cust-{100 + i % 9}", event="Cart Viewed", message_id=message_id,
                        timestamp=ts(f"2008-06-02T10:{i // 60:02d}:{i % 60:02d}Z"))
    analytics.flush()
    analytics.join()
    assert errors == []
    count = "SELECT count(), uniqExact(event_id) FROM events FINAL WHERE event_id LIKE 'seg-b-%'"
    wait_for(lambda: clickhouse.query(count).result_rows[0][1] == 120, what="120 batched events")
    assert clickhouse.query(count).result_rows[0] == (120, 120)


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


@pytest.fixture()
def raw(stack):
    with httpx.Client(base_url=stack.ingest_url, headers=basic(WRITE_KEY), timeout=30) as client:
        yield client


def test_single_call_endpoints_answer_like_segment(raw):
    call = {"userId": "seg-cust-2", "event": "Product Added", "messageId": "seg-6",
            "timestamp": "2008-06-03T08:00:00Z"}
    response = raw.post("/v1/track", json=call)
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "accepted": 1, "dead_lettered": 0}
    assert raw.post("/v1/identify", json={"userId": "seg-cust-2", "anonymousId": "seg-dev-2"}).json()["accepted"] == 1
    assert raw.post("/v1/alias", json={"previousId": "seg-dev-3", "userId": "seg-cust-2"}).status_code == 200
    body = gzip.compress(orjson.dumps({**call, "messageId": "seg-7"}))
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    response = raw.post("/v1/track", content=body, headers=headers)
    assert response.json()["accepted"] == 1


@pytest.mark.parametrize("path, body, field", [
    ("/v1/batch", {"batch": {"type": "track"}}, "batch"),
    ("/v1/batch", {"batch": []}, "batch"),
    ("/v1/batch", {"batch": [1]}, "batch[0]"),
    ("/v1/track", [1, 2], "body"),
])
def test_requests_not_in_segment_shape_are_400_naming_the_field(raw, path, body, field):
    response = raw.post(path, json=body)
    assert response.status_code == 400
    assert response.json()["field"] == field and response.json()["message"].startswith(field)


def test_bad_gzip_and_bad_keys(raw, stack):
    response = raw.post("/v1/track", content=b"not gzip", headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400 and "gzip" in response.json()["message"]
    assert httpx.post(f"{stack.ingest_url}/v1/batch", json={"batch": []}, headers=basic("wrong")).status_code == 401
    assert httpx.post(f"{stack.ingest_url}/v1/track", json={}).status_code == 401


def test_a_rule_added_later_recovers_dead_lettered_calls(raw, stack, api, tmp_path, monkeypatch, capsys):
    from services.cli.__main__ import main

    call = {"userId": "seg-cust-3", "event": "Table Booked", "messageId": "seg-8",
            "timestamp": "2008-06-04T18:30:00Z", "properties": {"guests": 2}}
    assert raw.post("/v1/track", json=call).json()["dead_lettered"] == 1
    rules = tmp_path / "rules.yaml"
    rules.write_text("events:\n  Table Booked: {stage: purchase, channel: call_center}\n")
    monkeypatch.setenv("SEGMENT_RULES_FILE", str(rules))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", stack.bootstrap_servers)
    capsys.readouterr()
    assert main(["dlq", "replay", "--json"]) == 0
    report = orjson.loads(capsys.readouterr().out)
    assert ("seg-8", "seg-8") in [(d["key"], d["event_id"]) for d in report["replayed"]]
    wait_for(lambda: journey(api, "seg-cust-3") == [("purchase", "Table Booked")], what="the recovered booking")
    assert api.get("/v1/customers/seg-cust-3/journey").json()["events"][0]["channel"] == "call_center"
