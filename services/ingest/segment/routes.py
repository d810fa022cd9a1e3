"""The Segment-compatible endpoints: what Segment and RudderStack SDKs call after changing only
the host and write key (HTTP Basic, write key as the user name).

200 {"success": true} once the broker acknowledged every event, link and dead letter of the
request. Calls that do not map (mapping.py) go to the dead-letter topic with the reason and
Segment's payload, never dropped; only a request that is not Segment's shape at all is refused
(400 naming the field). gzip request bodies are accepted (the SDKs' gzip option).
"""

import zlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from schemas.events import Channel, TouchpointEvent
from schemas.identity import IdentityLink
from services.ingest.auth import Caller
from services.ingest.body import read_limited
from services.ingest.deps import Limiter, Metrics, Producer, SegmentRules, Settings, WriteKey
from services.ingest.metrics import IngestMetrics
from services.ingest.producer import EventProducer
from services.ingest.rate_limit import RateLimiter
from services.ingest.segment.mapping import map_call
from services.ingest.segment.rules import Rules
from services.ingest.settings import IngestSettings

SEGMENT_FIELDS = ("userId", "anonymousId", "messageId", "type", "previousId")
MAX_BATCH_CALLS = 2500  # Segment's batch limit is 500 KB; at >= 200 bytes a call this bounds it


class SegmentAccepted(BaseModel):
    success: bool = True
    accepted: int
    dead_lettered: int


class SegmentRequestError(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def looks_like_segment(body: Any) -> bool:
    """Told apart from the native identify body ({anonymous_id, customer_id}) by its fields."""
    return isinstance(body, dict) and any(key in body for key in SEGMENT_FIELDS)


def decode_body(raw: bytes, encoding: str | None, limit: int) -> Any:
    if encoding and encoding.lower() == "gzip":
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            raw = inflater.decompress(raw, limit + 1)
        except zlib.error as exc:
            raise SegmentRequestError("body", f"Content-Encoding is gzip but the body is not: {exc}") from None
        if len(raw) > limit or inflater.unconsumed_tail:
            raise SegmentRequestError("body", f"the decompressed body is larger than {limit} bytes")
    elif encoding and encoding.lower() != "identity":
        raise SegmentRequestError("Content-Encoding", f"unsupported Content-Encoding {encoding!r}; use gzip")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise SegmentRequestError("body", f"body is not JSON: {exc}") from None


@dataclass
class Outcome:
    events: list[TouchpointEvent] = field(default_factory=list)
    links: list[IdentityLink] = field(default_factory=list)
    dead_letters: list[tuple[bytes, bytes]] = field(default_factory=list)  # (key, envelope)
    dead_letter_kinds: list[str] = field(default_factory=list)  # the reasons' kinds, for metrics


def sort_calls(calls: list[dict[str, Any]], rules: Rules, default_channel: Channel, max_future: timedelta,
               path: str, source: str) -> Outcome:
    outcome = Outcome()
    for call in calls:
        mapped = map_call(call, rules, default_channel, max_future)
        if mapped.event is not None:
            outcome.events.append(mapped.event)
        elif mapped.link is not None:
            outcome.links.append(mapped.link)
        else:
            key = str(call.get("messageId") or call.get("userId") or call.get("anonymousId") or "")
            # The dead-letter envelope the processors use; topic names where it came from, and
            # `journeyline dlq replay` maps the call again with the rules of the day.
            envelope = {"reason": mapped.dead_letter, "topic": f"segment:{path}", "partition": None,
                        "offset": None, "key": key, "value": orjson.dumps(call).decode(), "source": source}
            outcome.dead_letters.append((key.encode(), orjson.dumps(envelope)))
            outcome.dead_letter_kinds.append(mapped.kind)
    return outcome


@dataclass
class SegmentIntake:
    """What a Segment request needs beside its body and caller (request dependencies)."""

    settings: IngestSettings
    rules: Rules
    limiter: RateLimiter
    producer: EventProducer
    metrics: IngestMetrics

    async def accept(self, path: str, body: Any, who: Caller) -> SegmentAccepted:
        calls = calls_of(path, body)
        outcome = sort_calls(calls, self.rules, self.settings.segment_default_channel, self.settings.max_future,
                             path, who.source)
        self.limiter.admit(who.key_id, len(calls))
        await self.producer.publish(outcome.events, who.source)
        await self.producer.publish_identities(outcome.links, who.source)
        await self.producer.publish_dead_letters(outcome.dead_letters)
        self.metrics.accepted(who.source, events=len(outcome.events), identities=len(outcome.links))
        self.metrics.dead_lettered(outcome.dead_letter_kinds)
        return SegmentAccepted(accepted=len(outcome.events) + len(outcome.links),
                               dead_lettered=len(outcome.dead_letters))


def segment_intake(settings: Settings, rules: SegmentRules, limiter: Limiter, producer: Producer,
                   metrics: Metrics) -> SegmentIntake:
    return SegmentIntake(settings, rules, limiter, producer, metrics)


Segment = Annotated[SegmentIntake, Depends(segment_intake)]


def calls_of(path: str, body: Any) -> list[dict[str, Any]]:
    """The calls of a request to `path`: a /v1/batch body's batch, else the body as one call."""
    if not path.endswith("/batch"):
        if not isinstance(body, dict):
            raise SegmentRequestError("body", "body must be a JSON object")
        return [{**body, "type": path.rsplit("/", 1)[-1]}]
    if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
        raise SegmentRequestError("batch", "batch must be a list of calls")
    if not 1 <= len(body["batch"]) <= MAX_BATCH_CALLS:
        raise SegmentRequestError("batch", f"batch must hold 1..{MAX_BATCH_CALLS} calls")
    shared = body.get("context") if isinstance(body.get("context"), dict) else {}
    calls = []
    for i, call in enumerate(body["batch"]):
        if not isinstance(call, dict):
            raise SegmentRequestError(f"batch[{i}]", "each call must be an object")
        if shared:  # the batch's context applies to every call; a call's own keys win
            call = {**call, "context": {**shared, **(call.get("context") or {})}}
        calls.append(call)
    return calls


# /v1/track|page|screen|alias|group|batch. A Segment-shaped /v1/identify is served by the native
# identify route (services/ingest/routers/identify.py), which shares the path and hands over here.
router = APIRouter(tags=["Segment-compatible"])
RESPONSES: dict[int | str, dict[str, Any]] = {400: {}, 401: {}, 413: {}, 429: {}, 503: {}}


async def segment_call(request: Request, who: WriteKey, settings: Settings, segment: Segment) -> SegmentAccepted:
    raw = await read_limited(request, settings.max_body_bytes)
    body = decode_body(raw, request.headers.get("content-encoding"), settings.max_body_bytes)
    return await segment.accept(request.url.path, body, who)


for _kind in ("track", "page", "screen", "alias", "group", "batch"):
    router.add_api_route(f"/v1/{_kind}", segment_call, methods=["POST"], response_model=SegmentAccepted,
                         responses=RESPONSES, summary=f"Segment {_kind} call", name=f"segment_{_kind}",
                         openapi_extra={"requestBody": {"required": True, "content": {
                             "application/json": {"schema": {"type": "object"}}}}})


def segment_error_response(exc: SegmentRequestError) -> JSONResponse:
    # Segment's error shape (code, message), which its SDKs read, and the field for people.
    return JSONResponse({"success": False, "code": "invalid_request", "field": exc.field,
                         "message": f"{exc.field}: {exc.message}"}, status_code=400)
