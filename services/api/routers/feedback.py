"""Feedback items, their status (closing the loop), summary figures and repeat-issue customers.

Writing a status needs a token allowed to write feedback status. Until the key store has
scopes, every read token may (the same tokens as the rest of /v1); `feedback_writer` is the
one place to tighten. A status change is published to Kafka and answered 202 once the broker
acknowledges it; it shows in the list and the history when the processors have written it,
normally within a second.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from schemas.feedback import MAX_NOTE_CHARS, FeedbackStatus, StatusChange
from services.api.deps import get_clickhouse, get_settings
from services.api.feedback_producer import BrokerUnavailable, StatusProducer
from services.api.queries.feedback import (
    FeedbackHistory,
    FeedbackListQuery,
    FeedbackListRunner,
    FeedbackPage,
    HistoryRunner,
    ItemLookupRunner,
    ItemQuery,
)
from services.api.queries.feedback_summary import (
    FeedbackSummary,
    RepeatIssuesQuery,
    RepeatIssuesResponse,
    RepeatIssuesRunner,
    SummaryQuery,
    SummaryRunner,
)
from services.api.settings import ApiSettings

log = logging.getLogger(__name__)
EventId = Annotated[str, Path(min_length=1, max_length=128, examples=["pos-12-000187"])]


def status_producer(app: FastAPI) -> StatusProducer:
    producer = getattr(app.state, "feedback_producer", None)
    if producer is None:
        producer = app.state.feedback_producer = StatusProducer(app.state.settings)
    return producer


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # The producer connects on the first status change; here it is only closed at shutdown.
    yield
    producer = getattr(app.state, "feedback_producer", None)
    if producer is not None:
        await producer.stop()


router = APIRouter(tags=["feedback"], lifespan=_lifespan)


def feedback_writer(request: Request) -> str:
    """Who is changing a status. Today: any read token, recorded as the token's identity when
    the auth layer has put one on request.state.token_identity, else "api"."""
    identity = getattr(request.state, "token_identity", None)
    return identity if isinstance(identity, str) and identity else "api"


class StatusChangeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: FeedbackStatus
    note: Annotated[str, Field(max_length=MAX_NOTE_CHARS, description="Why; at most 2000 characters")] = ""


class Accepted(BaseModel):
    accepted: bool = True


@router.get("/feedback", response_model=FeedbackPage, summary="Feedback items")
def list_feedback(
    query: Annotated[FeedbackListQuery, Query()],
    client: Annotated[Client, Depends(get_clickhouse)],
    settings: Annotated[ApiSettings, Depends(get_settings)],
) -> FeedbackPage:
    """Events with a comment or a low score (NPS <= 6, CSAT <= 2, CES <= 3, rating <= 2), newest
    first, with their status. min_score / max_score apply to NPS. Page with next_cursor."""
    return FeedbackListRunner(client, query, timeout_seconds=settings.api_query_timeout_seconds).run()


@router.get("/feedback/summary", response_model=FeedbackSummary, summary="Closing the loop: figures")
def feedback_summary(
    query: Annotated[SummaryQuery, Query()],
    client: Annotated[Client, Depends(get_clickhouse)],
    settings: Annotated[ApiSettings, Depends(get_settings)],
) -> FeedbackSummary:
    """For items whose event occurred in [start, end): counts by status, median seconds from
    occurred_at to the first acknowledgement (acknowledged or resolved) and to the first
    resolution, and open items per touchpoint."""
    return SummaryRunner(client, query, timeout_seconds=settings.api_query_timeout_seconds).run()


@router.post(
    "/feedback/{event_id:path}/status",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    summary="Change a feedback item's status",
    responses={404: {"description": "No feedback item with this event_id"},
               503: {"description": "The broker did not acknowledge the change; retry after Retry-After"}},
)
async def change_status(
    event_id: EventId,
    change: Annotated[StatusChangeRequest, Body()],
    request: Request,
    client: Annotated[Client, Depends(get_clickhouse)],
    settings: Annotated[ApiSettings, Depends(get_settings)],
    who: Annotated[str, Depends(feedback_writer)],
) -> Accepted:
    """Publishes the change (an event in its own right) to journeyline.feedback-status.v1 and
    answers 202 once the broker has acknowledged it (acks=all). Visible in the list and the
    history as soon as the processors have written it."""
    lookup = ItemLookupRunner(client, ItemQuery(event_id=event_id), timeout_seconds=settings.api_query_timeout_seconds)
    customer_id = await run_in_threadpool(lookup.run)
    if customer_id is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"event_id {event_id!r} is not a feedback item")
    record = StatusChange.new(event_id, customer_id, change.status, change.note, who)
    try:
        await status_producer(request.app).publish(record)
    except BrokerUnavailable as exc:
        log.warning("status change for %r not published: %s", event_id, exc)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="The event broker is unavailable; the status was not changed, retry",
            headers={"Retry-After": str(settings.feedback_retry_after_s)},
        ) from None
    return Accepted()


@router.get(
    "/feedback/{event_id:path}/history",
    response_model=FeedbackHistory,
    summary="A feedback item's status changes",
    responses={404: {"description": "No feedback item with this event_id"}},
)
def feedback_history(
    event_id: EventId,
    client: Annotated[Client, Depends(get_clickhouse)],
    settings: Annotated[ApiSettings, Depends(get_settings)],
) -> FeedbackHistory:
    """Every status change of the item, oldest first, and the status they leave it in."""
    history = HistoryRunner(client, ItemQuery(event_id=event_id),
                            timeout_seconds=settings.api_query_timeout_seconds).run()
    if history is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"event_id {event_id!r} is not a feedback item")
    return history


@router.get("/customers/repeat-issues", response_model=RepeatIssuesResponse, tags=["customers"],
            summary="Customers with repeated negative feedback")
def repeat_issues(
    query: Annotated[RepeatIssuesQuery, Query()],
    client: Annotated[Client, Depends(get_clickhouse)],
    settings: Annotated[ApiSettings, Depends(get_settings)],
) -> RepeatIssuesResponse:
    """Customers with at least min_items low-score items (comment-only items do not count) in
    the `days` before as_of (default now): the people to call first, most items first, then the
    latest item."""
    return RepeatIssuesRunner(client, query, timeout_seconds=settings.api_query_timeout_seconds).run()
