"""An aiokafka producer started on first use and restarted after a failure.

Services start, and answer 503 with Retry-After, while the broker is down; the first request after
it is back gets a working producer.
"""
from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

# What a broken or absent broker raises through aiokafka.
BROKER_ERRORS = (KafkaError, OSError, TimeoutError)


class BrokerUnavailable(Exception):
    """The broker did not acknowledge in time; the client should retry."""


class LazyProducer:
    def __init__(self, bootstrap_servers: str, client_id: str, start_timeout_s: float, **options: Any) -> None:
        self._options = {"bootstrap_servers": bootstrap_servers.split(","), "client_id": client_id,
                         "acks": "all", **options}
        self._start_timeout_s = start_timeout_s
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(**self._options)
                try:
                    await asyncio.wait_for(producer.start(), self._start_timeout_s)
                except BROKER_ERRORS as exc:
                    await producer.stop()
                    raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc
                self._producer = producer
            return self._producer

    async def reset(self) -> None:
        """Drop the producer; the next call starts a fresh one (the sure way out of a stuck connection)."""
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):  # closing a broken producer must not mask the 503
                await asyncio.wait_for(producer.stop(), 5)

    async def stop(self) -> None:
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
