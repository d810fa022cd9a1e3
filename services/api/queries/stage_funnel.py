"""Stage funnel: how many customers move through the six journey stages in canonical order.

Semantics (the reference implementation in tests/api/reference.py is the executable spec):

* Only events with occurred_at in [start, end + window) are read, and with `channel` set,
  only events of that channel. Duplicate copies of an event (same event_id) count once.
* A customer *reaches step k* when they have events e1..ek of stages 1..k (canonical order:
  awareness, consideration, purchase, use, retention, advocacy) with
  t(e1) <= t(e2) <= ... <= t(ek), t(e1) in [start, end) and t(ek) - t(e1) <= window
  (inclusive). Equal timestamps may fill consecutive steps in either arrival order.
  A customer's *level* L is the deepest step they reach (0 if none).
* customers[k] = number of customers with L >= k.
* conversion_from_first[k] = customers[k] / customers[1]; conversion_from_previous[k] =
  customers[k] / customers[k-1] (step 1: customers[1] / customers[1]). A ratio whose
  denominator is 0 is 0.0, so with nobody entering the funnel every ratio is 0.0.
* median_seconds_from_previous[k] (k >= 2): for each customer with L >= 1 take their
  *deepest path*: t1 = the LATEST step-1 time (a stage-1 event in [start, end)) from which
  step L is reached within the window, then greedily t_j = the EARLIEST stage-j event time
  >= t_{j-1}, for j = 2..L (this path stays within the window). The statistic is the median
  over customers with L >= k of (t_k - t_{k-1}) in seconds, millisecond precision; for an
  even count, the mean of the two middle values. null for step 1 and when customers[k] = 0.

How the SQL gets there, per person, in one GROUP BY person_key pass with array functions
(person_key: the UInt64 hash of the resolved customer_id, migrations 0007 and 0008; grouping by it
instead of the String took the query from 1.45 to 1.2-1.3 s of CPU at 10M events; two people
share a key only on a 64-bit collision, about n^2 / 2^65 for n people: 3e-8 at 1M):

* Each event becomes one Int64, `(occurred_ms - start_ms) * 8 + stage_ordinal` (>= 0: only
  events from `start` on are read), so sorting the array sorts by (time, canonical stage).
  Equal-time events thus come in stage order, which lets them fill consecutive steps.
  Duplicate copies of an event share event_id, time and stage (they share the events table's
  sorting key), hence the same Int64; since the funnel only depends on the set of
  (time, stage) pairs, a copy changes nothing, and the fold below is idempotent on repeats.
  This is how "count once" is met without a per-event_id pass (arrayEnumerateUniq over
  event_ids, or a GROUP BY customer_id, event_id), which measured +70% to +200% on the whole
  query at 10M events / 1M customers.
* Customers without a stage-1 event in [start, end) get level 0 from the fold and count
  nowhere. (A HAVING countIf to drop them before the fold cost more than the fold saved.)
* `arrayFold` walks the sorted events keeping, per step k, the latest step-1 time from which
  step k has been reached so far (-1: not yet), like ClickHouse's windowFunnel: a stage-1
  event in [start, end) sets step 1; a stage-k event within the window of step k-1's start
  moves that start up to step k if it is later than step k's current one. At the end the
  number of set steps is L and step L's start is the t1 of the deepest path.
* The rest of the path is `arrayFirst` of the earliest stage-j event at or after t_{j-1}.
* The outer query counts levels and takes exact medians (quantileExactInclusive(0.5), which
  interpolates to the mean of the middle pair).
"""
from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import Channel, Stage
from services.api.queries.base import STAGE_COUNT, STAGES, QueryRunner, TimeRange, epoch_ms_ceil

DEFAULT_WINDOW_SECONDS = 30 * 24 * 3600
MAX_WINDOW_SECONDS = 365 * 24 * 3600


class StageFunnelQuery(TimeRange):
    """Query parameters of GET /v1/funnels/stages."""

    model_config = ConfigDict(extra="forbid")

    window_seconds: Annotated[
        int,
        Field(
            ge=1,
            le=MAX_WINDOW_SECONDS,
            description="Conversion window: the last step's event at most this many seconds after "
            "the first step's event (inclusive). 1 s to 365 days; default 30 days.",
            examples=[DEFAULT_WINDOW_SECONDS],
        ),
    ] = DEFAULT_WINDOW_SECONDS
    channel: Annotated[
        Channel | None,
        Field(description="Count only events of this channel; all channels when absent"),
    ] = None


class StageFunnelStep(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "stage": "consideration",
                    "customers": 412,
                    "conversion_from_first": 0.412,
                    "conversion_from_previous": 0.412,
                    "median_seconds_from_previous": 86400.5,
                }
            ]
        }
    )

    stage: Stage
    customers: Annotated[int, Field(ge=0, description="Customers who reached at least this step")]
    conversion_from_first: Annotated[
        float,
        Field(
            ge=0,
            le=1,
            description="customers / customers of step 1. 1.0 for step 1 when anyone entered; "
            "0.0 for every step when nobody entered the funnel.",
        ),
    ]
    conversion_from_previous: Annotated[
        float,
        Field(
            ge=0,
            le=1,
            description="customers / customers of the previous step (step 1: same as "
            "conversion_from_first); 0.0 when the previous step has no customers.",
        ),
    ]
    median_seconds_from_previous: Annotated[
        float | None,
        Field(
            description="Median, over customers who reached this step, of the seconds between their "
            "previous-step and this-step events on their deepest path: the latest step-1 event from "
            "which they reach their deepest step, then the earliest event of each next stage at or "
            "after the previous one. Even counts: mean of the two middle values. null for step 1 "
            "and when nobody reached the step.",
        ),
    ]


class StageFunnelResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "start": "2026-11-01T00:00:00Z",
                    "end": "2026-12-01T00:00:00Z",
                    "window_seconds": DEFAULT_WINDOW_SECONDS,
                    "channel": None,
                    "stages": [
                        {"stage": "awareness", "customers": 1000, "conversion_from_first": 1.0,
                         "conversion_from_previous": 1.0, "median_seconds_from_previous": None},
                        {"stage": "consideration", "customers": 412, "conversion_from_first": 0.412,
                         "conversion_from_previous": 0.412, "median_seconds_from_previous": 86400.5},
                        {"stage": "purchase", "customers": 120, "conversion_from_first": 0.12,
                         "conversion_from_previous": 0.2912621359223301,
                         "median_seconds_from_previous": 3600.0},
                        {"stage": "use", "customers": 100, "conversion_from_first": 0.1,
                         "conversion_from_previous": 0.8333333333333334,
                         "median_seconds_from_previous": 7200.0},
                        {"stage": "retention", "customers": 40, "conversion_from_first": 0.04,
                         "conversion_from_previous": 0.4, "median_seconds_from_previous": 1209600.0},
                        {"stage": "advocacy", "customers": 5, "conversion_from_first": 0.005,
                         "conversion_from_previous": 0.125, "median_seconds_from_previous": 259200.0},
                    ],
                }
            ]
        }
    )

    start: Annotated[datetime, Field(description="Inclusive start of the step-1 range, in UTC")]
    end: Annotated[datetime, Field(description="Exclusive end of the step-1 range, in UTC")]
    window_seconds: int
    channel: Channel | None
    stages: Annotated[list[StageFunnelStep], Field(description="The six stages in canonical order")]


def _build_sql(with_channel: bool) -> str:
    n = STAGE_COUNT
    # Fold state: tuple of n Int64, element k = latest step-1 time (ms after start) from which
    # step k has been reached so far, -1 when it has not. e: packed event, t = e >> 3, stage = e & 7.
    steps = ["if(bitAnd(e, 7) = 1 AND bitShiftRight(e, 3) < {span_ms:Int64}, bitShiftRight(e, 3), acc.1)"]
    for k in range(2, n + 1):
        steps.append(
            f"if(bitAnd(e, 7) = {k} AND acc.{k - 1} > acc.{k}"
            f" AND bitShiftRight(e, 3) - acc.{k - 1} <= {{window_ms:Int64}}, acc.{k - 1}, acc.{k})"
        )
    fold = (
        "arrayFold((acc, e) -> (" + ", ".join(steps) + "), evs, ("
        + ", ".join(["toInt64(-1)"] * n) + "))"
    )
    level = " + ".join(f"(st.{k} >= 0)" for k in range(1, n + 1))
    counts = ", ".join(f"countIf(level >= {k})" for k in range(1, n + 1))
    medians = ", ".join(
        f"quantileExactInclusiveIf(0.5)(t{k} - t{k - 1}, level >= {k})" for k in range(2, n + 1)
    )
    channel = "\n      AND channel = {channel:String}" if with_channel else ""
    query = f"""
    SELECT
        arraySort(groupArray(
            (toUnixTimestamp64Milli(occurred_at) - {{start_ms:Int64}}) * 8 + toUInt8(stage)
        )) AS evs
    FROM person_events
    WHERE occurred_at >= fromUnixTimestamp64Milli({{start_ms:Int64}}, 'UTC')
      AND occurred_at < fromUnixTimestamp64Milli({{read_end_ms:Int64}}, 'UTC'){channel}
    GROUP BY person_key"""
    # One SELECT level per derived value: the analyzer inlines an alias wherever it is used, so
    # written in one SELECT, t6 held t5 twice, t4 four times, ... and `level` six copies of the
    # fold: planning took longer than running the query. As columns of a subquery they are computed once.
    query = f"SELECT {fold} AS st, evs FROM ({query})"
    query = f"SELECT st, toUInt8({level}) AS level, evs FROM ({query})"
    st = "[" + ", ".join(f"st.{k}" for k in range(1, n + 1)) + "]"
    query = f"SELECT level, evs, {st}[greatest(level, 1)] AS t1 FROM ({query})"
    for k in range(2, n + 1):
        previous = ", ".join(f"t{j}" for j in range(1, k))
        query = (
            f"SELECT level, evs, {previous}, if(level >= {k}, bitShiftRight(arrayFirst(e -> bitAnd(e, 7) = {k}"
            f" AND bitShiftRight(e, 3) >= t{k - 1}, evs), 3), t{k - 1}) AS t{k} FROM ({query})"
        )
    return f"SELECT {counts},\n       {medians}\nFROM ({query})\n"


SQL_ALL_CHANNELS = _build_sql(with_channel=False)
SQL_ONE_CHANNEL = _build_sql(with_channel=True)


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


class StageFunnelQueryRunner(QueryRunner[StageFunnelQuery, StageFunnelResponse]):
    def run(self) -> StageFunnelResponse:
        q = self.query
        start_ms = epoch_ms_ceil(q.start)
        end_ms = epoch_ms_ceil(q.end)
        window_ms = q.window_seconds * 1000
        parameters = {
            "start_ms": start_ms,
            "span_ms": end_ms - start_ms,
            "window_ms": window_ms,
            # The last step is at most window after a step-1 time < end.
            "read_end_ms": end_ms + window_ms,
        }
        sql = SQL_ALL_CHANNELS
        if q.channel is not None:
            sql = SQL_ONE_CHANNEL
            parameters["channel"] = q.channel.value
        row = self.select(sql, parameters).result_rows[0]
        counts = [int(c) for c in row[:STAGE_COUNT]]
        medians_ms = [None, *row[STAGE_COUNT:]]

        steps = []
        for k, stage in enumerate(STAGES):
            median = medians_ms[k]
            steps.append(
                StageFunnelStep(
                    stage=Stage(stage),
                    customers=counts[k],
                    conversion_from_first=_ratio(counts[k], counts[0]),
                    conversion_from_previous=_ratio(counts[k], counts[k - 1] if k else counts[0]),
                    median_seconds_from_previous=(
                        None if median is None or counts[k] == 0 or math.isnan(median) else median / 1000
                    ),
                )
            )
        return StageFunnelResponse(
            start=q.start, end=q.end, window_seconds=q.window_seconds, channel=q.channel, stages=steps
        )
