"""Publishing feedback status changes to journeyline.feedback-status.v1 (acks=all).

A status change is an event in the log like any other: the API only publishes it, keyed by the
feedback item's event_id (one item's changes stay in order on one partition), and answers once
the broker has acknowledged it. The processors write it to ClickHouse
(services/processors/feedback_agent.py), so it shows in the API a moment later.
"""
from __future__ import annotations

import asyncio

from schemas.feedback import StatusChange
from services.api.settings import ApiSettings
from services.common.kafka_producer import BROKER_ERRORS, BrokerUnavailable, LazyProducer

__all__ = ["BrokerUnavailable", "StatusProducer"]


class StatusProducer:
    """One producer per API process, started on first use (the API starts and serves reads while
    the broker is down) and restarted after a failure."""

    def __init__(self, settings: ApiSettings) -> None:
        self._settings = settings
        self._producer = LazyProducer(
            settings.kafka_bootstrap_servers,
            "journeyline-api-feedback",
            settings.feedback_publish_timeout_s,
            request_timeout_ms=int(settings.feedback_publish_timeout_s * 1000),
        )

    async def publish(self, change: StatusChange) -> None:
        """Returns once the broker has acknowledged the change; BrokerUnavailable otherwise."""
        producer = await self._producer.get()
        try:
            async with asyncio.timeout(self._settings.feedback_publish_timeout_s):
                delivery = await producer.send(
                    self._settings.topic_feedback_status,
                    key=change.event_id.encode(),
                    value=change.model_dump_json().encode(),
                )
                await delivery
        except BROKER_ERRORS as exc:
            await self._producer.reset()
            raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc

    async def stop(self) -> None:
        await self._producer.stop()
