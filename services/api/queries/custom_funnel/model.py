"""Request and response models of the custom funnel endpoints (semantics: see the package docstring)."""
from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from schemas.events import Channel, Stage
from services.api.queries import base
from services.api.queries.base import TimeRange

DEFAULT_WINDOW_SECONDS = 30 * 24 * 3600
MAX_WINDOW_SECONDS = 365 * 24 * 3600
MAX_STEPS = 20
MAX_EXCLUSIONS = 10
MAX_PROPERTIES = 10
MAX_TREND_INTERVALS = 1000
MAX_BREAKDOWN_VALUES = 25
OTHER_VALUE = "(other)"
INTERVAL_SECONDS = {"day": 86400, "week": 7 * 86400, "month": 31 * 86400}
_EXACT_FLOAT_INT = 2**53  # property numbers compare as Float64: larger integers would not be exact

BREAKDOWN_PATTERN = r"^(channel|touchpoint|stage|event|properties\.[A-Za-z0-9_-]{1,64})$"
PropertyValue = Annotated[str, Field(max_length=1024)] | bool | int | float


class StepFilter(BaseModel):
    """Events matching every given field (at least one is required)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"event": "order_completed", "channel": "pos",
                                         "properties": {"item": "flat white"}, "name": "POS order"}]},
    )

    name: Annotated[str | None, Field(min_length=1, max_length=200, description="Display name; default "
                                      "built from the filter")] = None
    stage: Stage | None = None
    event: Annotated[str | None, Field(min_length=1, max_length=256)] = None
    channel: Channel | None = None
    touchpoint: Annotated[str | None, Field(min_length=1, max_length=256)] = None
    properties: Annotated[
        dict[Annotated[str, Field(min_length=1, max_length=256)], PropertyValue] | None,
        Field(max_length=MAX_PROPERTIES, description="Equality on top-level keys of the event's properties: "
              "a string matches a JSON string, a number any JSON number of equal value, a boolean a JSON boolean"),
    ] = None

    @field_validator("properties")
    @classmethod
    def _numbers_exact(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        for key, v in (value or {}).items():
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"properties.{key} must be a finite number")
            if isinstance(v, int) and not isinstance(v, bool) and abs(v) > _EXACT_FLOAT_INT:
                raise ValueError(f"properties.{key}: integers beyond ±2^53 cannot be compared exactly")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> StepFilter:
        if not self.conditions():
            raise ValueError("a filter needs at least one of stage, event, channel, touchpoint, properties")
        return self

    def conditions(self) -> list[tuple[str, Any]]:
        """(field, value) pairs in a fixed order; properties as ("properties.<key>", value)."""
        pairs: list[tuple[str, Any]] = [
            (f, getattr(self, f)) for f in ("stage", "event", "channel", "touchpoint") if getattr(self, f) is not None
        ]
        pairs += [(f"properties.{k}", v) for k, v in sorted((self.properties or {}).items())]
        return pairs

    def display_name(self) -> str:
        if self.name:
            return self.name
        return ", ".join(f"{f}={v.value if hasattr(v, 'value') else v}" for f, v in self.conditions())


class Exclusion(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"filter": {"event": "cart_abandoned"}, "from_step": 2, "to_step": 3}]},
    )

    filter: StepFilter
    from_step: Annotated[int, Field(ge=1, le=MAX_STEPS, description="1-based step")]
    to_step: Annotated[int, Field(ge=2, le=MAX_STEPS, description="1-based step, after from_step")]


class FunnelDefinition(TimeRange):
    """Steps, step-1 time range [start, end), conversion window, order and exclusions."""

    model_config = ConfigDict(extra="forbid")

    steps: Annotated[list[StepFilter], Field(min_length=2, max_length=MAX_STEPS)]
    window_seconds: Annotated[
        int, Field(ge=1, le=MAX_WINDOW_SECONDS, description="Every step within this many seconds after step 1 "
                   "(inclusive); default 30 days")
    ] = DEFAULT_WINDOW_SECONDS
    order: Annotated[Literal["ordered", "strict", "any"], Field(description="See the endpoint description")] = "ordered"
    exclusions: Annotated[list[Exclusion], Field(max_length=MAX_EXCLUSIONS)] = []

    @field_validator("exclusions")
    @classmethod
    def _exclusion_steps(cls, value: list[Exclusion], info: ValidationInfo) -> list[Exclusion]:
        steps = info.data.get("steps")
        n = len(steps) if steps else MAX_STEPS
        for i, ex in enumerate(value):
            if not ex.from_step < ex.to_step <= n:
                raise ValueError(f"exclusion {i}: need 1 <= from_step < to_step <= {n} (the number of steps)")
            if info.data.get("order") == "any" and (ex.from_step, ex.to_step) != (1, n):
                raise ValueError(f"exclusion {i}: an any-order funnel has no steps in between; only from_step 1 "
                                 f"to to_step {n} (the whole path) is allowed")
        return value


class FunnelQuery(FunnelDefinition):
    """Body of POST /v1/funnels."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "steps": [{"event": "product_viewed"}, {"event": "added_to_cart"}, {"stage": "purchase", "name": "Bought"}],
            "start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z", "window_seconds": 604800,
            "order": "ordered", "exclusions": [{"filter": {"event": "cart_emptied"}, "from_step": 2, "to_step": 3}],
            "breakdown": "channel", "view": "steps",
        }]},
    )

    view: Literal["steps", "time_to_convert", "trends"] = "steps"
    breakdown: Annotated[
        str | None,
        Field(pattern=BREAKDOWN_PATTERN, description="channel, touchpoint, stage, event or properties.<key> "
              "(key: letters, digits, _ and -); steps view only", examples=["channel", "properties.item"]),
    ] = None
    interval: Annotated[Literal["day", "week", "month"], Field(validate_default=True)] = "day"
    bins: Annotated[int, Field(ge=1, le=100, description="time_to_convert: at most this many bins")] = 10

    @field_validator("breakdown")
    @classmethod
    def _breakdown_view(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("view", "steps") != "steps":
            raise ValueError("breakdown is only available with view 'steps'")
        return value

    @field_validator("interval")
    @classmethod
    def _interval_count(cls, value: str, info: ValidationInfo) -> str:
        start, end = info.data.get("start"), info.data.get("end")
        if info.data.get("view") == "trends" and start and end:
            if (end - start).total_seconds() / INTERVAL_SECONDS[value] > MAX_TREND_INTERVALS:
                raise ValueError(f"more than {MAX_TREND_INTERVALS} intervals; use a coarser interval")
        return value


def encode_cursor(customer_id: str) -> str:
    return base.encode_cursor({"after": customer_id})


def decode_cursor(cursor: str) -> str:
    position = base.decode_cursor(cursor)
    if not isinstance(position, dict) or not isinstance(position.get("after"), str):
        raise ValueError("is not a cursor from a previous page's next_cursor")
    return position["after"]


class FunnelCustomersQuery(FunnelDefinition):
    """Body of POST /v1/funnels/customers."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "steps": [{"event": "product_viewed"}, {"event": "added_to_cart"}, {"stage": "purchase"}],
            "start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z",
            "step": 2, "status": "dropped", "limit": 100,
        }]},
    )

    step: Annotated[int, Field(ge=1, le=MAX_STEPS, description="1-based step")]
    status: Annotated[Literal["converted", "dropped"], Field(
        description="converted: reached `step` and went on to step+1; dropped: their deepest step is `step`")]
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    cursor: Annotated[str | None, Field(max_length=2048, description="next_cursor of the previous page")] = None

    @field_validator("step")
    @classmethod
    def _step_in_funnel(cls, value: int, info: ValidationInfo) -> int:
        steps = info.data.get("steps")
        if steps and value > len(steps):
            raise ValueError(f"the funnel has {len(steps)} steps")
        return value

    @field_validator("status")
    @classmethod
    def _status_at_last(cls, value: str, info: ValidationInfo) -> str:
        steps, step = info.data.get("steps"), info.data.get("step")
        if steps and step == len(steps) and value == "converted":
            raise ValueError("nobody goes on past the last step; status 'dropped' lists who stopped there")
        return value

    @field_validator("cursor")
    @classmethod
    def _cursor(cls, value: str | None) -> str | None:
        if value is not None:
            decode_cursor(value)
        return value

    def after(self) -> str | None:
        return None if self.cursor is None else decode_cursor(self.cursor)


# ---- responses -------------------------------------------------------------------------------

class FunnelStep(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "added_to_cart", "customers": 412, "conversion_from_first": 0.412, "conversion_from_previous": 0.412,
        "median_seconds_from_previous": 86400.5}]})

    name: str
    customers: Annotated[int, Field(ge=0, description="Customers whose deepest step is this one or later")]
    conversion_from_first: Annotated[float, Field(ge=0, le=1, description="customers / step-1 customers; "
                                                  "0.0 when nobody entered")]
    conversion_from_previous: Annotated[float, Field(ge=0, le=1, description="customers / previous step's "
                                                     "customers (step 1: as conversion_from_first)")]
    median_seconds_from_previous: Annotated[float | None, Field(
        description="Median over customers who reached this step of (reach time of this step - reach time of "
        "the previous one) on their counted path; even counts: mean of the middle two. null for step 1 "
        "and when nobody reached the step")]


class BreakdownSteps(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"value": "web", "steps": [
        {"name": "product_viewed", "customers": 10, "conversion_from_first": 1.0, "conversion_from_previous": 1.0,
         "median_seconds_from_previous": None},
        {"name": "added_to_cart", "customers": 4, "conversion_from_first": 0.4, "conversion_from_previous": 0.4,
         "median_seconds_from_previous": 120.0}]}]})

    value: Annotated[str, Field(description=f"Breakdown value of the step-1 event; {OTHER_VALUE!r} gathers values "
                                f"beyond the top {MAX_BREAKDOWN_VALUES}")]
    steps: list[FunnelStep]


_STEPS_EXAMPLE = [
    {"name": "product_viewed", "customers": 1000, "conversion_from_first": 1.0, "conversion_from_previous": 1.0,
     "median_seconds_from_previous": None},
    {"name": "added_to_cart", "customers": 412, "conversion_from_first": 0.412,
     "conversion_from_previous": 0.412, "median_seconds_from_previous": 86400.5},
]


class FunnelStepsResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "view": "steps", "steps": _STEPS_EXAMPLE,
        "breakdown": [{"value": "web", "steps": _STEPS_EXAMPLE}]}]})

    view: Literal["steps"] = "steps"
    steps: list[FunnelStep]
    breakdown: Annotated[list[BreakdownSteps], Field(description="[] without breakdown; else by step-1 customers, "
                                                     "descending, then value")]


class TimeToConvertBin(BaseModel):
    from_seconds: Annotated[int, Field(description="Inclusive")]
    to_seconds: Annotated[int, Field(description="Exclusive")]
    customers: int


class FunnelTimeToConvertResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "view": "time_to_convert", "converted": 3, "median_seconds": 90.0, "average_seconds": 400.5,
        "bins": [{"from_seconds": 60, "to_seconds": 360, "customers": 2},
                 {"from_seconds": 360, "to_seconds": 660, "customers": 0},
                 {"from_seconds": 660, "to_seconds": 960, "customers": 1}]}]})

    view: Literal["time_to_convert"] = "time_to_convert"
    converted: Annotated[int, Field(description="Customers who reached the last step")]
    median_seconds: float | None
    average_seconds: float | None
    bins: Annotated[list[TimeToConvertBin], Field(description="Equal whole-second widths from the shortest time "
                                                  "(rounded down to a second) past the longest; [] when nobody "
                                                  "converted")]


class FunnelTrend(BaseModel):
    interval_start: datetime
    entered: Annotated[int, Field(description="Customers whose counted step 1 is in this interval")]
    converted: Annotated[int, Field(description="Of them, those who reached the last step")]
    conversion_rate: Annotated[float, Field(description="converted / entered; 0.0 when nobody entered")]


class FunnelTrendsResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "view": "trends", "interval": "week",
        "trends": [{"interval_start": "2026-11-02T00:00:00Z", "entered": 40, "converted": 10,
                    "conversion_rate": 0.25}]}]})

    view: Literal["trends"] = "trends"
    interval: Literal["day", "week", "month"]
    trends: Annotated[list[FunnelTrend], Field(description="Every interval (UTC; weeks start on Monday) from the "
                                               "one holding start to the one holding end, zeros included")]


FunnelResponse = Annotated[
    FunnelStepsResponse | FunnelTimeToConvertResponse | FunnelTrendsResponse, Field(discriminator="view")
]


class FunnelCustomer(BaseModel):
    customer_id: str
    reached_step: Annotated[int, Field(ge=1, description="Deepest step reached")]
    step_1_at: Annotated[str, Field(description="Step-1 time of the counted path, RFC 3339 UTC, ms")]


class FunnelCustomersResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "customers": [{"customer_id": "cust-0042", "reached_step": 2, "step_1_at": "2026-11-20T08:14:03.000Z"}],
        "next_cursor": "eyJhZnRlciI6ImN1c3QtMDA0MiJ9"}]})

    customers: list[FunnelCustomer]
    next_cursor: Annotated[str | None, Field(description="Pass as cursor for the next page; null on the last")]

