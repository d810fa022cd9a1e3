from __future__ import annotations

from typing import Annotated

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter, Depends, Query

from services.api.deps import get_clickhouse, get_settings
from services.api.queries.custom_funnel import (
    DESCRIPTION,
    FunnelCustomersQuery,
    FunnelCustomersQueryRunner,
    FunnelCustomersResponse,
    FunnelQuery,
    FunnelQueryRunner,
    FunnelResponse,
)
from services.api.queries.stage_funnel import StageFunnelQuery, StageFunnelQueryRunner, StageFunnelResponse
from services.api.settings import ApiSettings

router = APIRouter(prefix="/funnels", tags=["funnels"])


@router.get("/stages", response_model=StageFunnelResponse, summary="Stage funnel")
def stage_funnel(
    query: Annotated[StageFunnelQuery, Query()],
    client: Annotated[Client, Depends(get_clickhouse)],
    settings: Annotated[ApiSettings, Depends(get_settings)],
) -> StageFunnelResponse:
    """Customers reaching each journey stage in canonical order, step 1 in [start, end) and the
    last step within window_seconds of step 1. See the response model for each number."""
    return StageFunnelQueryRunner(client, query, timeout_seconds=settings.api_query_timeout_seconds).run()


@router.post("", response_model=FunnelResponse, summary="Custom funnel", description=DESCRIPTION)
def custom_funnel(
    query: FunnelQuery,
    client: Annotated[Client, Depends(get_clickhouse)],
    settings: Annotated[ApiSettings, Depends(get_settings)],
) -> FunnelResponse:
    return FunnelQueryRunner(client, query, timeout_seconds=settings.api_query_timeout_seconds).run()


@router.post("/customers", response_model=FunnelCustomersResponse, summary="Customers of a funnel step",
             description=DESCRIPTION)
def custom_funnel_customers(
    query: FunnelCustomersQuery,
    client: Annotated[Client, Depends(get_clickhouse)],
    settings: Annotated[ApiSettings, Depends(get_settings)],
) -> FunnelCustomersResponse:
    return FunnelCustomersQueryRunner(client, query, timeout_seconds=settings.api_query_timeout_seconds).run()
