"""Per-key token buckets, in process: each key may send `rate` events/s on average and up to
`burst` at once. A batch of n events takes n tokens, all or none; a refused batch takes nothing
and learns how long until it would fit (the Retry-After of the 429)."""
from __future__ import annotations

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
