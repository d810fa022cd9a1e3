"""POST /v1/identify: link an anonymous visitor to a customer; a Segment identify call on the same
path goes to the Segment intake (services/ingest/segment/routes.py)."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from schemas.identity import Identify
from services.ingest.body import json_or_none, parse, read_limited
from services.ingest.deps import Limiter, Metrics, Producer, Settings, WriteKey
from services.ingest.openapi import json_body
from services.ingest.routers.events import Accepted
from services.ingest.segment.routes import Segment, SegmentAccepted, decode_body, looks_like_segment

router = APIRouter()


@router.post(
    "/v1/identify",
    status_code=202,
    response_model=Accepted,
    openapi_extra=json_body("Identify"),
    responses={200: {"model": SegmentAccepted, "description": "A Segment identify call, accepted"},
               400: {}, 401: {}, 413: {}, 422: {}, 429: {}, 503: {}},
    summary="Link an anonymous visitor to a customer",
)
async def post_identify(request: Request, caller: WriteKey, settings: Settings, limiter: Limiter,
                        producer: Producer, metrics: Metrics, segment: Segment):
    """From now on, and back to its first event, the anonymous id's events are the customer's
    in journeys, funnels and metrics. An anonymous id stays with the first customer it was
    linked to. 202 means the broker acknowledged the link. A Segment identify call (userId,
    anonymousId, traits) is served here too, told apart by its fields: 200 as Segment answers."""
    raw = await read_limited(request, settings.max_body_bytes)
    encoding = request.headers.get("content-encoding")
    if encoding or looks_like_segment(json_or_none(raw)):
        body = decode_body(raw, encoding, settings.max_body_bytes)
        accepted = await segment.accept(request.url.path, body, caller)
        return JSONResponse(accepted.model_dump(), status_code=200)
    identify = parse(Identify, raw, settings.max_future)
    limiter.admit(caller.key_id, 1)
    await producer.publish_identities([identify], caller.source)
    metrics.accepted(caller.source, identities=1)
    return Accepted(accepted=1)
