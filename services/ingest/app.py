"""Ingest HTTP service: validates touchpoint events and publishes them to Kafka.

Write keys: WRITE_KEYS (bootstrap/dev keys, in memory) or keys from `journeyline keys create`, looked
up in ClickHouse per request (services/common/access_keys.py). With ClickHouse unreachable, env keys
still work and store keys get 503 + Retry-After (not 401: the key may well be valid). Each key has an
events/s token bucket in this process: 429 + Retry-After when a batch does not fit.

Operations: /metrics (Prometheus, services/ingest/metrics.py), /healthz (liveness: the process
answers) and /readyz (the broker answers; and the key store, when there are no WRITE_KEYS).
"""

import hashlib
import hmac
import logging
import math
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated, NamedTuple, TypeVar

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasic, HTTPBasicCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError

from services.common.topics import ensure_topics
from schemas.events import EventBatch, validation_context
from schemas.identity import Identify
from services.common.access_keys import AccessKeyStore, KeyStoreUnavailable, lazy_client
from services.common.clickhouse import connect
from services.common.docs_assets import install_docs
from services.common.gc_tuning import tune_for_service
from services.common.http_guard import BodyGuard, uvicorn_options, validation_error_response
from services.common.logging import setup_logging
from services.common.metrics import instrument_http, metrics_response
from services.ingest.metrics import IngestMetrics
from services.ingest.producer import BrokerUnavailable, EventProducer
from services.ingest.rate_limit import TokenBuckets
from services.ingest.segment.routes import (
    Outcome,
    SegmentAccepted,
    SegmentRequestError,
    decode_body,
    looks_like_segment,
    segment_error_response,
    segment_router,
)
from services.ingest.segment.rules import load_rules
from services.ingest.settings import IngestSettings

log = logging.getLogger("journeyline.ingest")
BodyModel = TypeVar("BodyModel", bound=BaseModel)


class Accepted(BaseModel):
    accepted: int


class PayloadTooLarge(Exception):
    pass


class Caller(NamedTuple):
    key_id: str  # rate-limit identity: the store's key_id, or env:<hash prefix> for WRITE_KEYS
    source: str


class RateLimited(Exception):
    def __init__(self, wait_s: float):
        super().__init__(wait_s)
        self.retry_after = max(1, math.ceil(wait_s))


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or IngestSettings()
    producer = EventProducer(settings)
    env_keys = [(key.encode(), Caller("env:" + hashlib.sha256(key.encode()).hexdigest()[:12], source))
                for key, source in settings.key_sources().items()]
    timeout = settings.clickhouse_timeout_s
    get_client, close_client = lazy_client(
        lambda: connect(settings, connect_timeout=timeout, send_receive_timeout=timeout, query_retries=0))
    store = AccessKeyStore(get_client, cache_ttl_s=settings.access_key_cache_s)
    buckets = (TokenBuckets(settings.rate_limit_events_per_s, settings.rate_limit_burst)
               if settings.rate_limit_events_per_s > 0 else None)
    max_future = timedelta(hours=settings.max_future_hours)
    bearer = HTTPBearer(auto_error=False)
    basic = HTTPBasic(auto_error=False)  # Segment SDKs: the write key is the user name
    rules = load_rules(settings.segment_rules_file)
    metrics = IngestMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.create_topics:
            ensure_topics(settings)
        yield
        await producer.stop()
        close_client()

    app = FastAPI(
        title="Journeyline ingest",
        version="1",
        lifespan=lifespan,
    )
    app.state.producer = producer
    instrument_http(app, metrics.registry)
    app.add_middleware(BodyGuard, timeout_s=settings.http_body_timeout_s)

    def store_caller(secret: str) -> Caller:
        try:
            key = store.lookup(secret, "write")
        except KeyStoreUnavailable as exc:
            raise _KeyStoreDown() from exc
        if key is None:
            raise _Unauthorized()
        return Caller(key.key_id, key.source)

    async def caller_of(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        user: Annotated[HTTPBasicCredentials | None, Depends(basic)],
    ) -> Caller:
        secret = credentials.credentials if credentials is not None else (user.username if user else "")
        if not secret:
            raise _Unauthorized()
        given, found = secret.encode(), None
        for env_key, caller in env_keys:  # every key compared, whatever matches first
            if hmac.compare_digest(given, env_key) and found is None:
                found = caller
        if found is None:
            # The ClickHouse lookup runs in a worker thread so that it never blocks the event loop;
            # env keys do not pay for the hand-over (it was a tenth of ingest's time).
            found = await run_in_threadpool(store_caller, secret)
        return found

    async def request_caller(request: Request) -> Caller:
        """caller_of without FastAPI's dependency resolution (a third of the framework's time per
        request on the hot route): the same security objects, called in the same order."""
        return await caller_of(await bearer(request), await basic(request))

    @app.exception_handler(_Unauthorized)
    async def _unauthorized(request: Request, exc: _Unauthorized) -> JSONResponse:
        metrics.refused.labels("unauthorized").inc()
        return JSONResponse(
            {"detail": "a valid write key is required: Authorization: Bearer <write key> (or HTTP Basic with "
                       "the write key as user name, as Segment SDKs send it)"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.exception_handler(_KeyStoreDown)
    async def _store_down(request: Request, exc: _KeyStoreDown) -> JSONResponse:
        metrics.refused.labels("key_store_unavailable").inc()
        log.warning("key store unavailable: %s", exc.__cause__)
        return JSONResponse(
            {"detail": "the key store (ClickHouse) is unavailable, so this write key cannot be checked; retry"},
            status_code=503,
            headers={"Retry-After": str(settings.retry_after_s)},
        )

    @app.exception_handler(RateLimited)
    async def _rate_limited(request: Request, exc: RateLimited) -> JSONResponse:
        metrics.refused.labels("rate_limited").inc()
        return JSONResponse(
            {"detail": f"rate limit of this write key exceeded ({settings.rate_limit_events_per_s:g} events/s, "
                       f"bursts of {settings.rate_limit_burst}); retry after {exc.retry_after} s"},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )

    @app.exception_handler(SegmentRequestError)
    async def _segment_refused(request: Request, exc: SegmentRequestError) -> JSONResponse:
        metrics.refused.labels("bad_request").inc()
        return segment_error_response(exc)

    @app.exception_handler(PayloadTooLarge)
    async def _too_large(request: Request, exc: PayloadTooLarge) -> JSONResponse:
        metrics.refused.labels("too_large").inc()
        return JSONResponse(
            {"detail": f"request body is larger than {settings.max_body_bytes} bytes"}, status_code=413
        )

    @app.exception_handler(BrokerUnavailable)
    async def _broker_down(request: Request, exc: BrokerUnavailable) -> JSONResponse:
        metrics.refused.labels("broker_unavailable").inc()
        log.warning("broker unavailable: %s", exc)
        return JSONResponse(
            {"detail": "the event broker is unavailable; nothing was accepted, retry the batch"},
            status_code=503,
            headers={"Retry-After": str(settings.retry_after_s)},
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        metrics.refused.labels("validation").inc()
        return validation_error_response(exc)

    @app.post(
        "/v1/events",
        status_code=202,
        response_model=Accepted,
        openapi_extra={**_json_body("EventBatch"), "security": [{"HTTPBearer": []}, {"HTTPBasic": []}]},
        responses={401: {}, 413: {}, 422: {}, 429: {}, 503: {}},
        summary="Accept a batch of touchpoint events",
    )
    async def post_events(request: Request) -> Response:
        """All events are validated first: one invalid event refuses the whole batch (422).
        202 means the broker acknowledged every event (acks=all). 429: the key's events/s limit."""
        caller = await request_caller(request)
        batch = _parse(EventBatch, await _read_limited(request, settings.max_body_bytes), max_future)
        admit(caller, len(batch.events))
        accepted = await producer.publish(batch.events, caller.source)
        metrics.accepted(caller.source, events=accepted)
        # The Accepted body, without FastAPI's response-model round trip.
        return Response(orjson.dumps({"accepted": accepted}), status_code=202, media_type="application/json")

    def admit(caller: Caller, events: int) -> None:
        # Counted after parsing, so Retry-After is exact for this request; a refused one takes nothing.
        if buckets is not None and (wait_s := buckets.take(caller.key_id, events)) > 0:
            raise RateLimited(wait_s)

    async def deliver(outcome: Outcome, caller: Caller) -> None:
        await producer.publish(outcome.events, caller.source)
        await producer.publish_identities(outcome.links, caller.source)
        await producer.publish_dead_letters(outcome.dead_letters)
        metrics.accepted(caller.source, events=len(outcome.events), identities=len(outcome.links))
        metrics.dead_lettered(outcome.dead_letter_kinds)

    router, handle_segment = segment_router(
        caller_of, lambda request: _read_limited(request, settings.max_body_bytes), admit, deliver, rules,
        settings.segment_default_channel, max_future, settings.max_body_bytes)
    app.include_router(router)

    @app.post(
        "/v1/identify",
        status_code=202,
        response_model=Accepted,
        openapi_extra=_json_body("Identify"),
        responses={200: {"model": SegmentAccepted, "description": "A Segment identify call, accepted"},
                   400: {}, 401: {}, 413: {}, 422: {}, 429: {}, 503: {}},
        summary="Link an anonymous visitor to a customer",
    )
    async def post_identify(request: Request, caller: Annotated[Caller, Depends(caller_of)]):
        """From now on, and back to its first event, the anonymous id's events are the customer's
        in journeys, funnels and metrics. An anonymous id stays with the first customer it was
        linked to. 202 means the broker acknowledged the link. A Segment identify call (userId,
        anonymousId, traits) is served here too, told apart by its fields: 200 as Segment answers."""
        raw = await _read_limited(request, settings.max_body_bytes)
        encoding = request.headers.get("content-encoding")
        if encoding or looks_like_segment(_json_or_none(raw)):
            segment = await handle_segment(request, decode_body(raw, encoding, settings.max_body_bytes), caller)
            return JSONResponse(segment.model_dump(), status_code=200)
        identify = _parse(Identify, raw, max_future)
        admit(caller, 1)
        await producer.publish_identities([identify], caller.source)
        metrics.accepted(caller.source, identities=1)
        return Accepted(accepted=1)

    @app.get("/healthz", tags=["health"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    def key_store_answers() -> bool:
        try:
            get_client().query("SELECT 1")
            return True
        except Exception:  # down, refused, timed out: not ready to check store keys
            return False

    @app.get("/readyz", tags=["health"], summary="Readiness: the broker (and key store) answer",
             responses={503: {"description": "A dependency does not answer"}})
    async def readyz() -> JSONResponse:
        """The broker is needed for everything. The key store (ClickHouse) is needed only when no
        WRITE_KEYS are configured: with them, ingest still accepts their events while it is down."""
        checks = {"broker": await producer.ready(), "key_store": await run_in_threadpool(key_store_answers)}
        ready = checks["broker"] and (checks["key_store"] or bool(env_keys))
        body = {"status": "ready" if ready else "unavailable",
                "checks": {name: "ok" if ok else "unavailable" for name, ok in checks.items()}}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics", include_in_schema=False)
    async def prometheus_metrics():
        return metrics_response(metrics.registry)

    # Publish the manually parsed bodies in the OpenAPI components.
    original_openapi = app.openapi

    def openapi():
        if app.openapi_schema is None:
            schema = original_openapi()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (EventBatch, Identify):
                defs = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(defs.pop("$defs", {}))
                components[model.__name__] = defs
        return app.openapi_schema

    app.openapi = openapi
    install_docs(app)
    return app


class _Unauthorized(Exception):
    pass


class _KeyStoreDown(Exception):
    pass


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge()
    return bytes(body)


def _json_body(model: str) -> dict:
    """OpenAPI for a body parsed by hand (model published in the components by openapi())."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}}}}


def _json_or_none(raw: bytes):
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _parse(model: type[BodyModel], body: bytes, max_future: timedelta) -> BodyModel:
    try:
        return model.model_validate_json(body, context=validation_context(max_future))
    except ValidationError as exc:
        # FastAPI's own 422 shape, with loc rooted at the body.
        errors = exc.errors(include_url=False)
        for error in errors:
            error["loc"] = ("body", *error["loc"])
            if error["type"] == "json_invalid":
                error["input"] = body[:200].decode(errors="replace")
        raise RequestValidationError(errors) from None


def main() -> None:
    import uvicorn

    settings = IngestSettings()
    setup_logging("ingest", settings)
    app = create_app(settings)
    tune_for_service()
    # log_config=None: uvicorn's loggers go through the root handler set up above.
    uvicorn.run(app, host=settings.ingest_host, port=settings.ingest_port,
                log_level=settings.log_level.lower(), log_config=None, **uvicorn_options(settings))


if __name__ == "__main__":
    main()
