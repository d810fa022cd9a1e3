"""The processors' batches close at a number of events, however many records hold them (compat/faust_take.py)."""
from __future__ import annotations

import asyncio

import faust

from services.common.compat.faust_take import take_events


def test_a_batch_closes_at_its_weight_or_after_within():
    app = faust.App("take-test", store="memory://")
    channel = app.channel()
    batches: list[list[bytes]] = []

    @app.agent(channel)
    async def agent(stream):
        async for batch in take_events(stream, 10, 0.3, lambda event: len(event.value)):
            batches.append([event.value for event in batch])

    async def main() -> None:
        async with agent.test_context() as running:
            for value in (b"xxx", b"xxxx", b"xxxxx", b"x", b"xx", b"x" * 25, b"xxx"):
                await running.put(value)
            await asyncio.sleep(1.0)

    asyncio.run(main())
    # 3 + 4 + 5 >= 10 closes the first; 1 + 2 + 25 the second; the last closes after `within`.
    assert batches == [[b"xxx", b"xxxx", b"xxxxx"], [b"x", b"xx", b"x" * 25], [b"xxx"]]


def test_without_a_weight_a_batch_closes_at_a_record_count():
    # The identity and feedback agents' batches: records counted, as Faust's own take_events does.
    app = faust.App("take-count-test", store="memory://")
    channel = app.channel()
    batches: list[list[bytes]] = []

    @app.agent(channel)
    async def agent(stream):
        async for batch in take_events(stream, 2, 0.3):
            batches.append([event.value for event in batch])

    async def main() -> None:
        async with agent.test_context() as running:
            for value in (b"a" * 10, b"b", b"c"):
                await running.put(value)
            await asyncio.sleep(1.0)

    asyncio.run(main())
    assert batches == [[b"a" * 10, b"b"], [b"c"]]
