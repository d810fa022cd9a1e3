"""Revenue: per-currency revenue metrics over a time range, and one customer's lifetime value.

Semantics:

* An *order* is a unique event with revenue not null (a revenue of 0 is an order). A duplicate
  copy of an event (same customer_id, occurred_at, event_id: the events table's identity)
  counts once. Only events with occurred_at in [start, end) count.
* Amounts are never summed across currencies: every figure belongs to one currency. Revenue
  sent without a currency is its own bucket, currency null.
* revenue = exact Decimal sum (ClickHouse Decimal, no float on the way); orders = number of
  orders; buyers = distinct customers with an order; average_order_value = revenue / orders,
  rounded half-even to 4 decimals. Amounts are JSON strings with exactly 4 decimals (the
  stored scale), e.g. "1234.5000": exact in every JSON parser, unlike numbers.
* interval (UTC): day, week (starting Monday) or month buckets by occurred_at; `series` lists
  only buckets with orders, oldest first, each with interval_start = the bucket's first
  instant (which may be before `start` when start is mid-bucket; only events from start on
  count). group_by splits by channel, touchpoint or stage; `groups` are ordered by revenue
  descending, then group. With both, each group carries its own series.
* `series` / `groups` are present only when interval / group_by asked for them.
* currencies are ordered by code, null (no currency) first.

SQL: one pass. The inner query dedupes orders on the table's identity (GROUP BY customer_id,
occurred_at, event_id) after the time and `revenue IS NOT NULL` filters cut the rows; the outer
query aggregates every level at once with GROUPING SETS (currency[, group][, bucket]), and
GROUPING() tells the levels apart (the standard meaning, pinned by the query's SETTINGS).
"""
from __future__ import annotations

import decimal
from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from services.api.queries.base import PERSON_FILTER, QueryRunner, TimeRange, epoch_ms_ceil, format_ms
from services.api.queries.intervals import GROUP_BY_SQL, GroupBy, SeriesInterval

SCALE = Decimal("0.0001")
_MONEY = {"pattern": r"^\d+\.\d{4}$"}
_TIME = {"format": "date-time"}


# Whitelisted SQL for each option: the only text that varies between the query's variants.
_BUCKET_SQL = {
    SeriesInterval.day: "toDate(occurred_at)",
    SeriesInterval.week: "toMonday(occurred_at)",
    SeriesInterval.month: "toStartOfMonth(occurred_at)",
}


class RevenueQuery(TimeRange):
    """Query parameters of GET /v1/metrics/revenue."""

    model_config = ConfigDict(extra="forbid")

    interval: Annotated[
        SeriesInterval, Field(description="Time buckets in UTC for `series` (week starts Monday); none: no series")
    ] = SeriesInterval.none
    group_by: Annotated[
        GroupBy, Field(description="Split each currency into `groups` by this dimension; none: no groups")
    ] = GroupBy.none


Money = Annotated[str, Field(description="Decimal string, exactly 4 decimals", json_schema_extra=_MONEY)]


class RevenueFigures(BaseModel):
    revenue: Money
    orders: Annotated[int, Field(ge=1, description="Unique events with revenue")]
    buyers: Annotated[int, Field(ge=1, description="Distinct customers with an order")]
    average_order_value: Annotated[str, Field(description="revenue / orders, rounded half-even to 4 decimals",
                                              json_schema_extra=_MONEY)]


class RevenuePoint(RevenueFigures):
    interval_start: Annotated[str, Field(description="First instant of the UTC bucket, RFC 3339",
                                         json_schema_extra=_TIME)]


class RevenueGroup(RevenueFigures):
    group: Annotated[str, Field(description="Channel, touchpoint or stage")]
    series: Annotated[list[RevenuePoint] | None, Field(description="Present when interval != none")] = None


class CurrencyRevenue(RevenueFigures):
    currency: Annotated[str | None, Field(description="ISO 4217; null for revenue sent without currency")]
    series: Annotated[list[RevenuePoint] | None, Field(description="Present when interval != none")] = None
    groups: Annotated[list[RevenueGroup] | None, Field(description="Present when group_by != none")] = None


class RevenueResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "currencies": [
                        {
                            "currency": "EUR", "revenue": "1250.4000", "orders": 310, "buyers": 120,
                            "average_order_value": "4.0335",
                            "series": [
                                {"interval_start": "2026-11-02T00:00:00Z", "revenue": "600.0000", "orders": 150,
                                 "buyers": 80, "average_order_value": "4.0000"},
                                {"interval_start": "2026-11-09T00:00:00Z", "revenue": "650.4000", "orders": 160,
                                 "buyers": 85, "average_order_value": "4.0650"},
                            ],
                        },
                        {
                            "currency": "USD", "revenue": "99.0000", "orders": 3, "buyers": 2,
                            "average_order_value": "33.0000",
                            "series": [
                                {"interval_start": "2026-11-09T00:00:00Z", "revenue": "99.0000", "orders": 3,
                                 "buyers": 2, "average_order_value": "33.0000"},
                            ],
                        },
                    ]
                }
            ]
        }
    )

    currencies: Annotated[list[CurrencyRevenue], Field(description="One entry per currency with orders")]


def _build_sql(interval: SeriesInterval, group_by: GroupBy) -> str:
    # Inner aliases differ from column names: ClickHouse would substitute them into WHERE.
    keys = ["cur"]
    inner = ["any(currency) AS cur", "any(revenue) AS amount"]
    if group_by is not GroupBy.none:
        keys.append("grp")
        inner.append(f"any({GROUP_BY_SQL[group_by]}) AS grp")
    if interval is not SeriesInterval.none:
        keys.append("bucket")
        inner.append(f"any({_BUCKET_SQL[interval]}) AS bucket")
    # Every subset of the optional keys, currency always in.
    optional = keys[1:]
    sets = [["cur", *(k for i, k in enumerate(optional) if mask >> i & 1)] for mask in range(2 ** len(optional))]
    grouping_sets = ", ".join("(" + ", ".join(s) + ")" for s in sets)
    # GROUPING(a, b): a bit per key, 1 when the row aggregates over that key (not grouped by it).
    grouping = f"GROUPING({', '.join(optional)})" if optional else "0"
    outer_keys = ", ".join(keys)
    return f"""
SELECT
    {grouping} AS level, {outer_keys},
    sum(amount) AS revenue, count() AS orders, uniqExact(customer_id) AS buyers
FROM
(
    SELECT customer_id, {", ".join(inner)}
    FROM person_events
    WHERE occurred_at >= fromUnixTimestamp64Milli({{start_ms:Int64}}, 'UTC')
      AND occurred_at < fromUnixTimestamp64Milli({{end_ms:Int64}}, 'UTC')
      AND revenue IS NOT NULL
    GROUP BY customer_id, occurred_at, event_id
)
GROUP BY GROUPING SETS ({grouping_sets})
SETTINGS force_grouping_standard_compatibility = 1
"""


SQL = {(i, g): _build_sql(i, g) for i in SeriesInterval for g in GroupBy}


def money(value: Decimal) -> str:
    return str(value.quantize(SCALE))


def average(revenue: Decimal, orders: int) -> str:
    # Decimal(38, 4) sums need more than the default 28 significant digits.
    with decimal.localcontext(prec=80, rounding=decimal.ROUND_HALF_EVEN):
        return str((revenue / orders).quantize(SCALE))


def _figures(revenue: Decimal, orders: int, buyers: int) -> dict[str, object]:
    return {"revenue": money(revenue), "orders": int(orders), "buyers": int(buyers),
            "average_order_value": average(revenue, int(orders))}


def _interval_start(bucket: date) -> str:
    return f"{bucket:%Y-%m-%d}T00:00:00Z"


def _by_revenue(group: RevenueGroup) -> tuple[Decimal, str]:
    return -Decimal(group.revenue), group.group


class RevenueQueryRunner(QueryRunner[RevenueQuery, RevenueResponse]):
    """Fields not asked for (series, groups) are left unset: serialise with exclude_unset."""

    def run(self) -> RevenueResponse:
        q = self.query
        has_group, has_bucket = q.group_by is not GroupBy.none, q.interval is not SeriesInterval.none
        parameters = {"start_ms": epoch_ms_ceil(q.start), "end_ms": epoch_ms_ceil(q.end)}
        rows = self.select(SQL[(q.interval, q.group_by)], parameters).named_results()

        totals: dict[str, dict[str, object]] = {}
        series: dict[str, list[RevenuePoint]] = {}
        groups: dict[str, dict[str, dict[str, object]]] = {}
        group_series: dict[tuple[str, str], list[RevenuePoint]] = {}
        for row in rows:
            level, currency = row["level"], row["cur"]
            figures = _figures(row["revenue"], row["orders"], row["buyers"])
            # Bit order follows the optional keys: grp (when asked) is the high bit.
            bucket_missing = bool(level & 1) if has_bucket else True
            group_missing = bool(level >> int(has_bucket) & 1) if has_group else True
            if group_missing and bucket_missing:
                totals[currency] = figures
            elif group_missing:
                point = RevenuePoint(interval_start=_interval_start(row["bucket"]), **figures)
                series.setdefault(currency, []).append(point)
            elif bucket_missing:
                groups.setdefault(currency, {})[row["grp"]] = figures
            else:
                point = RevenuePoint(interval_start=_interval_start(row["bucket"]), **figures)
                group_series.setdefault((currency, row["grp"]), []).append(point)

        out = []
        for currency in sorted(totals):
            extra: dict[str, object] = {}
            if has_bucket:
                extra["series"] = sorted(series.get(currency, []), key=lambda p: p.interval_start)
            if has_group:
                entries = []
                for name, figures in groups.get(currency, {}).items():
                    if has_bucket:
                        points = group_series.get((currency, name), [])
                        figures = {**figures, "series": sorted(points, key=lambda p: p.interval_start)}
                    entries.append(RevenueGroup(group=name, **figures))
                extra["groups"] = sorted(entries, key=_by_revenue)
            out.append(CurrencyRevenue(currency=currency or None, **totals[currency], **extra))
        return RevenueResponse(currencies=out)


# --- customer lifetime value ------------------------------------------------------------------

CUSTOMER_SQL = f"""
SELECT
    cur,
    sumIf(amount, amount IS NOT NULL) AS revenue,
    countIf(amount IS NOT NULL) AS orders,
    minIf(occurred_ms, amount IS NOT NULL) AS first_ms,
    maxIf(occurred_ms, amount IS NOT NULL) AS last_ms
FROM
(
    -- every unique event of the customer (so an unknown customer has no row at all)
    SELECT any(currency) AS cur, any(revenue) AS amount, toUnixTimestamp64Milli(occurred_at) AS occurred_ms
    FROM person_events
    WHERE {PERSON_FILTER}
    GROUP BY occurred_at, event_id
)
GROUP BY cur
ORDER BY cur
"""


class CustomerCurrencyValue(BaseModel):
    currency: Annotated[str | None, Field(description="ISO 4217; null for revenue sent without currency")]
    revenue: Money
    orders: Annotated[int, Field(ge=1)]
    first_order_at: Annotated[str, Field(description="RFC 3339, UTC, milliseconds", json_schema_extra=_TIME)]
    last_order_at: Annotated[str, Field(description="RFC 3339, UTC, milliseconds", json_schema_extra=_TIME)]


class CustomerValueResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "cust-0042",
                    "currencies": [
                        {"currency": "EUR", "revenue": "84.2000", "orders": 12,
                         "first_order_at": "2026-01-03T08:14:03.000Z", "last_order_at": "2026-11-20T08:14:03.000Z"},
                    ],
                }
            ]
        }
    )

    customer_id: str
    currencies: Annotated[
        list[CustomerCurrencyValue],
        Field(description="All-time value per currency, by code (null first); empty when the customer never paid"),
    ]


class CustomerValueQuery(BaseModel):
    customer_id: str


class CustomerValueQueryRunner(QueryRunner[CustomerValueQuery, CustomerValueResponse | None]):
    def run(self) -> CustomerValueResponse | None:
        """All-time revenue per currency; None when the log has no event of the customer."""
        customer_id = self.query.customer_id
        rows = self.select(CUSTOMER_SQL, {"customer_id": customer_id}).result_rows
        if not rows:
            return None
        currencies = [
            CustomerCurrencyValue(currency=currency or None, revenue=money(revenue), orders=int(orders),
                                  first_order_at=format_ms(first_ms), last_order_at=format_ms(last_ms))
            for currency, revenue, orders, first_ms, last_ms in rows
            if orders  # the bucket of events without revenue
        ]
        return CustomerValueResponse(customer_id=customer_id, currencies=currencies)

