"""Publishing accepted events to the touchpoint topic, acknowledged by every in-sync replica."""
from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from datetime import datetime, timezone
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from pydantic import AwareDatetime, BaseModel, TypeAdapter

from schemas.events import RecordedEvent, TouchpointEvent
from schemas.identity import IdentityLink, RecordedIdentify
from services.common.kafka_producer import BROKER_ERRORS, BrokerUnavailable, LazyProducer
from services.common.partitioner import KeyPartitions, partition_for
from services.ingest.batching import PartitionBatcher
from services.ingest.settings import IngestSettings

__all__ = ["BrokerUnavailable", "EventProducer"]


_DATETIME = TypeAdapter(AwareDatetime)


# The event's optional fields; model_dump_json(exclude_none=True) leaves them out when None.
_NULLABLE = tuple(name for name, field in TouchpointEvent.model_fields.items()
                  if not field.is_required() and field.default is None)


def _nested(value: Any) -> orjson.Fragment:
    if isinstance(value, BaseModel):  # feedback: pydantic's own JSON of it
        return orjson.Fragment(value.__pydantic_serializer__.to_json(value, exclude_none=True))
    raise TypeError


def event_json(event: TouchpointEvent) -> bytes:
    """`event.model_dump_json(exclude_none=True)`, byte for byte (property-tested), written by orjson
    from the validated fields: much of the serializer's CPU (pydantic reads every enum's `value`
    property in Python). Anything orjson cannot write goes to pydantic."""
    fields = event.__dict__.copy()
    for name in _NULLABLE:
        if fields[name] is None:
            del fields[name]
    try:
        return orjson.dumps(fields, default=_nested, option=orjson.OPT_UTC_Z)
    except orjson.JSONEncodeError:
        return event.__pydantic_serializer__.to_json(event, exclude_none=True)


def record_tail(received_at: datetime, source: str) -> bytes:
    """What RecordedEvent adds to an event's JSON, closing brace included: an event's
    `model_dump_json(exclude_none=True)` without its last byte, plus this, is the RecordedEvent's."""
    return (b',"received_at":' + _DATETIME.dump_json(received_at) + b',"source":' + orjson.dumps(source) + b"}")


class EventProducer:
    def __init__(self, settings: IngestSettings):
        self._settings = settings
        self._producer = LazyProducer(
            settings.kafka_bootstrap_servers,
            "journeyline-ingest",
            settings.produce_timeout_s,
            linger_ms=settings.kafka_linger_ms,
            compression_type=settings.kafka_compression,
            max_batch_size=settings.kafka_max_batch_bytes,
            request_timeout_ms=settings.kafka_request_timeout_ms,
        )
        self._batchers: dict[str, PartitionBatcher] = {}
        self._partitions: dict[str, KeyPartitions] = {}

    async def publish(self, events: Sequence[TouchpointEvent], source: str) -> int:
        """Send every event to the partition of its identity key; returns once all are acknowledged."""
        if not events:
            return 0
        received_at = datetime.now(timezone.utc)
        tail = record_tail(received_at, source)
        topic = self._settings.topic_touchpoints
        producer, batcher = await self._batcher(topic, aggregate=True)
        try:
            async with asyncio.timeout(self._settings.produce_timeout_s):
                partition_of = self._partition_of(topic, await producer.partitions_for(topic))
                # The request's events grouped by partition, in order: one append per partition.
                by_partition: dict[int, list[bytes]] = {}
                for event in events:
                    key = event.customer_id
                    if key is not None:  # its JSON is the recorded event's, but for the tail
                        value = event_json(event)[:-1] + tail
                    else:  # anonymous: the recorded event carries the identity key in customer_id
                        key = event.identity_key
                        value = RecordedEvent.model_construct(
                            **{**event.__dict__, "customer_id": key}, received_at=received_at, source=source
                        ).model_dump_json(exclude_none=True).encode()
                    partition = partition_of.get(key)
                    if partition is None:
                        partition = partition_of.add(key)
                    values = by_partition.get(partition)
                    if values is None:
                        by_partition[partition] = [value]
                    else:
                        values.append(value)
                # Event records (schemas/records.py): a partition's events gathered into one Kafka record.
                await _acknowledged([future for partition, values in by_partition.items()
                                     for future in batcher.extend(partition, values)])
        except BROKER_ERRORS as exc:
            raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc
        return len(events)

    async def publish_identities(self, links: Sequence[IdentityLink], source: str) -> None:
        """Send each link keyed by anonymous_id, so one id's links keep their order."""
        received_at = datetime.now(timezone.utc)
        records = [(link.anonymous_id.encode(), RecordedIdentify.model_construct(
            **link.__dict__, received_at=received_at, source=source).model_dump_json().encode())
            for link in links]
        await self._send_all(self._settings.topic_identities, records)

    async def publish_dead_letters(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        """Refused calls, already in the dead-letter envelope, for `journeyline dlq`."""
        await self._send_all(self._settings.topic_dead_letter, list(records))

    async def _send_all(self, topic: str, records: list[tuple[bytes, bytes]]) -> None:
        """Append every record to its partition's shared group (batching.py), each in the partition of
        its key. Returns once all are acknowledged."""
        if not records:
            return
        producer, batcher = await self._batcher(topic)
        try:
            async with asyncio.timeout(self._settings.produce_timeout_s):
                partitions = sorted(await producer.partitions_for(topic))
                await _acknowledged({batcher.append(partition_for(key, partitions), key, value)
                                     for key, value in records})
        except BROKER_ERRORS as exc:
            raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc

    async def _batcher(self, topic: str, aggregate: bool = False) -> tuple[AIOKafkaProducer, PartitionBatcher]:
        producer = await self._producer.get()
        batcher = self._batchers.get(topic)
        if batcher is None or batcher.producer is not producer:
            batcher = self._batchers[topic] = PartitionBatcher(producer, topic, aggregate)
        return producer, batcher

    def _partition_of(self, topic: str, partitions: set[int]) -> KeyPartitions:
        """The topic's identity key -> partition choices, valid while its partitions stay the same."""
        cached = self._partitions.get(topic)
        if cached is None or cached.partitions != partitions:
            cached = self._partitions[topic] = KeyPartitions(partitions)
        return cached

    async def ready(self) -> bool:
        try:
            producer = await self._producer.get()
            await asyncio.wait_for(producer.client.fetch_all_metadata(), 2.0)
            return True
        except (BrokerUnavailable, *BROKER_ERRORS):
            return False

    async def stop(self) -> None:
        await self._producer.stop()


async def _acknowledged(futures: Collection[asyncio.Future]) -> None:
    """Wait for the acknowledgement of every record of a request; raise the first failure.
    Not asyncio.gather: cancelled (the request's timeout), it would cancel the records, which
    other requests in flight share, and fail them too."""
    if futures:
        await asyncio.wait(futures)
        for future in futures:
            future.result()
