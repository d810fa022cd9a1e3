"""The embedded ClickHouse server as a real process: clickhouse-connect's unmodified HTTP client and raw
HTTP requests against it, on a temporary chDB data directory."""
from __future__ import annotations

import concurrent.futures
import datetime as dt
import gzip
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import clickhouse_connect
import httpx
import lz4.frame
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

pytestmark = pytest.mark.server  # starts a server process of its own

ROOT = Path(__file__).resolve().parents[2]
USERS = ["default:", "alice:s3cr:et", "reader:rpw:readonly"]
AUTH_FAILED = ("Code: 516. DB::Exception: default: Authentication failed: password is incorrect, "
               "or there is no user with such name. (AUTHENTICATION_FAILED)\n")


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    path: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, **kwargs):
        return clickhouse_connect.get_client(host="127.0.0.1", port=self.port, **kwargs)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


def start_server(path: Path, *args: str) -> Server:
    log = path.with_name(path.name + f"-{uuid.uuid4().hex[:6]}.log")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "deploy.embedded_clickhouse", "--path", str(path), "--port", "0", *args],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(r"serving .* on http://127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))
        if found:
            server = Server(proc, int(found.group(1)), path, log)
            try:
                if httpx.get(f"{server.url}/ping").text == "Ok.\n":
                    return server
            except httpx.TransportError:  # announced, not yet accepting: try again
                pass
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("embedded ClickHouse did not start:\n" + log.read_text(errors="replace"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("chdb") / "data", *(a for u in USERS for a in ("--user", u)))
    yield srv
    assert srv.stop() == 0
    assert "Traceback" not in srv.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def client(server: Server):
    c = server.client()
    yield c
    c.close()


def _table(client, name: str, columns: str = "id UInt32, s String") -> str:
    client.command("CREATE DATABASE IF NOT EXISTS it")
    client.command(f"CREATE TABLE it.{name} ({columns}) ENGINE = MergeTree ORDER BY tuple()")
    return f"it.{name}"


def test_health_endpoints(server: Server):
    for path in ("/", "/ping", "/replicas_status"):
        response = httpx.get(server.url + path)
        assert (response.status_code, response.text) == (200, "Ok.\n")
    assert httpx.get(server.url + "/nope").status_code == 404


def test_get_client_connects(client):
    version = client.command("SELECT version()")
    assert client.server_version == version and re.match(r"\d+\.\d+", version)
    assert client.command("SELECT timezone()") == "UTC"
    assert client.query("SELECT number FROM system.numbers LIMIT 3").result_rows == [(0,), (1,), (2,)]


@pytest.mark.parametrize("compress", ["lz4", False, "gzip", True])
def test_insert_with_compression(server: Server, compress):
    with server.client(compress=compress) as c:
        table = _table(c, f"ins_{str(compress).lower()}")
        summary = c.insert(table, [[i, f"row {i}"] for i in range(3000)], column_names=["id", "s"])
        assert summary.written_rows == 3000
        assert c.query(f"SELECT count(), sum(id), max(s) FROM {table}").result_rows == [(3000, 4498500, "row 999")]
        assert c.command(f"SELECT count() FROM {table}") == 3000


def test_compressed_responses(server: Server):
    query = {"query": "SELECT number FROM numbers(5)", "enable_http_compression": "1"}
    response = httpx.get(server.url, params=query, headers={"Accept-Encoding": "lz4, gzip"})
    assert response.headers["content-encoding"] == "lz4"
    assert lz4.frame.decompress(response.content) == b"0\n1\n2\n3\n4\n"
    # wait_end_of_query=1 answers from a buffered result instead of a stream; httpx decodes gzip itself.
    response = httpx.get(server.url, params={**query, "wait_end_of_query": "1"}, headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip" and response.text == "0\n1\n2\n3\n4\n"
    assert "content-encoding" not in httpx.get(server.url, params={"query": "SELECT 1"}).headers


def test_server_side_parameters(client):
    evil = "x'); DROP TABLE it.t; -- \\ \" {y:String} \t\n end"
    result = client.query("SELECT {x:String} AS x, {d:DateTime64(3)} AS d, {n:Nullable(UInt8)} AS n",
                          parameters={"x": evil, "d": dt.datetime(2024, 5, 6, 7, 8, 9, 123000), "n": None})
    assert result.result_rows == [(evil, dt.datetime(2024, 5, 6, 7, 8, 9, 123000), None)]
    long_value = "ß" * 5000  # long parameters travel as multipart/form-data fields
    assert client.query("SELECT {v:String}", parameters={"v": long_value}).result_rows == [(long_value,)]


def test_result_types(client):
    table = _table(client, "types", "d DateTime64(3, 'UTC'), e Enum8('a' = 1, 'b' = 2), n Nullable(Int32), "
                                    "dec Decimal(18, 4), m Map(String, UInt8), arr Array(String)")
    when = dt.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=dt.timezone.utc)
    rows = [[when, "b", None, Decimal("12.3456"), {"k": 7}, ["x", "y"]], [when, "a", -5, Decimal("-1.5"), {}, []]]
    client.insert(table, rows)
    got = client.query(f"SELECT * FROM {table} ORDER BY e DESC").result_rows
    assert [(r[0].replace(tzinfo=dt.timezone.utc),) + tuple(r[1:]) for r in got] == [
        (when, "b", None, Decimal("12.3456"), {"k": 7}, ["x", "y"]),
        (when, "a", -5, Decimal("-1.5000"), {}, [])]
    assert client.query(f"SELECT toTypeName(d), toTypeName(e) FROM {table} LIMIT 1").result_rows == [
        ("DateTime64(3, 'UTC')", "Enum8('a' = 1, 'b' = 2)")]


WRITER = textwrap.dedent("""
    import sys, clickhouse_connect
    c = clickhouse_connect.get_client(host="127.0.0.1", port=int(sys.argv[1]))
    tag = sys.argv[2]
    for batch in range(10):
        c.insert("it.shared", [[batch * 100 + i, tag] for i in range(100)], column_names=["id", "s"])
        assert c.query("SELECT count() FROM it.shared WHERE s = {t:String}", parameters={"t": tag}).result_rows[0][0] \\
            == (batch + 1) * 100
""")


def test_concurrent_processes_and_clients(server: Server, client):
    _table(client, "shared")
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(server.port), tag]) for tag in ("p1", "p2")]

    def thread_writer(tag: str) -> int:
        with server.client() as c:
            for _ in range(10):
                c.insert("it.shared", [[i, tag] for i in range(50)], column_names=["id", "s"])
                c.query("SELECT count(), max(id) FROM it.shared")
            return c.command("SELECT count() FROM it.shared WHERE s = {t:String}", parameters={"t": tag})

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert list(pool.map(thread_writer, ["t1", "t2", "t3", "t4"])) == [500] * 4
    assert [w.wait(timeout=60) for w in writers] == [0, 0]
    assert client.query("SELECT s, count() FROM it.shared GROUP BY s ORDER BY s").result_rows == [
        ("p1", 1000), ("p2", 1000), ("t1", 500), ("t2", 500), ("t3", 500), ("t4", 500)]


def test_concurrent_requests_keep_their_own_database_and_settings(server: Server, client):
    client.command("CREATE DATABASE IF NOT EXISTS iso_a")
    client.command("CREATE DATABASE IF NOT EXISTS iso_b")

    def ask(i: int) -> tuple[str, str]:
        database, threads = ("iso_a", "3") if i % 2 else ("iso_b", "5")
        params = {"query": "SELECT currentDatabase(), getSetting('max_threads'), sleep(0.01)", "database": database}
        if i % 3:
            params["max_threads"] = threads
        else:
            threads = None
        row = httpx.post(server.url, params=params).text.split("\t")
        return (row[0], row[1] if threads else None), (database, threads)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for got, wanted in pool.map(ask, range(48)):
            assert got[0] == wanted[0] and (wanted[1] is None or got[1] == wanted[1])
    # Per-request settings are not left behind on pooled handles.
    for _ in range(8):
        assert httpx.post(server.url, content="SELECT getSetting('max_threads') = 3 OR getSetting('max_threads') = 5"
                          ).text == "0\n"


def test_raw_post_body_query_json_each_row(server: Server):
    sql = "SELECT toUInt8(number) AS n, toString(n) AS s FROM numbers(3) FORMAT JSONEachRow"
    response = httpx.post(server.url, content=sql)
    assert response.status_code == 200
    assert response.headers["x-clickhouse-format"] == "JSONEachRow"
    assert response.headers["content-type"].startswith("application/json")
    assert {"x-clickhouse-query-id", "x-clickhouse-timezone", "x-clickhouse-summary",
            "x-clickhouse-server-display-name"} <= set(response.headers)
    assert [json.loads(line) for line in response.text.splitlines()] == [
        {"n": 0, "s": "0"}, {"n": 1, "s": "1"}, {"n": 2, "s": "2"}]
    response = httpx.post(server.url, params={"default_format": "JSONCompact", "query_id": "q-123"},
                          content="SELECT 1 AS one")
    assert response.headers["x-clickhouse-query-id"] == "q-123"
    assert response.json()["data"] == [[1]]


def test_gzip_request_body_and_query_param_with_data(server: Server, client):
    table = _table(client, "raw")
    body = gzip.compress(f"INSERT INTO {table} FORMAT CSV\n1,one\n2,\"two, too\"\n".encode())
    response = httpx.post(server.url, content=body, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 200, response.text
    assert json.loads(response.headers["x-clickhouse-summary"])["written_rows"] == "2"
    # The query parameter plus the body make the statement: that is how INSERT data is sent.
    request = urllib.request.Request(f"{server.url}/?query=INSERT%20INTO%20{table}%20FORMAT%20TSV",
                                     data=b"3\tthree\n", method="POST")
    with urllib.request.urlopen(request) as answer:
        assert answer.status == 200
    assert client.query(f"SELECT id, s FROM {table} ORDER BY id").result_rows == [
        (1, "one"), (2, "two, too"), (3, "three")]


def test_wrong_password(server: Server):
    response = httpx.get(server.url, params={"query": "SELECT 1"}, auth=("default", "wrong"))
    assert response.status_code == 516
    assert response.headers["x-clickhouse-exception-code"] == "516"
    assert response.text == AUTH_FAILED
    response = httpx.post(server.url, content="SELECT 1",
                          headers={"X-ClickHouse-User": "alice", "X-ClickHouse-Key": "x"})
    assert response.status_code == 516
    with pytest.raises(DatabaseError) as caught:
        server.client(username="alice", password="wrong")
    assert caught.value.code == 516
    with server.client(username="alice", password="s3cr:et") as alice:
        assert alice.command("SELECT 1") == 1


def test_readonly_user_and_get_requests(server: Server, client):
    table = _table(client, "guarded")
    client.insert(table, [[1, "a"]])
    with server.client(username="reader", password="rpw") as reader:
        assert reader.query(f"SELECT s FROM {table}").result_rows == [("a",)]
        for attempt in (lambda: reader.command(f"INSERT INTO {table} VALUES (2, 'b')"),
                        lambda: reader.command("CREATE TABLE it.nope (a Int8) ENGINE = Memory"),
                        lambda: reader.insert(table, [[3, "c"]])):
            with pytest.raises(DatabaseError) as caught:
                attempt()
            assert caught.value.code == 164
    # GET means readonly=2 for everyone: reads work, writes do not.
    response = httpx.get(server.url, params={"query": f"INSERT INTO {table} VALUES (4, 'd')"})
    assert (response.status_code, response.headers["x-clickhouse-exception-code"]) == (500, "164")
    assert "(READONLY)" in response.text
    assert client.command(f"SELECT count() FROM {table}") == 1


@pytest.mark.parametrize(("sql", "code", "status"), [
    ("SELEC 1", "62", 400),
    ("SELECT * FROM it.no_such_table", "60", 404),
    ("SELECT 1; SELECT 2", "62", 400),
    ("", "62", 400),
])
def test_errors_are_clickhouse_errors(server: Server, sql: str, code: str, status: int):
    response = httpx.post(server.url, content=sql)
    assert response.status_code == status
    assert response.headers["x-clickhouse-exception-code"] == code
    assert response.text.startswith(f"Code: {code}. DB::Exception: ") and response.text.endswith(")\n")
    assert "Traceback" not in response.text


def test_unknown_setting_and_error_through_client(server: Server, client):
    response = httpx.get(server.url, params={"query": "SELECT 1", "no_such_setting": "1"})
    assert response.headers["x-clickhouse-exception-code"] == "115"
    assert "(UNKNOWN_SETTING)" in response.text
    with pytest.raises(DatabaseError) as caught:
        client.query("SELECT * FROM it.missing")
    assert caught.value.code == 60


def test_error_in_the_middle_of_a_stream(server: Server, client):
    sql = "SELECT number, throwIf(number = 150000) FROM numbers(300000)"
    settings = {"max_threads": "1", "max_block_size": "1000"}  # blocks do leave before the failure
    response = httpx.get(server.url, params={"query": sql, **settings})
    tag = response.headers["x-clickhouse-exception-tag"]
    assert response.status_code == 200 and response.content.endswith(f" {tag}\r\n__exception__\r\n".encode())
    assert b"FUNCTION_THROW_IF_VALUE_IS_NON_ZERO" in response.content
    with pytest.raises(Exception, match="FUNCTION_THROW_IF_VALUE_IS_NON_ZERO"):
        with client.query_row_block_stream(sql, settings=settings) as stream:
            for _ in stream:
                pass


def test_session_statements_do_not_leak(server: Server):
    for sql in ("USE system", "SET max_threads = 1"):
        assert httpx.post(server.url, params={"session_id": "s1"}, content=sql).status_code == 200
        for _ in range(4):
            answer = httpx.post(server.url, content="SELECT currentDatabase(), getSetting('max_threads') = 1").text
            assert answer == "default\t0\n"


def test_data_survives_restart(tmp_path: Path):
    path = tmp_path / "data"
    first = start_server(path)
    with first.client() as c:
        table = _table(c, "durable")
        c.insert(table, [[i, "kept"] for i in range(10)])
    assert first.stop() == 0
    second = start_server(path)
    try:
        with second.client() as c:
            assert c.query("SELECT count(), any(s) FROM it.durable").result_rows == [(10, "kept")]
    finally:
        assert second.stop() == 0


def test_cli_rejects_missing_path():
    env = {k: v for k, v in os.environ.items() if k != "EMBEDDED_CLICKHOUSE_PATH"}
    result = subprocess.run([sys.executable, "-m", "deploy.embedded_clickhouse"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "--path" in result.stderr


def test_unknown_content_encoding(server: Server):
    response = httpx.post(server.url, content=b"SELECT 1", headers={"Content-Encoding": "snappy-ish"})
    assert response.headers["x-clickhouse-exception-code"] == "89"
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{server.url}/?query=SELECT%201&user=nobody")
    assert caught.value.code == 516
