"""Publishing accepted events to the touchpoint topic, acknowledged by every in-sync replica."""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timezone

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas.events import RecordedEvent, TouchpointEvent
from services.ingest.settings import IngestSettings


class BrokerUnavailable(Exception):
    """The broker did not acknowledge the batch in time; the client should retry."""


class EventProducer:
    def __init__(self, settings: IngestSettings):
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        # Started lazily and restarted after failures, so ingest comes up (and recovers)
        # while the broker is down and answers 503 meanwhile.
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is None:
                s = self._settings
                producer = AIOKafkaProducer(
                    bootstrap_servers=s.kafka_bootstrap_servers.split(","),
                    acks="all",
                    linger_ms=s.kafka_linger_ms,
                    compression_type=s.kafka_compression,
                    max_batch_size=s.kafka_max_batch_bytes,
                    request_timeout_ms=s.kafka_request_timeout_ms,
                    client_id="journeyline-ingest",
                )
                try:
                    await asyncio.wait_for(producer.start(), s.produce_timeout_s)
                except (TimeoutError, KafkaError, OSError) as exc:
                    await producer.stop()
                    raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc
                self._producer = producer
        return self._producer

    async def publish(self, events: Sequence[TouchpointEvent], source: str) -> int:
        """Send every event keyed by customer_id; returns once all are acknowledged."""
        producer = await self._started()
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
        except (KafkaError, OSError, TimeoutError) as exc:
            raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc
        return len(events)

    async def ready(self) -> bool:
        try:
            producer = await self._started()
            await asyncio.wait_for(producer.client.fetch_all_metadata(), 2.0)
            return True
        except (TimeoutError, BrokerUnavailable, KafkaError, OSError):
            return False

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
