"""The invariant every accepted event lands in `events` once, checked against the touchpoint topic.

The topic holds what ingest accepted (a 202 means every event of the request is on it). `check`
reads a range of it, by time or offsets, and finds each event in ClickHouse by (customer_id,
event_id). Each unique event is then one of:

* stored: `events` holds it;
* dead-lettered: on the dead-letter topic (refused as invalid, or refused by ClickHouse), where
  `journeyline dlq` shows it and can send it again;
* pending: not stored yet, but at or past the offset the processors committed: still in flight;
* missing: none of these. The processors acknowledged its record without storing it: a loss.

`repair` writes the missing events to `events` at their first Kafka position, as the processors
would have; rebuilding the projections afterwards (replay.py) makes the journeys agree again.
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from clickhouse_connect.driver.client import Client
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from schemas.records import Refused, decode
from services.processors.dead_letters import CONNECT_TIMEOUT_S, list_dead_letters, read_messages
from services.processors.events_sink import ClickHouseSink, Consumed, RefusedEvent, present_keys
from services.processors.settings import ProcessorSettings

LOOKUP_CHUNK = 5000
Key = tuple[str, str]


@dataclass(frozen=True)
class Span:
    """Which part of the topic to read: times bound records by their Kafka timestamp (when ingest
    accepted them), offsets apply to every partition (or only to `partition`)."""

    since: datetime | None = None
    until: datetime | None = None
    from_offset: int | None = None
    to_offset: int | None = None
    partition: int | None = None


@dataclass
class Report:
    ranges: dict[int, tuple[int, int]] = field(default_factory=dict)  # partition -> [start, end)
    records: int = 0
    events: int = 0                       # events read, copies included
    unique: int = 0
    stored: int = 0
    dead_lettered: int = 0
    pending: int = 0
    missing: list[Consumed] = field(default_factory=list)
    undecodable: list[tuple[int, int, str]] = field(default_factory=list)  # lost records: (partition, offset, why)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.undecodable

    def as_dict(self) -> dict:
        return {
            "ok": self.ok, "ranges": {str(p): list(r) for p, r in self.ranges.items()},
            "records": self.records, "events": self.events, "unique": self.unique, "stored": self.stored,
            "dead_lettered": self.dead_lettered, "pending": self.pending,
            "missing": [missing_dict(item) for item in self.missing],
            "undecodable": [{"partition": p, "offset": o, "reason": why} for p, o, why in self.undecodable],
        }


def missing_dict(item: Consumed) -> dict:
    event = item.event
    return {"partition": item.partition, "offset": item.offset, "customer_id": event.customer_id,
            "event_id": event.event_id, "occurred_at": event.occurred_at.isoformat(),
            "received_at": event.received_at.isoformat()}


class DeadLetters:
    """What the dead-letter topic holds of the touchpoint topic: refused events by (customer_id,
    event_id), refused records by (partition, offset, index)."""

    def __init__(self, settings: ProcessorSettings):
        self.keys: set[Key] = set()
        self.positions: set[tuple[int | None, int | None, int | None]] = set()
        for letter in list_dead_letters(settings):
            if letter.source_topic != settings.topic_touchpoints:
                continue
            self.positions.add((letter.source_partition, letter.source_offset, letter.source_index))
            try:
                value = orjson.loads(letter.value)
            except orjson.JSONDecodeError:
                continue
            if isinstance(value, dict) and isinstance(value.get("customer_id"), str):
                self.keys.add((value["customer_id"], str(value.get("event_id", ""))))


def _consumer(settings: ProcessorSettings) -> KafkaConsumer:
    return KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers.split(","), group_id=None,
                         enable_auto_commit=False, client_id="journeyline-check", request_timeout_ms=30_000,
                         bootstrap_timeout_ms=int(CONNECT_TIMEOUT_S * 1000))


def committed_offsets(settings: ProcessorSettings) -> dict[int, int]:
    """partition -> the next offset the processors will read, as their consumer group committed it."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers.split(","),
                             client_id="journeyline-check", request_timeout_ms=30_000)
    try:
        offsets = admin.list_group_offsets(settings.processor_app_id).get(settings.processor_app_id, {})
    finally:
        admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items()
            if tp.topic == settings.topic_touchpoints and meta.offset >= 0}


def _ranges(consumer: KafkaConsumer, topic: str, span: Span) -> dict[TopicPartition, tuple[int, int]]:
    ids = consumer.partitions_for_topic(topic)
    if not ids:
        raise RuntimeError(f"topic {topic} does not exist")
    if span.partition is not None and span.partition not in ids:
        raise ValueError(f"partition {span.partition} is not one of {topic}'s ({len(ids)} partitions)")
    parts = [TopicPartition(topic, p) for p in sorted(ids) if span.partition in (None, p)]
    begin, end = consumer.beginning_offsets(parts), consumer.end_offsets(parts)
    start, stop = dict(begin), dict(end)
    for bound, target, default in ((span.since, start, end), (span.until, stop, end)):
        if bound is not None:
            found = consumer.offsets_for_times({tp: int(bound.timestamp() * 1000) for tp in parts})
            target.update({tp: default[tp] if at is None else at.offset for tp, at in found.items()})
    if span.from_offset is not None:
        start = {tp: max(start[tp], span.from_offset) for tp in parts}
    if span.to_offset is not None:
        stop = {tp: min(stop[tp], span.to_offset) for tp in parts}
    return {tp: (start[tp], max(start[tp], stop[tp])) for tp in parts}


def _chunks(items: Iterable[Consumed], size: int) -> Iterator[list[Consumed]]:
    chunk: list[Consumed] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def check(settings: ProcessorSettings, client: Client, span: Span = Span()) -> Report:
    """Read the span of the touchpoint topic and account for every event in it (module doc)."""
    committed = committed_offsets(settings)  # first: what it covers was written (or dead-lettered) before
    letters = DeadLetters(settings)
    report, consumer = Report(), _consumer(settings)
    seen: set[Key] = set()
    try:
        ranges = _ranges(consumer, settings.topic_touchpoints, span)
        report.ranges = {tp.partition: bounds for tp, bounds in ranges.items()}
        events = _events(consumer, ranges, report, letters)
        for chunk in _chunks((item for item in events if _first(item, seen)), LOOKUP_CHUNK):
            stored = present_keys(client, [(i.event.customer_id, i.event.event_id) for i in chunk])
            for item in chunk:
                key = (item.event.customer_id, item.event.event_id)
                if key in stored:
                    report.stored += 1
                elif key in letters.keys:
                    report.dead_lettered += 1
                elif item.offset >= committed.get(item.partition, 0):
                    report.pending += 1
                else:
                    report.missing.append(item)
    finally:
        consumer.close(autocommit=False)
    report.unique = len(seen)
    return report


def _first(item: Consumed, seen: set[Key]) -> bool:
    key = (item.event.customer_id, item.event.event_id)
    if key in seen:
        return False
    seen.add(key)
    return True


def _events(consumer: KafkaConsumer, ranges: dict[TopicPartition, tuple[int, int]], report: Report,
            letters: DeadLetters) -> Iterator[Consumed]:
    start = {tp: bounds[0] for tp, bounds in ranges.items()}
    end = {tp: bounds[1] for tp, bounds in ranges.items()}
    for message in read_messages(consumer, start, end):
        report.records += 1
        for item in decode(message.value):
            if isinstance(item, Refused):
                if (message.partition, message.offset, item.index) in letters.positions:
                    report.dead_lettered += 1
                else:
                    report.undecodable.append((message.partition, message.offset, item.reason))
                continue
            report.events += 1
            yield Consumed(item, message.partition, message.offset)


def repair(client: Client, missing: list[Consumed]) -> list[RefusedEvent]:
    """Write the missing events at their first Kafka position; returns those ClickHouse refused."""
    return asyncio.run(ClickHouseSink(client).write_events(missing, maybe_written=True))
