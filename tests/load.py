"""Heavy analyst queries for the load and fault tests: an API process of its own on the session
stack's ClickHouse, reading a database of synthetic events large enough that a 20-step any-order
funnel with a breakdown takes seconds (as the demo data's did when the query side fell over)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import clickhouse_connect
import httpx

from deploy.local_stack import LocalStack, Ports, free_port

LOAD_DATABASE = "jl_load"
TOKENS = ("load-token-a", "load-token-b", "load-token-c")
LOAD_EVENTS = 2_000_000

HEAVY_FUNNEL = {
    "start": "2020-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z", "window_seconds": 365 * 86400,
    "order": "any", "breakdown": "channel",
    "steps": [{"event": f"ev{i}"} for i in range(20)],
}
CHEAP = "/v1/funnels/stages?start=2026-01-01T00:00:00Z&end=2026-01-02T00:00:00Z"


def fill(stack: LocalStack, events: int = LOAD_EVENTS) -> None:
    """Synthetic events in LOAD_DATABASE (once per stack): 100k customers, 20 event names, 4 channels."""
    client = clickhouse_connect.get_client(host="127.0.0.1", port=stack.ports.clickhouse, database=LOAD_DATABASE,
                                           password=stack.clickhouse_password, autogenerate_session_id=False,
                                           send_receive_timeout=600)
    try:
        if client.command("SELECT count() FROM events") >= events:
            return
        client.command(
            "INSERT INTO events (event_id, customer_id, stage, channel, touchpoint, event, occurred_at, received_at, "
            "properties, currency, comment, source, kafka_partition, kafka_offset) "
            "SELECT concat('e', toString(number)), concat('c', toString(number % 100000)), "
            "CAST(1 + number % 6 AS UInt8), ['web', 'pos', 'app', 'email'][1 + number % 4], "
            "concat('tp', toString(number % 7)), concat('ev', toString(intHash32(number) % 20)), "
            "toDateTime64('2026-01-01 00:00:00', 3, 'UTC') + toIntervalSecond(number * 7 % 20000000), "
            "toDateTime64('2026-01-01 00:00:01', 3, 'UTC') + toIntervalSecond(number * 7 % 20000000), "
            "'{}', '', '', 'load', 0, number FROM numbers({n:UInt64})",
            parameters={"n": events}, settings={"max_execution_time": 600})
        client.command("OPTIMIZE TABLE events FINAL", settings={"max_execution_time": 600})
    finally:
        client.close()


@contextmanager
def load_api(stack: LocalStack, root, **env: str) -> Iterator[LocalStack]:
    """An API process on LOAD_DATABASE with these settings (API_* variables), filled on start."""
    ports = Ports(stack.ports.kafka, stack.ports.clickhouse, free_port(), free_port(), free_port())
    api = LocalStack(root, ports, read_token=",".join(TOKENS), supervised=(),
                     extra_env={**stack.extra_env, **stack.clickhouse_env(), "CLICKHOUSE_DATABASE": LOAD_DATABASE,
                                "API_LOG_LEVEL": "warning", **env})
    api.start("api")
    try:
        fill(stack)
        yield api
    finally:
        api.stop()


def client(api: LocalStack, token: str = TOKENS[0], timeout: float = 60) -> httpx.Client:
    return httpx.Client(base_url=api.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
