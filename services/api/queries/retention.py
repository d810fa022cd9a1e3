"""Cohort retention: of the customers who first reached a stage in an interval, how many came
back (had a return-stage event) in each following interval.

Semantics (tests/api/cohort_reference.py is the executable spec):

* Intervals: UTC days, weeks starting Monday, or calendar months (see intervals.py). The
  cohorts are the whole intervals that overlap [start, end): an unaligned start or end widens
  the range to interval boundaries, so every cohort is a complete interval.
* A customer's cohort is the interval of their FIRST-EVER cohort_stage event, over all time,
  not just the range: a cohort is the customers who are new to that stage then. Customers
  whose first such event lies outside the cohort intervals are in no cohort.
* retained[i], i = 0..periods-1: cohort customers with a return_stage event in the i-th
  interval after the cohort's (i = 0: the cohort interval itself, everyone by definition).
  retention_rate[i] = retained[i] / customers, 0.0 for an empty cohort.
* Defaults: cohort_stage = return_stage = purchase, i.e. repeat-purchase retention of new
  buyers. "any" matches every stage: any/any is first-seen / active retention.
* Only what has started is reported: intervals starting after `now` (the API's clock) are
  left out, so a recent cohort has fewer than `periods` values and cohorts that have not
  started are not listed. An interval in progress is reported as it stands. Empty cohorts
  before now are listed (customers 0), so the series is dense.
* channel: when set, only events of that channel are read (as the funnel's filter), so the
  cohort is the first-ever cohort_stage event on that channel and returns count there only.
* Duplicate copies of an event change nothing: only first times and sets of intervals count.

SQL: one GROUP BY person_key (the person's UInt64 hash, migration 0007) over the events before
the last reported interval's end that are cohort-stage or later return-stage events (others
cannot change a cohort or a return, and leaving them out of the GROUP BY halves its CPU): the
cohort interval is min(ordinal) of the cohort-stage events (intervals are monotonic in
time, so that is the interval of the first event), the return intervals are
groupUniqArray(ordinal) of later return-stage events; the outer GROUP BY cohort adds up
per-period hit flags with sumForEach. No per-customer Python.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated

from clickhouse_connect.driver.client import Client
from pydantic import BaseModel, ConfigDict, Field

from schemas.events import Channel
from services.api.queries.base import UTC, QueryRunner
from services.api.queries.intervals import (
    ORDINAL_SQL,
    Interval,
    IntervalRange,
    StageFilter,
    epoch_ms_floor,
    interval_start,
    interval_start_ms,
    ordinal,
    range_ordinals,
    stage_condition,
    stage_parameter,
)

DEFAULT_PERIODS = 8
MAX_PERIODS = 52


class RetentionQuery(IntervalRange):
    """Query parameters of GET /v1/retention."""

    model_config = ConfigDict(extra="forbid")

    periods: Annotated[
        int,
        Field(ge=1, le=MAX_PERIODS,
              description="Intervals reported per cohort, the cohort's own included; 1 to 52, default 8",
              examples=[DEFAULT_PERIODS]),
    ] = DEFAULT_PERIODS
    cohort_stage: Annotated[
        StageFilter,
        Field(description="The cohort is the interval of the customer's first-ever event of this stage "
              "(any: first event of any stage); default purchase", examples=["purchase"]),
    ] = StageFilter.purchase
    return_stage: Annotated[
        StageFilter,
        Field(description="A customer is retained in an interval when they have an event of this "
              "stage in it (any: any event); default purchase", examples=["purchase"]),
    ] = StageFilter.purchase
    channel: Annotated[
        Channel | None, Field(description="Read only events of this channel; all channels when absent")
    ] = None


class RetentionCohort(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"cohort_start": "2026-11-02T00:00:00Z", "customers": 200,
                 "retained": [200, 64, 50, 41], "retention_rate": [1.0, 0.32, 0.25, 0.205]}
            ]
        }
    )

    cohort_start: Annotated[datetime, Field(description="Start of the cohort interval, UTC")]
    customers: Annotated[int, Field(ge=0, description="Customers whose first cohort_stage event is in it")]
    retained: Annotated[
        list[int],
        Field(description="retained[i]: cohort customers with a return_stage event in the i-th "
              "interval after the cohort's; [0] is everyone. Intervals not yet started are left out."),
    ]
    retention_rate: Annotated[
        list[float], Field(description="retained[i] / customers; 0.0 when the cohort is empty")
    ]


class RetentionResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "start": "2026-11-02T00:00:00Z", "end": "2026-11-16T00:00:00Z", "interval": "week",
                    "periods": 3, "cohort_stage": "purchase", "return_stage": "purchase",
                    "cohorts": [
                        {"cohort_start": "2026-11-02T00:00:00Z", "customers": 200,
                         "retained": [200, 64, 50], "retention_rate": [1.0, 0.32, 0.25]},
                        {"cohort_start": "2026-11-09T00:00:00Z", "customers": 180,
                         "retained": [180, 45, 38], "retention_rate": [1.0, 0.25, 0.2111111111111111]},
                    ],
                }
            ]
        }
    )

    start: Annotated[datetime, Field(description="Requested inclusive start, UTC")]
    end: Annotated[datetime, Field(description="Requested exclusive end, UTC")]
    interval: Interval
    periods: int
    cohort_stage: StageFilter
    return_stage: StageFilter
    cohorts: Annotated[
        list[RetentionCohort],
        Field(description="One per interval overlapping [start, end) that has started, oldest first"),
    ]


def _build_sql(interval: Interval, with_channel: bool) -> str:
    channel = " AND channel = {channel:String}" if with_channel else ""
    return f"""
SELECT cohort, count() AS customers,
       sumForEach(arrayMap(i -> toUInt64(has(returns, cohort + i)), range(1, {{periods:UInt8}}))) AS retained
FROM
(
    SELECT minIf(o, is_cohort) AS cohort,
           groupUniqArrayIf(o, is_return AND o > {{first:Int32}}) AS returns
    FROM
    (
        SELECT person_key, {ORDINAL_SQL[interval]} AS o,
               {stage_condition("cohort_stage")} AS is_cohort,
               {stage_condition("return_stage")} AS is_return
        FROM person_events
        -- no lower bound: the cohort is the interval of the first-ever cohort-stage event
        WHERE occurred_at < fromUnixTimestamp64Milli({{read_end_ms:Int64}}, 'UTC'){channel}
    )
    -- a row that is neither a cohort event nor a later return changes nothing: not grouped
    WHERE is_cohort OR (is_return AND o > {{first:Int32}})
    GROUP BY person_key
    HAVING countIf(is_cohort) > 0 AND cohort BETWEEN {{first:Int32}} AND {{last:Int32}}
)
GROUP BY cohort
"""


SQL: dict[tuple[Interval, bool], str] = {(i, c): _build_sql(i, c) for i in Interval for c in (False, True)}


class RetentionQueryRunner(QueryRunner[RetentionQuery, RetentionResponse]):
    def __init__(self, client: Client, query: RetentionQuery, *, timeout_seconds: float | None = None,
                 now: datetime | None = None) -> None:
        super().__init__(client, query, timeout_seconds=timeout_seconds)
        self.now = now  # tests pin the clock; None: the time of run()

    def run(self) -> RetentionResponse:
        q = self.query
        now = self.now or datetime.now(UTC)
        first, last = range_ordinals(q.start, q.end, q.interval)
        now_ordinal = ordinal(epoch_ms_floor(now), q.interval)
        last = min(last, now_ordinal)  # cohorts not started yet are not listed
        cohorts: list[RetentionCohort] = []
        if last >= first:
            parameters = {
                "first": first,
                "last": last,
                "periods": q.periods,
                "cohort_stage": stage_parameter(q.cohort_stage),
                "return_stage": stage_parameter(q.return_stage),
                "read_end_ms": interval_start_ms(min(last + q.periods, now_ordinal + 1), q.interval),
            }
            if q.channel is not None:
                parameters["channel"] = q.channel.value
            rows = self.select(SQL[(q.interval, q.channel is not None)], parameters).result_rows
            found = {int(c): (int(n), [int(r) for r in retained]) for c, n, retained in rows}
            for cohort in range(first, last + 1):
                customers, later = found.get(cohort, (0, [0] * (q.periods - 1)))
                shown = min(q.periods, now_ordinal - cohort + 1)
                retained = [customers, *later][:shown]
                cohorts.append(RetentionCohort(
                    cohort_start=interval_start(cohort, q.interval),
                    customers=customers,
                    retained=retained,
                    retention_rate=[r / customers if customers else 0.0 for r in retained],
                ))
        return RetentionResponse(
            start=q.start, end=q.end, interval=q.interval, periods=q.periods,
            cohort_stage=q.cohort_stage, return_stage=q.return_stage, cohorts=cohorts,
        )
