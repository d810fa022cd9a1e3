"""Readiness follows the dependencies, liveness does not: a private stack whose ClickHouse and
broker are killed (SIGKILL) and, for ClickHouse, started again."""
from __future__ import annotations

import signal

import httpx
import pytest

from deploy.local_stack import LocalStack, Ports
from tests.conftest import READ_TOKEN, WRITE_KEY, wait_for

pytestmark = pytest.mark.server  # starts a server process of its own


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory):
    stack = LocalStack(tmp_path_factory.mktemp("ops"), Ports.free(), write_key=WRITE_KEY, read_token=READ_TOKEN,
                       extra_env={"TOPIC_PARTITIONS": "1", "KAFKA_REQUEST_TIMEOUT_MS": "2000"})
    try:
        stack.start()
        yield stack
    finally:
        stack.stop(timeout_s=3)  # the broker is dead by then: no graceful shutdown to wait for


def status(url: str) -> int:
    return httpx.get(url, timeout=15).status_code


def test_readiness_follows_clickhouse_then_the_broker(own_stack):
    s = own_stack
    urls = {"ingest": s.ingest_url, "api": s.api_url, "processors": s.processors_url}
    for name, url in urls.items():
        assert status(f"{url}/readyz") == 200, name

    s.kill("clickhouse", signal.SIGKILL)
    wait_for(lambda: status(f"{s.api_url}/readyz") == 503, 30, "api not ready")
    wait_for(lambda: status(f"{s.processors_url}/readyz") == 503, 30, "processors not ready")
    assert httpx.get(f"{s.api_url}/readyz", timeout=15).json() == {
        "status": "unavailable", "checks": {"clickhouse": "unavailable", "query_slots": "ok"},
        "queries": {"running": 0, "waiting": 0, "slots": 4}}
    body = httpx.get(f"{s.processors_url}/readyz", timeout=15).json()
    assert body["checks"] == {"worker": "ok", "clickhouse": "unavailable"}
    # Ingest still takes events for its WRITE_KEYS without the key store: ready, and says so.
    body = httpx.get(f"{s.ingest_url}/readyz", timeout=15).json()
    assert body == {"status": "ready", "checks": {"broker": "ok", "key_store": "unavailable"}}
    for name, url in urls.items():
        assert status(f"{url}/healthz") == 200, name  # alive all the same

    s.start("clickhouse")
    for name, url in urls.items():
        wait_for(lambda url=url: status(f"{url}/readyz") == 200, 30, f"{name} ready again")

    s.kill("kafka", signal.SIGKILL)
    wait_for(lambda: status(f"{s.ingest_url}/readyz") == 503, 30, "ingest not ready")
    assert httpx.get(f"{s.ingest_url}/readyz", timeout=15).json()["checks"]["broker"] == "unavailable"
    assert status(f"{s.ingest_url}/healthz") == 200
