"""Churn between two moments: who was active at start and is no longer active at end.

Semantics (tests/api/cohort_reference.py is the executable spec):

* A(T), the customers active at T, = customers with any event in (T - active_days, T]:
  the window ends at T inclusive and starts active_days before T, exclusive.
* customers_at_start = |A(start)|, customers_at_end = |A(end)|,
  churned = |A(start) minus A(end)|,
  churn_rate = churned / |A(start)|, net_change_rate = (|A(start)| - |A(end)|) / |A(start)|
  (negative when the active base grew); both 0.0 when A(start) is empty.
* Every customer counts, whatever their stage; duplicate copies of an event change nothing.

SQL: one GROUP BY customer_id over the events of the two windows (partition pruning keeps
the read to them), one activity flag per window, then counts.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from services.api.queries.base import QueryRunner
from services.api.queries.intervals import DAY_MS, StoredTimeRange, epoch_ms_floor

DEFAULT_ACTIVE_DAYS = 90
MAX_ACTIVE_DAYS = 3650


class ChurnQuery(StoredTimeRange):
    """Query parameters of GET /v1/metrics/churn."""

    model_config = ConfigDict(extra="forbid")

    active_days: Annotated[
        int,
        Field(ge=1, le=MAX_ACTIVE_DAYS,
              description="A customer is active at T with an event in (T - active_days, T]; "
              "1 to 3650 days, default 90", examples=[DEFAULT_ACTIVE_DAYS]),
    ] = DEFAULT_ACTIVE_DAYS


class ChurnResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "start": "2026-07-01T00:00:00Z", "end": "2026-10-01T00:00:00Z", "active_days": 90,
                    "customers_at_start": 1200, "customers_at_end": 1100, "churned": 300,
                    "churn_rate": 0.25, "net_change_rate": 0.08333333333333333,
                }
            ]
        }
    )

    start: Annotated[datetime, Field(description="First moment compared, UTC")]
    end: Annotated[datetime, Field(description="Second moment compared, UTC")]
    active_days: int
    customers_at_start: Annotated[
        int, Field(ge=0, description="Customers with an event in (start - active_days, start]")
    ]
    customers_at_end: Annotated[int, Field(ge=0, description="Customers with an event in (end - active_days, end]")]
    churned: Annotated[int, Field(ge=0, description="Active at start, not active at end")]
    churn_rate: Annotated[float, Field(ge=0, le=1, description="churned / customers_at_start; 0.0 when none")]
    net_change_rate: Annotated[
        float,
        Field(description="(customers_at_start - customers_at_end) / customers_at_start; negative when "
              "the active base grew; 0.0 when customers_at_start is 0"),
    ]


SQL = """
SELECT countIf(at_start), countIf(at_end), countIf(at_start AND NOT at_end)
FROM
(
    SELECT max(ms > {start_ms:Int64} - {window_ms:Int64} AND ms <= {start_ms:Int64}) AS at_start,
           max(ms > {end_ms:Int64} - {window_ms:Int64} AND ms <= {end_ms:Int64}) AS at_end
    FROM
    (
        SELECT customer_id, toUnixTimestamp64Milli(occurred_at) AS ms
        FROM person_events
        WHERE (occurred_at > fromUnixTimestamp64Milli({start_ms:Int64} - {window_ms:Int64}, 'UTC')
               AND occurred_at <= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC'))
           OR (occurred_at > fromUnixTimestamp64Milli({end_ms:Int64} - {window_ms:Int64}, 'UTC')
               AND occurred_at <= fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC'))
    )
    GROUP BY customer_id
)
"""


class ChurnQueryRunner(QueryRunner[ChurnQuery, ChurnResponse]):
    def run(self) -> ChurnResponse:
        q = self.query
        # Stored times are whole milliseconds: ms <= T exactly when ms <= floor(T), and
        # ms > T - window exactly when ms > floor(T) - window.
        row = self.select(SQL, {
            "start_ms": epoch_ms_floor(q.start),
            "end_ms": epoch_ms_floor(q.end),
            "window_ms": q.active_days * DAY_MS,
        }).result_rows[0]
        at_start, at_end, churned = (int(v) for v in row)
        return ChurnResponse(
            start=q.start, end=q.end, active_days=q.active_days,
            customers_at_start=at_start, customers_at_end=at_end, churned=churned,
            churn_rate=churned / at_start if at_start else 0.0,
            net_change_rate=(at_start - at_end) / at_start if at_start else 0.0,
        )
