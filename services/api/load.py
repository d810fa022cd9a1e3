"""The query side under load: admission, deadlines and cancellation of analyst queries.

* `QueryGate`: at most API_QUERIES_MAX requests run at once, at most API_QUERIES_PER_TOKEN per
  token; a request waits at most API_QUERY_WAIT_S for a slot, then gets 429 (its token's share is
  in use) or 503 (every slot is), with Retry-After.
* `RequestLifetime` (ASGI): a /v1 request's whole life, wait included, ends by
  API_REQUEST_DEADLINE_S (503 past it); when the deadline passes or the client disconnects, its
  ClickHouse queries are killed (KILL QUERY on the log_comment every query of the request carries)
  before the handler is cancelled, so no query outlives its request.
* `query_settings()`: the settings of each query: max_execution_time up to the deadline,
  memory, result-size and thread limits, a lower CPU priority than the processors' writes.
* `limit_response()`: a limit hit is a 4xx/503 that names the limit and how to narrow the query.
"""
from __future__ import annotations

import contextvars
import hashlib
import logging
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from fastapi import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.settings import ApiSettings

log = logging.getLogger(__name__)


@dataclass
class Budget:
    """One request's: the id its queries carry (log_comment) and the monotonic time it must end by."""

    request_id: str
    deadline: float
    settings: dict[str, Any] = field(default_factory=dict)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("query_budget", default=None)


def limit_settings(settings: ApiSettings) -> dict[str, Any]:
    out: dict[str, Any] = {"max_memory_usage": settings.api_query_max_memory_bytes,
                           "max_result_rows": settings.api_query_max_result_rows, "result_overflow_mode": "throw",
                           "max_threads": settings.api_query_threads}
    if settings.api_query_nice:
        out["os_threads_nice_value_query"] = settings.api_query_nice
    if settings.api_query_priority:
        out["priority"] = settings.api_query_priority
    return out


def query_settings(timeout_seconds: float | None) -> dict[str, Any]:
    """Settings for one analyst query of the current request (just the timeout outside a request)."""
    budget = BUDGET.get()
    out: dict[str, Any] = {}
    limit = timeout_seconds or math.inf
    if budget is not None:
        out.update(budget.settings, log_comment=budget.request_id)
        limit = min(limit, budget.remaining() - 0.25)  # ClickHouse stops first, the API answers in time
    if limit != math.inf:
        out["max_execution_time"] = round(max(limit, 0.1), 3)
    return out


class Busy(Exception):
    def __init__(self, status: int, detail: str, retry_after: int):
        super().__init__(detail)
        self.status, self.detail, self.retry_after = status, detail, retry_after


class QueryGate:
    def __init__(self, total: int, per_token: int, wait_s: float, retry_after_s: int):
        self.total, self.per_token, self.wait_s, self.retry_after_s = total, per_token, wait_s, retry_after_s
        self._slots = anyio.Semaphore(total)
        self._tokens: dict[str, tuple[anyio.Semaphore, int]] = {}  # semaphore, requests holding or waiting
        self.waiting = 0

    @property
    def running(self) -> int:
        return self.total - self._slots.value

    @asynccontextmanager
    async def slot(self, token: str, wait_s: float) -> AsyncIterator[None]:
        """Hold one of the token's slots and one of all slots while the request runs."""
        key = hashlib.sha256(token.encode()).hexdigest()[:16]
        own, holders = self._tokens.get(key) or (anyio.Semaphore(self.per_token), 0)
        self._tokens[key] = (own, holders + 1)
        started, admitted = time.monotonic(), False
        self.waiting += 1
        try:
            if not await _acquire(own, wait_s):
                raise Busy(429, f"this token already runs {self.per_token} queries (API_QUERIES_PER_TOKEN); wait "
                                "for one to finish, then retry", self.retry_after_s)
            try:
                if not await _acquire(self._slots, wait_s - (time.monotonic() - started)):
                    raise Busy(503, f"all {self.total} query slots are busy (API_QUERIES_MAX); retry later",
                               self.retry_after_s)
                self.waiting, admitted = self.waiting - 1, True
                try:
                    yield
                finally:
                    self._slots.release()
            finally:
                own.release()
        finally:
            if not admitted:
                self.waiting -= 1
            own, holders = self._tokens[key]
            if holders <= 1:
                del self._tokens[key]
            else:
                self._tokens[key] = (own, holders - 1)


async def _acquire(semaphore: anyio.Semaphore, wait_s: float) -> bool:
    try:
        semaphore.acquire_nowait()
        return True
    except anyio.WouldBlock:
        pass
    with anyio.move_on_after(max(wait_s, 0)):
        await semaphore.acquire()
        return True
    return False


def busy_response(exc: Busy) -> JSONResponse:
    return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers={"Retry-After": str(exc.retry_after)})


class RequestLifetime:
    """ASGI middleware for /v1: the request's budget (BUDGET), its deadline, and on the deadline or
    a client disconnect, `kill(request_id)` of its queries, then the handler's cancellation."""

    def __init__(self, app: ASGIApp, settings: ApiSettings, kill: Callable[[str], None]) -> None:
        self.app, self.settings, self.kill = app, settings, kill
        self.limits = limit_settings(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            return await self.app(scope, receive, send)
        deadline_s = self.settings.api_request_deadline_s
        budget = Budget(uuid.uuid4().hex, time.monotonic() + deadline_s, self.limits)
        # The body first (BodyGuard has bounded it), so that receive() afterwards only reports a disconnect.
        pending: list[Message] = []
        while not pending or pending[-1].get("more_body", False):
            pending.append(await receive())
            if pending[-1]["type"] == "http.disconnect":
                return
        gone, started, answered, finished, outcome = anyio.Event(), False, False, False, ""

        async def app_receive() -> Message:
            if pending:
                return pending.pop(0)
            await gone.wait()
            return {"type": "http.disconnect"}

        async def app_send(message: Message) -> None:
            nonlocal started, finished
            if answered:
                return  # the deadline answered already
            started = started or message["type"] == "http.response.start"
            finished = message["type"] == "http.response.body" and not message.get("more_body", False)
            await send(message)

        handler = anyio.CancelScope()

        async def stop(why: str) -> None:
            nonlocal outcome, answered
            outcome = why
            with anyio.CancelScope(shield=True):
                if why == "deadline" and not started:
                    answered = True  # at once: the handler may take a moment to let go of its query
                    await self._deadline_response(scope, deadline_s)(scope, receive, send)
                try:  # kill first: the handler's worker thread returns once its query is gone
                    await anyio.to_thread.run_sync(self.kill, budget.request_id)
                except Exception as exc:
                    log.warning("could not kill the queries of request %s: %s", budget.request_id, exc)
            handler.cancel()

        async def watch_client() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()
            if not finished:  # servers report a disconnect once the response is complete, too
                await stop("disconnect")

        async def watch_clock() -> None:
            await anyio.sleep(max(budget.remaining(), 0))
            await stop("deadline")

        token = BUDGET.set(budget)
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(watch_client)
                tasks.start_soon(watch_clock)
                with handler:
                    try:
                        await self.app(scope, app_receive, app_send)
                    except Exception:
                        if not outcome:
                            raise  # a stopped handler's error (its query was killed) is no news
                tasks.cancel_scope.cancel()
        finally:
            BUDGET.reset(token)

    def _deadline_response(self, scope: Scope, deadline_s: float) -> JSONResponse:
        log.warning("%s %s stopped at its deadline of %g s", scope["method"], scope["path"], deadline_s)
        return JSONResponse(
            {"detail": f"the request did not finish within its deadline of {deadline_s:g} s "
                       "(API_REQUEST_DEADLINE_S); narrow the query (a shorter time range, fewer steps, a "
                       "channel filter, no breakdown) or retry when the server is less busy"},
            status_code=503, headers={"Retry-After": str(self.settings.api_retry_after_s)})


# ClickHouse error codes of limit hits: the limit's name, who sets it, and whether load may be the cause.
_LIMITS = {
    241: ("max_memory_usage", "API_QUERY_MAX_MEMORY_BYTES", False),
    158: ("max_rows_to_read", "", False),
    396: ("max_result_rows", "API_QUERY_MAX_RESULT_ROWS", False),
    159: ("max_execution_time", "API_QUERY_TIMEOUT_SECONDS / API_REQUEST_DEADLINE_S", True),
    160: ("max_execution_time (estimated)", "API_QUERY_TIMEOUT_SECONDS / API_REQUEST_DEADLINE_S", True),
    394: ("the request's deadline (the query was cancelled)", "API_REQUEST_DEADLINE_S", True),
}
_CODE = re.compile(r"Code: (\d+)\.")
NARROW = "narrow the query: a shorter time range, fewer steps, a channel or property filter, or no breakdown"


def limit_response(message: str, retry_after_s: int) -> JSONResponse | None:
    """The answer to a ClickHouse error that is a limit hit, or None for other errors."""
    match = _CODE.search(message)
    found = _LIMITS.get(int(match[1])) if match else None
    if found is None:
        return None
    limit, variable, load = found
    where = f" ({variable})" if variable else ""
    if load:
        return JSONResponse({"detail": f"the query hit the time limit {limit}{where}; {NARROW}; or retry when "
                                       "the server is less busy", "limit": limit},
                            status_code=503, headers={"Retry-After": str(retry_after_s)})
    return JSONResponse({"detail": f"the query hit the limit {limit}{where}; {NARROW}", "limit": limit},
                        status_code=422)


def kill_queries(holder: Any) -> Callable[[str], None]:
    """KILL QUERY for every query tagged with this request id (log_comment), on the app's client."""
    def kill(request_id: str) -> None:
        holder.get().command("KILL QUERY WHERE Settings['log_comment'] = {id:String} ASYNC",
                             parameters={"id": request_id}, settings={"max_execution_time": 5})
    return kill


async def query_slot(request: Request) -> AsyncIterator[None]:
    """Dependency of every /v1 route: hold a query slot while the request runs."""
    gate: QueryGate = request.app.state.query_gate
    budget = BUDGET.get()
    wait_s = gate.wait_s if budget is None else min(gate.wait_s, max(budget.remaining(), 0))
    async with gate.slot(request.headers.get("authorization", ""), wait_s):
        yield
