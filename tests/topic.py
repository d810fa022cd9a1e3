"""The touchpoint topic in tests: its events, read from records of either shape (schemas/records.py)."""
from __future__ import annotations

import time
from dataclasses import dataclass

import orjson
from kafka import KafkaConsumer, TopicPartition

from schemas.records import raw_events

TOUCHPOINTS = "journeyline.touchpoints.v1"


@dataclass(frozen=True)
class TopicEvent:
    partition: int
    offset: int      # of its record: the events of one record share it
    index: int       # its position in the record
    key: bytes       # its identity key (customer_id on the topic), the partition's key
    value: bytes     # its JSON
    record_key: bytes | None  # the Kafka record's key: none for event records


def end_offsets(bootstrap: str, topic: str = TOUCHPOINTS) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return consumer.end_offsets(parts)
    finally:
        consumer.close()


def read_events(bootstrap: str, topic: str = TOUCHPOINTS,
                since: dict[TopicPartition, int] | None = None, timeout_s: float = 30) -> list[TopicEvent]:
    """Every event from `since` (default: the start) to the topic's end now, record by record."""
    end = end_offsets(bootstrap, topic)
    start = since or {tp: 0 for tp in end}
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    events: list[TopicEvent] = []
    try:
        wanted = [tp for tp in end if start.get(tp, 0) < end[tp]]
        consumer.assign(wanted)
        for tp in wanted:
            consumer.seek(tp, start.get(tp, 0))
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end[tp] for tp in wanted):
            assert time.monotonic() < deadline, f"reading {topic} took over {timeout_s} s"
            for tp, records in consumer.poll(timeout_ms=500).items():
                for r in records:
                    if r.offset < end[tp]:
                        events.extend(_events(r))
    finally:
        consumer.close()
    return sorted(events, key=lambda e: (e.partition, e.offset, e.index))


def _events(r) -> list[TopicEvent]:
    try:
        values = [(e, orjson.dumps(e)) for e in raw_events(r.value)]
    except (orjson.JSONDecodeError, orjson.JSONEncodeError, TypeError):  # a broken record, as it is
        values = [(None, r.value)]
    return [TopicEvent(r.partition, r.offset, i, _key(e, r.key), value, r.key) for i, (e, value) in enumerate(values)]


def _key(event, record_key: bytes | None) -> bytes:
    customer_id = event.get("customer_id") if isinstance(event, dict) else None
    return customer_id.encode() if isinstance(customer_id, str) else (record_key or b"")
