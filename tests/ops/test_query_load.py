"""The query side under load, on an API process of its own over a database of synthetic events
(tests/load.py): bounded concurrency with a bounded wait (429 / 503 + Retry-After at once), a
deadline for the whole request, queries killed when their request ends, limits that answer
4xx / 503 naming the limit, /readyz reporting saturation, and the dashboard answering regardless."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import clickhouse_connect
import httpx
import pytest

from deploy.local_stack import LocalStack
from tests.conftest import wait_for
from tests.load import CHEAP, HEAVY_FUNNEL, LOAD_DATABASE, TOKENS, client, load_api

DEADLINE_S = 6


@pytest.fixture(scope="module")
def api(stack, tmp_path_factory) -> Iterator[LocalStack]:
    # One thread a query: the heavy funnel runs for seconds even on an idle machine.
    with load_api(stack, tmp_path_factory.mktemp("load-api"), API_QUERIES_MAX="2", API_QUERIES_PER_TOKEN="1",
                  API_QUERY_WAIT_S="0.5", API_REQUEST_DEADLINE_S=str(DEADLINE_S), API_QUERY_THREADS="1") as api:
        yield api


@pytest.fixture(scope="module")
def ch(stack):
    client = clickhouse_connect.get_client(host="127.0.0.1", port=stack.ports.clickhouse, database=LOAD_DATABASE,
                                           password=stack.clickhouse_password, autogenerate_session_id=False)
    yield client
    client.close()


def api_queries(ch) -> int:
    """Queries running in ClickHouse on behalf of an API request (they carry its id as log_comment)."""
    return ch.command("SELECT count() FROM system.processes WHERE Settings['log_comment'] != ''")


class Heavy:
    """A heavy funnel posted in a thread: `.response`, `.elapsed` once done."""

    def __init__(self, api: LocalStack, token: str, timeout: float = 60) -> None:
        self.response: httpx.Response | Exception | None = None
        self.elapsed = 0.0
        self._thread = threading.Thread(target=self._run, args=(api, token, timeout))
        self._thread.start()

    def _run(self, api, token, timeout) -> None:
        started = time.monotonic()
        try:
            with client(api, token, timeout) as c:
                self.response = c.post("/v1/funnels", json=HEAVY_FUNNEL)
        except Exception as exc:  # the client's own timeout: it went away
            self.response = exc
        self.elapsed = time.monotonic() - started

    def join(self) -> Heavy:
        self._thread.join(90)
        return self


def test_a_busy_token_gets_429_and_a_full_server_503_at_once(api, ch):
    first = Heavy(api, TOKENS[0])
    wait_for(lambda: api_queries(ch) >= 1, 10, "the first heavy query to run")
    with client(api, TOKENS[0]) as same:
        started = time.monotonic()
        refused = same.post("/v1/funnels", json=HEAVY_FUNNEL)
        assert refused.status_code == 429, refused.text[:300]
        assert time.monotonic() - started < 2.5  # the 0.5 s wait, not the running query's seconds
        assert refused.headers["retry-after"] == "2" and "API_QUERIES_PER_TOKEN" in refused.json()["detail"]
    second = Heavy(api, TOKENS[1])
    wait_for(lambda: api_queries(ch) >= 2, 10, "the second heavy query to run")
    with client(api, TOKENS[2]) as other:
        started = time.monotonic()
        full = other.get(CHEAP)
        assert full.status_code == 503, full.text[:300]
        assert time.monotonic() - started < 2.5
        assert "API_QUERIES_MAX" in full.json()["detail"] and full.headers["retry-after"] == "2"
        ready = httpx.get(f"{api.api_url}/readyz", timeout=5)
        assert ready.status_code == 503
        assert ready.json()["checks"]["query_slots"] == "saturated" and ready.json()["queries"]["running"] == 2
        started = time.monotonic()
        page = httpx.get(f"{api.api_url}/dashboard", timeout=5)
        assert page.status_code == 200 and time.monotonic() - started < 1  # pages never wait on queries
    for heavy in (first.join(), second.join()):
        assert isinstance(heavy.response, httpx.Response)
        assert heavy.elapsed < DEADLINE_S + 1.5, heavy.elapsed  # done or stopped by the deadline
        assert heavy.response.status_code in (200, 503), heavy.response.text[:300]
    wait_for(lambda: api_queries(ch) == 0, 5, "no query left behind")
    with client(api, TOKENS[2]) as other:
        assert other.get(CHEAP).status_code == 200
        assert httpx.get(f"{api.api_url}/readyz", timeout=5).json()["status"] == "ready"


def test_no_request_outlives_its_deadline_nor_leaves_its_query_running(api, ch, stack, tmp_path_factory):
    # A deadline well under the heavy funnel's time even on an idle machine (about 1-2 s there).
    with load_api(stack, tmp_path_factory.mktemp("slow-api"), API_REQUEST_DEADLINE_S="0.3",
                  API_QUERY_WAIT_S="0.1") as slow:
        heavy = Heavy(slow, TOKENS[0]).join()
        assert isinstance(heavy.response, httpx.Response)
        assert heavy.response.status_code == 503, heavy.response.text[:300]
        assert heavy.elapsed < 2.0, heavy.elapsed
        detail = heavy.response.json()["detail"]
        assert "API_REQUEST_DEADLINE_S" in detail and "narrow the query" in detail
        assert heavy.response.headers["retry-after"] == "2"
        wait_for(lambda: api_queries(ch) == 0, 2, "the stopped request's query to be gone")


def test_a_client_that_leaves_cancels_its_query(api, ch):
    heavy = Heavy(api, TOKENS[0], timeout=0.8)
    wait_for(lambda: api_queries(ch) >= 1, 10, "the heavy query to run")
    heavy.join()
    assert isinstance(heavy.response, httpx.TimeoutException)
    left = time.monotonic()
    wait_for(lambda: api_queries(ch) == 0, 3, "the abandoned query to be killed")
    assert time.monotonic() - left < 3


def test_memory_limit_hit_is_422_naming_it(stack, tmp_path_factory):
    with load_api(stack, tmp_path_factory.mktemp("mem-api"), API_QUERY_MAX_MEMORY_BYTES=str(4 << 20)) as small:
        with client(small) as c:
            response = c.post("/v1/funnels", json=HEAVY_FUNNEL)
    assert response.status_code == 422, response.text[:300]
    assert response.json()["limit"] == "max_memory_usage"
    assert "API_QUERY_MAX_MEMORY_BYTES" in response.json()["detail"] and "narrow the query" in response.json()["detail"]


def test_time_limit_hit_is_503_naming_it(stack, tmp_path_factory):
    with load_api(stack, tmp_path_factory.mktemp("time-api"), API_QUERY_TIMEOUT_SECONDS="1") as quick:
        with client(quick) as c:
            started = time.monotonic()
            response = c.post("/v1/funnels", json=HEAVY_FUNNEL)
    assert response.status_code == 503, response.text[:300]
    assert time.monotonic() - started < 4
    assert response.json()["limit"].startswith("max_execution_time") and response.headers["retry-after"] == "2"
