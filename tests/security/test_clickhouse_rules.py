"""The session stack's embedded ClickHouse server: the services' user needs its generated password,
no user reaches files, URLs, programs or other servers, and compressed bodies stop inflating at the
size limit."""
from __future__ import annotations

import gzip
import os
import stat
import threading

import httpx
import pytest

from deploy.local_stack import LocalStack
from tests.security.test_bi_user import BI_PASSWORD, BI_USER


def post(stack: LocalStack, sql: bytes | str, user: str = "default", password: str | None = None,
         **kwargs) -> httpx.Response:
    password = stack.clickhouse_password if password is None else password
    return httpx.post(f"{stack.clickhouse_url}/", content=sql, auth=(user, password), timeout=60, **kwargs)


def test_services_user_has_a_generated_password_in_the_data_folder(stack):
    path = stack.root / "clickhouse.password"
    assert path.read_text().strip() == stack.clickhouse_password and len(stack.clickhouse_password) >= 24
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for refused in (httpx.post(f"{stack.clickhouse_url}/", content="SELECT 1"),
                    httpx.get(f"{stack.clickhouse_url}/", params={"query": "SELECT 1"}),
                    post(stack, "SELECT 1", password="")):
        assert refused.status_code == 516 and "Authentication failed" in refused.text
    assert post(stack, "SELECT 1").text == "1\n"


def _paths(stack: LocalStack) -> list[str]:
    api = f"http://127.0.0.1:{stack.ports.api}/healthz"
    return [
        "SELECT * FROM file('/etc/passwd', 'LineAsString')",
        "SELECT * FROM file('/proc/self/environ', 'LineAsString')",
        "SELECT file('/etc/hostname')",
        "SELECT * FROM `file`('/etc/passwd', 'LineAsString')",
        "SELECT * FROM \"FILE\" ('/etc/passwd', 'LineAsString')",
        f"SELECT * FROM url('{api}', 'LineAsString')",
        f"SELECT * FROM remote('127.0.0.1:{stack.ports.clickhouse}', system.one)",
        "SELECT * FROM remoteSecure('127.0.0.1:9440', system.one)",
        "SELECT * FROM s3('http://127.0.0.1:1/bucket/x.csv')",
        "SELECT * FROM mysql('127.0.0.1:3306', 'db', 't', 'u', 'p')",
        "SELECT * FROM postgresql('127.0.0.1:5432', 'db', 't', 'u', 'p')",
        "SELECT * FROM executable('cat /etc/passwd', 'TSV', 'line String')",
        "SELECT * FROM hdfs('hdfs://127.0.0.1:9000/x', 'TSV')",
        "SELECT * FROM cluster('default', system.one)",
        "INSERT INTO FUNCTION file('/tmp/jl-rules-out.tsv', 'TSV', 'a UInt8') SELECT 1",
        "CREATE TABLE default.jl_rules_file (a String) ENGINE = File(TSV)",
        "CREATE TABLE default.jl_rules_url (a String) ENGINE = URL('http://127.0.0.1:1/', 'TSV')",
        "CREATE DATABASE jl_rules_fs ENGINE = Filesystem('/')",
        "BACKUP TABLE journeyline.access_keys TO File('/tmp/jl-rules-backup')",
    ]


@pytest.mark.parametrize("user", ["default", BI_USER])
def test_no_user_reaches_files_urls_or_other_servers(stack, user):
    password = None if user == "default" else BI_PASSWORD
    for sql in _paths(stack):
        response = post(stack, sql, user=user, password=password, params={"database": "journeyline"})
        assert response.status_code == 403, (sql, response.status_code, response.text)
        assert response.headers["x-clickhouse-exception-code"] == "497", sql
        assert "root:" not in response.text and "CLICKHOUSE_PASSWORD" not in response.text
    names = post(stack, "SELECT name FROM system.tables WHERE name LIKE 'jl_rules%' UNION ALL "
                        "SELECT name FROM system.databases WHERE name LIKE 'jl_rules%'").text
    assert names == "" and not os.path.exists("/tmp/jl-rules-out.tsv")


def test_the_services_user_still_reads_and_writes_its_tables(stack):
    created = post(stack, "CREATE TABLE IF NOT EXISTS default.jl_rules_ok (file String) ENGINE = Memory")
    assert created.status_code == 200
    assert post(stack, "INSERT INTO default.jl_rules_ok (file) VALUES ('url(1)')").status_code == 200
    assert post(stack, "SELECT file FROM default.jl_rules_ok").text == "url(1)\n"
    assert post(stack, "DROP TABLE default.jl_rules_ok").status_code == 200


def _peak_rss_during(stack: LocalStack, request) -> tuple[httpx.Response, int]:
    """(response, peak RSS growth of the ClickHouse server process in bytes) while `request` runs."""
    pid = stack.components["clickhouse"].process.pid
    status = f"/proc/{pid}/status"

    def rss() -> int:
        with open(status) as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))

    base, peak, done = rss(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            done.wait(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        response = request()
    finally:
        done.set()
        sampler.join()
    return response, peak[0] - base


BOMB_BYTES = 200 << 20


def test_a_compressed_query_stops_inflating_at_the_size_limit(stack):
    bomb = gzip.compress(b"SELECT 1 " + b" " * BOMB_BYTES, compresslevel=9)
    assert len(bomb) < 300 << 10
    response, grown = _peak_rss_during(stack, lambda: post(stack, bomb, headers={"Content-Encoding": "gzip"}))
    assert response.status_code == 413, response.text[:300]
    assert "Max query size exceeded" in response.text
    assert grown < 64 << 20, f"server RSS grew by {grown >> 20} MB"
    assert post(stack, gzip.compress(b"SELECT 41 + 1"), headers={"Content-Encoding": "gzip"}).text == "42\n"


def test_compressed_insert_data_inflates_piece_by_piece(stack):
    assert post(stack, "CREATE TABLE IF NOT EXISTS default.jl_bomb (a UInt8) ENGINE = Memory").status_code == 200
    bomb = gzip.compress(b"INSERT INTO default.jl_bomb FORMAT TSV\n" + b"x\n" * (BOMB_BYTES // 2), compresslevel=9)
    response, grown = _peak_rss_during(stack, lambda: post(stack, bomb, headers={"Content-Encoding": "gzip"}))
    assert response.status_code != 200  # x is not a UInt8
    assert grown < 64 << 20, f"server RSS grew by {grown >> 20} MB"
    ok = gzip.compress(b"INSERT INTO default.jl_bomb FORMAT TSV\n" + b"7\n" * 3_000_000)
    assert post(stack, ok, headers={"Content-Encoding": "gzip"}).status_code == 200
    assert post(stack, "SELECT count(), sum(a) FROM default.jl_bomb").text == "3000000\t21000000\n"
    post(stack, "DROP TABLE default.jl_bomb")
