"""Records per partition, shared by all concurrent requests, sent with aiokafka's batch API.

`AIOKafkaProducer.send()` costs tens of microseconds per record in Python (a coroutine, a future,
the pure-Python murmur2 partitioner), which capped ingest far below what the broker takes. Here a
request appends to its partitions' open groups; one flusher task per partition sends what has
gathered (aiokafka's compiled BatchBuilder, `send_batch`), waits for the broker's acknowledgement,
and sends what gathered meanwhile. Each caller awaits the groups holding its records, so a 202 still
means every record was acknowledged (acks=all), and a partition's records go out in order, so a
customer's events stay in order.

With `aggregate=True` (the touchpoint topic) a group is an event record (schemas/records.py): the
events appended to one partition while its previous send is in flight become one Kafka record
(closed early at MAX_RECORD_EVENTS or MAX_RECORD_BYTES), so consumers pay their per-record cost
once per many events. The load decides the record size: the busier, the fuller. Event records
carry no key: one holds many customers; the partition is chosen explicitly, by each event's
identity key with Kafka's default partitioner (the caller's partition_for).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer
from aiokafka.errors import ProducerClosed

from schemas.records import MAX_RECORD_BYTES, MAX_RECORD_EVENTS, encode, record_size


@dataclass
class _Group:
    """Kafka records (key, value) or, aggregating, the events of one event record; acknowledged together."""

    acked: asyncio.Future
    items: list = field(default_factory=list)
    size: int = 0  # bytes of the items' values


@dataclass
class _Partition:
    open: _Group | None = None
    closed: list[_Group] = field(default_factory=list)
    flusher: asyncio.Task | None = None


class PartitionBatcher:
    def __init__(self, producer: AIOKafkaProducer, topic: str, aggregate: bool = False,
                 max_record_events: int = MAX_RECORD_EVENTS, max_record_bytes: int = MAX_RECORD_BYTES):
        self.producer, self.topic, self.aggregate = producer, topic, aggregate
        self.max_record_events, self.max_record_bytes = max_record_events, max_record_bytes
        self._partitions: dict[int, _Partition] = {}

    def append(self, partition: int, key: bytes | None, value: bytes) -> asyncio.Future:
        """Add a record (aggregating: an event; its key is not kept) to its partition's open group;
        the future resolves once the broker acknowledged it."""
        if self.aggregate:
            return self.extend(partition, [value])[0]
        state = self._partitions.get(partition)
        if state is None:
            state = self._partitions[partition] = _Partition()
        group = state.open
        if group is None:
            group = state.open = _Group(asyncio.get_running_loop().create_future())
        group.items.append((key, value))
        group.size += len(value)
        if state.flusher is None:
            state.flusher = asyncio.create_task(self._flush(partition, state))
        return group.acked

    def extend(self, partition: int, events: list[bytes]) -> list[asyncio.Future]:
        """Aggregating: add one request's events of `partition` to its open event record, in order,
        closing records at their caps; the futures of the records they went into (usually one)."""
        if not events:
            return []
        state = self._partitions.get(partition)
        if state is None:
            state = self._partitions[partition] = _Partition()
        group = state.open
        have, had = (len(group.items), group.size) if group is not None else (0, 0)
        size = sum(map(len, events))
        if have + len(events) <= self.max_record_events and record_size(
                had + size, have + len(events)) <= self.max_record_bytes:
            if group is None:
                group = state.open = _Group(asyncio.get_running_loop().create_future())
            group.items += events  # they all fit: no check per event
            group.size += size
            acked = [group.acked]
        else:
            acked = []
            for value in events:
                if group is not None and (
                        len(group.items) >= self.max_record_events
                        or record_size(group.size + len(value), len(group.items) + 1) > self.max_record_bytes):
                    state.closed.append(group)  # full: the next event starts the next record
                    group = None
                if group is None:
                    group = state.open = _Group(asyncio.get_running_loop().create_future())
                if not acked or acked[-1] is not group.acked:
                    acked.append(group.acked)
                group.items.append(value)
                group.size += len(value)
        if state.flusher is None:
            state.flusher = asyncio.create_task(self._flush(partition, state))
        return acked

    def _records(self, group: _Group) -> list[tuple[bytes | None, bytes]]:
        return [(None, encode(group.items))] if self.aggregate else group.items

    async def _flush(self, partition: int, state: _Partition) -> None:
        try:
            while state.closed or state.open is not None:
                # Take everything gathered: appends from here on go to new groups.
                groups = state.closed
                if state.open is not None:
                    groups.append(state.open)
                state.closed, state.open = [], None
                try:
                    await self._send(partition, groups)
                except BaseException as exc:
                    for group in groups:
                        _fail(group.acked, exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for group in groups:
                    if not group.acked.done():
                        group.acked.set_result(None)
        finally:
            state.flusher = None
            for group in [*state.closed, *([state.open] if state.open else [])]:
                _fail(group.acked, asyncio.CancelledError())  # only when the flusher itself was cancelled
            state.closed, state.open = [], None

    async def _send(self, partition: int, groups: list[_Group]) -> None:
        """Send the groups' records in order, as few batches as they fit in; return once all are acknowledged."""
        sent, builder = [], None
        for group in groups:
            for key, value in self._records(group):
                if builder is None or builder.append(timestamp=None, key=key, value=value) is None:
                    if builder is not None:  # full: send it, start the next one
                        sent.append(await self.producer.send_batch(builder, self.topic, partition=partition))
                    builder = self.producer.create_batch()
                    builder.append(timestamp=None, key=key, value=value)  # an empty batch takes any record
        if builder is not None:
            sent.append(await self.producer.send_batch(builder, self.topic, partition=partition))
        # One round trip at a time per partition: meanwhile the next groups gather.
        for outcome in await asyncio.gather(*sent, return_exceptions=True):
            if isinstance(outcome, asyncio.CancelledError):  # the producer stopped under it
                raise ProducerClosed()
            if isinstance(outcome, BaseException):
                raise outcome


def _fail(future: asyncio.Future, exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
        future.exception()  # callers that timed out never look; keep asyncio quiet
