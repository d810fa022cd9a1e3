"""Ingest's record batching: the default partitioner's choice, the RecordedEvent bytes, and many
concurrent publishes against the real broker (all acknowledged, each customer in order)."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka import KafkaConsumer

from schemas.events import RecordedEvent, TouchpointEvent
from services.common.partitioner import partition_for
from services.ingest.producer import EventProducer, record_tail
from services.ingest.settings import IngestSettings

TOPIC = "journeyline.touchpoints.v1"


@settings(max_examples=300, deadline=None)
@given(key=st.binary(min_size=1, max_size=300), count=st.integers(1, 64))
def test_partition_is_the_default_partitioners(key, count):
    from aiokafka.partitioner import DefaultPartitioner

    partitions = list(range(count))
    assert partition_for(key, partitions) == DefaultPartitioner()(key, partitions, partitions)


EVENTS = [
    {"event_id": "b-1", "customer_id": "c-1", "stage": "purchase", "channel": "pos", "touchpoint": "store_1_pos",
     "event": "order_completed", "occurred_at": "2014-03-01T10:00:00.5+01:00", "properties": {"item": "tea", "n": 2},
     "revenue": 4.2, "currency": "EUR", "feedback": {"nps": 3, "comment": "slow \"queue\" ünïcode"}},
    {"event_id": "b-2", "customer_id": "c-2", "stage": "awareness", "channel": "web", "touchpoint": "home",
     "event": "page_viewed", "occurred_at": "2014-03-01T10:00:00Z"},
    {"event_id": "b-3", "customer_id": "c-3", "anonymous_id": "device-9", "stage": "awareness", "channel": "app",
     "touchpoint": "app_home", "event": "app_opened", "occurred_at": "2014-03-01T10:00:00Z"},
]


def test_record_bytes_are_the_recorded_events():
    received_at = datetime(2014, 3, 1, 9, 0, 1, 123456, tzinfo=timezone.utc)
    for raw in EVENTS:
        event = TouchpointEvent.model_validate(raw)
        ours = event.model_dump_json(exclude_none=True).encode()[:-1] + record_tail(received_at, "pos \"1\"")
        theirs = RecordedEvent.model_construct(**event.__dict__, received_at=received_at, source="pos \"1\"")
        assert ours == theirs.model_dump_json(exclude_none=True).encode()
        assert RecordedEvent.model_validate_json(ours) == theirs


def test_concurrent_publishes_all_acknowledged_in_order_per_customer(stack):
    settings = IngestSettings(kafka_bootstrap_servers=stack.bootstrap_servers, create_topics=False)

    def batch(b: int) -> list[TouchpointEvent]:
        return [TouchpointEvent.model_validate({
            **EVENTS[1], "event_id": f"batching-{b}-{i}", "customer_id": f"batching-cust-{i % 5}",
            "occurred_at": "2014-03-02T10:00:00Z"}) for i in range(50)]

    async def publish_all() -> list[int]:
        producer = EventProducer(settings)
        try:
            return await asyncio.gather(*(producer.publish(batch(b), "test") for b in range(40)))
        finally:
            await producer.stop()

    assert asyncio.run(publish_all()) == [50] * 40
    consumer = KafkaConsumer(TOPIC, bootstrap_servers=stack.bootstrap_servers, auto_offset_reset="earliest",
                             consumer_timeout_ms=3000, enable_auto_commit=False)
    mine = [r for r in consumer if r.key.startswith(b"batching-cust-")]
    consumer.close()
    assert len(mine) == 40 * 50
    for c in range(5):
        records = [r for r in mine if r.key == f"batching-cust-{c}".encode()]
        assert len({r.partition for r in records}) == 1
        ids = [orjson.loads(r.value)["event_id"] for r in records]
        # within each request's batch, a customer's events keep their order
        for b in range(40):
            of_batch = [int(i.rsplit("-", 1)[1]) for i in ids if i.startswith(f"batching-{b}-")]
            assert of_batch == sorted(of_batch) and len(of_batch) == 10
