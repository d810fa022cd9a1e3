"""Ingest's refusals: each exception a route raises becomes its status, body and headers here,
and is counted by reason (journeyline_ingest_requests_refused, services/ingest/metrics.py)."""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from services.common.http_guard import validation_error_response
from services.ingest.auth import KeyStoreDown, Unauthorized
from services.ingest.body import PayloadTooLarge
from services.ingest.deps import get_metrics, get_settings
from services.ingest.producer import BrokerUnavailable
from services.ingest.rate_limit import RateLimited
from services.ingest.segment.routes import SegmentRequestError, segment_error_response

log = logging.getLogger("journeyline.ingest")


def _refused(request: Request, reason: str) -> None:
    get_metrics(request).refused.labels(reason).inc()


async def unauthorized(request: Request, exc: Unauthorized) -> JSONResponse:
    _refused(request, "unauthorized")
    return JSONResponse(
        {"detail": "a valid write key is required: Authorization: Bearer <write key> (or HTTP Basic with "
                   "the write key as user name, as Segment SDKs send it)"},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


async def key_store_down(request: Request, exc: KeyStoreDown) -> JSONResponse:
    _refused(request, "key_store_unavailable")
    log.warning("key store unavailable: %s", exc.__cause__)
    return JSONResponse(
        {"detail": "the key store (ClickHouse) is unavailable, so this write key cannot be checked; retry"},
        status_code=503,
        headers={"Retry-After": str(get_settings(request).retry_after_s)},
    )


async def rate_limited(request: Request, exc: RateLimited) -> JSONResponse:
    _refused(request, "rate_limited")
    settings = get_settings(request)
    return JSONResponse(
        {"detail": f"rate limit of this write key exceeded ({settings.rate_limit_events_per_s:g} events/s, "
                   f"bursts of {settings.rate_limit_burst}); retry after {exc.retry_after} s"},
        status_code=429,
        headers={"Retry-After": str(exc.retry_after)},
    )


async def segment_refused(request: Request, exc: SegmentRequestError) -> JSONResponse:
    _refused(request, "bad_request")
    return segment_error_response(exc)


async def too_large(request: Request, exc: PayloadTooLarge) -> JSONResponse:
    _refused(request, "too_large")
    return JSONResponse(
        {"detail": f"request body is larger than {get_settings(request).max_body_bytes} bytes"}, status_code=413
    )


async def broker_down(request: Request, exc: BrokerUnavailable) -> JSONResponse:
    _refused(request, "broker_unavailable")
    log.warning("broker unavailable: %s", exc)
    return JSONResponse(
        {"detail": "the event broker is unavailable; nothing was accepted, retry the batch"},
        status_code=503,
        headers={"Retry-After": str(get_settings(request).retry_after_s)},
    )


async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    _refused(request, "validation")
    return validation_error_response(exc)


HANDLERS = {
    Unauthorized: unauthorized,
    KeyStoreDown: key_store_down,
    RateLimited: rate_limited,
    SegmentRequestError: segment_refused,
    PayloadTooLarge: too_large,
    BrokerUnavailable: broker_down,
    RequestValidationError: invalid,
}


def register_exception_handlers(app: FastAPI) -> None:
    for exc_class, handler in HANDLERS.items():
        app.add_exception_handler(exc_class, handler)
