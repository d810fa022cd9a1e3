from __future__ import annotations

from typing import Annotated

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter, Depends, Query

from services.api.deps import get_clickhouse, get_settings
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
