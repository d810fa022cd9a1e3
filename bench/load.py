"""HTTP load on the ingest endpoint from pre-encoded bodies, and raw produce/consume on the topic."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas.records import MAX_RECORD_BYTES, approx_events, encode
from services.common.partitioner import partition_for


@dataclass
class LoadResult:
    accepted: int = 0  # events, in the measured window
    total_accepted: int = 0  # events, warm-up included
    requests: int = 0
    failures: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0


async def post_bodies(url: str, key: str, bodies: Sequence[bytes], events_per_body: int, *, clients: int,
                      seconds: float, warmup_s: float = 0.0, rate: float | None = None) -> LoadResult:
    """`clients` concurrent connections posting bodies in turn for warmup_s + seconds; only the last
    `seconds` count. With `rate` (events/s), requests are paced to it instead of sent flat out."""
    result = LoadResult()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    next_body = 0
    start = time.perf_counter()
    measure_from = start + warmup_s
    end = measure_from + seconds
    interval = events_per_body / rate if rate else 0.0

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal next_body
        while True:
            index = next_body
            next_body += 1
            if index >= len(bodies):
                raise RuntimeError(f"ran out of request bodies after {index}; make more")
            if interval:
                due = start + index * interval
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            t0 = time.perf_counter()
            if t0 >= end:
                return
            async with session.post(url, data=bodies[index], headers=headers) as response:
                await response.read()
                status = response.status
            t1 = time.perf_counter()
            if status == 202:
                result.total_accepted += events_per_body
            if t0 >= measure_from and t1 <= end:
                result.requests += 1
                result.latencies.append(t1 - t0)
                if status == 202:
                    result.accepted += events_per_body
                else:
                    result.failures[status] = result.failures.get(status, 0) + 1

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    result.seconds = seconds
    return result


async def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes, bytes]], *, batched: bool = True,
                  aggregate: int = 0, **options) -> tuple[int, float]:
    """Send every record as fast as the client goes, acks=all; (count, seconds) until all are acknowledged.
    batched: full record batches per partition (aiokafka's batch API, the broker's ceiling);
    else send() per record (the client's own per-record cost included).
    aggregate: the records are events, sent as event records (schemas/records.py) of up to this many
    events of one partition, with no key, as ingest sends them under load (count: events)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **options)
    await producer.start()
    try:
        count, pending = 0, []
        partitions = sorted(await producer.partitions_for(topic))
        builders: dict[int, object] = {}
        gathered: dict[int, list[bytes]] = {}
        size: dict[int, int] = {}

        async def add(partition: int, key: bytes | None, value: bytes) -> None:
            builder = builders.get(partition)
            if builder is None or builder.append(timestamp=None, key=key, value=value) is None:
                if builder is not None:
                    pending.append(await producer.send_batch(builder, topic, partition=partition))
                builder = builders[partition] = producer.create_batch()
                builder.append(timestamp=None, key=key, value=value)

        t0 = time.perf_counter()
        for key, value in records:
            count += 1
            if not batched:
                pending.append(await producer.send(topic, value=value, key=key))
            elif aggregate:
                partition = partition_for(key, partitions)
                events = gathered.setdefault(partition, [])
                events.append(value)
                size[partition] = size.get(partition, 0) + len(value)
                if len(events) >= aggregate or size[partition] >= MAX_RECORD_BYTES // 2:
                    await add(partition, None, encode(events))
                    gathered[partition], size[partition] = [], 0
            else:
                await add(partition_for(key, partitions), key, value)
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending = []
        for partition, events in gathered.items():
            if events:
                await add(partition, None, encode(events))
        for partition, builder in builders.items():
            pending.append(await producer.send_batch(builder, topic, partition=partition))
        await asyncio.gather(*pending)
        return count, time.perf_counter() - t0
    finally:
        await producer.stop()


async def consume(bootstrap: str, topic: str, count: int, timeout_s: float = 120) -> tuple[int, float]:
    """Read `count` events (in records of either shape) from the start of the topic with no group;
    (events, seconds)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                                enable_auto_commit=False, max_partition_fetch_bytes=4 << 20)
    await consumer.start()
    try:
        read, t0 = 0, None
        deadline = time.perf_counter() + timeout_s
        while read < count and time.perf_counter() < deadline:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if t0 is None and batches:
                t0 = time.perf_counter()
            read += sum(approx_events(r.value) for records in batches.values() for r in records)
        return read, time.perf_counter() - (t0 or time.perf_counter())
    finally:
        await consumer.stop()
