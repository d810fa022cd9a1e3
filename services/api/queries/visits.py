"""Visits: when customers come, per UTC hour of the day or ISO weekday, for staffing and offers.

Semantics (tests/api/experience_reference.py is the executable spec):

* Events with occurred_at in [start, end), optionally of one touchpoint and / or one stage.
* Per bucket: events = unique events (duplicate copies of a (customer_id, event_id) count
  once), customers = distinct customers with an event in it (a customer can be in several).
* group_by=hour: buckets 0-23 (UTC hour); group_by=weekday: 1-7 (ISO: Monday = 1). Every
  bucket is listed, in order, zeros included.

SQL: one GROUP BY bucket with exact distinct counts.
"""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from services.api.queries.base import QueryRunner, epoch_ms_ceil
from services.api.queries.intervals import StageFilter, StoredTimeRange, stage_condition, stage_parameter


class VisitsGroupBy(StrEnum):
    hour = "hour"
    weekday = "weekday"


# Whitelisted bucket SQL and the buckets each lists.
_BUCKET_SQL = {VisitsGroupBy.hour: "toHour(occurred_at)", VisitsGroupBy.weekday: "toDayOfWeek(occurred_at)"}
BUCKETS = {VisitsGroupBy.hour: range(0, 24), VisitsGroupBy.weekday: range(1, 8)}


class VisitsQuery(StoredTimeRange):
    """Query parameters of GET /v1/metrics/visits."""

    model_config = ConfigDict(extra="forbid")

    group_by: Annotated[
        VisitsGroupBy, Field(description="hour: UTC hour 0-23; weekday: ISO weekday 1-7, Monday = 1")
    ] = VisitsGroupBy.hour
    touchpoint: Annotated[
        str | None, Field(min_length=1, max_length=256, description="Only events of this touchpoint",
                          examples=["cafe_counter_pos"])
    ] = None
    stage: Annotated[StageFilter, Field(description="Only events of this stage; any: all stages")] = StageFilter.any


class VisitsBucket(BaseModel):
    bucket: Annotated[int, Field(ge=0, le=23, description="UTC hour 0-23, or ISO weekday 1-7 (Monday = 1)")]
    events: Annotated[int, Field(ge=0, description="Unique events")]
    customers: Annotated[int, Field(ge=0, description="Distinct customers with an event")]


class VisitsResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z", "group_by": "weekday",
        "touchpoint": "cafe_counter_pos", "stage": "any",
        "buckets": [
            {"bucket": 1, "events": 410, "customers": 230}, {"bucket": 2, "events": 388, "customers": 221},
            {"bucket": 3, "events": 402, "customers": 226}, {"bucket": 4, "events": 395, "customers": 224},
            {"bucket": 5, "events": 460, "customers": 250}, {"bucket": 6, "events": 520, "customers": 301},
            {"bucket": 7, "events": 0, "customers": 0},
        ],
    }]})

    start: Annotated[datetime, Field(description="Inclusive start, UTC")]
    end: Annotated[datetime, Field(description="Exclusive end, UTC")]
    group_by: VisitsGroupBy
    touchpoint: str | None
    stage: StageFilter
    buckets: Annotated[list[VisitsBucket], Field(description="Every hour 0-23 or weekday 1-7, in order")]


def _build_sql(group_by: VisitsGroupBy) -> str:
    # touchpoint '' means any: touchpoints are never empty (the event format needs one).
    return f"""
SELECT {_BUCKET_SQL[group_by]} AS b, uniqExact(customer_id, event_id) AS evs, uniqExact(customer_id) AS people
FROM person_events
WHERE occurred_at >= fromUnixTimestamp64Milli({{start_ms:Int64}}, 'UTC')
  AND occurred_at < fromUnixTimestamp64Milli({{end_ms:Int64}}, 'UTC')
  AND ({{touchpoint:String}} = '' OR touchpoint = {{touchpoint:String}})
  AND {stage_condition("stage_filter")}
GROUP BY b
"""


SQL = {g: _build_sql(g) for g in VisitsGroupBy}


class VisitsQueryRunner(QueryRunner[VisitsQuery, VisitsResponse]):
    def run(self) -> VisitsResponse:
        q = self.query
        rows = self.select(SQL[q.group_by], {
            "start_ms": epoch_ms_ceil(q.start),
            "end_ms": epoch_ms_ceil(q.end),
            "touchpoint": q.touchpoint or "",
            "stage_filter": stage_parameter(q.stage),
        }).result_rows
        found = {int(b): (int(e), int(c)) for b, e, c in rows}
        buckets = []
        for b in BUCKETS[q.group_by]:
            events, customers = found.get(b, (0, 0))
            buckets.append(VisitsBucket(bucket=b, events=events, customers=customers))
        return VisitsResponse(start=q.start, end=q.end, group_by=q.group_by, touchpoint=q.touchpoint,
                              stage=q.stage, buckets=buckets)
