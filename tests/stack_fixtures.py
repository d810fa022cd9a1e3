"""The session stack: Apache Kafka, the embedded ClickHouse server, ingest, processors and the API
started as processes by the test session itself, and clients of it. Started when the first test
that asks for them runs (such tests carry the `stack` marker); the fast tier never does."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import clickhouse_connect
import httpx
import pytest

from deploy.local_stack import LocalStack, Ports
from tests.conftest import READ_TOKEN, WRITE_KEY


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    root = tmp_path_factory.mktemp("stack")
    stack = LocalStack(
        root, Ports.free(), write_key=WRITE_KEY, read_token=READ_TOKEN,
        # Small batches keep the tests quick to observe; partitions > 1 exercise keying.
        extra_env={"TOPIC_PARTITIONS": "3", "BATCH_WITHIN_S": "0.2", "SINK_MAX_BACKOFF_S": "1"},
    )
    try:
        stack.start()
        yield stack
    except RuntimeError:
        _dump_logs(root)
        raise
    finally:
        stack.stop()


def _dump_logs(root: Path) -> None:
    for log in sorted((root / "logs").glob("*.log")):
        print(f"---- {log.name} (tail)\n" + "\n".join(log.read_text(errors="replace").splitlines()[-40:]))


@pytest.fixture(scope="session")
def clickhouse(stack: LocalStack):
    client = clickhouse_connect.get_client(
        host="127.0.0.1", port=stack.ports.clickhouse, database="journeyline", autogenerate_session_id=False,
        password=stack.clickhouse_password,
    )
    yield client
    client.close()


@pytest.fixture(scope="session")
def ingest(stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=stack.ingest_url, headers={"Authorization": f"Bearer {WRITE_KEY}"}, timeout=30
    ) as client:
        yield client


@pytest.fixture(scope="session")
def api(stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=stack.api_url, headers={"Authorization": f"Bearer {READ_TOKEN}"}, timeout=30
    ) as client:
        yield client
