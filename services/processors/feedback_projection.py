"""The current-status projection of the feedback loop, rebuilt in place from its history.

No table swap is needed: each row's version is its change's own time, so re-deriving is idempotent.
Kept apart from the Faust agent so that `journeyline replay` can run it without a Faust app.
"""
from __future__ import annotations

from clickhouse_connect.driver.client import Client

CURRENT_COLUMNS = ("event_id", "customer_id", "change_id", "status", "note", "who", "changed_at", "version")

REBUILD_CURRENT = f"""
INSERT INTO feedback_status ({', '.join(CURRENT_COLUMNS)})
SELECT event_id,
       argMax(customer_id, k), argMax(change_id, k), argMax(status, k), argMax(note, k), argMax(who, k),
       max(changed_at), toUInt64(toUnixTimestamp64Micro(max(changed_at)))
FROM (SELECT *, (changed_at, kafka_partition, kafka_offset) AS k FROM feedback_status_history)
GROUP BY event_id
"""


def rebuild_current_status(client: Client) -> int:
    """Re-derive `feedback_status` from the history, in place; returns the items written."""
    client.command(REBUILD_CURRENT)
    return int(client.query("SELECT uniqExact(event_id) FROM feedback_status_history").result_rows[0][0])
