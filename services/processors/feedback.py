"""Feedback status agent: status changes from journeyline.feedback-status.v1 into ClickHouse.

Each batch is written to `feedback_status_history` (every change) and `feedback_status` (the
latest per item, ReplacingMergeTree on version = changed_at in microseconds) before it is acked.
Delivery is at-least-once: change_ids already in the history are left out, so a replayed batch
adds no copy there in the usual case (readers count each change_id once anyway), and re-inserting
a change into `feedback_status` is harmless because its version is the change's own.

Rebuild: the history is the status log's copy in ClickHouse; the current-status table is a
projection of it, rebuilt in place by `feedback_projection.rebuild_current_status` (idempotent; needs no
table swap, since versions come from the changes themselves). Feedback items need no rebuild:
they are read from `events` (services/api/queries/feedback.py).
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from clickhouse_connect.driver.client import Client
from pydantic import ValidationError

from schemas.feedback import StatusChange
from services.common.clickhouse import connect_migrated
from services.common.compat.faust_take import take_events
from services.processors.app import app, settings
from services.processors.feedback_projection import CURRENT_COLUMNS
from services.processors.retry import write_until_taken

log = logging.getLogger("journeyline.feedback")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

HISTORY_COLUMNS = ("event_id", "customer_id", "change_id", "status", "note", "who", "changed_at",
                   "kafka_partition", "kafka_offset")
status_changes = app.topic(
    settings.topic_feedback_status,
    key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
    partitions=settings.topic_partitions,
)


@dataclass(frozen=True)
class Change:
    record: StatusChange
    partition: int
    offset: int


def decode(value: bytes) -> StatusChange:
    return StatusChange.model_validate_json(value)


def version(change: StatusChange) -> int:
    """changed_at in microseconds since the epoch, exactly (the table's version)."""
    return (change.changed_at - EPOCH) // timedelta(microseconds=1)


def history_rows(changes: Sequence[Change]) -> list[list]:
    return [[c.record.event_id, c.record.customer_id, c.record.change_id, c.record.status.value, c.record.note,
             c.record.who, c.record.changed_at, c.partition, c.offset] for c in changes]


def current_rows(changes: Sequence[Change]) -> list[list]:
    return [[c.record.event_id, c.record.customer_id, c.record.change_id, c.record.status.value, c.record.note,
             c.record.who, c.record.changed_at, version(c.record)] for c in changes]


class StatusSink:
    """Writes status changes, retrying until ClickHouse takes them (the caller then acks)."""

    def __init__(self, client: Client, max_backoff_s: float = 10.0) -> None:
        self._client = client
        self._max_backoff_s = max_backoff_s

    async def write(self, changes: Sequence[Change]) -> None:
        if changes:
            await write_until_taken(lambda _: self._insert(changes), f"{len(changes)} status changes",
                                    self._max_backoff_s)

    def _insert(self, changes: Sequence[Change]) -> None:
        present = {row[0] for row in self._client.query(
            "SELECT DISTINCT change_id FROM feedback_status_history "
            "WHERE event_id IN {ids:Array(String)} AND change_id IN {changes:Array(String)}",
            parameters={"ids": sorted({c.record.event_id for c in changes}),
                        "changes": [c.record.change_id for c in changes]},
        ).result_rows}
        new = [c for c in changes if c.record.change_id not in present]
        if new:
            self._client.insert("feedback_status_history", history_rows(new), column_names=HISTORY_COLUMNS)
        # All of them: a crash between the two inserts must not leave the current status behind.
        self._client.insert("feedback_status", current_rows(changes), column_names=CURRENT_COLUMNS)


@functools.cache  # one per process, created at start-up (migrates the schema)
def sink() -> StatusSink:
    return StatusSink(connect_migrated(settings), settings.sink_max_backoff_s)


async def process(batch) -> None:
    changes = []
    for event in batch:
        msg = event.message
        try:
            changes.append(Change(decode(msg.value), msg.partition, msg.offset))
        except (ValidationError, ValueError) as exc:
            # Only the API writes this topic, with the same model: a bad record is a bug to see in
            # the log, and must not stop the partition.
            log.error("skipped invalid status change %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, exc)
    await sink().write(changes)


@app.agent(status_changes, concurrency=1)
async def record_status_changes(stream):
    async for batch in take_events(stream, settings.batch_size, settings.batch_within_s):
        await process(batch)
