from __future__ import annotations

from typing import Annotated

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter, Depends, Query

from services.api.deps import get_clickhouse, get_settings
from services.api.queries.transitions import TransitionsQuery, TransitionsQueryRunner, TransitionsResponse
from services.api.settings import ApiSettings

router = APIRouter(tags=["paths"])


@router.get("/transitions", response_model=TransitionsResponse, summary="Stage or touchpoint transitions")
def transitions(
    query: Annotated[TransitionsQuery, Query()],
    client: Annotated[Client, Depends(get_clickhouse)],
    settings: Annotated[ApiSettings, Depends(get_settings)],
) -> TransitionsResponse:
    """Moves between consecutive runs of a node (stage, or touchpoint: top N by customers, the rest
    "(other)") in each customer's events in [start, end), plus each customer's "(start)" entry.
    Sankey-ready. See the response model for each number."""
    return TransitionsQueryRunner(client, query, timeout_seconds=settings.api_query_timeout_seconds).run()
