"""The API's answers to errors raised while serving a request."""
from __future__ import annotations

import logging

from clickhouse_connect.driver.exceptions import Error as ClickHouseError
from clickhouse_connect.driver.exceptions import OperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from services.api.load import Busy, busy_response, limit_response
from services.common.http_guard import validation_error_response

log = logging.getLogger(__name__)


def install_error_handlers(app: FastAPI, retry_after_s: int) -> None:
    """422 for bad requests, 429/503 when busy, 503 when ClickHouse is down or a limit is hit,
    500 for any other query failure."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error_response(exc)

    @app.exception_handler(Busy)
    async def _busy(request: Request, exc: Busy) -> JSONResponse:
        return busy_response(exc)

    @app.exception_handler(ClickHouseError)
    async def _clickhouse_error(request: Request, exc: ClickHouseError) -> JSONResponse:
        if isinstance(exc, OperationalError):
            log.warning("ClickHouse unavailable: %s", exc)
            return JSONResponse({"detail": "ClickHouse unavailable"}, status_code=503)
        if (limited := limit_response(str(exc), retry_after_s)) is not None:
            log.warning("query limit hit on %s: %s", request.url.path, limited.body.decode())
            return limited
        log.error("ClickHouse query failed on %s: %s", request.url.path, exc)
        return JSONResponse({"detail": "Query failed"}, status_code=500)
