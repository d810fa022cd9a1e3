"""HTTP edge limits shared by ingest and the API: header and body read deadlines (408), a body
size bound (413), and a 422 renderer that never fails on the input it quotes.

uvicorn's keep-alive timer stops at a connection's first byte, so headers trickling in at 1 byte/s
hold it open for ever: `uvicorn_options` serves with uvicorn's h11 protocol plus a deadline from the
connection's (or the previous response's) end until the request's headers are complete
(`header_timeout_protocol`, services/common/compat/uvicorn_server.py: it uses the protocol's
internals). The body deadline is ASGI-level (`BodyGuard`), from the moment the headers are in.
"""
from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.compat.uvicorn_server import header_timeout_protocol

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class HttpLimitSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    http_header_timeout_s: float = Field(
        10.0, gt=0, description="A request's headers must be complete this long after the connection opens "
        "(or the previous response ends); else 408 and the connection closes")
    http_body_timeout_s: float = Field(
        30.0, gt=0, description="A request's body must be complete this long after its headers; else 408")
    http_keep_alive_s: float = Field(5.0, gt=0, description="An idle keep-alive connection closes after this")


class BodyTimeout(Exception):
    """The request body did not arrive within its deadline."""


class BodyTooLarge(Exception):
    pass


def _timeout_response(seconds: float) -> JSONResponse:
    return JSONResponse({"detail": f"the request body did not arrive within {seconds:g} s"}, status_code=408,
                        headers={"Connection": "close"})


class BodyGuard:
    """Pure ASGI middleware: the body of every request must arrive within `timeout_s` of its
    headers (408). With `max_bytes`, bodies of BODY_METHODS requests under `prefix` are read here,
    at most that many bytes (413), after `authenticate(request)` let the request through (it
    returns the refusal, or None), then handed on whole: nothing is read before authentication."""

    def __init__(self, app: ASGIApp, timeout_s: float, max_bytes: int | None = None, prefix: str = "/",
                 authenticate: Callable[[Request], Awaitable[Response | None]] | None = None) -> None:
        self.app, self.timeout_s, self.max_bytes = app, timeout_s, max_bytes
        self.prefix, self.authenticate = prefix, authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        deadline = time.monotonic() + self.timeout_s
        if (self.max_bytes is not None and scope["method"] in BODY_METHODS
                and scope["path"].startswith(self.prefix)):
            return await self._buffered(scope, receive, send, deadline)
        started = False

        async def timed_receive() -> Message:
            remaining = deadline - time.monotonic()
            try:
                with anyio.fail_after(max(remaining, 0.001)):
                    return await receive()
            except TimeoutError:
                raise BodyTimeout() from None

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, timed_receive, tracked_send)
        except BodyTimeout:
            if started:
                raise
            await _timeout_response(self.timeout_s)(scope, receive, send)

    async def _buffered(self, scope: Scope, receive: Receive, send: Send, deadline: float) -> None:
        if self.authenticate is not None:
            refusal = await self.authenticate(Request(scope))
            if refusal is not None:
                return await refusal(scope, receive, send)
        try:
            body = await self._read(scope, receive, deadline)
        except BodyTooLarge:
            response = JSONResponse({"detail": f"the request body is larger than {self.max_bytes} bytes"},
                                    status_code=413, headers={"Connection": "close"})
            return await response(scope, receive, send)
        except TimeoutError:
            return await _timeout_response(self.timeout_s)(scope, receive, send)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: only http.disconnect comes

        await self.app(scope, replay, send)

    async def _read(self, scope: Scope, receive: Receive, deadline: float) -> bytes:
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise BodyTooLarge()
        body = bytearray()
        with anyio.fail_after(max(deadline - time.monotonic(), 0.001)):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    break
                body += message.get("body", b"")
                if len(body) > self.max_bytes:
                    raise BodyTooLarge()
                if not message.get("more_body", False):
                    break
        return bytes(body)


def uvicorn_options(settings: HttpLimitSettings) -> dict[str, Any]:
    """uvicorn.run / uvicorn.Config keyword arguments for these limits."""
    return {"http": header_timeout_protocol(settings.http_header_timeout_s),
            "timeout_keep_alive": settings.http_keep_alive_s}


# ---- 422 ----------------------------------------------------------------------------------------

def _finite(value: Any) -> Any:
    """JSON-safe: non-finite floats (NaN, Infinity, 1e400 parsed) become their names as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def validation_error_response(exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 shape, whatever the quoted input holds (its own renderer fails on NaN: 500)."""
    return JSONResponse({"detail": _finite(jsonable_encoder(exc.errors()))}, status_code=422)
