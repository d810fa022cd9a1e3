from __future__ import annotations

from typing import Annotated

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter, Depends, HTTPException, Path, Query, status

from services.api.deps import get_clickhouse, get_settings
from services.api.queries.revenue import (
    CustomerValueQuery,
    CustomerValueQueryRunner,
    CustomerValueResponse,
    RevenueQuery,
    RevenueQueryRunner,
    RevenueResponse,
)
from services.api.settings import ApiSettings

router = APIRouter()


# exclude_unset: `series` and `groups` appear only when interval / group_by ask for them.
@router.get("/metrics/revenue", response_model=RevenueResponse, response_model_exclude_unset=True,
            summary="Revenue per currency", tags=["metrics"])
def revenue(
    query: Annotated[RevenueQuery, Query()],
    client: Annotated[Client, Depends(get_clickhouse)],
    settings: Annotated[ApiSettings, Depends(get_settings)],
) -> RevenueResponse:
    """Revenue, orders, buyers and average order value per currency (never summed across
    currencies) for events in [start, end), optionally per UTC interval and per group."""
    return RevenueQueryRunner(client, query, timeout_seconds=settings.api_query_timeout_seconds).run()


@router.get(
    "/customers/{customer_id:path}/value",
    response_model=CustomerValueResponse,
    summary="Customer lifetime value",
    tags=["customers"],
    responses={404: {"description": "No event of this customer", "content": {"application/json": {
        "example": {"detail": "Customer 'cust-0042' has no events"}}}}},
)
def customer_value(
    customer_id: Annotated[str, Path(min_length=1, max_length=256, examples=["cust-0042"])],
    client: Annotated[Client, Depends(get_clickhouse)],
    settings: Annotated[ApiSettings, Depends(get_settings)],
) -> CustomerValueResponse:
    """All-time revenue per currency of one customer, with their first and last order times."""
    runner = CustomerValueQueryRunner(
        client, CustomerValueQuery(customer_id=customer_id), timeout_seconds=settings.api_query_timeout_seconds
    )
    value = runner.run()
    if value is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"Customer {customer_id!r} has no events")
    return value
