"""The pipeline during a query storm: the processors' rate while analysts post heavy funnels through
the API, against their rate without the storm, in alternating windows of the same run.

Each window keeps the processors' backlog topped up as the sustained figure does, so both rates are
what the processors can do, not what was offered. The storm is many clients posting an any-order
funnel over every event name and all time, broken down by channel: the API's admission gate,
deadlines, thread limits, `priority` and nice value (services/api/load.py) decide what is left for
the processors."""
from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from typing import TYPE_CHECKING

import aiohttp

from bench.events import EVENT_NAMES
from bench.report import CpuMeter, Figure, Report, broker_pid

if TYPE_CHECKING:
    from bench.pipeline import Pipeline

STORM = "pipeline during a query storm (heavy funnels through the API)"
IDLE = "pipeline without the storm, windows alternating with the storm's"
CLIENTS = 24
HEAVY_FUNNEL = {"start": "2020-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z", "window_seconds": 365 * 86400,
                "order": "any", "breakdown": "channel", "steps": [{"event": name} for name in EVENT_NAMES]}


class Storm:
    """CLIENTS analysts posting HEAVY_FUNNEL until stopped; answers counted by status."""

    def __init__(self, api_url: str, token: str):
        self.api_url, self.token = api_url, token
        self.answers: Counter[str] = Counter()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self._stop.clear()
        self._tasks = [asyncio.create_task(self._client()) for _ in range(CLIENTS)]

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:  # a client that leaves has its query killed by the API
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _client(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
            while not self._stop.is_set():
                try:
                    async with session.post(f"{self.api_url}/v1/funnels", json=HEAVY_FUNNEL,
                                            headers=headers) as response:
                        await response.read()
                        status = str(response.status)
                except aiohttp.ClientError as exc:
                    status = type(exc).__name__
                self.answers[status] += 1
                if status in ("429", "503"):
                    await asyncio.sleep(0.2)


async def window(p: Pipeline, seconds: float) -> tuple[int, float]:
    """Events landed in ClickHouse and seconds taken, the backlog kept as in the sustained figure."""
    from bench.pipeline import BACKLOG_S  # bench.pipeline runs this module: imported by now
    rate = 10_000.0
    samples = [(time.monotonic(), await asyncio.to_thread(p.count))]
    while time.monotonic() - samples[0][0] < seconds:
        if len(samples) > 3:
            rate = max(rate, (samples[-1][1] - samples[0][1]) / (samples[-1][0] - samples[0][0]))
        backlog = p.produced - samples[-1][1]
        if backlog < rate * BACKLOG_S / 2:
            await p.feed(int(rate * BACKLOG_S - backlog))
        await asyncio.sleep(1)
        samples.append((time.monotonic(), await asyncio.to_thread(p.count)))
    (t0, c0), (t1, c1) = samples[0], samples[-1]
    return c1 - c0, t1 - t0


async def _alternate(p: Pipeline, window_s: float, rounds: int) -> tuple[list, list, Storm, dict]:
    storm = Storm(p.st.api_url, p.st.read_token)
    idle, stormy = [], []
    meters = {}
    pids = {"processors": p.st.components["processors"].process.pid, "kafka": broker_pid(p.st),
            "clickhouse": p.st.components["clickhouse"].process.pid, "api": p.st.components["api"].process.pid,
            "bench clients": os.getpid()}
    await window(p, 5)  # the backlog is there before the first measured window
    for _ in range(rounds):
        meter = CpuMeter(pids).start()
        idle.append(await window(p, window_s))
        meter.stop()
        meters.setdefault("idle", []).append(meter)
        storm.start()
        await asyncio.sleep(3)  # the storm fills the API's slots
        meter = CpuMeter(pids).start()
        stormy.append(await window(p, window_s))
        meter.stop()
        meters.setdefault("storm", []).append(meter)
        await storm.stop()
        await window(p, 5)  # killed queries leave ClickHouse before the next idle window
    return idle, stormy, storm, meters


def run(report: Report, p: Pipeline, window_s: float, rounds: int) -> None:
    if "api" not in p.st.components:
        p.st.start("api")
    idle, stormy, storm, meters = asyncio.run(_alternate(p, window_s, rounds))
    idle_events, idle_s = map(sum, zip(*idle, strict=True))
    storm_events, storm_s = map(sum, zip(*stormy, strict=True))
    idle_rate, storm_rate = idle_events / idle_s, storm_events / storm_s
    per_window = ", ".join(f"{a / b:,.0f}" for a, b in stormy)
    report.add(Figure(
        "pipeline", STORM, storm_rate, "events/s", f"{rounds} windows of {window_s:g} s, {CLIENTS} clients",
        target=f">= {0.8 * idle_rate:.0f}",
        detail=f"target: 80% of the rate without the storm in the same run; {CLIENTS} clients post an any-order "
               f"{len(EVENT_NAMES)}-step funnel over all time, broken down by channel, with the stack's read token; "
               f"answers {dict(sorted(storm.answers.items()))}; per window {per_window} events/s; "
               f"{meters['storm'][-1].describe(stormy[-1][0])}"))
    report.add(Figure(
        "pipeline", IDLE, idle_rate, "events/s", f"{rounds} windows of {window_s:g} s", reference_of=STORM,
        detail=f"the same backlog-keeping feeder with no analyst queries; per window "
               f"{', '.join(f'{a / b:,.0f}' for a, b in idle)} events/s; "
               f"{meters['idle'][-1].describe(idle[-1][0])}"))
