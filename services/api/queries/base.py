"""Shared base of the insight queries.

Every insight module subclasses `QueryRunner` and runs its SQL with `QueryRunner.select(sql,
parameters)` (a runner's own ClickHouse settings, e.g. the custom funnel's AST limits, go in
its `settings`).

Composing SQL, the one way used by every module here:

* Values reach ClickHouse only as typed query parameters, `{name:Type}` placeholders bound by
  clickhouse-connect; no user string is ever put into SQL text.
* SQL that never varies is a module constant. SQL that varies is returned by a function (named
  `*_sql`, or a builder method) as an f-string: the only things interpolated are trusted
  fragments, i.e. code constants, identifiers picked from a whitelist by an enum
  (`GROUP_BY_SQL[...]`), numbers, and the results of other such functions. Inside an f-string a
  parameter is written `{{name:Type}}`. Variants a request can pick are built once at import
  (`SQL[(interval, group_by)]`) where there are few of them.
* Derived columns that build on each other are (expression, name) pairs, each added as one
  SELECT level over the previous one (custom_funnel.paths.layered), never re-parsed from text.
* No str.replace / str.format / string.Template placeholders in SQL.

Also here: the canonical stage list as SQL sees it, RFC 3339 time-range validation shared by
the insights, and the millisecond conversions between request times and the DateTime64(3)
columns.
"""
from __future__ import annotations

import base64
import binascii
import re
from abc import ABC, abstractmethod
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, ClassVar, Generic, TypeVar

import orjson
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.query import QueryResult
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, Field, ValidationInfo, field_validator

from schemas.events import STAGES
from services.api.load import query_settings

# The event tables store `stage` as Enum8('awareness' = 1, ..., 'advocacy' = 6), in the
# canonical order of schemas.events.STAGES, so `toUInt8(stage)` is the 1-based step number
# and ORDER BY stage sorts in canonical order.
STAGE_COUNT = len(STAGES)
STAGE_ORDINAL: dict[str, int] = {stage: i + 1 for i, stage in enumerate(STAGES)}

# One person's events in `person_events` (the event log with anonymous visitors resolved to the
# customer they were first linked to; migration 0005_identity.sql). The IN list, their own key and
# their linked anonymous keys, is on the sorting key's prefix, so only those granules are read;
# the equality keeps out an anonymous id that someone else claimed first. Binds {customer_id}.
PERSON_FILTER = (
    "identity_key IN (SELECT {customer_id:String} UNION ALL SELECT concat('anon:', anonymous_id) "
    "FROM identities WHERE customer_id = {customer_id:String}) AND customer_id = {customer_id:String}"
)

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# RFC 3339 date-time: full date, 'T' (or space, as RFC 3339 allows), time, optional fraction,
# and a mandatory offset. Checked before pydantic parses, which would also take unix numbers
# and offset-less times.
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)


def _rfc3339_string(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 timestamp with offset, e.g. 2026-11-01T00:00:00Z")
    return value


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ValueError("is out of range once converted to UTC") from None


Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_rfc3339_string), AfterValidator(_utc)]


class TimeRange(BaseModel):
    """A half-open time range [start, end): start inclusive, end exclusive."""

    start: Annotated[
        Rfc3339,
        Field(description="Inclusive start, RFC 3339 with offset or Z (in a URL, write + as %2B)",
              examples=["2026-11-01T00:00:00Z"]),
    ]
    end: Annotated[
        Rfc3339,
        Field(description="Exclusive end, RFC 3339 with offset or Z; must be after start",
              examples=["2026-12-01T00:00:00Z"]),
    ]

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")  # absent when start itself failed validation
        if start is not None and value <= start:
            raise ValueError("end must be after start")
        return value


def epoch_ms_ceil(value: datetime) -> int:
    """Milliseconds since the epoch, rounded up.

    Stored times have millisecond precision, so for a request time with microseconds,
    `occurred_at >= t` holds exactly when `occurred_ms >= epoch_ms_ceil(t)` (and likewise
    for `<`): rounding up keeps both ends of a half-open range exact.
    """
    micros = (value - EPOCH) // timedelta(microseconds=1)
    return -(-micros // 1000)


def format_ms(epoch_ms: int) -> str:
    """RFC 3339 in UTC with millisecond precision and Z, e.g. 2026-11-20T08:14:03.000Z."""
    moment = EPOCH + timedelta(milliseconds=epoch_ms)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{epoch_ms % 1000:03d}Z"


Q = TypeVar("Q")
R = TypeVar("R")


class QueryRunner(ABC, Generic[Q, R]):
    """Runs one insight query against ClickHouse and shapes its answer."""

    # ClickHouse settings of this runner's queries, under the request's own limits (load.query_settings).
    settings: ClassVar[dict[str, Any]] = {}

    def __init__(self, client: Client, query: Q, *, timeout_seconds: float | None = None) -> None:
        self.client = client
        self.query = query
        self.timeout_seconds = timeout_seconds

    def select(self, sql: str, parameters: dict[str, Any]) -> QueryResult:
        """Run a SELECT whose values are all `{name:Type}` parameters."""
        settings = {**self.settings, **query_settings(self.timeout_seconds)}
        return self.client.query(sql, parameters=parameters, settings=settings)

    @abstractmethod
    def run(self) -> R: ...


def encode_cursor(position: Any) -> str:
    """An opaque page cursor: the JSON of the last row's sort position, URL-safe base64."""
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    """The position inside a cursor from encode_cursor; ValueError for anything else."""
    try:
        return orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise ValueError("is not a cursor from a previous page's next_cursor") from None
