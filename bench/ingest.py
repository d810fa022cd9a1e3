"""Ingest figure: validated events accepted (202) and acknowledged by the broker, 100 events per
request, concurrent clients; beside the bare decode + validation loop and the broker's raw produce
rate with the same client (aiokafka), measured back to back on the same stack."""
from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

from bench import events, kafka_tools, load
from bench.profile import Profile
from bench.report import CpuMeter, Figure, Report, broker_pid, percentile
from deploy.local_stack import LocalStack, Ports
from schemas.events import EventBatch, validation_context
from services.ingest.settings import IngestSettings

WRITE_KEY = "bench-write-key"
# The ingest figures write here, not to the processors' topic, so that the pipeline figure starts
# from an empty backlog.
INGEST_TOPIC = "bench.ingest-figure"


def stack(root: Path) -> LocalStack:
    """Apache Kafka (one node), embedded ClickHouse, ingest, API; processors started later."""
    return LocalStack(root, Ports.free(), write_key=WRITE_KEY, read_token="bench-read-token",
                      extra_env={"RATE_LIMIT_EVENTS_PER_S": "0", "API_LOG_LEVEL": "warning"})


def run(report: Report, st: LocalStack, seconds: float, clients: int, profile: bool) -> tuple[float, int]:
    """Returns the ingest rate (events/s)."""
    st.extra_env["TOPIC_TOUCHPOINTS"] = INGEST_TOPIC
    try:
        st.start("kafka", "clickhouse", "ingest")
        return _run(report, st, seconds, clients, profile)
    finally:
        st.stop("ingest")
        del st.extra_env["TOPIC_TOUCHPOINTS"]
        del st.components["ingest"]


def _run(report: Report, st: LocalStack, seconds: float, clients: int, profile: bool) -> float:
    per = events.BATCH
    renderer = events.Renderer("ingest", customers=50_000)
    bodies = events.Bodies(renderer)
    size = f"{per} events/request, {clients} clients, {seconds:g} s"

    pid = st.components["ingest"].process.pid
    prof = Profile(pid, seconds - 1, st.root / "ingest.pyspy") if profile else None
    meter = CpuMeter({"ingest": st.components["ingest"].process.pid, "kafka": broker_pid(st)})
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
    context = validation_context(timedelta(hours=IngestSettings().max_future_hours))
    sample = [bodies[i] for i in range(200)]
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 5:
        EventBatch.model_validate_json(sample[n % len(sample)], context=context)
        n += 1
    validate = n * per / (time.perf_counter() - t0)
    report.add(Figure("ingest", "JSON decode + validation of the same bodies, bare loop", validate, "events/s",
                      f"{per} events/body, 5 s", reference_of=name,
                      detail="EventBatch.model_validate_json with the ingest's context, one core"))

    # The broker with the same client and producer settings as ingest, as fast as it goes: full batches
    # (its ceiling), and send() per record (what the client costs per record).
    settings = IngestSettings()
    options = {"linger_ms": settings.kafka_linger_ms, "compression_type": settings.kafka_compression,
               "max_batch_size": settings.kafka_max_batch_bytes}
    renderer = events.Renderer("produce", customers=50_000)
    sent = 0
    for batched, aggregate, count, how in (
            (True, 100, 1_000_000, "event records of 100 events, aiokafka batch API, full batches"),
            (False, 0, 100_000, "one record per event, aiokafka send() per record")):
        n, took = asyncio.run(load.produce(st.bootstrap_servers, INGEST_TOPIC, renderer.records(sent, count),
                                           batched=batched, aggregate=aggregate, **options))
        sent += n
        report.add(Figure("ingest", f"broker raw produce, {how}, acks=all", n / took, "events/s",
                          f"{n:,} events", reference_of=name,
                          detail="the events ingest would send (RecordedEvent JSON), pre-encoded, sent back to "
                                 "back with ingest's producer settings"))
    _java_produce(report, st, name, options)
    return result.rate


def _java_produce(report: Report, st: LocalStack, name: str, options: dict) -> None:
    """Kafka's own producer (ProducerPerformance, the broker's jars): the broker's ceiling without Python."""
    values = [v for _, v in events.Renderer("java", customers=50_000).records(0, events.BATCH)]
    record_bytes = sum(map(len, values)) + len(values) + 12  # an event record of BATCH events
    records = 20_000
    meter = CpuMeter({"kafka": broker_pid(st)}).start()
    got = kafka_tools.produce(st.bootstrap_servers, INGEST_TOPIC, records, record_bytes,
                              linger_ms=options["linger_ms"], batch_bytes=options["max_batch_size"])
    meter.stop()
    report.add(Figure("ingest", "broker raw produce, Kafka's ProducerPerformance (Java), acks=all",
                      got["records_s"] * events.BATCH, "events/s", f"{records:,} records of {events.BATCH} events",
                      reference_of=name,
                      detail=f"{got['records_s']:,.0f} records/s of {record_bytes:,} bytes ({got['mb_s']:.0f} MB/s), "
                             f"latency avg {got['avg_ms']:.0f} ms, p99 {got['p99_ms']:.0f} ms, ingest's linger and "
                             f"batch size; {meter.describe(records * events.BATCH)}"))


async def _measured(meter: CpuMeter, warmup_s: float, work):
    """Run `work`, metering CPU from warmup_s after its start to its end."""
    task = asyncio.ensure_future(work)
    await asyncio.sleep(warmup_s)
    meter.start()
    result = await task
    meter.stop()
    return result
