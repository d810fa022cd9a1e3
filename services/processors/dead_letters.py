"""Reading and replaying the dead-letter topic.

The processors dead-letter a record they cannot decode as the JSON envelope
{"reason", "topic", "partition", "offset", "key", "value"} (services/processors/journey_agent.py),
keyed like the original record. An invalid event of an event record (schemas/records.py) is
dead-lettered alone: "value" is that event's JSON, "index" its position in the record, and the
key its customer_id.

* `list_dead_letters`: every dead letter on the topic, each marked pending or not: pending
  means at or past the offset committed by the replay consumer group, i.e. not yet examined.
* `replay_dead_letters`: from the group's committed offsets to the end of the topic, validate
  each value again with RecordedEvent (as the processor does) and re-publish the ones that now
  validate to the touchpoint topic as single-event records, keyed by their customer_id (so in the
  partition ingest chooses for them). A dead letter holding a whole event record (one refused as a
  whole) is re-published event by event, each valid one on its own. Segment calls ingest could not map (topic
  `segment:<path>`) are mapped again with today's rules, so adding a rule and replaying recovers
  them. The others are reported with today's reason.
  The group's offsets are committed after the re-published records are acknowledged, so a
  dead letter is examined, and replayed, once across runs. Were a run to die between the two,
  the next run would publish those records again and the processor would count them once
  (it deduplicates by event_id per customer).
"""
from __future__ import annotations

import heapq
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata
from pydantic import ValidationError

from schemas.events import RecordedEvent
from schemas.identity import RecordedIdentify
from schemas.records import Refused, decode
from services.common.settings import KafkaSettings
from services.ingest.segment.rules import load_rules

REPLAY_GROUP = "journeyline-dlq-replay"
SEGMENT_PREFIX = "segment:"  # envelopes ingest wrote for Segment calls it could not map
READ_STALL_S = 30.0  # give up when the topic's end is not reached and nothing arrives this long
CONNECT_TIMEOUT_S = 10.0  # an operator waiting on a stopped broker wants the message soon


@dataclass
class DeadLetter:
    partition: int          # on the dead-letter topic
    offset: int
    timestamp_ms: int
    key: str
    reason: str             # why the processor refused it
    source_topic: str       # where the processor read it ("" when the envelope does not say)
    source_partition: int | None
    source_offset: int | None
    value: str
    pending: bool = True    # not yet examined by a replay run
    source: str = "default"  # write key source, for calls ingest dead-lettered itself
    source_index: int | None = None  # the event's position in its event record, if it came in one

    @classmethod
    def parse(cls, message, pending: bool) -> DeadLetter:
        key = (message.key or b"").decode(errors="replace")
        try:
            envelope = orjson.loads(message.value or b"")
            if not isinstance(envelope, dict) or not isinstance(envelope.get("value"), str):
                raise ValueError("no 'value' string")
        except (orjson.JSONDecodeError, ValueError) as exc:
            # Not written by our processor; keep it visible rather than crash the listing.
            raw = (message.value or b"").decode(errors="replace")
            return cls(message.partition, message.offset, message.timestamp, key,
                       f"unreadable dead-letter envelope: {exc}", "", None, None, raw, pending)
        return cls(message.partition, message.offset, message.timestamp, key or str(envelope.get("key", "")),
                   str(envelope.get("reason", "")), str(envelope.get("topic", "")),
                   _int_or_none(envelope.get("partition")), _int_or_none(envelope.get("offset")),
                   envelope["value"], pending, str(envelope.get("source") or "default"),
                   _int_or_none(envelope.get("index")))

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _int_or_none(value) -> int | None:
    return value if isinstance(value, int) else None


@dataclass
class ReplayReport:
    dry_run: bool
    replayed: list[tuple[DeadLetter, str]]   # (dead letter, event_id) re-published (or would be)
    invalid: list[tuple[DeadLetter, str]]    # (dead letter, why it still fails)

    def as_dict(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "replayed": [{**d.as_dict(), "event_id": event_id} for d, event_id in self.replayed],
            "invalid": [{**d.as_dict(), "error": error} for d, error in self.invalid],
        }


@dataclass(frozen=True)
class Revived:
    """Where a dead letter that is valid now goes again."""

    topic: str
    key: bytes
    value: bytes
    event_id: str


def revive(letter: DeadLetter, settings: KafkaSettings) -> Revived:
    """The record to publish again for a dead letter; ValueError with today's reason if none."""
    if letter.source_topic.startswith(SEGMENT_PREFIX):
        return _revive_segment(letter, settings)
    event = validate(letter)
    return Revived(settings.topic_touchpoints, event.customer_id.encode(), letter.value.encode(), event.event_id)


def revive_all(letter: DeadLetter, settings: KafkaSettings) -> list[Revived | ValueError]:
    """What to publish again for a dead letter, one entry per event it holds: the record, or a
    ValueError with today's reason. A whole event record goes back event by event."""
    if letter.source_topic.startswith(SEGMENT_PREFIX) or not _is_event_record(letter.value):
        try:
            return [revive(letter, settings)]
        except ValueError as exc:
            return [exc]
    if "\ufffd" in letter.value:
        return [ValueError("value was not valid UTF-8 when dead-lettered; the original bytes are lost")]
    out: list[Revived | ValueError] = []
    for item in decode(letter.value.encode()):
        if isinstance(item, Refused):
            where = "" if item.index is None else f"event {item.index}: "
            out.append(ValueError(where + item.reason.removeprefix("invalid event: ")))
        else:
            out.append(Revived(settings.topic_touchpoints, item.customer_id.encode(),
                               item.model_dump_json(exclude_none=True).encode(), item.event_id))
    return out


def _is_event_record(value: str) -> bool:
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return False
    return isinstance(parsed, dict) and "events" in parsed


def _revive_segment(letter: DeadLetter, settings: KafkaSettings) -> Revived:
    # A Segment call ingest could not map: map it again with today's rules (SEGMENT_RULES_FILE).
    from services.ingest.segment.mapping import map_call
    from services.ingest.settings import IngestSettings

    ingest = IngestSettings()
    mapped = map_call(orjson.loads(letter.value), load_rules(ingest.segment_rules_file),
                      ingest.segment_default_channel, timedelta(hours=ingest.max_future_hours))
    now = datetime.now(timezone.utc)
    if mapped.event is not None:
        key = mapped.event.identity_key
        record = RecordedEvent.model_construct(**{**mapped.event.__dict__, "customer_id": key},
                                               received_at=now, source=letter.source)
        return Revived(settings.topic_touchpoints, key.encode(),
                       record.model_dump_json(exclude_none=True).encode(), record.event_id)
    if mapped.link is not None:
        link = RecordedIdentify.model_construct(**mapped.link.__dict__, received_at=now, source=letter.source)
        return Revived(settings.topic_identities, link.anonymous_id.encode(), link.model_dump_json().encode(),
                       letter.key)
    raise ValueError(mapped.dead_letter)


def validate(letter: DeadLetter) -> RecordedEvent:
    """The event the dead letter holds, validated as the processor decodes it; ValueError if not."""
    if "\ufffd" in letter.value:
        # agent.dead_letter() replaced bytes that were not UTF-8: the original is lost.
        raise ValueError("value was not valid UTF-8 when dead-lettered; the original bytes are lost")
    try:
        return RecordedEvent.model_validate_json(letter.value)
    except ValidationError as exc:
        raise ValueError("; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())) from None


def _consumer(settings: KafkaSettings) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers.split(","),
        group_id=REPLAY_GROUP, enable_auto_commit=False, auto_offset_reset="earliest",
        client_id="journeyline-dlq", request_timeout_ms=30_000,
        bootstrap_timeout_ms=int(CONNECT_TIMEOUT_S * 1000),
    )


def _partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    ids = consumer.partitions_for_topic(topic)
    if not ids:
        raise RuntimeError(f"topic {topic} does not exist; start the processors once to create it")
    return [TopicPartition(topic, p) for p in sorted(ids)]


def read_messages(consumer: KafkaConsumer, start: dict[TopicPartition, int],
          end: dict[TopicPartition, int]) -> Iterator:
    """Messages from `start` up to (not including) `end`, partition by partition interleaved."""
    wanted = [tp for tp in start if start[tp] < end[tp]]
    if not wanted:
        return
    consumer.assign(wanted)
    for tp in wanted:
        consumer.seek(tp, start[tp])
    last_data = time.monotonic()
    while any(consumer.position(tp) < end[tp] for tp in wanted):
        batches = consumer.poll(timeout_ms=500)
        if batches:
            last_data = time.monotonic()
        elif time.monotonic() - last_data > READ_STALL_S:
            raise RuntimeError(f"reading {wanted[0].topic} stalled for {READ_STALL_S:.0f}s")
        for tp, messages in batches.items():
            yield from (m for m in messages if m.offset < end[tp])


def _positions(consumer: KafkaConsumer, parts: list[TopicPartition]) -> tuple[dict, dict, dict]:
    """(beginning, committed-or-beginning, end) offsets per partition."""
    begin = consumer.beginning_offsets(parts)
    end = consumer.end_offsets(parts)
    committed = {}
    for tp in parts:
        offset = consumer.committed(tp)
        committed[tp] = begin[tp] if offset is None else max(offset, begin[tp])
    return begin, committed, end


def _age(letter: DeadLetter) -> tuple[int, int, int]:
    return letter.timestamp_ms, letter.partition, letter.offset


def list_dead_letters(settings: KafkaSettings, limit: int | None = None) -> list[DeadLetter]:
    """The dead letters on the topic, oldest first; with `limit`, the newest `limit` of them."""
    consumer = _consumer(settings)
    try:
        parts = _partitions(consumer, settings.topic_dead_letter)
        begin, committed, end = _positions(consumer, parts)
        if limit:  # the newest `limit` overall are among the newest `limit` of each partition
            begin = {tp: max(begin[tp], end[tp] - limit) for tp in parts}
        letters = (DeadLetter.parse(m, pending=m.offset >= committed[TopicPartition(m.topic, m.partition)])
                   for m in read_messages(consumer, begin, end))
        return sorted(heapq.nlargest(limit, letters, key=_age) if limit else letters, key=_age)
    finally:
        consumer.close(autocommit=False)


def replay_dead_letters(settings: KafkaSettings, dry_run: bool = False) -> ReplayReport:
    """Re-publish the pending dead letters that validate now; commit past all examined ones."""
    consumer = _consumer(settings)
    producer = None
    sent = []
    report = ReplayReport(dry_run, [], [])
    try:
        parts = _partitions(consumer, settings.topic_dead_letter)
        _, committed, end = _positions(consumer, parts)
        for message in read_messages(consumer, committed, end):
            letter = DeadLetter.parse(message, pending=True)
            for revived in revive_all(letter, settings):
                if isinstance(revived, ValueError):
                    report.invalid.append((letter, str(revived)))
                    continue
                report.replayed.append((letter, revived.event_id))
                if dry_run:
                    continue
                if producer is None:
                    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers.split(","),
                                             acks="all", client_id="journeyline-dlq-replay",
                                             bootstrap_timeout_ms=int(CONNECT_TIMEOUT_S * 1000))
                sent.append(producer.send(revived.topic, key=revived.key, value=revived.value))
        if dry_run:
            return report
        if producer is not None:
            producer.flush(timeout=60)
            for future in sent:
                future.get(timeout=60)  # raises unless the broker acknowledged the record
        done = {tp: OffsetAndMetadata(end[tp], "", -1) for tp in parts if end[tp] > committed[tp]}
        if done:
            consumer.commit(done)
        return report
    finally:
        if producer is not None:
            producer.close(timeout=10)
        consumer.close(autocommit=False)
