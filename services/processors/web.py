"""Operations pages on Faust's own web server (WEB_PORT, default 6066).

Faust starts that server once table recovery is done, so it answering at all means the worker
is past start-up. /healthz: liveness. /readyz: the worker runs (not stopping or crashed) and
ClickHouse answers. /metrics: Prometheus (metrics.py), with the consumer lag per partition of
the topics the agents consume.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.common.access_keys import lazy_client
from services.common.clickhouse import connect
from services.common.compat.faust_transport import committed_offsets
from services.processors.app import app, settings
from services.processors.metrics import REGISTRY, ConsumerLag

log = logging.getLogger("journeyline.web")
CHECK_TIMEOUT_S = 3
# The topics agents consume and commit; the journey table's changelog is read, never committed.
CONSUMED = {settings.topic_touchpoints, settings.topic_identities, settings.topic_feedback_status}

get_client, close_client = lazy_client(lambda: connect(
    settings, connect_timeout=CHECK_TIMEOUT_S, send_receive_timeout=CHECK_TIMEOUT_S, query_retries=0))


def positions() -> Iterator[tuple[str, int, int | None, int | None]]:
    """(topic, partition, highwater, committed) of the consumed partitions assigned to this worker."""
    try:
        consumer = app.consumer
        assigned = consumer.assignment()
    except Exception:  # not started yet, or stopping: nothing to report
        return
    committed = committed_offsets(consumer)
    for tp in sorted(assigned):
        if tp.topic in CONSUMED:
            try:
                highwater = consumer.highwater(tp)
            except Exception:  # revoked between the two calls
                continue
            yield tp.topic, tp.partition, highwater, committed.get(tp)


REGISTRY.register(ConsumerLag(positions))


def clickhouse_answers() -> bool:
    try:
        get_client().query("SELECT 1")
        return True
    except Exception as exc:
        log.warning("readyz: ClickHouse check failed: %s", exc)
        return False


@app.page("/healthz")
async def healthz(self: View, request: Request) -> Response:
    return self.json({"status": "ok"})


@app.page("/readyz")
async def readyz(self: View, request: Request) -> Response:
    worker = app.started and not app.should_stop
    try:
        clickhouse = await asyncio.wait_for(asyncio.to_thread(clickhouse_answers), CHECK_TIMEOUT_S * 2)
    except TimeoutError:
        clickhouse = False
    ready = worker and clickhouse
    body = {"status": "ready" if ready else "unavailable",
            "checks": {"worker": "ok" if worker else "stopped", "clickhouse": "ok" if clickhouse else "unavailable"},
            "rebalancing": bool(app.rebalancing)}
    return self.json(body, status=200 if ready else 503)


@app.page("/metrics")
async def metrics(self: View, request: Request) -> Response:
    # Set as a header: aiohttp refuses a content_type argument that carries a charset.
    return self.bytes(generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})
