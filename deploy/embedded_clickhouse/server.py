"""ASGI app serving one embedded chDB data directory over ClickHouse's HTTP interface.

chDB allows a single process per data directory; this server is that process, and every other
process (services through clickhouse-connect, BI tools, curl) shares the database over HTTP.

The app keeps a pool of chDB connection handles to the one engine. A request holds one handle for
its whole life and the handle is brought to exactly the request's current database and settings
before it runs (USE / SET, diffed against what the handle already has), so concurrent requests never
see each other's state. Blocking chDB calls run in worker threads. Inserts with data (`INSERT ...
FORMAT X` followed by rows, possibly compressed) go to a temporary file, then run as one statement
that reads it (insert.py). SELECTs stream their blocks when the client did not ask for
wait_end_of_query and the format allows concatenating blocks.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import secrets
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import anyio
import anyio.to_thread
import chdb
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from .access import check_reads, require_query, restricted_settings, session_settings
from .insert import InsertData
from .protocol import (
    BodyDecoder,
    BodyEncoder,
    ClickHouseError,
    Options,
    User,
    authenticate,
    exception_block,
    parse_multipart,
    request_options,
    summary,
)
from .sql import NeedMore, Statement, content_type, scan_statement

log = logging.getLogger("embedded_clickhouse")

# chDB streams each block as a self-contained encoding: only formats without a global header or
# footer stay valid when the blocks are concatenated.
STREAMABLE_FORMATS = frozenset(f.lower() for f in (
    "Native", "RowBinary", "TabSeparated", "TSV", "TabSeparatedRaw", "TSVRaw", "CSV", "JSONEachRow",
    "JSONCompactEachRow", "JSONStringsEachRow", "JSONCompactStringsEachRow", "JSONLines", "NDJSON"))
MAX_STATEMENT_HEAD = 16 << 20  # give up looking for `INSERT ... FORMAT` data after this much
DEFAULT_PRIORITY = "1"  # ClickHouse's `priority` of what does not ask for another (readonly=1 users cannot)
TEXT = "text/plain; charset=UTF-8"
OK_RESPONSE = "Ok.\n"
NOT_FOUND = ("There is no handle {path}\n\nUse / or /ping for health checks.\nOr /replicas_status for more "
             "sophisticated health checks.\n\nSend queries from your program with POST method or GET /?query=...\n")


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


PoolKey = tuple[int, tuple[tuple[str, str], ...]]  # readonly level, settings fixed before it


class Handle:
    """One chDB connection handle and the session state it currently carries."""

    def __init__(self, conn: Any, key: PoolKey):
        self.conn, self.key = conn, key
        self.database: str | None = None
        self.settings: dict[str, str] = {}

    def run(self, sql: str) -> None:
        try:
            self.conn.query(sql, "TabSeparated")
        except Exception as ex:
            raise ClickHouseError.from_engine(ex) from None

    def prepare(self, database: str, settings: Mapping[str, str]) -> None:
        """Give the handle exactly this current database and these settings (others at DEFAULT).
        A failed SET leaves the previous value in place, which `self.settings` keeps tracking."""
        if database != self.database:
            self.database = None
            self.run("USE `" + database.replace("\\", "\\\\").replace("`", "\\`") + "`")
            self.database = database
        for name in [n for n in self.settings if n not in settings]:
            self.run(f"SET {name} = DEFAULT")
            del self.settings[name]
        for name, value in settings.items():
            if self.settings.get(name) != value:
                self.run(f"SET {name} = {_quote(value)}")
                self.settings[name] = value


class EnginePool:
    """Handles to the process's one chDB engine, kept apart by readonly level and the settings fixed
    before it (a readonly handle cannot be made writable again, nor its fixed settings changed). A
    root connection keeps the engine open while idle."""

    def __init__(self, path: str, max_idle: int = 16):
        self.path, self.max_idle = path, max_idle
        self._root = chdb.connect(path)
        info = self._root.query("SELECT version(), timezone()", "TabSeparated").bytes().decode().split()
        self.version, self.timezone = info[0], info[1]
        self._idle: dict[PoolKey, list[Handle]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def acquire(self, readonly: int, fixed: tuple[tuple[str, str], ...] = ()) -> Handle:
        """A handle at this readonly level with these settings (name, SQL literal) fixed."""
        key = (readonly, fixed)
        with self._lock:
            if self._closed:
                raise ClickHouseError.of("STD_EXCEPTION", "Server is shutting down")
            if self._idle.get(key):
                return self._idle[key].pop()
        handle = Handle(chdb.connect(self.path), key)
        for name, literal in fixed:
            handle.run(f"SET {name} = {literal}")
        if readonly:
            handle.run(f"SET readonly = {readonly}")
        return handle

    def release(self, handle: Handle, reuse: bool = True) -> None:
        with self._lock:
            idle = self._idle.setdefault(handle.key, [])
            if reuse and not self._closed and len(idle) < self.max_idle:
                idle.append(handle)
                return
        with contextlib.suppress(Exception):
            handle.conn.close()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            idle = [h for handles in self._idle.values() for h in handles]
        for handle in idle:
            with contextlib.suppress(Exception):
                handle.conn.close()
        self._root.close()


def _result_summary(result: Any) -> str:
    return summary(read_rows=result.storage_rows_read(), read_bytes=result.storage_bytes_read(),
                   written_rows=result.rows_written(), written_bytes=result.bytes_written(),
                   result_rows=result.rows_read(), result_bytes=result.bytes_read(),
                   elapsed_ns=int(result.elapsed() * 1e9))


def _next_block(stream: Any) -> bytes | None:
    while (chunk := stream.fetch()) is not None:
        if data := chunk.bytes():
            return data
    return None


class _Body:
    """The request body, decoded per Content-Encoding, as an async iterator that can be drained.
    Decoding stops past `limit` bytes (QUERY_IS_TOO_LARGE) until `limit` is lifted for insert data."""

    def __init__(self, request: Request, receive_timeout_s: float, limit: int | None = MAX_STATEMENT_HEAD):
        self._raw = request.stream().__aiter__()
        self.receive_timeout_s, self._timed_out = receive_timeout_s, False
        self._decoder: BodyDecoder | None = None
        self._error: ClickHouseError | None = None
        self.limit, self._decoded = limit, 0
        try:
            self._decoder = BodyDecoder(request.headers.get("content-encoding"))
        except ClickHouseError as ex:  # reported when the body is read, after authentication
            self._error = ex

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._decoder is None:
            raise self._error or ClickHouseError.of("CANNOT_DECOMPRESS", "No decoder")
        while (raw := await self._receive()) is not None:
            for data in self._decoder.feed(raw):
                self._decoded += len(data)
                if self.limit is not None and self._decoded > self.limit:
                    raise ClickHouseError.of("QUERY_IS_TOO_LARGE", f"Max query size exceeded: the query (the "
                                             f"request body before any INSERT data) is over {self.limit} bytes")
                if data:
                    yield data
        self._decoder.finish()

    async def _receive(self) -> bytes | None:
        """The next piece of the body; like ClickHouse's http_receive_timeout, a client that sends
        nothing for that long is answered SOCKET_TIMEOUT instead of holding a connection and a slot."""
        try:
            with anyio.fail_after(self.receive_timeout_s):
                return await self._raw.__anext__()
        except StopAsyncIteration:
            return None
        except TimeoutError:
            self._timed_out = True
            raise ClickHouseError.of("SOCKET_TIMEOUT", f"Timeout exceeded while reading the request body: "
                                     f"nothing arrived for {self.receive_timeout_s:g} s") from None

    async def drain(self) -> None:
        """Read what is left, so the client gets the error response rather than a reset."""
        if self._timed_out:
            return
        with contextlib.suppress(Exception), anyio.fail_after(self.receive_timeout_s):
            async for _ in self._raw:
                pass


class EmbeddedClickHouse:
    def __init__(self, path: str, users: list[User] | None = None, display_name: str | None = None,
                 max_threads: int = 32, receive_timeout_s: float = 30.0):
        self.pool = EnginePool(path)
        self.receive_timeout_s = receive_timeout_s
        self.users = {u.name: u for u in users or [User("default")]}
        self.display_name = display_name or socket.gethostname()
        self.limiter = anyio.CapacityLimiter(max_threads)

        @contextlib.asynccontextmanager
        async def lifespan(_app: Starlette) -> AsyncIterator[None]:
            yield
            self.close()

        methods = ["GET", "POST", "HEAD"]
        self.app = Starlette(lifespan=lifespan, routes=[
            Route("/", self.root, methods=methods),
            Route("/ping", self.ok, methods=["GET", "HEAD"]),
            Route("/replicas_status", self.ok, methods=["GET", "HEAD"]),
            Route("/{path:path}", self.not_found, methods=methods + ["PUT", "DELETE", "PATCH", "OPTIONS"]),
        ])

    def close(self) -> None:
        self.pool.close()

    async def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=self.limiter)
        except ClickHouseError:
            raise
        except Exception as ex:
            error = ClickHouseError.from_engine(ex)
            if "Code: " not in str(ex):  # not the engine's error: a bug of ours, worth a traceback
                log.error("internal error in %s", getattr(fn, "__name__", fn), exc_info=ex)
            raise error from None

    async def _release(self, handle: Handle, reuse: bool) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.pool.release, handle, reuse)

    async def ok(self, request: Request) -> Response:
        return PlainTextResponse(OK_RESPONSE)

    async def not_found(self, request: Request) -> Response:
        return PlainTextResponse(NOT_FOUND.format(path=request.url.path), status_code=404)

    async def root(self, request: Request) -> Response:
        params = dict(request.query_params.multi_items())
        if request.method in ("GET", "HEAD") and "query" not in params:
            return PlainTextResponse(OK_RESPONSE)
        query_id = params.get("query_id") or request.headers.get("x-clickhouse-query-id") or str(uuid.uuid4())
        headers = {"X-ClickHouse-Server-Display-Name": self.display_name, "X-ClickHouse-Query-Id": query_id,
                   "X-ClickHouse-Timezone": params.get("session_timezone") or self.pool.timezone}
        body = _Body(request, self.receive_timeout_s)
        try:
            return await self._execute(request, params, body, headers)
        except Exception as ex:
            if not isinstance(ex, ClickHouseError):
                log.exception("internal error in query %s", query_id)
                ex = ClickHouseError.from_engine(ex)
            await body.drain()
            headers["X-ClickHouse-Exception-Code"] = str(ex.code)
            return Response(ex.text + "\n", status_code=ex.status, headers=headers, media_type=TEXT)

    async def _execute(self, request: Request, params: dict[str, str], body: _Body,
                       headers: dict[str, str]) -> Response:
        user = authenticate(self.users, request.headers, params)
        ctype = request.headers.get("content-type", "")
        chunks: AsyncIterator[bytes] | None = None
        if ctype.startswith("multipart/form-data"):
            # Query text and param_<name> values may come as form fields (clickhouse-connect sends
            # long parameters that way); file parts would be external tables, which we lack.
            query = params.get("query", "")
            for name, value, is_file in parse_multipart(ctype, b"".join([c async for c in body])):
                if is_file:
                    raise ClickHouseError.of("NOT_IMPLEMENTED", "External data (multipart file parts) is not supported")
                if name == "query":
                    query += value
                elif name.startswith("param_"):
                    params[name] = value
            head = query.encode()
        else:  # the query parameter, a line break and the body make up the statement
            head, chunks = ((params["query"] + "\n").encode() if params.get("query") else b""), aiter(body)
        options = request_options(user, request.method, params, request.headers)
        options.settings = restricted_settings(user, options.settings)
        if options.readonly != 1 and user.views is None:
            # The services first: queries asking for a larger `priority` (the API's) pause while these run.
            options.settings.setdefault("priority", DEFAULT_PRIORITY)

        # Read just enough of the body to tell `INSERT ... FORMAT X <data>` from a whole query.
        buf, final = bytearray(head), chunks is None
        while True:
            try:  # a big statement (e.g. INSERT ... VALUES with many rows) is scanned off the event loop
                statement = (scan_statement(bytes(buf), final) if len(buf) < (64 << 10)
                             else await anyio.to_thread.run_sync(scan_statement, bytes(buf), final))
            except NeedMore:
                chunk = await anext(chunks, None) if chunks and len(buf) <= MAX_STATEMENT_HEAD else None
                if chunk is not None:
                    buf += chunk
                    continue
                final = True
            else:
                if statement.insert_prefix is not None or final:
                    break
                final = True  # a whole query: the rest of the body is part of it
            if chunks is not None:
                buf += b"".join([c async for c in chunks])
                chunks = None
        require_query(user, statement)
        if statement.insert_prefix is not None:
            body.limit = None  # insert data streams into chDB piece by piece, however large
            return await self._insert(statement, bytes(buf[statement.data_start:]), chunks, options, headers)
        if not statement.kind:
            raise ClickHouseError.of("SYNTAX_ERROR", "Empty query")
        return await self._query(bytes(buf), statement, options, headers, user)

    async def _insert(self, statement: Statement, data: bytes, chunks: AsyncIterator[bytes] | None,
                      options: Options, headers: dict[str, str]) -> Response:
        """`INSERT ... FORMAT X <data>` as one statement reading the data from a file (insert.py):
        the answer is the engine's, error or rows written."""
        with await self._run(InsertData) as body:
            await self._run(body.add, data)
            if chunks is not None:
                async for chunk in chunks:
                    await self._run(body.add, chunk)
            sql = body.statement(statement)
            handle = await self._run(self.pool.acquire, options.readonly)
            ok = False
            try:
                await self._run(handle.prepare, options.database, options.settings)
                result = await self._run(handle.conn.query, sql, "TabSeparated")
                ok = True
            finally:
                await self._release(handle, ok)  # a handle whose insert failed is not trusted again
        rows, size = result.rows_written(), result.bytes_written()
        headers["X-ClickHouse-Summary"] = summary(read_rows=rows, read_bytes=size, written_rows=rows,
                                                  written_bytes=size, elapsed_ns=int(result.elapsed() * 1e9))
        return Response(b"", headers=headers, media_type=TEXT)

    async def _query(self, sql: bytes, statement: Statement, options: Options, headers: dict[str, str],
                     user: User) -> Response:
        fmt = statement.output_format or options.default_format
        handle: Handle | None = await self._run(self.pool.acquire, options.readonly, session_settings(user))
        try:
            await self._run(handle.prepare, options.database, options.settings)
            if user.views is not None:
                await self._run(check_reads, handle.conn, user, sql, statement, options.database,
                                options.query_params)
            if (not options.wait_end_of_query and statement.kind in ("SELECT", "WITH")
                    and fmt.lower() in STREAMABLE_FORMATS):
                response = await self._stream(handle, sql, fmt, options, headers)
                if response is not None:
                    handle = None  # the response owns it now
                    return response
            result = await self._run(handle.conn.query, sql, options.default_format, params=options.query_params)
        finally:
            if handle is not None:
                await self._release(handle, not statement.session_state)
        payload = result.bytes() or b""
        headers["X-ClickHouse-Summary"] = _result_summary(result)
        media_type = TEXT
        if statement.returns_rows or payload:
            headers["X-ClickHouse-Format"] = fmt
            media_type = content_type(fmt)
        if options.encoding:
            encoder = BodyEncoder(options.encoding)
            payload = encoder.compress(payload) + encoder.finish()
            headers["Content-Encoding"] = options.encoding
        return Response(payload, headers=headers, media_type=media_type)

    async def _stream(self, handle: Handle, sql: bytes, fmt: str, options: Options,
                      headers: dict[str, str]) -> Response | None:
        """A response streaming the result block by block, or None when chDB cannot stream this query."""
        streaming = await self._run(handle.conn.send_query, sql, options.default_format, params=options.query_params)
        try:
            first = await self._run(_next_block, streaming)  # errors up to here get a proper status
        except BaseException as ex:
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await anyio.to_thread.run_sync(streaming.close)
            if isinstance(ex, ClickHouseError) and "Streaming query is not supported" in ex.text:
                return None
            raise
        tag = secrets.token_hex(8)
        encoder = BodyEncoder(options.encoding) if options.encoding else None
        headers.update({"X-ClickHouse-Format": fmt, "X-ClickHouse-Exception-Tag": tag,
                        "X-ClickHouse-Summary": summary()})
        if options.encoding:
            headers["Content-Encoding"] = options.encoding

        async def blocks() -> AsyncIterator[bytes]:
            try:
                block = first
                while block is not None:
                    yield encoder.compress(block) if encoder else block
                    block = await self._run(_next_block, streaming)
            except ClickHouseError as ex:
                marker = exception_block(tag, ex)
                yield encoder.compress(marker) if encoder else marker
            finally:
                with anyio.CancelScope(shield=True):
                    with contextlib.suppress(Exception):
                        await anyio.to_thread.run_sync(streaming.close)
                    await self._release(handle, True)
            if encoder:
                yield encoder.finish()

        return StreamingResponse(blocks(), headers=headers, media_type=content_type(fmt))
