"""Customer-experience scores: NPS, CSAT and CES over a time range, optionally per group and
per interval.

Semantics (tests/api/experience_reference.py is the executable spec):

* A *response* is a unique event (duplicate copies of an (customer_id, event_id) count once)
  with occurred_at in [start, end) that carries a score of the metric's kind; events without
  one do not count (a CSAT-only event is no NPS response).
* NPS (0-10): promoters 9-10, passives 7-8, detractors 0-6;
  score = 100 * (promoters - detractors) / responses, -100..100.
* CSAT (1-5): satisfied = responses of 4 or 5 (top-2-box); score = 100 * satisfied / responses;
  mean = the mean response.
* CES (1-7) on the CES 2.0 agreement scale ("the company made it easy for me": 1 strongly
  disagree .. 7 strongly agree), so HIGH IS EASY: score = the mean response; easy = responses
  of 5-7, easy_percent = 100 * easy / responses. (A team using a 1-5 "effort" scale, where low
  is good, must not send it as ces.)
* Rounding, from the exact integer counts, half away from zero: percentages and NPS to 1
  decimal, means to 2 decimals. Scores, means and percentages are null with no responses.
* channel: when set, only responses given on that channel count (as the funnel's filter).
* group_by (channel, touchpoint, stage): `groups` lists the groups with responses, by
  responses descending, then group name. [] when group_by=none.
* interval (UTC day, week from Monday, calendar month; intervals.py maths): `series` has one
  point per interval overlapping [start, end), oldest first, zeros included (interval_start
  may precede start; only responses in [start, end) count). [] when interval=none.

SQL: one pass. The inner query dedupes the responses (GROUP BY customer_id, event_id after the
time and score filters); the outer one computes the total, each group and each interval at
once with GROUPING SETS, GROUPING() telling the levels apart.
"""
from __future__ import annotations

import decimal
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from schemas.events import Channel
from services.api.queries.base import QueryRunner, epoch_ms_ceil
from services.api.queries.intervals import (
    GROUP_BY_SQL,
    MAX_INTERVALS,
    ORDINAL_SQL,
    GroupBy,
    Interval,
    SeriesInterval,
    StoredTimeRange,
    interval_start,
    range_ordinals,
)


class Metric(StrEnum):
    nps = "nps"
    csat = "csat"
    ces = "ces"


@dataclass(frozen=True)
class Scale:
    column: str  # the events column holding the score
    top: int  # lowest score of the top band: promoters, satisfied, easy
    bottom: int  # highest score of the bottom band (detractors; unused by CSAT and CES)


SCALES = {
    Metric.nps: Scale("nps", top=9, bottom=6),
    Metric.csat: Scale("csat", top=4, bottom=2),
    Metric.ces: Scale("ces", top=5, bottom=3),
}


class ExperienceQuery(StoredTimeRange):
    """Query parameters of GET /v1/metrics/nps, /csat and /ces."""

    model_config = ConfigDict(extra="forbid")

    group_by: Annotated[
        GroupBy, Field(description="Split into `groups` by this dimension; none: groups is []")
    ] = GroupBy.none
    interval: Annotated[
        SeriesInterval,
        Field(description="UTC buckets of `series` (week starts Monday); none: series is []",
              validate_default=True),
    ] = SeriesInterval.none
    channel: Annotated[
        Channel | None, Field(description="Count only responses of this channel; all channels when absent")
    ] = None

    @field_validator("interval")
    @classmethod
    def _not_too_many(cls, value: SeriesInterval, info: ValidationInfo) -> SeriesInterval:
        start, end = info.data.get("start"), info.data.get("end")
        if value is not SeriesInterval.none and start is not None and end is not None:
            first, last = range_ordinals(start, end, Interval(value.value))
            if last - first + 1 > MAX_INTERVALS:
                raise ValueError(f"[start, end) spans {last - first + 1} {value.value} intervals; at most "
                                 f"{MAX_INTERVALS}: choose a longer interval or a shorter range")
        return value


# --- response models ---------------------------------------------------------------------------

_GROUP = Field(description="Channel, touchpoint or stage")
_START = Field(description="Start of the UTC interval (may precede `start`)")
_GROUPS = Field(description="Groups with responses, by responses descending; [] when group_by=none")
_SERIES = Field(description="Every interval overlapping [start, end), oldest first; [] when interval=none")


class Scope(BaseModel):
    start: Annotated[datetime, Field(description="Inclusive start, UTC")]
    end: Annotated[datetime, Field(description="Exclusive end, UTC")]
    group_by: GroupBy
    interval: SeriesInterval


class NpsFigures(BaseModel):
    score: Annotated[float | None, Field(ge=-100, le=100, description="% promoters - % detractors, "
                                         "1 decimal; null without responses")]
    responses: Annotated[int, Field(ge=0, description="Unique events with an NPS score")]
    promoters: Annotated[int, Field(ge=0, description="Responses of 9 or 10")]
    passives: Annotated[int, Field(ge=0, description="Responses of 7 or 8")]
    detractors: Annotated[int, Field(ge=0, description="Responses of 0 to 6")]


class CsatFigures(BaseModel):
    score: Annotated[float | None, Field(ge=0, le=100, description="% of responses that are 4 or 5, "
                                         "1 decimal; null without responses")]
    mean: Annotated[float | None, Field(ge=1, le=5, description="Mean response, 2 decimals")]
    responses: Annotated[int, Field(ge=0, description="Unique events with a CSAT score (1-5)")]
    satisfied: Annotated[int, Field(ge=0, description="Responses of 4 or 5")]


class CesFigures(BaseModel):
    score: Annotated[float | None, Field(ge=1, le=7, description="Mean response on the 1-7 scale where 7 = "
                                         "strongly agree it was easy; 2 decimals; null without responses")]
    easy_percent: Annotated[float | None, Field(ge=0, le=100, description="% of responses 5-7, 1 decimal")]
    responses: Annotated[int, Field(ge=0, description="Unique events with a CES score (1-7)")]
    easy: Annotated[int, Field(ge=0, description="Responses of 5 to 7")]


class NpsGroup(NpsFigures):
    group: Annotated[str, _GROUP]


class NpsPoint(NpsFigures):
    interval_start: Annotated[datetime, _START]


class CsatGroup(CsatFigures):
    group: Annotated[str, _GROUP]


class CsatPoint(CsatFigures):
    interval_start: Annotated[datetime, _START]


class CesGroup(CesFigures):
    group: Annotated[str, _GROUP]


class CesPoint(CesFigures):
    interval_start: Annotated[datetime, _START]


_SCOPE = {"start": "2026-11-01T00:00:00Z", "end": "2026-11-15T00:00:00Z", "group_by": "channel",
          "interval": "week"}


class NpsResponse(Scope, NpsFigures):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        **_SCOPE, "score": 32.5, "responses": 200, "promoters": 100, "passives": 65, "detractors": 35,
        "groups": [
            {"group": "app", "score": 40.0, "responses": 150, "promoters": 80, "passives": 50, "detractors": 20},
            {"group": "email", "score": 10.0, "responses": 50, "promoters": 20, "passives": 15, "detractors": 15},
        ],
        "series": [
            {"interval_start": "2026-10-26T00:00:00Z", "score": None, "responses": 0, "promoters": 0,
             "passives": 0, "detractors": 0},
            {"interval_start": "2026-11-02T00:00:00Z", "score": 30.0, "responses": 120, "promoters": 60,
             "passives": 36, "detractors": 24},
            {"interval_start": "2026-11-09T00:00:00Z", "score": 36.3, "responses": 80, "promoters": 40,
             "passives": 29, "detractors": 11},
        ],
    }]})

    groups: Annotated[list[NpsGroup], _GROUPS]
    series: Annotated[list[NpsPoint], _SERIES]


class CsatResponse(Scope, CsatFigures):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        **_SCOPE, "interval": "none", "score": 78.0, "mean": 4.12, "responses": 200, "satisfied": 156,
        "groups": [
            {"group": "app", "score": 80.0, "mean": 4.2, "responses": 150, "satisfied": 120},
            {"group": "email", "score": 72.0, "mean": 3.88, "responses": 50, "satisfied": 36},
        ],
        "series": [],
    }]})

    groups: Annotated[list[CsatGroup], _GROUPS]
    series: Annotated[list[CsatPoint], _SERIES]


class CesResponse(Scope, CesFigures):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        **_SCOPE, "group_by": "none", "interval": "month", "score": 5.41, "easy_percent": 71.3,
        "responses": 80, "easy": 57, "groups": [],
        "series": [{"interval_start": "2026-11-01T00:00:00Z", "score": 5.41, "easy_percent": 71.3,
                    "responses": 80, "easy": 57}],
    }]})

    groups: Annotated[list[CesGroup], _GROUPS]
    series: Annotated[list[CesPoint], _SERIES]


# --- query -------------------------------------------------------------------------------------


def _build_sql(metric: Metric, group_by: GroupBy, interval: SeriesInterval, with_channel: bool) -> str:
    scale = SCALES[metric]
    inner, sets = [f"any(assumeNotNull({scale.column})) AS v"], ["()"]
    # level: bit 1 for the group, bit 0 for the bucket, set when the row aggregates over that key.
    # A key not asked for is a constant, in no grouping set (GROUPING() refuses it): bit always set.
    grp, grp_bit, bucket, bucket_bit = "''", "1", "0", "1"
    if group_by is not GroupBy.none:
        inner.append(f"any({GROUP_BY_SQL[group_by]}) AS grp")
        sets.append("(grp)")
        grp, grp_bit = "grp", "GROUPING(grp)"
    if interval is not SeriesInterval.none:
        inner.append(f"any({ORDINAL_SQL[Interval(interval.value)]}) AS bucket")
        sets.append("(bucket)")
        bucket, bucket_bit = "bucket", "GROUPING(bucket)"
    channel = "\n      AND channel = {channel:String}" if with_channel else ""
    # Inner aliases differ from column names: ClickHouse would substitute them into WHERE.
    return f"""
SELECT {grp_bit} * 2 + {bucket_bit} AS level, {grp} AS g, {bucket} AS b,
       count() AS responses, countIf(v >= {scale.top}) AS top, countIf(v <= {scale.bottom}) AS bottom,
       sum(v) AS total
FROM
(
    SELECT {", ".join(inner)}
    FROM person_events
    WHERE occurred_at >= fromUnixTimestamp64Milli({{start_ms:Int64}}, 'UTC')
      AND occurred_at < fromUnixTimestamp64Milli({{end_ms:Int64}}, 'UTC')
      AND {scale.column} IS NOT NULL{channel}
    GROUP BY customer_id, event_id
)
GROUP BY GROUPING SETS ({", ".join(sets)})
SETTINGS force_grouping_standard_compatibility = 1
"""


SQL = {(m, g, i, c): _build_sql(m, g, i, c)
       for m in Metric for g in GroupBy for i in SeriesInterval for c in (False, True)}

# Values of `level` (see _build_sql): the total, a group's row, an interval's row.
_TOTAL, _GROUP_ROW, _BUCKET_ROW = 3, 1, 2


def rounded(numerator: int, denominator: int, places: int) -> float | None:
    """numerator / denominator rounded half away from zero; None when the denominator is 0."""
    if not denominator:
        return None
    with decimal.localcontext(prec=60):
        exact = Decimal(numerator) / Decimal(denominator)
        return float(exact.quantize(Decimal(1).scaleb(-places), rounding=decimal.ROUND_HALF_UP))


def nps_figures(responses: int, top: int, bottom: int, total: int) -> dict[str, Any]:
    return {"score": rounded(100 * (top - bottom), responses, 1), "responses": responses, "promoters": top,
            "passives": responses - top - bottom, "detractors": bottom}


def csat_figures(responses: int, top: int, bottom: int, total: int) -> dict[str, Any]:
    return {"score": rounded(100 * top, responses, 1), "mean": rounded(total, responses, 2),
            "responses": responses, "satisfied": top}


def ces_figures(responses: int, top: int, bottom: int, total: int) -> dict[str, Any]:
    return {"score": rounded(total, responses, 2), "easy_percent": rounded(100 * top, responses, 1),
            "responses": responses, "easy": top}


class ScoreQueryRunner(QueryRunner[ExperienceQuery, BaseModel]):
    """One runner per metric: the subclass names the metric, its figures and its models."""

    metric: ClassVar[Metric]
    figures: ClassVar[Any]  # (responses, top, bottom, total) -> figures dict
    response: ClassVar[type[BaseModel]]
    group: ClassVar[type[BaseModel]]
    point: ClassVar[type[BaseModel]]

    def run(self) -> BaseModel:
        q = self.query
        parameters: dict[str, Any] = {"start_ms": epoch_ms_ceil(q.start), "end_ms": epoch_ms_ceil(q.end)}
        if q.channel is not None:
            parameters["channel"] = q.channel.value
        rows = self.select(SQL[(self.metric, q.group_by, q.interval, q.channel is not None)], parameters).result_rows
        figures = self.figures
        empty = figures(0, 0, 0, 0)
        total, groups, buckets = empty, [], {}
        for level, grp, bucket, *counts in rows:
            counts = [int(c) for c in counts]
            if level == _TOTAL:
                total = figures(*counts)
            elif level == _GROUP_ROW:
                groups.append(self.group(group=grp, **figures(*counts)))
            elif level == _BUCKET_ROW:
                buckets[int(bucket)] = figures(*counts)
        groups.sort(key=lambda g: (-g.responses, g.group))
        series = []
        if q.interval is not SeriesInterval.none:
            interval = Interval(q.interval.value)
            first, last = range_ordinals(q.start, q.end, interval)
            series = [self.point(interval_start=interval_start(i, interval), **buckets.get(i, empty))
                      for i in range(first, last + 1)]
        return self.response(start=q.start, end=q.end, group_by=q.group_by, interval=q.interval,
                             groups=groups, series=series, **total)


class NpsQueryRunner(ScoreQueryRunner):
    metric, figures = Metric.nps, staticmethod(nps_figures)
    response, group, point = NpsResponse, NpsGroup, NpsPoint


class CsatQueryRunner(ScoreQueryRunner):
    metric, figures = Metric.csat, staticmethod(csat_figures)
    response, group, point = CsatResponse, CsatGroup, CsatPoint


class CesQueryRunner(ScoreQueryRunner):
    metric, figures = Metric.ces, staticmethod(ces_figures)
    response, group, point = CesResponse, CesGroup, CesPoint
