"""Calendar intervals shared by the cohort insights (retention, lifecycle) and their stage filter.

Intervals are UTC days, weeks starting Monday, and calendar months: the buckets of
toStartOfDay / toMonday / toStartOfMonth. SQL and Python both number them with the same
integer *ordinal* so that "the i-th interval after" is plain addition:

* day: days since 1970-01-01 (floor; negative before 1970);
* week: floor((day + 3) / 7), 1970-01-01 being a Thursday, so ordinal 0 is the week of
  Monday 1969-12-29;
* month: year * 12 + month - 1.

The SQL computes them from Date32 and year/month (toMonday and toRelative*Num clamp to 1970
on Date, so they are not used), for any time occurred_at can hold (1900 to 2299).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator

from schemas.events import STAGES
from services.api.queries.base import EPOCH, STAGE_ORDINAL, UTC, TimeRange, epoch_ms_ceil

DAY_MS = 86_400_000
# The times DateTime64(3) holds; request times are kept inside so interval maths stay in range.
MIN_TIME = datetime(1900, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(2299, 12, 31, tzinfo=UTC)
# Intervals one request may span: about 2.7 years of days, 19 years of weeks.
MAX_INTERVALS = 1000


class Interval(StrEnum):
    day = "day"
    week = "week"
    month = "month"


class SeriesInterval(StrEnum):
    """An optional time series: none, or buckets of an Interval."""

    none = "none"
    day = "day"
    week = "week"
    month = "month"


class GroupBy(StrEnum):
    none = "none"
    channel = "channel"
    touchpoint = "touchpoint"
    stage = "stage"


# Whitelisted SQL of each dimension: the only text that varies between a query's variants.
GROUP_BY_SQL = {
    GroupBy.channel: "toString(channel)",
    GroupBy.touchpoint: "toString(touchpoint)",
    GroupBy.stage: "toString(stage)",
}


# Stage filters: a stage, or "any" for every stage. Parameter value: the stage's Enum8
# ordinal, 0 for any, so one SQL text serves all filters.
StageFilter = StrEnum("StageFilter", [("any", "any"), *((s, s) for s in STAGES)])


def stage_parameter(stage: StageFilter) -> int:
    return STAGE_ORDINAL.get(stage.value, 0)


def stage_condition(name: str) -> str:
    """SQL: the row's stage passes the `{name:UInt8}` filter parameter."""
    return f"({{{name}:UInt8}} = 0 OR toUInt8(stage) = {{{name}:UInt8}})"


_DAY_SQL = "toInt32(toDate32(occurred_at))"
ORDINAL_SQL: dict[Interval, str] = {
    Interval.day: _DAY_SQL,
    # Float floor is exact here: |day + 3| < 2^31 and a non-multiple of 7 is >= 1/7 off.
    Interval.week: f"toInt32(floor(({_DAY_SQL} + 3) / 7))",
    Interval.month: "toInt32(toYear(occurred_at) * 12 + toMonth(occurred_at) - 1)",
}


def epoch_ms_floor(value: datetime) -> int:
    return (value - EPOCH) // timedelta(milliseconds=1)


def ordinal(epoch_ms: int, interval: Interval) -> int:
    """Ordinal of the interval holding the millisecond `epoch_ms` (same as ORDINAL_SQL)."""
    day = epoch_ms // DAY_MS
    if interval is Interval.day:
        return day
    if interval is Interval.week:
        return (day + 3) // 7
    moment = EPOCH + timedelta(milliseconds=epoch_ms)
    return moment.year * 12 + moment.month - 1


def interval_start(number: int, interval: Interval) -> datetime:
    """Start (UTC) of the interval with this ordinal."""
    if interval is Interval.day:
        return EPOCH + timedelta(days=number)
    if interval is Interval.week:
        return EPOCH + timedelta(days=7 * number - 3)
    return datetime(number // 12, number % 12 + 1, 1, tzinfo=UTC)


def interval_start_ms(number: int, interval: Interval) -> int:
    return epoch_ms_floor(interval_start(number, interval))


def range_ordinals(start: datetime, end: datetime, interval: Interval) -> tuple[int, int]:
    """First and last ordinals of the intervals overlapping [start, end) (whole intervals)."""
    return ordinal(epoch_ms_floor(start), interval), ordinal(epoch_ms_ceil(end) - 1, interval)


def storable(value: datetime) -> datetime:
    """`value` if events can have it, else ValueError: date maths on it then cannot overflow."""
    if not MIN_TIME <= value <= MAX_TIME:
        raise ValueError("must be between 1900-01-01 and 2299-12-31, the times events can have")
    return value


class StoredTimeRange(TimeRange):
    """[start, end) within the times events can have (so interval maths cannot overflow)."""

    @field_validator("start", "end")
    @classmethod
    def _storable(cls, value: datetime) -> datetime:
        return storable(value)


class IntervalRange(StoredTimeRange):
    """[start, end) reported in whole intervals: every interval that overlaps the range."""

    interval: Annotated[
        Interval,
        # validate_default: the interval-count check also runs for the default
        Field(description="day (UTC), week (starting Monday, UTC) or month (UTC); default week",
              examples=["week"], validate_default=True),
    ] = Interval.week

    @field_validator("interval")
    @classmethod
    def _not_too_many(cls, value: Interval, info: ValidationInfo) -> Interval:
        # Fields validate in order: start and end (inherited) come before interval.
        start, end = info.data.get("start"), info.data.get("end")
        if start is not None and end is not None:
            first, last = range_ordinals(start, end, value)
            if last - first + 1 > MAX_INTERVALS:
                raise ValueError(
                    f"[start, end) spans {last - first + 1} {value.value} intervals; at most "
                    f"{MAX_INTERVALS}: choose a longer interval or a shorter range"
                )
        return value
