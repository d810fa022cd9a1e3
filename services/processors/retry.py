"""Retry a ClickHouse write until it is taken: a batch is acked only after its write returns.

Every failure is retried (ClickHouse down, a timeout, a missing table an operator is about to
migrate, a memory limit, merges falling behind) except a refusal of the data itself, which no
retry can change: `Refusal`, raised at once for the caller to split the batch and dead-letter the
event at fault (events_sink.py).
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger("journeyline.sink")
Result = TypeVar("Result")

# ClickHouse refuses these rows for what they hold: the same insert fails on every retry.
PERMANENT_CODES = {
    6: "CANNOT_PARSE_TEXT", 26: "CANNOT_PARSE_QUOTED_STRING", 27: "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
    38: "CANNOT_PARSE_DATE", 41: "CANNOT_PARSE_DATETIME", 53: "TYPE_MISMATCH", 69: "ARGUMENT_OUT_OF_BOUND",
    70: "CANNOT_CONVERT_TYPE", 72: "CANNOT_PARSE_NUMBER", 117: "INCORRECT_DATA", 131: "TOO_LARGE_STRING_SIZE",
    321: "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE", 349: "CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN",
    395: "FUNCTION_THROW_IF_VALUE_IS_NON_ZERO", 407: "DECIMAL_OVERFLOW", 469: "VIOLATED_CONSTRAINT",
}
TOO_MANY_PARTS = 252
# TOO_MANY_PARTS is both "merges are behind" (wait) and a block spanning too many partitions (split).
_PARTITIONS_PER_BLOCK = "Too many partitions for single INSERT block"
_MESSAGE = re.compile(r"Code: (\d+)\. DB::Exception: (.*?)(?: \(for url [^)]*\))?\s*$", re.S)


class Refusal(Exception):
    """ClickHouse refused the rows themselves; `code` and `message` are its own."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def refusal(exc: BaseException) -> Refusal | None:
    """The refusal `exc` reports, or None when retrying may succeed."""
    found = _MESSAGE.search(str(exc))
    if found is None:
        return None
    code, message = int(found[1]), found[2].strip()
    if code in PERMANENT_CODES or (code == TOO_MANY_PARTS and _PARTITIONS_PER_BLOCK in message):
        return Refusal(code, f"Code: {code}. {message}")
    return None


async def write_until_taken(write: Callable[[int], Result], what: str, max_backoff_s: float,
                            refusals: bool = False) -> Result:
    """Run `write(attempt)` in a worker thread (attempt 0 first) until it returns (its result is
    returned), backing off exponentially up to max_backoff_s: while ClickHouse is down the
    partition waits, it never skips an offset and the process does not crash-loop. With
    `refusals`, a refusal of the data is raised as `Refusal` instead of retried."""
    backoff, attempt = 0.2, 0
    while True:
        try:
            return await asyncio.to_thread(write, attempt)
        except Exception as exc:  # any ClickHouse or network failure: wait and retry
            refused = refusal(exc) if refusals else None
            if refused is not None:
                raise refused from exc
            log.warning("ClickHouse write of %s failed (%s); retrying in %.1fs", what, exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff_s)
            attempt += 1
