"""Ingest over HTTP against the real broker: acceptance, keying and every refusal."""
from __future__ import annotations

import orjson
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, TopicPartition

from deploy.local_stack import free_port
from services.ingest.app import create_app
from services.ingest.settings import IngestSettings
from tests.conftest import WRITE_KEY
from tests.topic import end_offsets, read_events

TOPIC = "journeyline.touchpoints.v1"


def event(i: int, **changes) -> dict:
    return {
        "event_id": f"ingest-test-{i}", "customer_id": f"shop-cust-{i % 7:04d}", "stage": "consideration",
        "channel": "web", "touchpoint": "product_page", "event": "product_viewed",
        "occurred_at": "2026-11-20T10:00:00Z", "properties": {"sku": f"sku-{i}"}, **changes,
    }


@pytest.fixture()
def topic_end(stack):
    consumer = KafkaConsumer(bootstrap_servers=stack.bootstrap_servers)
    partitions = [TopicPartition(TOPIC, p) for p in consumer.partitions_for_topic(TOPIC)]

    def end() -> int:
        return sum(consumer.end_offsets(partitions).values())

    yield end
    consumer.close()


def test_accepts_batch_after_broker_ack(ingest, stack, topic_end):
    before, since = topic_end(), end_offsets(stack.bootstrap_servers)
    response = ingest.post("/v1/events", json={"events": [event(i) for i in range(20)]})
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 20}
    added = read_events(stack.bootstrap_servers, since=since)
    assert sorted(orjson.loads(e.value)["event_id"] for e in added) == sorted(f"ingest-test-{i}" for i in range(20))
    # one event record per partition the batch touches (7 customers, so at most 7)
    assert topic_end() == before + len({(e.partition, e.offset) for e in added}) <= before + 7


def test_events_keyed_by_customer_in_one_partition(ingest, stack):
    batch = [event(1000 + i, customer_id="salon-cust-0042") for i in range(10)]
    assert ingest.post("/v1/events", json={"events": batch}).status_code == 202
    mine = [r for r in read_events(stack.bootstrap_servers) if r.key == b"salon-cust-0042"]
    assert len({r.partition for r in mine}) == 1
    values = [orjson.loads(r.value) for r in mine]
    assert [v["event_id"] for v in values][-10:] == [e["event_id"] for e in batch]
    assert values[-1]["source"] == "default" and values[-1]["received_at"].endswith("Z")


def test_invalid_event_refuses_whole_batch(ingest, topic_end):
    before = topic_end()
    batch = [event(1), event(2, stage="browsing"), event(3, occurred_at="2026-11-20 10:00")]
    response = ingest.post("/v1/events", json={"events": batch})
    assert response.status_code == 422
    locs = [d["loc"] for d in response.json()["detail"]]
    assert ["body", "events", 1, "stage"] in locs
    assert ["body", "events", 2, "occurred_at"] in locs
    assert topic_end() == before


@pytest.mark.parametrize(
    "body, loc",
    [
        ({"events": []}, ["body", "events"]),
        ({"events": [event(1)] * 1001}, ["body", "events"]),
        ({"events": [event(1)], "extra": 1}, ["body", "extra"]),
        ({"events": [{**event(1), "colour": "red"}]}, ["body", "events", 0, "colour"]),
        ({}, ["body", "events"]),
    ],
)
def test_batch_shape_refusals(ingest, body, loc):
    response = ingest.post("/v1/events", json=body)
    assert response.status_code == 422
    assert loc in [d["loc"] for d in response.json()["detail"]]


@pytest.mark.parametrize(
    "changes, loc",
    [
        ({"properties": {"n": 2**64}}, ["events", 0, "properties"]),  # was a 500: not storable as JSON
        ({"properties": {"n": [{"m": -(2**63) - 1}]}}, ["events", 0, "properties"]),
        ({"feedback": {"nps": False}}, ["events", 0, "feedback", "nps"]),  # was taken as NPS 0
        ({"feedback": {"csat": "5"}}, ["events", 0, "feedback", "csat"]),
        ({"revenue": True}, ["events", 0, "revenue"]),  # was taken as 1.0
    ],
)
def test_values_found_by_fuzzing_are_422(ingest, topic_end, changes, loc):
    before = topic_end()
    response = ingest.post("/v1/events", json={"events": [event(6000, **changes)]})
    assert response.status_code == 422, response.text
    assert ["body", *loc] in [d["loc"] for d in response.json()["detail"]]
    assert topic_end() == before


def test_revenue_without_currency_is_422_naming_currency(ingest, topic_end):
    before = topic_end()
    response = ingest.post("/v1/events", json={"events": [event(6100, stage="purchase", revenue=4.2)]})
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "events", 0, "currency"] and "required with revenue" in error["msg"]
    assert topic_end() == before
    response = ingest.post("/v1/events", json={"events": [event(6101, stage="purchase", revenue=4.2, currency="EUR")]})
    assert response.status_code == 202, response.text


def test_invalid_json_is_422(ingest):
    response = ingest.post("/v1/events", content=b'{"events": [', headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


@pytest.mark.parametrize("header", [None, "Bearer wrong-key", "Basic dGVzdDp0ZXN0", f"Bearer {WRITE_KEY}x"])
def test_write_key_required(stack, header, topic_end):
    import httpx

    before = topic_end()
    headers = {"Authorization": header} if header else {}
    response = httpx.post(f"{stack.ingest_url}/v1/events", json={"events": [event(1)]}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert topic_end() == before


def test_body_too_large_is_413(ingest, topic_end):
    before = topic_end()
    big = {"events": [event(i, properties={"note": "x" * 30000}) for i in range(40)]}
    response = ingest.post("/v1/events", content=orjson.dumps(big), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert topic_end() == before


def test_healthz(ingest):
    assert ingest.get("/healthz").json() == {"status": "ok"}


def test_broker_down_is_503_with_retry_after():
    settings = IngestSettings(
        kafka_bootstrap_servers=f"127.0.0.1:{free_port()}", create_topics=False,
        produce_timeout_s=2, kafka_request_timeout_ms=1000, write_keys="k",
    )
    with TestClient(create_app(settings)) as client:
        response = client.post("/v1/events", json={"events": [event(1)]}, headers={"Authorization": "Bearer k"})
        assert response.status_code == 503
        assert int(response.headers["retry-after"]) > 0
        assert client.get("/healthz").status_code == 200  # alive, but not ready
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["broker"] == "unavailable"


def test_far_future_event_refused_near_future_accepted(ingest, topic_end):
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    before = topic_end()
    far = event(5000, occurred_at=(now + timedelta(hours=25)).isoformat())
    response = ingest.post("/v1/events", json={"events": [event(5001), far]})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[0]["loc"] == ["body", "events", 1, "occurred_at"] and "future" in detail[0]["msg"]
    assert topic_end() == before
    near = event(5002, occurred_at=(now + timedelta(hours=23)).isoformat())
    assert ingest.post("/v1/events", json={"events": [near]}).status_code == 202
