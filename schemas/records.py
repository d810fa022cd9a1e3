"""The value of a record on the touchpoint topic: an event record, or a single event.

Ingest aggregates (the Kinesis KPL pattern): one Kafka record holds many events of one partition,
`{"events": [<RecordedEvent>, ...]}` (schemas/event_record.v1.schema.json). A consumer pays its
per-record cost (Faust's fetcher, stream and acks: tens of µs) once per record instead of once per
event. Every event of a record belongs to the record's partition: the one Kafka's default
partitioner picks for the event's identity key (services/common/partitioner.py), so a customer's
events still share one partition, in order.

A record may also be a single RecordedEvent JSON object: records written before aggregation, and
producers that write straight to the topic (`journeyline dlq replay` does). The two are told apart
by their fields: an event record has `events`, an event never does (unknown fields are refused).

`decode` turns a record into its events; an invalid event in an event record is refused on its
own (with its index), the others are kept.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.events import RecordedEvent

# Well below Kafka's default message.max.bytes (1 MiB) and ingest's 512 KiB record batches.
MAX_RECORD_BYTES = 256 * 1024
MAX_RECORD_EVENTS = 500
RECORD_PREFIX = b'{"events":['  # how ingest writes it; other spellings are read too
_RECORD_SUFFIX = b"]}"
_RECORD_OVERHEAD = len(RECORD_PREFIX) + len(_RECORD_SUFFIX)


class EventRecord(BaseModel):
    """Many events of one partition in one Kafka record (the touchpoint topic's value)."""

    model_config = ConfigDict(extra="forbid", title="EventRecord")

    events: Annotated[list[RecordedEvent], Field(
        min_length=1, description="Accepted events, all of the record's partition, in the order they were "
                                  "accepted; a customer's events in their order")]


class _LenientRecord(BaseModel):
    # Second pass over a record with invalid events: the valid ones as models, the others as JSON values.
    events: list[Annotated[RecordedEvent | Any, Field(union_mode="left_to_right")]]


def encode(events: Sequence[bytes]) -> bytes:
    """An event record from RecordedEvent JSON values."""
    if len(events) < 2:
        return RECORD_PREFIX + b",".join(events) + _RECORD_SUFFIX
    # One join into the record's buffer: records run to hundreds of KiB, each extra copy is felt.
    parts = list(events)
    parts[0], parts[-1] = RECORD_PREFIX + parts[0], parts[-1] + _RECORD_SUFFIX
    return b",".join(parts)


def record_size(event_bytes: int, events: int) -> int:
    """Bytes of an event record holding `events` events of `event_bytes` bytes in all."""
    return _RECORD_OVERHEAD + event_bytes + max(events - 1, 0)


@dataclass(frozen=True)
class Refused:
    """An event (or a whole record) that does not decode."""

    kind: str           # invalid_event or undecodable
    reason: str
    value: bytes        # the refused event's JSON; the whole record when index is None
    index: int | None   # position in the event record; None: the record itself


Decoded = RecordedEvent | Refused


def _why(errors: list[dict], skip: int = 0) -> str:
    return "invalid event: " + "; ".join(
        f"{'.'.join(map(str, e['loc'][skip:])) or 'value'}: {e['msg']}" for e in errors)


def _is_record_error(errors: list[dict]) -> bool:
    # A single-event decode of an event record fails on the unknown field `events`.
    return any(e["type"] == "extra_forbidden" and e["loc"] == ("events",) for e in errors)


def decode(value: bytes) -> list[Decoded]:
    """The events of a record, in order, each a RecordedEvent or Refused."""
    try:
        if not value.startswith(RECORD_PREFIX):
            try:
                return [RecordedEvent.model_validate_json(value)]
            except ValidationError as exc:
                errors = exc.errors(include_url=False)
                if not _is_record_error(errors):
                    return [Refused("invalid_event", _why(errors), value, None)]
        try:
            return list(EventRecord.model_validate_json(value).events)
        except ValidationError as exc:
            return _partly_valid(value, exc.errors(include_url=False))
    except Exception as exc:  # undecodable bytes must not stop the partition
        return [Refused("undecodable", f"undecodable record: {exc}", value, None)]


def _partly_valid(value: bytes, errors: list[dict]) -> list[Decoded]:
    by_index: dict[int, list[dict]] = {}
    for error in errors:
        loc = error["loc"]
        if len(loc) < 2 or loc[0] != "events" or not isinstance(loc[1], int):
            return [Refused("invalid_event", _why(errors), value, None)]  # the record itself is wrong
        by_index.setdefault(loc[1], []).append(error)
    out: list[Decoded] = []
    for index, item in enumerate(_LenientRecord.model_validate_json(value).events):
        if index in by_index or not isinstance(item, RecordedEvent):
            why = _why(by_index[index], skip=2) if index in by_index else "invalid event: value: not an event"
            out.append(Refused("invalid_event", why, _json(item), index))
        else:
            out.append(item)
    return out


def _json(item: Any) -> bytes:
    # The refused event as JSON again (its original bytes are not kept apart); json, not orjson:
    # integers beyond 64 bits must survive.
    return json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()


def approx_events(value: bytes | None) -> int:
    """About how many events a record holds, without decoding it (sizes the processors' batches)."""
    return max(1, value.count(b'"event_id"')) if value else 1


def raw_events(value: bytes) -> list[Any]:
    """The events of a record as plain JSON values, either shape (for tools and tests)."""
    parsed = orjson.loads(value)
    if isinstance(parsed, dict) and "events" in parsed and isinstance(parsed["events"], list):
        return parsed["events"]
    return [parsed]
