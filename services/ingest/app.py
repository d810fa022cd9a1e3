"""Ingest HTTP service: validates touchpoint events and publishes them to Kafka."""

import hmac
import logging
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError

from deploy.topics import ensure_topics
from schemas.events import EventBatch
from services.ingest.producer import BrokerUnavailable, EventProducer
from services.ingest.settings import IngestSettings

log = logging.getLogger("journeyline.ingest")


class Accepted(BaseModel):
    accepted: int


class PayloadTooLarge(Exception):
    pass


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or IngestSettings()
    producer = EventProducer(settings)
    key_sources = settings.key_sources()
    max_future = timedelta(hours=settings.max_future_hours)
    bearer = HTTPBearer(auto_error=False)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.create_topics:
            ensure_topics(settings)
        yield
        await producer.stop()

    app = FastAPI(
        title="Journeyline ingest",
        version="1",
        lifespan=lifespan,
    )
    app.state.producer = producer

    def source_of(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> str:
        if credentials is not None:
            for key, source in key_sources.items():
                if hmac.compare_digest(credentials.credentials.encode(), key.encode()):
                    return source
        raise _Unauthorized()

    @app.exception_handler(_Unauthorized)
    async def _unauthorized(request: Request, exc: _Unauthorized) -> JSONResponse:
        return JSONResponse(
            {"detail": "a valid write key is required: Authorization: Bearer <write key>"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.exception_handler(PayloadTooLarge)
    async def _too_large(request: Request, exc: PayloadTooLarge) -> JSONResponse:
        return JSONResponse(
            {"detail": f"request body is larger than {settings.max_body_bytes} bytes"}, status_code=413
        )

    @app.exception_handler(BrokerUnavailable)
    async def _broker_down(request: Request, exc: BrokerUnavailable) -> JSONResponse:
        log.warning("broker unavailable: %s", exc)
        return JSONResponse(
            {"detail": "the event broker is unavailable; nothing was accepted, retry the batch"},
            status_code=503,
            headers={"Retry-After": str(settings.retry_after_s)},
        )

    @app.post(
        "/v1/events",
        status_code=202,
        response_model=Accepted,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EventBatch"}}},
            }
        },
        responses={401: {}, 413: {}, 422: {}, 503: {}},
        summary="Accept a batch of touchpoint events",
    )
    async def post_events(request: Request, source: Annotated[str, Depends(source_of)]) -> Accepted:
        """All events are validated first: one invalid event refuses the whole batch (422).
        202 means the broker acknowledged every event (acks=all)."""
        batch = _parse(await _read_limited(request, settings.max_body_bytes), max_future)
        return Accepted(accepted=await producer.publish(batch.events, source))

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        ok = await producer.ready()
        return JSONResponse({"status": "ok" if ok else "broker unavailable"}, status_code=200 if ok else 503)

    # Publish EventBatch in the OpenAPI components for the manual body above.
    original_openapi = app.openapi

    def openapi():
        if app.openapi_schema is None:
            schema = original_openapi()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            defs = EventBatch.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(defs.pop("$defs", {}))
            components["EventBatch"] = defs
        return app.openapi_schema

    app.openapi = openapi
    return app


class _Unauthorized(Exception):
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


def _parse(body: bytes, max_future: timedelta) -> EventBatch:
    try:
        return EventBatch.model_validate_json(body, context={"max_future": max_future})
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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s ingest %(levelname)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    uvicorn.run(create_app(settings), host=settings.ingest_host, port=settings.ingest_port, log_level="info")


if __name__ == "__main__":
    main()
