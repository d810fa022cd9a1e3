"""Retry a ClickHouse write until it is taken: a batch is acked only after its write returns."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger("journeyline.sink")
Result = TypeVar("Result")


async def write_until_taken(write: Callable[[int], Result], what: str, max_backoff_s: float) -> Result:
    """Run `write(attempt)` in a worker thread (attempt 0 first) until it returns (its result is
    returned), backing off
    exponentially up to max_backoff_s: while ClickHouse is down the partition waits, it never
    skips an offset and the process does not crash-loop."""
    backoff, attempt = 0.2, 0
    while True:
        try:
            return await asyncio.to_thread(write, attempt)
        except Exception as exc:  # any ClickHouse or network failure: wait and retry
            log.warning("ClickHouse write of %s failed (%s); retrying in %.1fs", what, exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff_s)
            attempt += 1
