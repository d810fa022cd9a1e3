"""Lifecycle: per interval, how the active customer base is made up and what it lost.

Semantics (PostHog's lifecycle; tests/api/cohort_reference.py is the executable spec).
A customer is *active* in an interval when they have any event in it (any stage). For each
interval I:

* new: customers whose first-ever event (over all time, not just the range) is in I;
* returning: active in I and in the interval before I;
* resurrecting: active in I, not in the interval before, but active at some earlier time;
* dormant: active in the interval before I and not in I. A positive count (PostHog plots it
  as a negative number; negate it to chart it that way).

new + returning + resurrecting = the customers active in I. Intervals: the whole intervals
overlapping [start, end), as in retention (see intervals.py); intervals starting after `now`
are left out. Every listed interval has a row, zeros included. Duplicate copies of an event
change nothing.

SQL: one GROUP BY customer_id over events before the last interval's end gives the first
interval ever (min ordinal) and the set of active intervals from the one before the range;
ARRAY JOIN then visits, per customer, only the intervals where they are active or were
active the interval before (the others count nowhere), and GROUP BY interval counts.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated

from clickhouse_connect.driver.client import Client
from pydantic import BaseModel, ConfigDict, Field

from services.api.queries.base import UTC, QueryRunner
from services.api.queries.intervals import (
    ORDINAL_SQL,
    Interval,
    IntervalRange,
    epoch_ms_floor,
    interval_start,
    interval_start_ms,
    ordinal,
    range_ordinals,
)


class LifecycleQuery(IntervalRange):
    """Query parameters of GET /v1/lifecycle."""

    model_config = ConfigDict(extra="forbid")


class LifecyclePoint(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"interval_start": "2026-11-02T00:00:00Z", "new": 120, "returning": 340,
                 "resurrecting": 45, "dormant": 80}
            ]
        }
    )

    interval_start: Annotated[datetime, Field(description="Start of the interval, UTC")]
    new: Annotated[int, Field(ge=0, description="First-ever event in this interval")]
    returning: Annotated[int, Field(ge=0, description="Active in this and the previous interval")]
    resurrecting: Annotated[
        int, Field(ge=0, description="Active in this interval, not the previous one, but active before")
    ]
    dormant: Annotated[
        int, Field(ge=0, description="Active in the previous interval, not in this one (a positive count)")
    ]


class LifecycleResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "start": "2026-11-02T00:00:00Z", "end": "2026-11-16T00:00:00Z", "interval": "week",
                    "series": [
                        {"interval_start": "2026-11-02T00:00:00Z", "new": 120, "returning": 340,
                         "resurrecting": 45, "dormant": 80},
                        {"interval_start": "2026-11-09T00:00:00Z", "new": 98, "returning": 390,
                         "resurrecting": 30, "dormant": 115},
                    ],
                }
            ]
        }
    )

    start: Annotated[datetime, Field(description="Requested inclusive start, UTC")]
    end: Annotated[datetime, Field(description="Requested exclusive end, UTC")]
    interval: Interval
    series: Annotated[
        list[LifecyclePoint],
        Field(description="One per interval overlapping [start, end) that has started, oldest first"),
    ]


def _build_sql(interval: Interval) -> str:
    return f"""
SELECT i,
       countIf(has(active, i) AND first_seen = i) AS new,
       countIf(has(active, i) AND has(active, i - 1)) AS returning,
       countIf(has(active, i) AND NOT has(active, i - 1) AND first_seen < i) AS resurrecting,
       countIf(NOT has(active, i) AND has(active, i - 1)) AS dormant
FROM
(
    SELECT min(o) AS first_seen, groupUniqArrayIf(o, o >= {{first:Int32}} - 1) AS active
    FROM
    (
        SELECT customer_id, {ORDINAL_SQL[interval]} AS o
        FROM person_events
        -- no lower bound: "new" needs each customer's first-ever event
        WHERE occurred_at < fromUnixTimestamp64Milli({{read_end_ms:Int64}}, 'UTC')
    )
    GROUP BY customer_id
    HAVING notEmpty(active)
)
ARRAY JOIN arrayFilter(
    x -> x BETWEEN {{first:Int32}} AND {{last:Int32}},
    arrayDistinct(arrayConcat(active, arrayMap(x -> x + 1, active)))
) AS i
GROUP BY i
"""


SQL: dict[Interval, str] = {interval: _build_sql(interval) for interval in Interval}


class LifecycleQueryRunner(QueryRunner[LifecycleQuery, LifecycleResponse]):
    def __init__(self, client: Client, query: LifecycleQuery, *, timeout_seconds: float | None = None,
                 now: datetime | None = None) -> None:
        super().__init__(client, query, timeout_seconds=timeout_seconds)
        self.now = now  # tests pin the clock; None: the time of run()

    def run(self) -> LifecycleResponse:
        q = self.query
        now = self.now or datetime.now(UTC)
        first, last = range_ordinals(q.start, q.end, q.interval)
        last = min(last, ordinal(epoch_ms_floor(now), q.interval))  # intervals not started yet
        series: list[LifecyclePoint] = []
        if last >= first:
            rows = self.select(SQL[q.interval], {
                "first": first,
                "last": last,
                "read_end_ms": interval_start_ms(last + 1, q.interval),
            }).result_rows
            found = {int(i): [int(v) for v in counts] for i, *counts in rows}
            for i in range(first, last + 1):
                new, returning, resurrecting, dormant = found.get(i, [0, 0, 0, 0])
                series.append(LifecyclePoint(
                    interval_start=interval_start(i, q.interval), new=new, returning=returning,
                    resurrecting=resurrecting, dormant=dormant,
                ))
        return LifecycleResponse(start=q.start, end=q.end, interval=q.interval, series=series)
