"""Publishing feedback status changes to journeyline.feedback-status.v1 (acks=all).

A status change is an event in the log like any other: the API only publishes it, keyed by the
feedback item's event_id (one item's changes stay in order on one partition), and answers once
the broker has acknowledged it. The processors write it to ClickHouse
(services/processors/feedback.py), so it shows in the API a moment later.
"""
from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas.feedback import StatusChange
from services.api.settings import ApiSettings


class BrokerUnavailable(Exception):
    """The broker did not acknowledge the change in time; the client should retry."""


class StatusProducer:
    """One aiokafka producer per API process, started on first use (the API starts and serves
    reads while the broker is down) and restarted after a failure."""

    def __init__(self, settings: ApiSettings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                s = self._settings
                producer = AIOKafkaProducer(
                    bootstrap_servers=s.kafka_bootstrap_servers.split(","),
                    acks="all",
                    request_timeout_ms=int(s.feedback_publish_timeout_s * 1000),
                    client_id="journeyline-api-feedback",
                )
                try:
                    await asyncio.wait_for(producer.start(), s.feedback_publish_timeout_s)
                except (TimeoutError, KafkaError, OSError) as exc:
                    await producer.stop()
                    raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc
                self._producer = producer
            return self._producer

    async def publish(self, change: StatusChange) -> None:
        """Returns once the broker has acknowledged the change; BrokerUnavailable otherwise."""
        producer = await self._started()
        try:
            async with asyncio.timeout(self._settings.feedback_publish_timeout_s):
                delivery = await producer.send(
                    self._settings.topic_feedback_status,
                    key=change.event_id.encode(),
                    value=change.model_dump_json().encode(),
                )
                await delivery
        except (KafkaError, OSError, TimeoutError) as exc:
            await self._reset()
            raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc

    async def _reset(self) -> None:
        # A fresh producer on the next request: aiokafka recovers by itself from most broker
        # restarts, but a stop and start is the sure way out of a stuck connection.
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), 5)
            except Exception:  # noqa: BLE001  (closing a broken producer must not mask the 503)
                pass

    async def stop(self) -> None:
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
