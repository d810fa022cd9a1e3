"""Ingest figure: validated events accepted (202) and acknowledged by the broker, 100 events per
request, concurrent clients; beside the bare decode + validation loop and the broker's raw produce
rate with the same client (aiokafka), measured back to back on the same stack."""
from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

from bench import events, load
from bench.profile import Profile
from bench.report import CpuMeter, Figure, Report, percentile
from deploy.local_stack import LocalStack, Ports
from schemas.events import EventBatch
from services.ingest.settings import IngestSettings

WRITE_KEY = "bench-write-key"


def stack(root: Path) -> LocalStack:
    """Tansu (the fast stand-in broker), embedded ClickHouse, ingest, API; processors started later."""
    return LocalStack(root, Ports.free(), write_key=WRITE_KEY, read_token="bench-read-token", broker="tansu",
                      extra_env={
                          "RATE_LIMIT_EVENTS_PER_S": "0",
                          # Only Faust table recovery after a restart needs 1 (README); the bench never restarts.
                          "PRODUCER_MAX_BATCH_SIZE": "16384",
                          "API_LOG_LEVEL": "warning",
                      })


def run(report: Report, st: LocalStack, seconds: float, clients: int, profile: bool) -> tuple[float, int]:
    """Returns the ingest rate (events/s) and how many events it left on the topic."""
    st.start("kafka", "clickhouse", "ingest")
    per = events.BATCH
    renderer = events.Renderer("ingest", customers=50_000)
    bodies = events.Bodies(renderer)
    size = f"{per} events/request, {clients} clients, {seconds:g} s"

    pid = st.components["ingest"].process.pid
    prof = Profile(pid, seconds - 1, st.root / "ingest.pyspy") if profile else None
    meter = CpuMeter({name: st.components[name].process.pid for name in ("ingest", "kafka")})
    result = asyncio.run(_measured(meter, 3, load.post_bodies(f"{st.ingest_url}/v1/events", WRITE_KEY, bodies, per,
                                          clients=clients, seconds=seconds, warmup_s=3)))
    if result.failures:
        raise RuntimeError(f"ingest refused requests: {result.failures}")
    name = "ingest: events accepted (202) and acknowledged by the broker"
    report.add(Figure("ingest", name, result.rate, "events/s", size, target=">= 50000",
                      detail=f"{result.requests} requests of {per} events in {seconds:g} s after 3 s warm-up, "
                             f"{clients} concurrent keep-alive clients (aiohttp, pre-encoded bodies); latency p50 "
                             f"{percentile(result.latencies, 0.5) * 1000:.0f} ms, p99 "
                             f"{percentile(result.latencies, 0.99) * 1000:.0f} ms; {meter.describe(result.accepted)}"))
    if prof is not None:
        report.profiles["ingest process during the ingest figure"] = prof.summary("ingest")

    # The ceiling: the same bodies decoded and validated in a bare loop, in this process.
    context = {"max_future": timedelta(hours=IngestSettings().max_future_hours)}
    sample = [bodies[i] for i in range(200)]
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 5:
        EventBatch.model_validate_json(sample[n % len(sample)], context=context)
        n += 1
    validate = n * per / (time.perf_counter() - t0)
    report.add(Figure("ingest", "JSON decode + validation of the same bodies, bare loop", validate, "events/s",
                      f"{per} events/body, 5 s", reference_of=name,
                      detail="EventBatch.model_validate_json with the ingest's context, one core"))

    # The broker with the same client and producer settings as ingest, as fast as it goes.
    settings = IngestSettings()
    count = min(1_000_000, int(max(result.rate, 50_000) * 10))
    records = events.Renderer("produce", customers=50_000).records(0, count)
    sent, took = asyncio.run(load.produce(
        st.bootstrap_servers, settings.topic_touchpoints, records,
        linger_ms=settings.kafka_linger_ms, compression_type=settings.kafka_compression,
        max_batch_size=settings.kafka_max_batch_bytes))
    report.add(Figure("ingest", "broker raw produce, same client (aiokafka), acks=all", sent / took, "events/s",
                      f"{sent:,} records", reference_of=name,
                      detail="the records ingest would send (RecordedEvent JSON, keyed by customer), "
                             "pre-encoded, sent back to back; the stand-in broker's own ceiling with this client"))
    return result.rate, result.total_accepted + sent


async def _measured(meter: CpuMeter, warmup_s: float, work):
    """Run `work`, metering CPU from warmup_s after its start to its end."""
    task = asyncio.ensure_future(work)
    await asyncio.sleep(warmup_s)
    meter.start()
    result = await task
    meter.stop()
    return result
