"""Per-key rate limits of ingest: the token bucket itself, then the real app (the session stack's
broker and ClickHouse, a private topic) answering 429 with Retry-After."""
from __future__ import annotations

import time
import warnings

import pytest
from pydantic import ValidationError

from schemas.events import MAX_BATCH_EVENTS
from services.ingest.rate_limit import TokenBuckets
from services.ingest.settings import IngestSettings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PRIVATE_TOPIC = "journeyline.security-tests.v1"


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_bucket_burst_refill_all_or_nothing_and_per_key():
    clock = Clock()
    buckets = TokenBuckets(rate=10, burst=100, clock=clock)
    assert buckets.take("a", 100) == 0  # a full burst at once
    assert buckets.take("a", 1) == pytest.approx(0.1)  # refused, nothing taken
    assert buckets.take("b", 60) == 0  # another key has its own bucket
    clock.now += 2.5  # 25 tokens back
    assert buckets.take("a", 30) == pytest.approx(0.5)  # all or nothing: the 25 stay
    assert buckets.take("a", 25) == 0
    assert buckets.take("a", 1) == pytest.approx(0.1)
    clock.now += 1000
    assert buckets.take("a", 100) == 0 and buckets.take("a", 1) > 0  # refill stops at the burst
    with pytest.raises(ValueError):
        buckets.take("a", 101)


def test_bucket_memory_stays_bounded_without_losing_state():
    clock = Clock()
    buckets = TokenBuckets(rate=1, burst=10, clock=clock, max_keys=3)
    for key in "abc":
        assert buckets.take(key, 10) == 0
    clock.now += 100  # a, b, c full again: forgetting them changes nothing
    assert buckets.take("d", 10) == 0
    assert buckets.take("c", 10) == 0 and buckets.take("c", 1) > 0
    assert buckets.take("d", 1) > 0  # d's emptied bucket was kept


def test_settings_need_room_for_a_whole_batch():
    with pytest.raises(ValidationError, match="rate_limit_burst"):
        IngestSettings(rate_limit_burst=MAX_BATCH_EVENTS - 1)
    assert IngestSettings(rate_limit_events_per_s=0).rate_limit_events_per_s == 0


def events(prefix: str, n: int) -> dict:
    return {"events": [{"event_id": f"{prefix}-{i}", "customer_id": f"sec-rl-{i % 5}", "stage": "awareness",
                        "channel": "web", "touchpoint": "landing", "event": "page_viewed",
                        "occurred_at": "2019-03-01T10:00:00Z"} for i in range(n)]}


def test_ingest_answers_429_with_retry_after_per_key(stack, create_key):
    from services.ingest.app import create_app

    store_key = create_key("write", "rate-limited")["secret"]
    settings = IngestSettings(
        kafka_bootstrap_servers=stack.bootstrap_servers, clickhouse_url=stack.clickhouse_url,
        clickhouse_password=stack.clickhouse_password,
        topic_touchpoints=PRIVATE_TOPIC, topic_partitions=1, write_keys="env-a=a,env-b=b",
        rate_limit_events_per_s=2, rate_limit_burst=MAX_BATCH_EVENTS,
    )
    with TestClient(create_app(settings)) as client:
        def send(key: str, body) -> object:
            return client.post("/v1/events", json=body, headers={"Authorization": f"Bearer {key}"})

        assert send("env-a", events("rl-a", MAX_BATCH_EVENTS - 2)).status_code == 202
        refused = send("env-a", events("rl-a2", 10))  # 2 left, 2/s: about 4 s until 10 fit
        assert refused.status_code == 429
        assert 3 <= int(refused.headers["retry-after"]) <= 5
        assert "rate limit" in refused.json()["detail"]
        assert send("env-a", events("rl-a3", 2)).status_code == 202  # what fits still goes
        assert send("env-a", {"not": "a batch"}).status_code == 422  # bad batches take no tokens

        retry = send("env-a", events("rl-a4", 10))
        assert retry.status_code == 429
        time.sleep(int(retry.headers["retry-after"]))
        assert send("env-a", events("rl-a4", 10)).status_code == 202  # honouring Retry-After works

        assert send("env-b", events("rl-b", 50)).status_code == 202  # other keys unaffected
        assert send(store_key, events("rl-s", MAX_BATCH_EVENTS)).status_code == 202
        assert send(store_key, events("rl-s2", 1)).status_code == 429  # store keys limited per key too
