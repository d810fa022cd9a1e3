"""Ingest HTTP service: validates touchpoint events and publishes them to Kafka.

The parts: write keys (auth.py; WRITE_KEYS or keys from `journeyline keys create`), a per-key
events/s token bucket in this process (rate_limit.py: 429 + Retry-After when a batch does not
fit), the routes (routers/, segment/routes.py) with their dependencies (deps.py), the refusals
(errors.py) and the OpenAPI of the bodies parsed by hand (openapi.py).

Operations: /metrics (Prometheus, services/ingest/metrics.py), /healthz (liveness: the process
answers) and /readyz (the broker answers; and the key store, when there are no WRITE_KEYS).
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.common.docs_assets import install_docs
from services.common.gc_tuning import tune_for_service
from services.common.http_guard import BodyGuard, uvicorn_options
from services.common.logging import setup_logging
from services.common.metrics import instrument_http
from services.common.topics import ensure_topics
from services.ingest.auth import WriteKeys
from services.ingest.errors import register_exception_handlers
from services.ingest.metrics import IngestMetrics
from services.ingest.openapi import publish_body_models
from services.ingest.producer import EventProducer
from services.ingest.rate_limit import RateLimiter
from services.ingest.routers import ROUTERS
from services.ingest.segment.rules import load_rules
from services.ingest.settings import IngestSettings


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: IngestSettings = app.state.settings
    if settings.create_topics:
        ensure_topics(settings)
    yield
    await app.state.producer.stop()
    app.state.write_keys.close()


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or IngestSettings()
    app = FastAPI(
        title="Journeyline ingest",
        version="1",
        lifespan=lifespan,
    )
    # What the routes' dependencies (deps.py) hand them.
    app.state.settings = settings
    app.state.producer = EventProducer(settings)
    app.state.write_keys = WriteKeys(settings)
    app.state.limiter = RateLimiter(settings.rate_limit_events_per_s, settings.rate_limit_burst)
    app.state.segment_rules = load_rules(settings.segment_rules_file)
    app.state.metrics = IngestMetrics()

    instrument_http(app, app.state.metrics.registry)
    app.add_middleware(BodyGuard, timeout_s=settings.http_body_timeout_s)
    register_exception_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    publish_body_models(app)
    install_docs(app)
    return app


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
