"""Publishing accepted events to the touchpoint topic, acknowledged by every in-sync replica."""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timezone

import orjson
from pydantic import AwareDatetime, TypeAdapter

from schemas.events import TouchpointEvent
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
        self._batcher: PartitionBatcher | None = None

    async def publish(self, events: Sequence[TouchpointEvent], source: str) -> int:
        """Send every event keyed by customer_id; returns once all are acknowledged."""
        producer = await self._producer.get()
        topic = self._settings.topic_touchpoints
        if self._batcher is None or self._batcher.producer is not producer:
            self._batcher = PartitionBatcher(producer, topic)
        batcher = self._batcher
        tail = record_tail(datetime.now(timezone.utc), source)
        try:
            async with asyncio.timeout(self._settings.produce_timeout_s):
                partitions = sorted(await producer.partitions_for(topic))
                acked = {
                    batcher.append(partition_for(key := event.customer_id.encode(), partitions), key,
                                   event.model_dump_json(exclude_none=True).encode()[:-1] + tail)
                    for event in events
                }
                await asyncio.gather(*acked)
        except BROKER_ERRORS as exc:
            raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc
        return len(events)

    async def ready(self) -> bool:
        try:
            producer = await self._producer.get()
            await asyncio.wait_for(producer.client.fetch_all_metadata(), 2.0)
            return True
        except (BrokerUnavailable, *BROKER_ERRORS):
            return False

    async def stop(self) -> None:
        await self._producer.stop()
