"""Customer-experience metrics: NPS, CSAT and CES scores, and when customers visit."""
from __future__ import annotations

from typing import Annotated

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter, Depends, Query

from services.api.deps import get_clickhouse, get_settings
from services.api.queries.experience import (
    CesQueryRunner,
    CesResponse,
    CsatQueryRunner,
    CsatResponse,
    ExperienceQuery,
    NpsQueryRunner,
    NpsResponse,
)
from services.api.queries.visits import VisitsQuery, VisitsQueryRunner, VisitsResponse
from services.api.settings import ApiSettings

router = APIRouter(prefix="/metrics", tags=["metrics"])


@router.get("/nps", response_model=NpsResponse, summary="Net Promoter Score")
def nps(
    query: Annotated[ExperienceQuery, Query()],
    client: Annotated[Client, Depends(get_clickhouse)],
    settings: Annotated[ApiSettings, Depends(get_settings)],
) -> NpsResponse:
    """% promoters (9-10) minus % detractors (0-6) of the unique NPS responses in [start, end),
    optionally per group and per UTC interval."""
    return NpsQueryRunner(client, query, timeout_seconds=settings.api_query_timeout_seconds).run()


@router.get("/csat", response_model=CsatResponse, summary="Customer satisfaction (CSAT)")
def csat(
    query: Annotated[ExperienceQuery, Query()],
    client: Annotated[Client, Depends(get_clickhouse)],
    settings: Annotated[ApiSettings, Depends(get_settings)],
) -> CsatResponse:
    """% of the unique 1-5 CSAT responses in [start, end) that are 4 or 5, and their mean."""
    return CsatQueryRunner(client, query, timeout_seconds=settings.api_query_timeout_seconds).run()


@router.get("/ces", response_model=CesResponse, summary="Customer effort score (CES)")
def ces(
    query: Annotated[ExperienceQuery, Query()],
    client: Annotated[Client, Depends(get_clickhouse)],
    settings: Annotated[ApiSettings, Depends(get_settings)],
) -> CesResponse:
    """Mean of the unique 1-7 CES responses in [start, end) (7 = strongly agree it was easy: high
    is good), and the % of responses 5-7."""
    return CesQueryRunner(client, query, timeout_seconds=settings.api_query_timeout_seconds).run()


@router.get("/visits", response_model=VisitsResponse, summary="Visits per hour or weekday")
def visits(
    query: Annotated[VisitsQuery, Query()],
    client: Annotated[Client, Depends(get_clickhouse)],
    settings: Annotated[ApiSettings, Depends(get_settings)],
) -> VisitsResponse:
    """Unique events and distinct customers per UTC hour (0-23) or ISO weekday (1-7, Monday = 1),
    every bucket listed, for events in [start, end), optionally of one touchpoint and stage."""
    return VisitsQueryRunner(client, query, timeout_seconds=settings.api_query_timeout_seconds).run()
