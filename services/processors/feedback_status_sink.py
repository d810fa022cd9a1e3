"""Status changes of feedback items into `feedback_status_history` and `feedback_status`.

Each batch is written to `feedback_status_history` (every change) and `feedback_status` (the
latest per item, ReplacingMergeTree on version = changed_at in microseconds) before it is acked
(feedback_agent.py). Delivery is at-least-once: change_ids already in the history are left out, so
a replayed batch adds no copy there in the usual case (readers count each change_id once anyway),
and re-inserting a change into `feedback_status` is harmless because its version is the change's own.

Rebuild: the history is the status log's copy in ClickHouse; the current-status table is a
projection of it, rebuilt in place by `rebuild_current_status` (idempotent; needs no table swap,
since versions come from the changes themselves). No Faust here, so that `journeyline replay` runs
it without a Faust app. Feedback items need no rebuild: they are read from `events`
(services/api/queries/feedback.py).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from clickhouse_connect.driver.client import Client

from schemas.feedback import StatusChange
from services.processors.retry import write_until_taken

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
HISTORY_COLUMNS = ("event_id", "customer_id", "change_id", "status", "note", "who", "changed_at",
                   "kafka_partition", "kafka_offset")
CURRENT_COLUMNS = ("event_id", "customer_id", "change_id", "status", "note", "who", "changed_at", "version")

REBUILD_CURRENT = f"""
INSERT INTO feedback_status ({', '.join(CURRENT_COLUMNS)})
SELECT event_id,
       argMax(customer_id, k), argMax(change_id, k), argMax(status, k), argMax(note, k), argMax(who, k),
       max(changed_at), toUInt64(toUnixTimestamp64Micro(max(changed_at)))
FROM (SELECT *, (changed_at, kafka_partition, kafka_offset) AS k FROM feedback_status_history)
GROUP BY event_id
"""


@dataclass(frozen=True)
class Change:
    record: StatusChange
    partition: int
    offset: int


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


def rebuild_current_status(client: Client) -> int:
    """Re-derive `feedback_status` from the history, in place; returns the items written."""
    client.command(REBUILD_CURRENT)
    return int(client.query("SELECT uniqExact(event_id) FROM feedback_status_history").result_rows[0][0])
