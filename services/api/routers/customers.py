from __future__ import annotations

from typing import Annotated

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter, Depends, HTTPException, Path, status

from services.api.deps import get_clickhouse, get_settings
from services.api.queries.journey import JourneyQuery, JourneyQueryRunner, JourneyResponse
from services.api.settings import ApiSettings

router = APIRouter(prefix="/customers", tags=["customers"])


@router.get(
    "/{customer_id:path}/journey",
    response_model=JourneyResponse,
    summary="Customer journey",
    responses={404: {"description": "No event of this customer", "content": {"application/json": {
        "example": {"detail": "Customer 'cust-0042' has no events"}}}}},
)
def customer_journey(
    customer_id: Annotated[str, Path(min_length=1, max_length=256, examples=["cust-0042"])],
    client: Annotated[Client, Depends(get_clickhouse)],
    settings: Annotated[ApiSettings, Depends(get_settings)],
) -> JourneyResponse:
    """Every unique event of the customer in time order, their stages and current stage."""
    runner = JourneyQueryRunner(
        client, JourneyQuery(customer_id=customer_id), timeout_seconds=settings.api_query_timeout_seconds
    )
    journey = runner.run()
    if journey is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"Customer {customer_id!r} has no events")
    return journey
