"""uvicorn's HTTP/1.1 protocol and server, each with one change that needs their internals.

* `header_timeout_protocol`: uvicorn's h11 protocol, answering 408 and closing when a request's
  headers are not complete in time (services/common/http_guard.py says why). It reads the
  protocol's `conn` (h11's connection state), `cycle` (the request under way), `transport` and
  `loop`: attributes of uvicorn's implementation, not a documented API.
* `GracefulExitServer`: uvicorn's Server whose signal handler does not re-raise the signal after
  the graceful shutdown, so the process exits normally (deploy/embedded_clickhouse closes chDB
  then). It overrides `handle_exit` and sets `should_exit` / `force_exit`.
Listed in the package docstring; tests/test_third_party.py checks them.
"""
from __future__ import annotations

import asyncio
import signal
from types import FrameType

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol


def header_timeout_protocol(timeout_s: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, answering 408 and closing when a request's headers are not complete
    `timeout_s` after the connection opened or the previous response ended."""

    class HeaderTimeoutProtocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is h11.IDLE:  # still waiting for (the rest of) the headers
                if self._header_timer is None:
                    self._arm()
            else:
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._header_timer = self.loop.call_later(timeout_s, self._expired)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _expired(self) -> None:
            self._header_timer = None
            if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
                return
            if self.cycle is not None and not self.cycle.response_complete:
                return  # a response is still under way (pipelining): not idle
            text = f"request headers did not arrive within {timeout_s:g} s\n".encode()
            self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                                 b"connection: close\r\ncontent-length: " + str(len(text)).encode()
                                 + b"\r\n\r\n" + text)
            self.transport.close()

    return HeaderTimeoutProtocol


class GracefulExitServer(uvicorn.Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Unlike uvicorn's own handler, don't re-raise the signal after the graceful shutdown: the
        # process then exits normally, after closing chDB.
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True
