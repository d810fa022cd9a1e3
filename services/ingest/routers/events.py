"""POST /v1/events: a batch of touchpoint events, validated whole and published to the broker."""
from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from schemas.events import EventBatch
from services.ingest.body import parse, read_limited
from services.ingest.deps import get_limiter, get_metrics, get_producer, get_settings, request_caller
from services.ingest.openapi import json_body

router = APIRouter()


class Accepted(BaseModel):
    accepted: int


@router.post(
    "/v1/events",
    status_code=202,
    response_model=Accepted,
    openapi_extra={**json_body("EventBatch"), "security": [{"HTTPBearer": []}, {"HTTPBasic": []}]},
    responses={401: {}, 413: {}, 422: {}, 429: {}, 503: {}},
    summary="Accept a batch of touchpoint events",
)
async def post_events(request: Request) -> Response:
    """All events are validated first: one invalid event refuses the whole batch (422).
    202 means the broker acknowledged every event (acks=all). 429: the key's events/s limit."""
    # The hot route: its dependencies are called here, not declared (see services/ingest/deps.py).
    caller = await request_caller(request)
    settings = get_settings(request)
    batch = parse(EventBatch, await read_limited(request, settings.max_body_bytes), settings.max_future)
    get_limiter(request).admit(caller.key_id, len(batch.events))
    accepted = await get_producer(request).publish(batch.events, caller.source)
    get_metrics(request).accepted(caller.source, events=accepted)
    # The Accepted body, without FastAPI's response-model round trip.
    return Response(orjson.dumps({"accepted": accepted}), status_code=202, media_type="application/json")
