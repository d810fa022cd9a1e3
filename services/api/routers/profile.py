"""One customer's profile and item recommendations."""
from __future__ import annotations

from typing import Annotated

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter, Depends, HTTPException, Path, Query, status

from services.api.deps import get_clickhouse, get_settings
from services.api.queries.profile import ProfileQuery, ProfileQueryRunner, ProfileResponse
from services.api.queries.recommendations import (
    RecommendationsQuery,
    RecommendationsQueryRunner,
    RecommendationsResponse,
)
from services.api.settings import ApiSettings

router = APIRouter(prefix="/customers", tags=["customers"])

CustomerId = Annotated[str, Path(min_length=1, max_length=256, examples=["cust-0042"])]
NOT_FOUND = {404: {"description": "No event of this customer", "content": {"application/json": {
    "example": {"detail": "Customer 'cust-0042' has no events"}}}}}


def _not_found(customer_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"Customer {customer_id!r} has no events")


@router.get("/{customer_id:path}/profile", response_model=ProfileResponse, summary="Customer profile",
            responses=NOT_FOUND)
def customer_profile(
    customer_id: CustomerId,
    client: Annotated[Client, Depends(get_clickhouse)],
    settings: Annotated[ApiSettings, Depends(get_settings)],
) -> ProfileResponse:
    """Habits and experience from all of the customer's events: first and last seen, current
    stage, orders and revenue per currency, favourites, usual times, last scores, feedback items."""
    profile = ProfileQueryRunner(
        client, ProfileQuery(customer_id=customer_id), timeout_seconds=settings.api_query_timeout_seconds
    ).run()
    if profile is None:
        raise _not_found(customer_id)
    return profile


@router.get("/{customer_id:path}/recommendations", response_model=RecommendationsResponse,
            summary="Item recommendations", responses=NOT_FOUND)
def customer_recommendations(
    customer_id: CustomerId,
    query: Annotated[RecommendationsQuery, Query()],
    client: Annotated[Client, Depends(get_clickhouse)],
    settings: Annotated[ApiSettings, Depends(get_settings)],
) -> RecommendationsResponse:
    """Items bought by customers who share this customer's top 3 items and that this customer
    never bought, ranked by how many of those customers bought them."""
    answer = RecommendationsQueryRunner(
        client, customer_id, query, timeout_seconds=settings.api_query_timeout_seconds
    ).run()
    if answer is None:
        raise _not_found(customer_id)
    return answer
