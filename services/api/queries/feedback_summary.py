"""Closing the loop in figures, and the customers to call first.

Summary (GET /v1/feedback/summary), over the feedback items whose event occurred in [start, end):

* items, and how many are open / acknowledged / resolved now.
* Time to acknowledge: from the event's occurred_at to the item's first change to acknowledged
  OR resolved (resolving an item answers it too); time to resolve: to its first change to
  resolved, even if it was reopened since. Both from the history, whenever the change was made;
  a change stamped before occurred_at (an event dated ahead) counts as 0 s. Medians in seconds
  over the items that have such a change (null when none), the mean of the two middle values
  for an even count; acknowledged_items / resolved_items say how many that is.
* open_by_touchpoint: items open now, per touchpoint, most first (ties by touchpoint).

Repeat issues (GET /v1/customers/repeat-issues): customers with at least min_items NEGATIVE
items (a low score; a comment alone does not count, it may be praise) whose event occurred in
[as_of - days, as_of); as_of defaults to now. Ordered by item count descending, then latest
item descending, then customer_id. Each customer lists their newest items (at most
MAX_ITEMS_PER_CUSTOMER; `items` is the full count), with status.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.api.queries.base import UTC, QueryRunner, Rfc3339, TimeRange, epoch_ms_ceil, format_ms
from services.api.queries.feedback import (
    LOW_SCORE,
    THRESHOLDS,
    FeedbackItem,
    item_from_row,
    items_sql,
    with_status_sql,
)
from services.api.queries.intervals import storable

_TIME = {"format": "date-time"}
IN_RANGE = ("occurred_at >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC')",
            "occurred_at < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC')")

# First acknowledging / resolving change per item (duplicate copies change no minimum). Nullable:
# an item without one, or not in the history at all (LEFT JOIN), has NULL, which count() and
# the quantile skip. (Not greatest(d, 0) for the clamp: it ignores a NULL argument.)
FIRST_CHANGES = """
SELECT event_id,
       minIfOrNull(toUnixTimestamp64Milli(changed_at), status IN ('acknowledged', 'resolved')) AS ack_ms,
       minIfOrNull(toUnixTimestamp64Milli(changed_at), status = 'resolved') AS resolve_ms
FROM feedback_status_history
GROUP BY event_id
"""

def summary_sql(with_status: str) -> str:
    """Counts and median times of the items of `with_status` (feedback.with_status_sql)."""
    return f"""
SELECT count() AS items,
       countIf(w.item_status = 'open'), countIf(w.item_status = 'acknowledged'),
       countIf(w.item_status = 'resolved'),
       count(f.ack_ms),
       quantileExactInclusive(0.5)(if(f.ack_ms < w.occurred_ms, 0, f.ack_ms - w.occurred_ms) / 1000),
       count(f.resolve_ms),
       quantileExactInclusive(0.5)(if(f.resolve_ms < w.occurred_ms, 0, f.resolve_ms - w.occurred_ms) / 1000)
FROM ({with_status}) AS w
LEFT JOIN ({FIRST_CHANGES}) AS f ON f.event_id = w.event_id
"""

def open_by_touchpoint_sql(with_status: str) -> str:
    return f"""
SELECT touchpoint, count() AS open_items
FROM ({with_status})
WHERE item_status = 'open'
GROUP BY touchpoint
ORDER BY open_items DESC, touchpoint
"""


class TouchpointOpen(BaseModel):
    touchpoint: str
    open_items: int


class FeedbackSummary(BaseModel):
    start: datetime
    end: datetime
    items: Annotated[int, Field(description="Feedback items whose event occurred in [start, end)")]
    open: int
    acknowledged: int
    resolved: int
    acknowledged_items: Annotated[int, Field(description="Items with a change to acknowledged or resolved")]
    median_time_to_acknowledge_s: Annotated[float | None, Field(
        description="occurred_at to the first change to acknowledged or resolved; null with none")]
    resolved_items: Annotated[int, Field(description="Items with a change to resolved")]
    median_time_to_resolve_s: Annotated[float | None, Field(
        description="occurred_at to the first change to resolved; null with none")]
    open_by_touchpoint: Annotated[list[TouchpointOpen], Field(description="Open items per touchpoint, most first")]


class SummaryQuery(TimeRange):
    """Query parameters of GET /v1/feedback/summary: [start, end) of occurred_at."""

    model_config = ConfigDict(extra="forbid")


def _median(value: Any) -> float | None:
    # No values: NULL, or NaN from an engine that returns that for an empty quantile.
    if value is None or value != value:
        return None
    return float(value)


class SummaryRunner(QueryRunner[SummaryQuery, FeedbackSummary]):
    def run(self) -> FeedbackSummary:
        q = self.query
        params = {**THRESHOLDS, "start_ms": epoch_ms_ceil(q.start), "end_ms": epoch_ms_ceil(q.end)}
        with_status = with_status_sql(items_sql(list(IN_RANGE)))
        (items, open_, acked, resolved, n_ack, ack_median, n_resolve, resolve_median), = self.select(
            summary_sql(with_status), params).result_rows
        by_touchpoint = self.select(open_by_touchpoint_sql(with_status), params).result_rows
        return FeedbackSummary(
            start=q.start, end=q.end, items=items, open=open_, acknowledged=acked, resolved=resolved,
            acknowledged_items=n_ack, median_time_to_acknowledge_s=_median(ack_median),
            resolved_items=n_resolve, median_time_to_resolve_s=_median(resolve_median),
            open_by_touchpoint=[TouchpointOpen(touchpoint=t, open_items=n) for t, n in by_touchpoint],
        )


DEFAULT_DAYS = 90
MAX_DAYS = 3660
MAX_ITEMS_PER_CUSTOMER = 100
DEFAULT_CUSTOMERS = 50
MAX_CUSTOMERS = 500

def repeat_customers_sql(items: str) -> str:
    """Customers with at least {min_items} of the items of `items` (feedback.items_sql), most first."""
    return f"""
SELECT customer_id, count() AS n, max(occurred_ms) AS latest_ms
FROM ({items})
GROUP BY customer_id
HAVING n >= {{min_items:UInt32}}
ORDER BY n DESC, latest_ms DESC, customer_id
LIMIT {{limit:UInt32}}
"""

def repeat_items_sql(with_status: str) -> str:
    """The newest {per_customer} items of each customer in `with_status` (feedback.with_status_sql)."""
    return f"""
{with_status}
ORDER BY i.customer_id, i.occurred_ms DESC, i.event_id DESC
LIMIT {{per_customer:UInt32}} BY i.customer_id
"""


class RepeatIssuesQuery(BaseModel):
    """Query parameters of GET /v1/customers/repeat-issues."""

    model_config = ConfigDict(extra="forbid")

    days: Annotated[int, Field(ge=1, le=MAX_DAYS, description="Look-back window in days, default 90")] = DEFAULT_DAYS
    min_items: Annotated[int, Field(ge=1, le=10_000, description="Negative items needed, default 2")] = 2
    as_of: Annotated[Rfc3339 | None, Field(description="End of the window (exclusive), RFC 3339; "
                                           "default now")] = None
    limit: Annotated[int, Field(ge=1, le=MAX_CUSTOMERS, description="Customers, default 50")] = DEFAULT_CUSTOMERS

    @field_validator("as_of")
    @classmethod
    def _storable(cls, value: datetime | None) -> datetime | None:
        return None if value is None else storable(value)  # as_of - days must not overflow


class RepeatCustomer(BaseModel):
    customer_id: str
    items: Annotated[int, Field(description="Negative items in the window")]
    latest_at: Annotated[str, Field(description="occurred_at of the newest one", json_schema_extra=_TIME)]
    feedback: Annotated[list[FeedbackItem], Field(description=f"Newest first, at most {MAX_ITEMS_PER_CUSTOMER}")]


class RepeatIssuesResponse(BaseModel):
    start: Annotated[datetime, Field(description="as_of - days")]
    end: Annotated[datetime, Field(description="as_of")]
    min_items: int
    customers: list[RepeatCustomer]


class RepeatIssuesRunner(QueryRunner[RepeatIssuesQuery, RepeatIssuesResponse]):
    def run(self) -> RepeatIssuesResponse:
        q = self.query
        end = (q.as_of or datetime.now(UTC)).astimezone(UTC)
        start = end - timedelta(days=q.days)
        params: dict[str, Any] = {**THRESHOLDS, "start_ms": epoch_ms_ceil(start), "end_ms": epoch_ms_ceil(end),
                                  "min_items": q.min_items, "limit": q.limit}
        negative = [LOW_SCORE, *IN_RANGE]
        ranked = self.select(repeat_customers_sql(items_sql(negative)), params).result_rows
        if not ranked:
            return RepeatIssuesResponse(start=start, end=end, min_items=q.min_items, customers=[])
        params.update(customers=[c for c, _, _ in ranked], per_customer=MAX_ITEMS_PER_CUSTOMER)
        items = items_sql([*negative, "customer_id IN {customers:Array(String)}"])
        by_customer: dict[str, list[FeedbackItem]] = {}
        for row in self.select(repeat_items_sql(with_status_sql(items)), params).result_rows:
            by_customer.setdefault(row[1], []).append(item_from_row(row))
        customers = [RepeatCustomer.model_construct(customer_id=c, items=n, latest_at=format_ms(latest),
                                                    feedback=by_customer.get(c, []))
                     for c, n, latest in ranked]
        return RepeatIssuesResponse(start=start, end=end, min_items=q.min_items, customers=customers)
