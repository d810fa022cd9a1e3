"""The query API application: `create_app()`.

Run it with `python -m services.api.app` (or `journeyline-api`), or `uvicorn services.api.app:app`.

JSON: routes declare response models, and current FastAPI (0.165 here) serialises those straight
to bytes in pydantic-core. That beats ORJSONResponse, which FastAPI now deprecates and which, as
default_response_class, would turn that fast path off; so it is not used.

Operations: /metrics, /healthz and /readyz (routers/health.py). Error answers: errors.py.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.httputil import get_pool_manager
from fastapi import APIRouter, Depends, FastAPI
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CollectorRegistry

from services.api.auth import authenticate_before_body, require_read_token
from services.api.deps import ClickHouseHolder
from services.api.errors import install_error_handlers
from services.api.load import QueryGate, RequestLifetime, kill_queries, query_slot
from services.api.routers import PAGES, ROUTERS, dashboard
from services.api.routers.health import health_router
from services.api.settings import DEFAULT_READ_TOKEN, ApiSettings
from services.common.clickhouse import connect_migrated
from services.common.docs_assets import install_docs
from services.common.http_guard import BodyGuard, uvicorn_options
from services.common.logging import setup_logging
from services.common.metrics import instrument_http, new_registry

log = logging.getLogger(__name__)

DESCRIPTION = """\
Insights over Journeyline's touchpoint event log, and the feedback loop (status changes are published as events).

Every `/v1` route needs `Authorization: Bearer <read token>` (one of `READ_TOKENS`).
`/dashboard` is a page for people: it loads without a token and asks for one before showing data.
Times are RFC 3339; answers are in UTC.
"""


V1_ERRORS: dict[int | str, dict[str, Any]] = {
    # FastAPI's own answer to a request body it cannot decode (not UTF-8); bad JSON or values get 422.
    400: {"description": "The request body is not UTF-8 text"},
    401: {"description": "No read token, or not a valid one"},
    408: {"description": "The request body did not arrive in time (HTTP_BODY_TIMEOUT_S)"},
    413: {"description": "The request body is larger than API_MAX_BODY_BYTES"},
    429: {"description": "This token already runs API_QUERIES_PER_TOKEN queries; see Retry-After"},
    503: {"description": "ClickHouse (or the key store) is unavailable, every query slot is busy, or the request "
                         "hit its deadline or time limit; see Retry-After"},
}


def create_app(
    settings: ApiSettings | None = None, client_factory: Callable[[], Client] | None = None
) -> FastAPI:
    """Build the API. The ClickHouse client comes from `client_factory()` when given (tests pass
    a chDB-backed one), else from `connect_migrated(settings)`; it is created in lifespan and
    closed at shutdown."""
    settings = settings or ApiSettings()
    app = FastAPI(title="Journeyline query API", version="1.0.0", description=DESCRIPTION, lifespan=_lifespan)
    app.state.settings = settings
    app.state.read_tokens = tuple(t.encode() for t in settings.read_token_list)
    app.state.clickhouse = ClickHouseHolder(client_factory or _clickhouse_factory(settings))
    app.state.query_gate = QueryGate(settings.api_queries_max, settings.api_queries_per_token,
                                     settings.api_query_wait_s, settings.api_retry_after_s)
    registry = new_registry()
    instrument_http(app, registry)
    app.add_middleware(RequestLifetime, settings=settings, kill=kill_queries(app.state.clickhouse))
    app.add_middleware(BodyGuard, timeout_s=settings.http_body_timeout_s, max_bytes=settings.api_max_body_bytes,
                       prefix="/v1/", authenticate=authenticate_before_body)
    _include_routes(app, registry)
    install_error_handlers(app, settings.api_retry_after_s)
    install_docs(app)
    return app


def _clickhouse_factory(settings: ApiSettings) -> Callable[[], Client]:
    # A request ends by its deadline; the client's read timeout only backs that up.
    return lambda: connect_migrated(
        settings, send_receive_timeout=settings.api_request_deadline_s + 10,
        pool_mgr=get_pool_manager(maxsize=2 * settings.api_queries_max + 4))


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: ApiSettings = app.state.settings
    holder: ClickHouseHolder = app.state.clickhouse
    if settings.read_token_list == (DEFAULT_READ_TOKEN,):
        log.warning("READ_TOKENS is the development default %r; set it in production", DEFAULT_READ_TOKEN)
    dashboard.warn_if_not_vendored()
    try:
        await run_in_threadpool(holder.get)
    except Exception:
        log.exception("ClickHouse not reachable at start-up; will retry on the next request")
    try:
        yield
    finally:
        await run_in_threadpool(holder.close)


def _include_routes(app: FastAPI, registry: CollectorRegistry) -> None:
    """/v1 (read token and a query slot), the pages, then the operations routes."""
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_read_token), Depends(query_slot)],
                   responses=V1_ERRORS)
    for router in ROUTERS:
        v1.include_router(router)
    app.include_router(v1)
    for page in PAGES:
        app.include_router(page)
    app.include_router(health_router(registry))


def main() -> None:
    """`python -m services.api.app` / `journeyline-api`: serve on API_HOST:API_PORT."""
    import uvicorn

    settings = ApiSettings()
    setup_logging("api", settings)
    # log_config=None: uvicorn's loggers go through the root handler set up above.
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port,
                log_level=settings.api_log_level, log_config=None, **uvicorn_options(settings))


_app: FastAPI | None = None


def __getattr__(name: str) -> Any:
    # `uvicorn services.api.app:app`: built on first access, with settings from the environment,
    # so importing this module (tests, tools) reads no environment and connects to nothing.
    global _app
    if name == "app":
        if _app is None:
            _app = create_app()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    main()
