"""Query runners of POST /v1/funnels and POST /v1/funnels/customers."""
from __future__ import annotations

from typing import Any

from services.api.queries.base import Q, QueryRunner, R, epoch_ms_ceil, format_ms
from services.api.queries.custom_funnel import views
from services.api.queries.custom_funnel.any_order import AnyOrderFunnel
from services.api.queries.custom_funnel.filters import FilterSql, one_step_per_event
from services.api.queries.custom_funnel.model import (
    FunnelCustomer,
    FunnelCustomersQuery,
    FunnelCustomersResponse,
    FunnelDefinition,
    FunnelQuery,
    FunnelResponse,
    FunnelStepsResponse,
    FunnelTimeToConvertResponse,
    FunnelTrendsResponse,
    encode_cursor,
)
from services.api.queries.custom_funnel.ordered import OrderedFunnel, StrictFunnel
from services.api.queries.custom_funnel.paths import FunnelPaths

# The generated expressions are large but bounded (n <= 20, <= 10 exclusions).
SETTINGS = {"max_ast_elements": 1_000_000, "max_expanded_ast_elements": 2_000_000}
# The earliest DateTime64 ClickHouse stores (1900-01-01): event times are packed after it at the latest.
MIN_EVENT_MS = -2_208_988_800_000


def funnel_class(order: str) -> type[FunnelPaths]:
    """The per-customer path SQL of a funnel order ("ordered", "strict" or "any")."""
    if order == "strict":
        return StrictFunnel
    if order == "any":
        return AnyOrderFunnel
    return OrderedFunnel


def build_paths(q: FunnelDefinition, breakdown: str | None = None, customer_filter: str = "",
                customer_ids: bool = False) -> tuple[str, dict]:
    """The per-customer subquery and its parameters; customer_ids: with a customer_id column."""
    filters = FilterSql()
    step_mask = filters.mask(q.steps)
    exclusion_mask = filters.mask([e.filter for e in q.exclusions])
    breakdown_sql = filters.breakdown(breakdown) if breakdown else None
    paths = funnel_class(q.order)(
        len(q.steps), [(e.from_step, e.to_step) for e in q.exclusions], breakdown=breakdown_sql,
        one_step_per_event=one_step_per_event(q.steps),
    )
    sql = paths.sql(step_mask, exclusion_mask, customer_filter=customer_filter, customer_ids=customer_ids)
    start_ms, end_ms = epoch_ms_ceil(q.start), epoch_ms_ceil(q.end)
    window_ms = q.window_seconds * 1000
    base_ms = max(start_ms, MIN_EVENT_MS)
    params: dict[str, Any] = {
        **filters.params, "start_ms": start_ms, "span_ms": end_ms - start_ms, "window_ms": window_ms,
        "read_end_ms": end_ms + window_ms, "base_ms": base_ms, "shift_ms": base_ms - start_ms,
    }
    return sql, params


class _FunnelRunner(QueryRunner[Q, R]):
    settings = SETTINGS

    def _rows(self, sql: str, params: dict[str, Any]) -> list[tuple]:
        return self.select(sql, params).result_rows


class FunnelQueryRunner(_FunnelRunner[FunnelQuery, FunnelResponse]):
    def run(self) -> FunnelResponse:
        q = self.query
        n = len(q.steps)
        names = [s.display_name() for s in q.steps]
        paths, params = build_paths(q, q.breakdown)
        if q.view == "time_to_convert":
            row = self._rows(views.time_to_convert_sql(n, paths), {**params, "bins": q.bins})[0]
            return FunnelTimeToConvertResponse(**views.shape_time_to_convert(row))
        if q.view == "trends":
            rows = self._rows(views.trends_sql(n, q.interval, paths), params)
            trends = views.shape_trends(rows, q.start, q.end, q.interval)
            return FunnelTrendsResponse(interval=q.interval, trends=trends)
        if q.breakdown:
            steps, breakdown = views.shape_breakdown(names, self._rows(views.breakdown_sql(n, paths), params))
            return FunnelStepsResponse(steps=steps, breakdown=breakdown)
        row = self._rows(views.steps_sql(n, paths), params)[0]
        return FunnelStepsResponse(steps=views.shape_steps(names, row), breakdown=[])


class FunnelCustomersQueryRunner(_FunnelRunner[FunnelCustomersQuery, FunnelCustomersResponse]):
    def run(self) -> FunnelCustomersResponse:
        q = self.query
        after = q.after()
        # customer_id leads the table's sorting key, so the cursor also prunes the scan.
        cursor_filter = "" if after is None else "\n              AND customer_id > {after:String}"
        paths, params = build_paths(q, customer_filter=cursor_filter, customer_ids=True)
        params.update(step=q.step, limit=q.limit + 1, **({} if after is None else {"after": after}))
        start_ms = params["start_ms"]
        rows = self._rows(views.customers_sql(paths, q.status), params)
        page = [FunnelCustomer(customer_id=c, reached_step=int(level), step_1_at=format_ms(start_ms + int(t1)))
                for c, level, t1 in rows[: q.limit]]
        cursor = encode_cursor(page[-1].customer_id) if len(rows) > q.limit else None
        return FunnelCustomersResponse(customers=page, next_cursor=cursor)
