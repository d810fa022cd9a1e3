"""Pipeline figures: events/s from the topic into ClickHouse through the Faust processors, sustained,
beside the broker's raw read rate and a plain ClickHouse INSERT of the same rows; then freshness
(event posted -> visible in the stage funnel) under a steady load posted through ingest."""
from __future__ import annotations

import asyncio
import statistics
import time
from datetime import datetime, timedelta, timezone

import aiohttp

from bench import events, kafka_tools, load, storm
from bench.ingest import INGEST_TOPIC, WRITE_KEY
from bench.profile import Profile
from bench.report import CpuMeter, Figure, Report, broker_pid, percentile
from deploy.local_stack import LocalStack
from schemas.events import RecordedEvent
from services.common.clickhouse import connect_migrated
from services.common.settings import ClickHouseSettings, KafkaSettings
from services.processors.events_sink import EVENT_COLUMNS, Consumed, event_rows
from services.processors.settings import ProcessorSettings

# The feeder writes event records (schemas/records.py) of this many events, as ingest does under load.
RECORD_EVENTS = 100
BACKLOG_S = 10  # the feeder keeps about this many seconds of the processors' work on the topic
PROBE_START = datetime(2013, 1, 1, tzinfo=timezone.utc)  # probes live alone in their own months


class Pipeline:
    def __init__(self, report: Report, st: LocalStack, profile: bool):
        self.report, self.st, self.profile = report, st, profile
        self.topic = KafkaSettings().topic_touchpoints
        self.produced = 0  # events put on the processors' topic so far
        self.feeder = events.Renderer("feed", customers=100_000)
        self.fed = 0
        for name in ("kafka", "clickhouse", "ingest"):
            if name not in st.components:
                st.start(name)
        self.ch = connect_migrated(ClickHouseSettings(clickhouse_url=st.clickhouse_url,
                                                      clickhouse_password=st.clickhouse_password))

    def count(self) -> int:
        return int(self.ch.command("SELECT count() FROM events"))

    async def feed(self, n: int) -> None:
        sent, _ = await load.produce(self.st.bootstrap_servers, self.topic, self.feeder.records(self.fed, n),
                                     aggregate=RECORD_EVENTS, linger_ms=5)
        self.fed += sent
        self.produced += sent

    def references(self) -> None:
        # The ingest section's topic, filled here when that section did not run.
        kafka_tools.ensure_topic(self.st.bootstrap_servers, INGEST_TOPIC, KafkaSettings().topic_partitions)
        read, took = asyncio.run(load.consume(self.st.bootstrap_servers, INGEST_TOPIC, 400_000, timeout_s=5))
        if read < 400_000:
            asyncio.run(load.produce(self.st.bootstrap_servers, INGEST_TOPIC,
                                     events.Renderer("consume").records(0, 400_000), aggregate=RECORD_EVENTS,
                                     linger_ms=5))
            read, took = asyncio.run(load.consume(self.st.bootstrap_servers, INGEST_TOPIC, 400_000))
        self.report.add(Figure("pipeline", "broker raw read, aiokafka consumer", read / took, "events/s",
                               f"{read:,} events", reference_of=PIPELINE,
                               detail="one consumer, no group, from the start of the topic: the broker's read "
                                      "ceiling as the processors' client library sees it"))
        values = [v for _, v in events.Renderer("insert", customers=50_000).records(0, 100_000)]
        rows = event_rows([Consumed(RecordedEvent.model_validate_json(v), 0, i) for i, v in enumerate(values)])
        self.ch.command("CREATE TABLE IF NOT EXISTS bench_insert_reference AS events")
        t0 = time.perf_counter()
        for i in range(0, len(rows), 2000):
            self.ch.insert("bench_insert_reference", rows[i:i + 2000], column_names=EVENT_COLUMNS)
        took = time.perf_counter() - t0
        self.ch.command("DROP TABLE bench_insert_reference")
        self.report.add(Figure("pipeline", "plain ClickHouse INSERT of the same rows", len(rows) / took, "events/s",
                               f"{len(rows):,} rows, 2,000 per insert", reference_of=PIPELINE,
                               detail="the rows the sink writes, already decoded, inserted by clickhouse-connect "
                                      "(columnar, HTTP) in the processors' batch size"))

    def sustained(self, seconds: float) -> float:
        asyncio.run(self.feed(50_000))  # a first backlog; the feeder keeps it up from there
        self.st.start("processors", timeout_s=180)
        return asyncio.run(self._sustained(seconds))

    async def _sustained(self, seconds: float) -> float:
        count = await asyncio.to_thread(self.count)
        deadline = time.monotonic() + 120
        while count == 0:  # wait for the first batch to land
            if time.monotonic() > deadline:
                raise RuntimeError("the processors wrote nothing in 120 s")
            await asyncio.sleep(0.5)
            count = await asyncio.to_thread(self.count)
        await asyncio.sleep(5)  # warm-up
        meter = CpuMeter({"processors": self.st.components["processors"].process.pid, "kafka": broker_pid(self.st),
                          "clickhouse": self.st.components["clickhouse"].process.pid}).start()
        samples = [(time.monotonic(), await asyncio.to_thread(self.count))]
        prof = None
        low, high = 20_000, 40_000
        while time.monotonic() - samples[0][0] < seconds:
            if len(samples) > 5:  # about BACKLOG_S seconds of the rate seen so far
                seen = (samples[-1][1] - samples[0][1]) / (samples[-1][0] - samples[0][0])
                low, high = max(10_000, int(seen * BACKLOG_S / 2)), max(20_000, int(seen * BACKLOG_S))
            if self.produced - samples[-1][1] < low:
                await self.feed(high - (self.produced - samples[-1][1]))
            if prof is None and self.profile and time.monotonic() - samples[0][0] > seconds / 3:
                pid = self.st.components["processors"].process.pid
                prof = Profile(pid, min(60, seconds / 3), self.st.root / "processors.pyspy")
            await asyncio.sleep(1)
            samples.append((time.monotonic(), await asyncio.to_thread(self.count)))
        meter.stop()
        (t0, c0), (t1, c1) = samples[0], samples[-1]
        rate = (c1 - c0) / (t1 - t0)
        windows = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(samples, samples[10:], strict=False)][::10]
        self.report.add(Figure(
            "pipeline", PIPELINE, rate, "events/s", f"{c1 - c0:,} events in {t1 - t0:.0f} s", target=">= 20000",
            detail=f"one processor worker (6 partitions); rows landing in ClickHouse `events` per second, "
                   f"the processors' backlog kept at "
                   f"{BACKLOG_S / 2:g} to {BACKLOG_S:g} s of their work by a raw producer (event records of "
                   f"{RECORD_EVENTS} events, as ingest writes under load); slowest 10 s: "
                   f"{min(windows, default=rate):,.0f} events/s, fastest: {max(windows, default=rate):,.0f}; "
                   f"{meter.describe(c1 - c0)}"))
        if prof is not None:
            self.report.profiles["processors during the pipeline figure"] = await asyncio.to_thread(
                prof.summary, "processors")
        return rate

    def java_read(self) -> None:
        """The processors' topic read back by Kafka's ConsumerPerformance: the read ceiling without Python."""
        values = [v for _, v in self.feeder.records(0, 1000)]
        event_bytes = sum(map(len, values)) / len(values)
        # Fewer than the topic holds (records carry up to RECORD_EVENTS events): the tool waits for all.
        records = max(1, min(10_000, self.produced // (2 * RECORD_EVENTS)))
        meter = CpuMeter({"kafka": broker_pid(self.st)}).start()
        java = kafka_tools.consume(self.st.bootstrap_servers, self.topic, records)
        meter.stop()
        rate, read = (java[key] * 2**20 / event_bytes for key in ("mb_s", "mb"))  # the tool's MB are MiB
        self.report.add(Figure("pipeline", "broker raw read, Kafka's ConsumerPerformance (Java)", rate, "events/s",
                               f"{records:,} event records", reference_of=PIPELINE,
                               detail=f"{java['records_s']:,.0f} records/s, {java['mb_s']:.0f} MB/s of the pipeline's "
                                      f"own event records (up to {RECORD_EVENTS} events of {event_bytes:.0f} bytes), "
                                      f"from the start of the topic, in a new group; "
                                      f"{meter.describe(int(read))}"))

    def drain(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while self.count() < self.produced:
            if time.monotonic() > deadline:
                raise RuntimeError(f"backlog not drained: {self.count():,} of {self.produced:,} in ClickHouse")
            time.sleep(1)

    def freshness(self, rate: float, seconds: float) -> None:
        if "api" not in self.st.components:
            self.st.start("api")
        asyncio.run(self._freshness(rate, seconds))

    async def _freshness(self, rate: float, seconds: float) -> None:
        renderer = events.Renderer("fresh", customers=50_000)
        background = asyncio.create_task(load.post_bodies(
            f"{self.st.ingest_url}/v1/events", WRITE_KEY, events.Bodies(renderer), events.BATCH,
            clients=8, seconds=seconds + 3, rate=rate))
        latencies: list[float] = []
        accepted: list[float] = []
        landed: list[float] = []
        missing = 0
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            await asyncio.sleep(3)
            probes = []
            for i in range(int(seconds)):
                probes.append(asyncio.create_task(self._probe(session, i)))
                await asyncio.sleep(1)
            for seen in await asyncio.gather(*probes):
                if seen is None:
                    missing += 1
                else:
                    accepted.append(seen[0])
                    landed.append(seen[1])
                    latencies.append(seen[2])
        offered = await background
        if not latencies:
            raise RuntimeError("no probe became visible")
        self.report.add(Figure(
            "pipeline", "freshness: event posted -> visible in the stage funnel, p95", percentile(latencies, 0.95),
            "s", f"{len(latencies)} probes under {offered.rate:,.0f} events/s", target="<= 1.5",
            detail=f"a probe event posted through ingest every second while {offered.rate:,.0f} events/s are "
                   f"posted ({rate:,.0f} offered, half the measured pipeline rate); ClickHouse polled every 0.05 s "
                   f"until the probe's row is in `events`, then GET /v1/funnels/stages "
                   f"polled until it counts the probe; p50 {percentile(latencies, 0.5):.2f} s, "
                   f"max {max(latencies):.2f} s, {missing} not seen within 30 s. Where it goes (p50 / p95): "
                   f"202 from ingest {percentile(accepted, 0.5):.2f} / {percentile(accepted, 0.95):.2f} s, "
                   f"row in ClickHouse `events` {percentile(landed, 0.5):.2f} / {percentile(landed, 0.95):.2f} s "
                   f"(a batch closes at BATCH_SIZE events or after BATCH_WITHIN_S, "
                   f"{ProcessorSettings().batch_within_s:g} s, then the insert); in ClickHouse after "
                   f"{statistics.mean(landed[:10]):.2f} s on average for the first 10 probes, "
                   f"{statistics.mean(landed[-10:]):.2f} s for the last 10"))

    async def _probe(self, session: aiohttp.ClientSession, i: int) -> tuple[float, float, float] | None:
        """Seconds from posting probe i to: its 202, its row in `events`, the stage funnel counting it."""
        at = PROBE_START + timedelta(minutes=i)
        probe = {"events": [{"event_id": f"probe-{i}", "customer_id": f"probe-{i}", "stage": "awareness",
                             "channel": "web", "touchpoint": "web_home", "event": "page_viewed",
                             "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ")}]}
        params = {"start": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "end": (at + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"), "window_seconds": "60"}
        api_headers = {"Authorization": f"Bearer {self.st.read_token}"}
        row = {"query": "SELECT count() FROM journeyline.events WHERE customer_id = {c:String}",
               "param_c": f"probe-{i}"}
        t0 = time.perf_counter()
        async with session.post(f"{self.st.ingest_url}/v1/events", json=probe,
                                headers={"Authorization": f"Bearer {WRITE_KEY}"}) as response:
            if response.status != 202:
                raise RuntimeError(f"probe refused: {response.status} {await response.text()}")
        accepted, landed = time.perf_counter() - t0, None
        while time.perf_counter() - t0 < 30:
            if landed is None:
                async with session.get(self.st.clickhouse_url, params=row,
                                       auth=aiohttp.BasicAuth("default", self.st.clickhouse_password)) as response:
                    if (await response.text()).strip() == "1":
                        landed = time.perf_counter() - t0
            if landed is not None:
                async with session.get(f"{self.st.api_url}/v1/funnels/stages", params=params,
                                       headers=api_headers) as response:
                    body = await response.json()
                if response.status == 200 and body["stages"][0]["customers"] == 1:
                    return accepted, landed, time.perf_counter() - t0
            await asyncio.sleep(0.05)
        return None


PIPELINE = "pipeline: topic -> Faust processors -> ClickHouse, sustained"


def run(report: Report, st: LocalStack, seconds: float, fresh_seconds: float, storm_window_s: float,
        profile: bool) -> None:
    p = Pipeline(report, st, profile)
    p.references()
    rate = p.sustained(seconds)
    p.drain()
    p.java_read()
    p.freshness(rate / 2, fresh_seconds)
    storm.run(report, p, window_s=storm_window_s, rounds=2)
    p.ch.close()

