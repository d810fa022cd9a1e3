"""Faust's `Stream.take_events`, closing a batch at a weight (events) rather than a record count.

Every agent takes its batches here. A record on the touchpoint topic holds one event or many
(schemas/records.py), so the journey agent weighs each record by its events and BATCH_SIZE counts
events; the other agents leave `weight` out and count records, as Faust's own take_events does.
The logic is Faust's (a buffering processor on the stream, acks once the caller is done with the
batch) with the buffer's length replaced by the sum of the weights. Private names used: see the
package docstring; tests/test_third_party.py fails when Faust's own take_events changes.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any

from faust.types import EventT
from mode import want_seconds
from mode.utils.aiter import aiter
from mode.utils.futures import notify


def _one(event: EventT) -> int:
    return 1


def take_events(stream: Any, max_weight: int, within: float,
                weight: Callable[[EventT], int] = _one) -> AsyncGenerator[Sequence[EventT], None]:
    """Batches of the stream's events, each closed once its weights reach max_weight or after
    `within` seconds; a batch's events are acked when the caller asks for the next one."""
    agen = _take_events(stream, max_weight, within, weight)
    stream._active_agens.add(agen)  # closed by Stream.on_stop, as Faust's own take generators
    return agen


async def _take_events(stream: Any, max_weight: int, within: float,
                       weight: Callable[[EventT], int]) -> AsyncGenerator[Sequence[EventT], None]:
    events: list[EventT] = []
    taken = 0
    buffer_full = asyncio.Event()
    buffer_consumed = asyncio.Event()
    timeout = want_seconds(within) if within else None
    stream_enable_acks: bool = stream.enable_acks
    buffer_consuming: asyncio.Future | None = None
    channel_it = aiter(stream.channel)

    async def add_to_buffer(value: Any) -> Any:
        nonlocal buffer_consuming, taken
        try:
            if buffer_consuming is not None:  # the caller is reading the batch
                try:
                    await buffer_consuming
                finally:
                    buffer_consuming = None
            event = stream.current_event
            if event is None:
                raise RuntimeError("Take buffer found current_event is None")
            events.append(event)
            taken += weight(event)
            if taken >= max_weight:
                buffer_full.set()
                buffer_consumed.clear()
                await stream.wait(buffer_consumed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            stream.log.exception("Error adding to take buffer: %r", exc)
            await stream.crash(exc)
        return value

    stream.enable_acks = False  # acked here, once the caller is done with the batch
    stream.add_processor(add_to_buffer)
    stream._enable_passive(channel_it)
    try:
        while not stream.should_stop:
            await stream.wait_for_stopped(buffer_full, timeout=timeout)
            if events:
                buffer_consuming = stream.loop.create_future()
                try:
                    yield list(events)
                finally:
                    for event in events:
                        await stream.ack(event)
                    events.clear()
                    taken = 0
                    notify(buffer_consuming)
                    buffer_full.clear()
                    buffer_consumed.set()
    finally:
        stream.enable_acks = stream_enable_acks
        stream._processors.remove(add_to_buffer)
