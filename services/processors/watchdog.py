"""Recovery watchdog: a worker whose table recovery stops making progress exits, to be restarted.

After a rebalance Faust restores the journeys table from its changelog before the agents run
again. The one way we saw that restore wait forever (after a broker restart) is fixed in
services/common/compat/faust_transport.py; Faust has had others (its issue tracker lists several),
and a stuck worker processes nothing while it still looks alive. So the worker ends itself when recovery, with
changelog records left to read, has stood still for RECOVERY_STALL_S seconds, and leaves the
restart to whatever runs it (LocalStack's supervisor here, `restart:` in docker compose, the
orchestrator in production). A fresh process recovers from scratch. Exiting is as safe as a
SIGKILL: offsets are committed only after ClickHouse has a batch, so the next worker re-reads
whatever this one had not finished.

Only recovery is watched: a worker waiting on ClickHouse (sink retries) or on the broker during
normal processing is backing off, not stuck, and must stay up.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Mapping

log = logging.getLogger("journeyline.watchdog")

EXIT_CODE = 75  # EX_TEMPFAIL: try again


class RecoveryWatch:
    """Decides when recovery has stood still too long; fed by `check` on a timer."""

    def __init__(self, stall_after_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_after_s = stall_after_s
        self._clock = clock
        self._progress: tuple | None = None
        self._since: float | None = None

    def check(self, in_recovery: bool, remaining: int, offsets: Mapping) -> bool:
        """True once recovery (with records left to read) has not moved for stall_after_s."""
        now = self._clock()
        if not in_recovery or remaining <= 0:
            self._progress = self._since = None
            return False
        progress = tuple(sorted((str(tp), offset) for tp, offset in offsets.items()))
        if progress != self._progress or self._since is None:
            self._progress, self._since = progress, now
            return False
        return now - self._since >= self.stall_after_s

    def stalled_for(self) -> float:
        return 0.0 if self._since is None else self._clock() - self._since


def install(app, stall_after_s: float, interval_s: float = 2.0,
            exit: Callable[[int], object] = os._exit) -> RecoveryWatch:
    """Check the app's table recovery every interval_s; exit the process when it is stuck."""
    watch = RecoveryWatch(stall_after_s)

    @app.timer(interval=interval_s)
    async def watch_recovery() -> None:
        recovery = app.tables.recovery
        if watch.check(recovery.in_recovery, recovery.active_remaining_total(), recovery.active_offsets):
            log.critical(
                "table recovery made no progress for %.0fs (%d changelog records left, read up to %s); "
                "exiting with %d so that a fresh worker takes over",
                watch.stalled_for(), recovery.active_remaining_total(), dict(recovery.active_offsets), EXIT_CODE)
            for handler in logging.getLogger().handlers:
                handler.flush()
            sys.stderr.flush()
            # No graceful stop: the consumer that is stuck could hold it up as well.
            exit(EXIT_CODE)

    return watch
