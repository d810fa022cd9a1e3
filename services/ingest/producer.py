"""Publishing accepted events to the touchpoint topic, acknowledged by every in-sync replica."""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timezone

from schemas.events import RecordedEvent, TouchpointEvent
from services.common.kafka_producer import BROKER_ERRORS, BrokerUnavailable, LazyProducer
from services.ingest.settings import IngestSettings

__all__ = ["BrokerUnavailable", "EventProducer"]


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

    async def publish(self, events: Sequence[TouchpointEvent], source: str) -> int:
        """Send every event keyed by customer_id; returns once all are acknowledged."""
        producer = await self._producer.get()
        received_at = datetime.now(timezone.utc)
        topic = self._settings.topic_touchpoints
        try:
            async with asyncio.timeout(self._settings.produce_timeout_s):
                deliveries = []
                for event in events:
                    record = RecordedEvent.model_construct(
                        **event.__dict__, received_at=received_at, source=source
                    )
                    deliveries.append(
                        await producer.send(
                            topic,
                            value=record.model_dump_json(exclude_none=True).encode(),
                            key=event.customer_id.encode(),
                        )
                    )
                await asyncio.gather(*deliveries)
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
