"""Feedback status agent: status changes from journeyline.feedback-status.v1 into ClickHouse.

Each batch goes to `feedback_status_history` and `feedback_status` (feedback_status_sink.py, which
says why a replayed batch is harmless) before it is acked.
"""
from __future__ import annotations

import functools
import logging

from pydantic import ValidationError

from schemas.feedback import StatusChange
from services.common.clickhouse import connect_migrated
from services.common.compat.faust_take import take_events
from services.processors.app import app, settings
from services.processors.feedback_status_sink import Change, StatusSink

log = logging.getLogger("journeyline.feedback")

status_changes = app.topic(
    settings.topic_feedback_status,
    key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
    partitions=settings.topic_partitions,
)


def decode(value: bytes) -> StatusChange:
    return StatusChange.model_validate_json(value)


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
