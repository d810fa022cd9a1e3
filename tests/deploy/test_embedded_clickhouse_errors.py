"""Every error the engine raises during an insert or a query reaches the client as ClickHouse's HTTP
error (status, X-ClickHouse-Exception-Code, message), and a successful insert's summary is what the
table holds. The server is a real process on a temporary chDB data directory."""
from __future__ import annotations

import datetime as dt
import gzip
import json
import zlib
from collections.abc import Iterator

import httpx
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from tests.deploy.test_embedded_clickhouse import Server, start_server

pytestmark = pytest.mark.server  # starts a server process of its own

MONTHS = 101  # one more partition than ClickHouse's default max_partitions_per_insert_block


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("chdb-errors") / "data", "--user", "default:",
                       "--user", "reader:rpw:readonly")
    with srv.client() as c:
        c.command("CREATE DATABASE IF NOT EXISTS e")
        c.command("CREATE TABLE e.monthly (d Date, x UInt32, s String, CONSTRAINT small CHECK x < 1000000) "
                  "ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY x")
    yield srv
    assert srv.stop() == 0
    assert "Traceback" not in srv.log.read_text(errors="replace")


@pytest.fixture
def client(server: Server):
    with server.client() as c:
        c.command("TRUNCATE TABLE e.monthly")
        yield c


def _rows(months: int, start_year: int = 2000) -> bytes:
    return b"".join(json.dumps([f"{start_year + i // 12}-{i % 12 + 1:02d}-15", i, f"r{i}"]).encode() + b"\n"
                    for i in range(months))


def _post(server: Server, body, query: str = "INSERT INTO e.monthly FORMAT JSONCompactEachRow",
          headers: dict | None = None, **params) -> httpx.Response:
    return httpx.post(server.url, params={"query": query, **params}, content=body, headers=headers or {}, timeout=60)


def _count(client) -> int:
    return client.command("SELECT count() FROM e.monthly")


def _assert_error(response: httpx.Response, code: int, status: int, name: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["x-clickhouse-exception-code"] == str(code)
    assert response.text.startswith(f"Code: {code}. DB::Exception: ") and f"({name})" in response.text
    assert "Traceback" not in response.text


def test_too_many_partitions_is_an_error_and_stores_nothing(server: Server, client):
    _assert_error(_post(server, _rows(MONTHS)), 252, 500, "TOO_MANY_PARTS")
    assert "Too many partitions for single INSERT block" in _post(server, _rows(MONTHS)).text
    assert _count(client) == 0
    with pytest.raises(DatabaseError, match="TOO_MANY_PARTS"):
        client.insert("e.monthly", [[dt.date(2000 + i // 12, i % 12 + 1, 15), i, "x"] for i in range(MONTHS)],
                      column_names=["d", "x", "s"])
    assert _count(client) == 0
    # The same rows within the limit, or with the limit raised for this insert, land whole.
    assert _post(server, _rows(MONTHS - 1)).status_code == 200
    assert _post(server, _rows(MONTHS, 2020), max_partitions_per_insert_block="0").status_code == 200
    assert _count(client) == 2 * MONTHS - 1
    # A SETTINGS clause in the statement itself, and a column list.
    query = "INSERT INTO e.monthly (d, x, s) SETTINGS max_partitions_per_insert_block = 0 FORMAT JSONCompactEachRow"
    assert _post(server, _rows(MONTHS, 2040), query=query).status_code == 200
    assert _count(client) == 3 * MONTHS - 1


@pytest.mark.parametrize(("body", "code", "status", "name"), [
    (b'["2001-01-01", "not a number", "a"]\n', 27, 400, "CANNOT_PARSE_INPUT_ASSERTION_FAILED"),
    (b'["2001-01-01", 1, "a"]\n["someday", 2, "b"]\n', 38, 400, "CANNOT_PARSE_DATE"),
    (b'["2001-01-01", 5000000, "a"]\n', 469, 500, "VIOLATED_CONSTRAINT"),
])
def test_data_errors(server: Server, client, body: bytes, code: int, status: int, name: str):
    _assert_error(_post(server, body), code, status, name)
    assert _count(client) == 0


def test_type_error_in_a_query(server: Server):
    response = httpx.post(server.url, content="SELECT 1 + 'a'")
    _assert_error(response, 43, 500, "ILLEGAL_TYPE_OF_ARGUMENT")  # as ClickHouse answers it


def test_parse_error_of_an_insert_statement(server: Server, client):
    _assert_error(_post(server, b"", query="INSERT INTO e.monthly VALUES (1, 2"), 62, 400, "SYNTAX_ERROR")
    assert _count(client) == 0


def test_memory_limit(server: Server, client):
    body = b"".join(b'["2001-01-01", %d, "%s"]\n' % (i, b"x" * 200) for i in range(50_000))
    _assert_error(_post(server, body, max_memory_usage="2000000"), 241, 500, "MEMORY_LIMIT_EXCEEDED")
    assert _count(client) == 0
    response = httpx.post(server.url, params={"max_memory_usage": "2000000"},
                          content="SELECT groupArray(number) FROM numbers(10000000)")
    _assert_error(response, 241, 500, "MEMORY_LIMIT_EXCEEDED")


def test_size_limit_of_a_query(server: Server):
    response = httpx.post(server.url, params={"max_query_size": "100"}, content="SELECT '" + "x" * 200 + "'")
    _assert_error(response, 62, 400, "SYNTAX_ERROR")
    assert "Max query size exceeded" in response.text


def test_readonly_user_cannot_insert(server: Server, client):
    response = _post(server, _rows(3), headers={"X-ClickHouse-User": "reader", "X-ClickHouse-Key": "rpw"})
    _assert_error(response, 164, 500, "READONLY")
    assert _count(client) == 0


def test_unknown_table(server: Server):
    response = _post(server, _rows(2), query="INSERT INTO e.nope FORMAT JSONCompactEachRow")
    _assert_error(response, 60, 404, "UNKNOWN_TABLE")


def _chunked(data: bytes, size: int = 4096):
    for start in range(0, len(data), size):
        yield data[start:start + size]


def test_error_in_the_middle_of_a_streamed_compressed_body(server: Server, client):
    good = b"".join(b'["2001-01-01", %d, "ok"]\n' % i for i in range(20_000))
    body = gzip.compress(good + b'["2001-01-01", "broken", "row"]\n' + good)
    response = _post(server, _chunked(body), headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400 and "DB::Exception" in response.text
    assert response.headers["x-clickhouse-exception-code"] in ("27", "6", "72")
    assert _count(client) == 0
    # A body whose compression breaks off halfway is refused too, and stores nothing.
    truncated = zlib.compressobj(wbits=31)
    half = truncated.compress(good) + truncated.flush(zlib.Z_SYNC_FLUSH)
    response = _post(server, _chunked(half), headers={"Content-Encoding": "gzip"})
    _assert_error(response, 271, 500, "CANNOT_DECOMPRESS")
    assert _count(client) == 0


@pytest.mark.parametrize("compress", [False, "lz4", "zstd", "gzip"])
def test_summary_matches_what_the_table_holds(server: Server, client, compress):
    with server.client(compress=compress) as c:
        rows = [[dt.date(2000 + i % 8, i % 9 + 1, 1), i, f"s{i}"] for i in range(5_000)]
        summary = c.insert("e.monthly", rows, column_names=["d", "x", "s"])
        assert summary.written_rows == 5_000 == _count(client)
    response = _post(server, _chunked(gzip.compress(_rows(60))), headers={"Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert json.loads(response.headers["x-clickhouse-summary"])["written_rows"] == "60"
    assert _count(client) == 5_060


def test_binary_formats_land_whole(server: Server, client):
    # RowBinary bytes that a query's inline data would cut short (a 0x0A0A in an integer).
    rows = [[dt.date(2001, 1, 1), i, "b"] for i in range(3000)]
    client.insert("e.monthly", rows, column_names=["d", "x", "s"])
    assert client.query("SELECT count(), sum(x) FROM e.monthly").result_rows == [(3000, sum(range(3000)))]
