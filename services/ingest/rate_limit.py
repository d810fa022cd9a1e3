"""Per-key token buckets, in process: each key may send `rate` events/s on average and up to
`burst` at once. A batch of n events takes n tokens, all or none; a refused batch takes nothing
and learns how long until it would fit (the Retry-After of the 429)."""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class TokenBuckets:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst, self._clock, self._max_keys = rate, burst, clock, max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def _level(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - at) * self.rate)

    def take(self, key: str, cost: int) -> float:
        """Take `cost` tokens and return 0, or take nothing and return the seconds to wait."""
        if cost > self.burst:
            raise ValueError(f"a batch of {cost} can never fit a burst of {self.burst}")
        now = self._clock()
        with self._lock:
            level = self._level(key, now)
            if level < cost:
                return (cost - level) / self.rate
            if key not in self._buckets and len(self._buckets) >= self._max_keys:
                self._forget_full(now)
            self._buckets[key] = (level - cost, now)
            return 0.0

    def _forget_full(self, now: float) -> None:
        # A full bucket is the same as no bucket: dropping those keeps memory bounded losslessly.
        for key in [k for k in self._buckets if self._level(k, now) >= self.burst]:
            del self._buckets[key]


class RateLimited(Exception):
    def __init__(self, wait_s: float):
        super().__init__(wait_s)
        self.retry_after = max(1, math.ceil(wait_s))


class RateLimiter:
    """The write keys' buckets, or no limit (rate 0)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.buckets = TokenBuckets(rate, burst) if rate > 0 else None

    def admit(self, key_id: str, events: int) -> None:
        # Called after parsing, so Retry-After is exact for this request; a refused one takes nothing.
        if self.buckets is not None and (wait_s := self.buckets.take(key_id, events)) > 0:
            raise RateLimited(wait_s)
