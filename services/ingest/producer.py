"""Publishing accepted events to the touchpoint topic, acknowledged by every in-sync replica."""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timezone

import orjson
from pydantic import AwareDatetime, TypeAdapter

from schemas.events import RecordedEvent, TouchpointEvent
from schemas.identity import IdentityLink, RecordedIdentify
from services.common.kafka_producer import BROKER_ERRORS, BrokerUnavailable, LazyProducer
from services.common.partitioner import partition_for
from services.ingest.batching import PartitionBatcher
from services.ingest.settings import IngestSettings

__all__ = ["BrokerUnavailable", "EventProducer"]


_DATETIME = TypeAdapter(AwareDatetime)


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

    async def publish(self, events: Sequence[TouchpointEvent], source: str) -> int:
        """Send every event to the partition of its identity key; returns once all are acknowledged."""
        received_at = datetime.now(timezone.utc)
        tail = record_tail(received_at, source)
        records = []
        for event in events:
            key = event.identity_key
            if key == event.customer_id:  # its JSON is the recorded event's, but for the tail
                value = event.model_dump_json(exclude_none=True).encode()[:-1] + tail
            else:  # anonymous: the recorded event carries the identity key in customer_id
                value = RecordedEvent.model_construct(
                    **{**event.__dict__, "customer_id": key}, received_at=received_at, source=source
                ).model_dump_json(exclude_none=True).encode()
            records.append((key.encode(), value))
        # Event records (schemas/records.py): the events of a partition gathered into one Kafka record.
        await self._send_all(self._settings.topic_touchpoints, records, aggregate=True)
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

    async def _send_all(self, topic: str, records: list[tuple[bytes, bytes]], aggregate: bool = False) -> None:
        """Append every record to its partition's shared group (batching.py), each in the partition of
        its key; aggregating, the records are events and the key only chooses the partition. Returns
        once all are acknowledged."""
        if not records:
            return
        producer = await self._producer.get()
        batcher = self._batchers.get(topic)
        if batcher is None or batcher.producer is not producer:
            batcher = self._batchers[topic] = PartitionBatcher(producer, topic, aggregate)
        try:
            async with asyncio.timeout(self._settings.produce_timeout_s):
                partitions = sorted(await producer.partitions_for(topic))
                acked = {batcher.append(partition_for(key, partitions), key, value) for key, value in records}
                await asyncio.gather(*acked)
        except BROKER_ERRORS as exc:
            raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc

    async def ready(self) -> bool:
        try:
            producer = await self._producer.get()
            await asyncio.wait_for(producer.client.fetch_all_metadata(), 2.0)
            return True
        except (BrokerUnavailable, *BROKER_ERRORS):
            return False

    async def stop(self) -> None:
        await self._producer.stop()
