"""The embedded ClickHouse does not let a slow client hold a connection: headers that trickle in get
408 and the connection closes; a body that stops arriving gets SOCKET_TIMEOUT (ClickHouse's
http_receive_timeout), and nothing of a half-sent insert lands. Real server process, short timeout."""
from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from tests.deploy.test_embedded_clickhouse import Server, start_server

pytestmark = pytest.mark.server  # starts a server process of its own

TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("chdb-timeouts") / "data", "--user", "default:",
                       "--receive-timeout", str(TIMEOUT_S))
    with srv.client() as c:
        c.command("CREATE TABLE IF NOT EXISTS default.t (x UInt32) ENGINE = MergeTree ORDER BY x")
    yield srv
    assert srv.stop() == 0
    assert "Traceback" not in srv.log.read_text(errors="replace")


def _read_all(sock: socket.socket, until: bytes = b"") -> bytes:
    """What the server sends until it closes the connection, or until `until` has arrived."""
    data = b""
    while not (until and until in data) and (chunk := sock.recv(65536)):
        data += chunk
    return data


def test_headers_trickling_in_get_408(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT_S + 5) as sock:
        started = time.monotonic()
        sock.settimeout(0.2)
        data = b""
        for byte in b"POST /?query=SELECT+1 HTTP/1.1\r\nHost: t\r\n" * 4:  # never ends the headers
            try:
                sock.send(bytes([byte]))
                data += sock.recv(4096)
                break
            except TimeoutError:
                pass
            except OSError:
                break
        elapsed = time.monotonic() - started
    assert data.startswith(b"HTTP/1.1 408"), data
    assert TIMEOUT_S - 0.3 < elapsed < TIMEOUT_S + 2


def test_a_body_that_stops_gets_socket_timeout_and_nothing_lands(server):
    head = (b"POST /?query=INSERT+INTO+default.t+FORMAT+TSV HTTP/1.1\r\nHost: t\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    rows = b"".join(f"{i}\n".encode() for i in range(1000))
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT_S + 10) as sock:
        sock.sendall(head + f"{len(rows):x}\r\n".encode() + rows + b"\r\n")  # then nothing more
        started = time.monotonic()
        data = _read_all(sock, until=b"(SOCKET_TIMEOUT)")
    assert data.startswith(b"HTTP/1.1 503"), data[:300]
    assert b"x-clickhouse-exception-code: 209" in data.lower()
    assert b"(SOCKET_TIMEOUT)" in data
    assert time.monotonic() - started < TIMEOUT_S + 3
    with server.client() as c:
        assert c.command("SELECT count() FROM default.t") == 0
        assert c.command("SELECT 1") == 1  # the server still answers


def test_a_slow_but_steady_body_is_not_cut(server):
    """Each piece arrives within the timeout: the insert completes however long it takes in all."""
    head = (b"POST /?query=INSERT+INTO+default.t+FORMAT+TSV HTTP/1.1\r\nHost: t\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head)
        for i in range(4):  # 4 x 0.5 s: twice the timeout in all
            piece = f"{100 + i}\n".encode()
            sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            time.sleep(TIMEOUT_S / 2)
        sock.sendall(b"0\r\n\r\n")
        data = _read_all(sock)
    assert data.startswith(b"HTTP/1.1 200"), data[:300]
    with server.client() as c:
        assert c.command("SELECT count() FROM default.t WHERE x >= 100") == 4
