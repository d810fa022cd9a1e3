"""Customer-base insights over time: cohort retention, churn and lifecycle."""
from __future__ import annotations

from typing import Annotated

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter, Depends, Query

from services.api.deps import get_clickhouse, get_settings
from services.api.queries.churn import ChurnQuery, ChurnQueryRunner, ChurnResponse
from services.api.queries.lifecycle import LifecycleQuery, LifecycleQueryRunner, LifecycleResponse
from services.api.queries.retention import RetentionQuery, RetentionQueryRunner, RetentionResponse
from services.api.settings import ApiSettings

router = APIRouter(tags=["retention"])


@router.get("/retention", response_model=RetentionResponse, summary="Cohort retention")
def retention(
    query: Annotated[RetentionQuery, Query()],
    client: Annotated[Client, Depends(get_clickhouse)],
    settings: Annotated[ApiSettings, Depends(get_settings)],
) -> RetentionResponse:
    """Customers grouped by the interval of their first-ever cohort_stage event, and how many of
    each cohort have a return_stage event in each following interval."""
    return RetentionQueryRunner(client, query, timeout_seconds=settings.api_query_timeout_seconds).run()


@router.get("/metrics/churn", response_model=ChurnResponse, summary="Churn between two moments")
def churn(
    query: Annotated[ChurnQuery, Query()],
    client: Annotated[Client, Depends(get_clickhouse)],
    settings: Annotated[ApiSettings, Depends(get_settings)],
) -> ChurnResponse:
    """Customers active at start (an event in the active_days before it) who are not active at end."""
    return ChurnQueryRunner(client, query, timeout_seconds=settings.api_query_timeout_seconds).run()


@router.get("/lifecycle", response_model=LifecycleResponse, summary="Customer lifecycle")
def lifecycle(
    query: Annotated[LifecycleQuery, Query()],
    client: Annotated[Client, Depends(get_clickhouse)],
    settings: Annotated[ApiSettings, Depends(get_settings)],
) -> LifecycleResponse:
    """Per interval: new, returning, resurrecting and dormant customers."""
    return LifecycleQueryRunner(client, query, timeout_seconds=settings.api_query_timeout_seconds).run()
