"""The recovery watchdog: exits only when recovery with records left stands still too long."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

from services.processors.watchdog import EXIT_CODE, RecoveryWatch, install


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_stalled_only_after_standing_still_for_the_limit():
    clock = Clock()
    watch = RecoveryWatch(20, clock)
    assert not watch.check(True, 30, {"p0": -1})
    clock.now = 19.9
    assert not watch.check(True, 30, {"p0": -1})
    clock.now = 20.0
    assert watch.check(True, 30, {"p0": -1})


def test_progress_restarts_the_clock():
    clock = Clock()
    watch = RecoveryWatch(20, clock)
    watch.check(True, 30, {"p0": -1})
    clock.now = 15
    assert not watch.check(True, 20, {"p0": 9})  # read ten records
    clock.now = 30
    assert not watch.check(True, 20, {"p0": 9})
    clock.now = 35
    assert watch.check(True, 20, {"p0": 9})


def test_not_in_recovery_or_nothing_left_is_never_stalled():
    clock = Clock()
    watch = RecoveryWatch(20, clock)
    for now in (0, 50, 100):
        clock.now = now
        assert not watch.check(False, 30, {"p0": -1})  # e.g. waiting on ClickHouse: not watched
        assert not watch.check(True, 0, {"p0": 29})
    # A new recovery starts its own clock.
    assert not watch.check(True, 5, {"p0": 24})
    clock.now = 119
    assert not watch.check(True, 5, {"p0": 24})


class FakeApp:
    """Just what install() uses: a timer decorator and the table recovery's counters."""

    def __init__(self, recovery) -> None:
        self.tables = SimpleNamespace(recovery=recovery)
        self.timers = []

    def timer(self, interval: float):
        def register(fn):
            self.timers.append(fn)
            return fn
        return register


def test_worker_exits_with_tempfail_when_recovery_is_stuck():
    recovery = SimpleNamespace(in_recovery=True, active_offsets={"p0": -1}, active_remaining_total=lambda: 27)
    app, exits = FakeApp(recovery), []
    install(app, stall_after_s=0.05, interval_s=0.01, exit=exits.append)
    (tick,) = app.timers

    async def run() -> None:
        await tick()
        await asyncio.sleep(0.06)
        await tick()

    asyncio.run(run())
    assert exits == [EXIT_CODE]


def test_worker_stays_while_recovery_moves():
    offsets = {"p0": -1}
    recovery = SimpleNamespace(in_recovery=True, active_offsets=offsets, active_remaining_total=lambda: 27)
    app, exits = FakeApp(recovery), []
    install(app, stall_after_s=0.05, interval_s=0.01, exit=exits.append)
    (tick,) = app.timers

    async def run() -> None:
        for i in range(5):
            await tick()
            offsets["p0"] = i
            await asyncio.sleep(0.03)

    asyncio.run(run())
    assert exits == []
