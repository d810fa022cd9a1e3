"""Record batches per partition, shared by all concurrent requests, sent with aiokafka's batch API.

`AIOKafkaProducer.send()` costs tens of microseconds per record in Python (a coroutine, a future,
the pure-Python murmur2 partitioner), which capped ingest far below what the broker takes. Here a
record is one append to its partition's open batch (aiokafka's compiled BatchBuilder); one flusher
task per partition sends that batch with `send_batch` and, while the broker works on it, the next
batch fills from every request in flight. Each caller awaits the batches holding its records, so a
202 still means every record was acknowledged (acks=all), and a partition's batches go out in
order, so a customer's events stay in order.
"""
from __future__ import annotations

import asyncio
import functools
from collections import deque
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer


@dataclass
class _Batch:
    builder: object
    acked: asyncio.Future
    records: int = 0


@dataclass
class _Partition:
    open: _Batch | None = None
    full: deque[_Batch] = field(default_factory=deque)
    flusher: asyncio.Task | None = None


class PartitionBatcher:
    def __init__(self, producer: AIOKafkaProducer, topic: str):
        self.producer, self.topic = producer, topic
        self._partitions: dict[int, _Partition] = {}

    def append(self, partition: int, key: bytes, value: bytes) -> asyncio.Future:
        """Add a record to its partition's open batch; the future resolves once that batch is acknowledged."""
        state = self._partitions.get(partition)
        if state is None:
            state = self._partitions[partition] = _Partition()
        batch = state.open
        if batch is None or batch.builder.append(timestamp=None, key=key, value=value) is None:
            if batch is not None:  # full: queue it, start the next one
                state.full.append(batch)
            batch = state.open = _Batch(self.producer.create_batch(), asyncio.get_running_loop().create_future())
            if batch.builder.append(timestamp=None, key=key, value=value) is None:
                raise ValueError(f"a record of {len(value)} bytes does not fit in one batch")
        batch.records += 1
        if state.flusher is None:
            state.flusher = asyncio.create_task(self._flush(partition, state))
        return batch.acked

    async def _flush(self, partition: int, state: _Partition) -> None:
        try:
            while state.full or state.open is not None:
                # Take the batch out first: appends from here on go to a new one.
                if state.full:
                    batch = state.full.popleft()
                else:
                    batch, state.open = state.open, None
                try:
                    # Waits while this partition's previous batch is still queued: meanwhile the next fills.
                    sent = await self.producer.send_batch(batch.builder, self.topic, partition=partition)
                except BaseException as exc:
                    _fail(batch.acked, exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                sent.add_done_callback(functools.partial(_settle, batch.acked))
        finally:
            state.flusher = None
            for batch in [*state.full, *([state.open] if state.open else [])]:
                if not batch.acked.done():  # only when the flusher itself was cancelled
                    _fail(batch.acked, asyncio.CancelledError())
            if state.full or state.open is not None:
                state.full.clear()
                state.open = None


def _fail(future: asyncio.Future, exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
        future.exception()  # callers that timed out never look; keep asyncio quiet


def _settle(acked: asyncio.Future, sent: asyncio.Future) -> None:
    if acked.done():
        return
    if sent.cancelled():
        _fail(acked, asyncio.CancelledError())
    elif sent.exception() is not None:
        _fail(acked, sent.exception())
    else:
        acked.set_result(None)
