"""Touchpoint event format v1: the one definition every service imports."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Annotated, Any, ClassVar

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, TzInfo
from pydantic_extra_types.currency_code import ISO4217

SCHEMA_VERSION = 1
MAX_PROPERTIES_BYTES = 32 * 1024
MAX_BATCH_EVENTS = 1000
# Events with only an anonymous_id are keyed ANONYMOUS_PREFIX + anonymous_id (see identity_key);
# client customer ids may not start with it.
ANONYMOUS_PREFIX = "anon:"


class Stage(StrEnum):
    awareness = "awareness"
    consideration = "consideration"
    purchase = "purchase"
    use = "use"
    retention = "retention"
    advocacy = "advocacy"


# Canonical order: funnels, transitions and tie-breaks follow it.
STAGES: tuple[str, ...] = tuple(s.value for s in Stage)
STAGE_INDEX: dict[str, int] = {s: i for i, s in enumerate(STAGES)}


class Channel(StrEnum):
    web = "web"
    app = "app"
    pos = "pos"
    email = "email"
    social = "social"
    call_center = "call_center"
    chat = "chat"
    store = "store"
    other = "other"


CHANNELS: tuple[str, ...] = tuple(c.value for c in Channel)

RESERVED_MESSAGE = f"must not start with {ANONYMOUS_PREFIX!r} (reserved for anonymous visitors)"
RFC3339_MESSAGE = "must be an RFC 3339 timestamp string with offset or Z"
CURRENCY_MESSAGE = "is required with revenue: the ISO 4217 code of the amount, e.g. EUR"


def client_customer_id(value: str) -> str:
    """A customer id as a client sends it: the anonymous prefix is ours."""
    if value.startswith(ANONYMOUS_PREFIX):
        raise ValueError(RESERVED_MESSAGE)
    return value


# pydantic's UTC, the tzinfo of every occurred_at with Z or +00:00: comparing two datetimes with the
# same tzinfo skips the utcoffset() calls (with different ones the result is the same, only slower).
_PYDANTIC_UTC = TzInfo(0)


def validation_context(max_future: timedelta) -> dict[str, Any]:
    """The context to validate one request's events with: those dated more than max_future after
    now are refused. "now" is read once, not per event (per event, the check was a fifth of
    ingest's validation time)."""
    not_after = (datetime.now(timezone.utc) + max_future).replace(tzinfo=_PYDANTIC_UTC)
    return {"max_future": max_future, "not_after": not_after}


class Feedback(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # strict: a JSON true/false or "7" is not a score (lax mode would record false as NPS 0).
    nps: Annotated[int, Field(ge=0, le=10, strict=True)] | None = None
    csat: Annotated[int, Field(ge=1, le=5, strict=True)] | None = None
    ces: Annotated[int, Field(ge=1, le=7, strict=True)] | None = None
    rating: Annotated[int, Field(ge=1, le=5, strict=True)] | None = None
    comment: Annotated[str, Field(max_length=4000)] | None = None


EXAMPLE = {
    "event_id": "pos-12-000187",
    "customer_id": "cust-0042",
    "stage": "purchase",
    "channel": "pos",
    "touchpoint": "store_12_pos",
    "event": "order_completed",
    "occurred_at": "2026-11-20T08:14:03Z",
    "properties": {"item": "flat white", "size": "regular"},
    "revenue": 4.2,
    "currency": "EUR",
}


class TouchpointEvent(BaseModel):
    """A customer meeting the brand at a stage through a channel."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=lambda schema, model: _event_schema(schema, model))

    event_id: Annotated[str, Field(min_length=1, max_length=128, description="Client idempotency key")]
    customer_id: Annotated[str | None, Field(
        min_length=1, max_length=256,
        description="The brand's id of the customer; at least one of customer_id and anonymous_id")] = None
    anonymous_id: Annotated[str | None, Field(
        min_length=1, max_length=256,
        description="Device or browser id before sign-in; joined to the customer by POST /v1/identify")] = None
    stage: Stage
    channel: Channel
    touchpoint: Annotated[str, Field(min_length=1, max_length=256, examples=["store_12_pos"])]
    event: Annotated[str, Field(min_length=1, max_length=256, examples=["order_completed"])]
    occurred_at: Annotated[AwareDatetime, Field(description="RFC 3339 with offset or Z")]
    properties: dict[str, Any] = Field(default_factory=dict, description="At most 32 KiB as JSON")
    # Below 1e14: ClickHouse keeps revenue as Decimal(18, 4); a larger value could never be written.
    revenue: Annotated[float, Field(ge=0, lt=1e14, allow_inf_nan=False, strict=True)] | None = None  # no true = 1.0
    currency: Annotated[ISO4217, Field(description="ISO 4217 code, e.g. EUR; required with revenue")] | None = None
    feedback: Feedback | None = None

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any) -> Any:
        # RFC 3339 needs a date, a time and an offset; refuse bare numbers and dates.
        if not isinstance(value, (str, datetime)):
            raise ValueError(RFC3339_MESSAGE)
        return value

    @field_validator("occurred_at")
    @classmethod
    def _not_far_future(cls, value: datetime, info: ValidationInfo) -> datetime:
        # The limit comes from the caller's settings: ingest passes validation_context(), with "now"
        # read once per request; a bare max_future reads the clock per event.
        context = info.context
        if not context:
            return value
        not_after, limit = context.get("not_after"), context.get("max_future")
        if not_after is None:
            if limit is None:
                return value
            not_after = datetime.now(timezone.utc) + limit
        if value > not_after:
            hours = limit.total_seconds() / 3600
            raise ValueError(f"is more than {hours:g} h in the future; send the time the event happened")
        return value

    # Rules of events as clients send them: no anonymous prefix in customer_id (RecordedEvent has it: its
    # identity key), and no revenue without a currency (no revenue answer can use it). RecordedEvent keeps
    # reading records written before the currency rule.
    _from_client: ClassVar[bool] = True

    @model_validator(mode="after")
    def _checks(self) -> TouchpointEvent:
        # The other checks pydantic's core cannot make, in one Python call per event (a validator per
        # field cost more); their errors keep the field's loc, message and input. Like every model
        # validator, this runs once the event's fields are valid.
        errors: list[InitErrorDetails] = []
        if self._from_client and self.customer_id is not None and self.customer_id.startswith(ANONYMOUS_PREFIX):
            errors.append(_value_error("customer_id", self.customer_id, RESERVED_MESSAGE))
        if self._from_client and self.revenue is not None and self.currency is None:
            errors.append(_value_error("currency", None, CURRENCY_MESSAGE))
        if self.properties:
            try:
                storable_object("properties", self.properties)
            except ValueError as exc:
                errors.append(_value_error("properties", self.properties, str(exc)))
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        if self.customer_id is None and self.anonymous_id is None:
            raise ValueError("customer_id or anonymous_id is required")
        return self

    @property
    def identity_key(self) -> str:
        """customer_id, or anon:<anonymous_id> before the person is known: the partition key and
        the key of every per-customer projection (resolved to the customer when read)."""
        return self.customer_id if self.customer_id is not None else ANONYMOUS_PREFIX + self.anonymous_id


def _event_schema(schema: dict[str, Any], model: type[TouchpointEvent]) -> None:
    """The JSON Schema's example, and for client events the currency rule: revenue (a number, not
    null) needs a currency."""
    schema["examples"] = [EXAMPLE]
    if model._from_client:
        schema["if"] = {"properties": {"revenue": {"type": "number"}}, "required": ["revenue"]}
        schema["then"] = {"properties": {"currency": {"type": "string"}}, "required": ["currency"]}


def _value_error(field: str, value: Any, message: str) -> InitErrorDetails:
    """The error a ValueError raised in a validator of `field` gives (type, loc, message, input)."""
    return InitErrorDetails(type="value_error", loc=(field,), input=value, ctx={"error": ValueError(message)})


def _non_finite_path(value: Any, path: str) -> str | None:
    """The path of the first NaN or infinite number (JSON has none; 1e400 parses as infinity)."""
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return where
        elif isinstance(item, dict):
            stack.extend((v, f"{where}.{k}") for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))
    return None


def storable_object(name: str, value: dict[str, Any]) -> dict[str, Any]:
    """A free-form object that ClickHouse can keep as JSON text, at most MAX_PROPERTIES_BYTES."""
    try:
        stored = orjson.dumps(value)
    except orjson.JSONEncodeError as exc:  # e.g. an integer beyond 64 bits: not storable
        raise ValueError(f"{name} cannot be stored as JSON: {exc}") from None
    # orjson writes NaN and infinities as null, silently; only then is the walk worth its cost.
    if b"null" in stored and (where := _non_finite_path(value, name)) is not None:
        raise ValueError(f"{where} must be a finite number: NaN, Infinity and numbers beyond 1.8e308 are not JSON")
    size = len(stored)
    if size > MAX_PROPERTIES_BYTES:
        raise ValueError(f"{name} is {size} bytes as JSON; the limit is {MAX_PROPERTIES_BYTES}")
    return value


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: Annotated[list[TouchpointEvent], Field(min_length=1, max_length=MAX_BATCH_EVENTS)]


class RecordedEvent(TouchpointEvent):
    """An accepted event as it travels on the touchpoint topic: stamped by ingest, with
    customer_id set to the identity key."""

    _from_client: ClassVar[bool] = False  # the identity key: anon:<anonymous_id> is what ingest writes here
    customer_id: Annotated[str, Field(min_length=1, max_length=len(ANONYMOUS_PREFIX) + 256)]
    received_at: AwareDatetime
    source: Annotated[str, Field(max_length=128)] = "default"
