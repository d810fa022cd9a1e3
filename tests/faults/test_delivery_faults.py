"""Nothing lost, nothing doubled: faults injected into the real stack by PID.

Each test posts a known set of events while one component fails, then checks that every
accepted event is in ClickHouse exactly once (and physically once after a merge), that the journey
projection counts each once, that the stage funnel equals the reference, and that `journeyline
check` finds every accepted event of the touchpoint topic in ClickHouse.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import clickhouse_connect
import httpx
import pytest

from deploy.local_stack import LocalStack, Ports
from schemas.events import STAGES
from tests.api.reference import stage_funnel
from tests.conftest import READ_TOKEN, WRITE_KEY, wait_for

ROOT = Path(__file__).resolve().parents[2]
# Each test posts into its own months: the stage funnel counts every customer in its range.
T0 = {"fk": datetime(2020, 1, 1, tzinfo=timezone.utc), "fc": datetime(2020, 4, 1, tzinfo=timezone.utc),
      "fb": datetime(2020, 7, 1, tzinfo=timezone.utc),
      # the cluster faults (test_cluster_faults.py)
      "cl": datetime(2021, 1, 1, tzinfo=timezone.utc), "cq": datetime(2021, 4, 1, tzinfo=timezone.utc),
      "cw": datetime(2021, 7, 1, tzinfo=timezone.utc)}


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory):
    stack = LocalStack(
        tmp_path_factory.mktemp("faults"), Ports.free(), write_key=WRITE_KEY, read_token=READ_TOKEN,
        extra_env={"TOPIC_PARTITIONS": "3", "BATCH_WITHIN_S": "0.2", "BATCH_SIZE": "200",
                   "SINK_MAX_BACKOFF_S": "2", "PRODUCE_TIMEOUT_S": "3", "KAFKA_REQUEST_TIMEOUT_MS": "2000",
                   "RECOVERY_STALL_S": "20"},
    )
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def make_events(prefix: str, customers: int, per_customer: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    events = []
    for c in range(customers):
        t = T0[prefix] + timedelta(minutes=rng.randint(0, 60 * 24 * 20))
        for i in range(per_customer):
            t += timedelta(minutes=rng.choice([0, 5, 90, 2000]))
            events.append({
                "event_id": f"{prefix}-{c}-{i}", "customer_id": f"{prefix}-cust-{c:04d}",
                "stage": STAGES[min(i, rng.randint(0, 5))], "channel": rng.choice(["web", "pos", "app"]),
                "touchpoint": "fault_test", "event": "step", "occurred_at": t.isoformat().replace("+00:00", "Z"),
            })
    return events


class Poster(threading.Thread):
    """A client that retries each batch until it is accepted, as the ingest contract asks."""

    def __init__(self, url: str, events: list[dict], batch: int = 100, pause_s: float = 0.05):
        super().__init__(daemon=True)
        self.url, self.events, self.batch, self.pause_s = url, events, batch, pause_s
        self.statuses: list[int] = []
        self.retry_after: list[str] = []
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            with httpx.Client(headers={"Authorization": f"Bearer {WRITE_KEY}"}, timeout=15) as client:
                for i in range(0, len(self.events), self.batch):
                    self._post(client, self.events[i:i + self.batch])
                    time.sleep(self.pause_s)
        except Exception as exc:  # surfaced by the test
            self.error = exc

    def _post(self, client: httpx.Client, batch: list[dict]) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                response = client.post(f"{self.url}/v1/events", json={"events": batch})
            except httpx.TransportError:
                time.sleep(0.5)
                continue
            self.statuses.append(response.status_code)
            if response.status_code == 202:
                return
            assert response.status_code == 503, response.text
            self.retry_after.append(response.headers.get("retry-after", ""))
            time.sleep(0.5)
        raise AssertionError("batch never accepted")


def assert_exactly_once(stack: LocalStack, events: list[dict], prefix: str) -> None:
    ch = clickhouse_connect.get_client(host="127.0.0.1", port=stack.ports.clickhouse, database="journeyline",
                                       autogenerate_session_id=False, password=stack.clickhouse_password)
    like = {"p": f"{prefix}-cust-%"}
    unique = {e["event_id"]: e for e in events}
    wait_for(lambda: ch.query("SELECT uniqExact(event_id) FROM events WHERE customer_id LIKE {p:String}",
                              parameters=like).result_rows[0][0] >= len(unique), timeout_s=120, what="all events")
    time.sleep(1.0)  # a late duplicate would show up by now
    rows, distinct = ch.query("SELECT count(), uniqExact(event_id) FROM events FINAL WHERE customer_id LIKE {p:String}",
                              parameters=like).result_rows[0]
    assert (rows, distinct) == (len(unique), len(unique)), "raw event log must hold each event once"
    # An insert still in flight when its processor was killed can land after the replacement
    # checked for it; such a copy has the same sorting key, so a merge removes it for good.
    ch.command("OPTIMIZE TABLE events FINAL")
    physical = ch.query("SELECT count() FROM events WHERE customer_id LIKE {p:String}", parameters=like)
    assert physical.result_rows[0][0] == len(unique)

    expected: dict[str, int] = {}
    for e in unique.values():
        expected[e["customer_id"]] = expected.get(e["customer_id"], 0) + 1
    wait_for(lambda: dict(ch.query("SELECT customer_id, events FROM journeys FINAL WHERE customer_id LIKE {p:String}",
                                   parameters=like).result_rows) == expected, timeout_s=60, what="journeys")

    start, end = T0[prefix], T0[prefix] + timedelta(days=60)
    answer = httpx.get(f"{stack.api_url}/v1/funnels/stages", headers={"Authorization": f"Bearer {READ_TOKEN}"},
                       params={"start": start.isoformat(), "end": end.isoformat()}, timeout=30).json()
    ms = [{**e, "occurred_ms": int(datetime.fromisoformat(e["occurred_at"]).timestamp() * 1000)}
          for e in unique.values()]
    reference = stage_funnel(ms, int(start.timestamp() * 1000), int(end.timestamp() * 1000), 30 * 86400 * 1000)
    assert [s["customers"] for s in answer["stages"]] == [s["customers"] for s in reference]
    ch.close()
    assert_check_finds_nothing_missing(stack, len(unique))


def assert_check_finds_nothing_missing(stack: LocalStack, at_least: int) -> None:
    """`journeyline check` as an operator runs it: the whole topic accounted for, nothing missing."""
    result = subprocess.run([sys.executable, "-m", "services.cli", "check", "--wait", "60", "--json"],
                            cwd=ROOT, env=stack.env(), capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["ok"] and report["missing"] == [] and report["pending"] == 0
    assert report["stored"] >= at_least and report["stored"] + report["dead_lettered"] == report["unique"]


def test_processor_killed_mid_batch_and_restarted(fault_stack):
    events = make_events("fk", customers=120, per_customer=12, seed=1)
    poster = Poster(fault_stack.ingest_url, events + events[:300])  # the tail re-sends earlier batches
    poster.start()
    time.sleep(1.0)
    fault_stack.kill("processors", signal.SIGKILL)
    fault_stack.start("processors")
    time.sleep(1.0)
    # Died on its own this time: the stack's supervisor restarts it, as an orchestrator would.
    restarts = fault_stack.restarts.get("processors", 0)
    os.killpg(fault_stack.components["processors"].process.pid, signal.SIGKILL)
    wait_for(lambda: fault_stack.restarts.get("processors", 0) == restarts + 1, timeout_s=30, what="supervisor restart")
    poster.join(180)
    assert poster.error is None and not poster.is_alive()
    assert_exactly_once(fault_stack, events, "fk")


def test_clickhouse_unreachable_for_30_seconds(fault_stack):
    events = make_events("fc", customers=80, per_customer=10, seed=2)
    pid = fault_stack.components["processors"].process.pid
    fault_stack.kill("clickhouse", signal.SIGKILL)
    poster = Poster(fault_stack.ingest_url, events)
    poster.start()
    poster.join(60)
    assert set(poster.statuses) == {202}, "ingest keeps accepting while the broker is up"
    time.sleep(max(0.0, 30 - 2))
    assert fault_stack.components["processors"].process.poll() is None, "processors must back off, not crash"
    fault_stack.start("clickhouse")
    assert_exactly_once(fault_stack, events, "fc")
    assert fault_stack.components["processors"].process.pid == pid


def test_broker_killed_mid_stream_and_restarted(fault_stack):
    events = make_events("fb", customers=150, per_customer=10, seed=3)
    pid, restarts = fault_stack.components["processors"].process.pid, fault_stack.restarts.get("processors", 0)
    # Clients post throughout, and re-send batches they already had accepted.
    poster = Poster(fault_stack.ingest_url, events + events[:200], batch=50, pause_s=0.1)
    poster.start()
    wait_for(lambda: poster.statuses.count(202) >= 6, timeout_s=30, what="first batches accepted")
    fault_stack.kill("kafka", signal.SIGKILL)  # mid-stream: produce requests and commits in flight
    time.sleep(5.0)
    fault_stack.start("kafka")
    poster.join(180)
    assert poster.error is None and not poster.is_alive()
    assert 503 in poster.statuses, "ingest answers 503 while the broker is down"
    assert poster.retry_after and all(v.isdigit() and int(v) > 0 for v in poster.retry_after)
    assert poster.statuses[-1] == 202
    assert_exactly_once(fault_stack, events, "fb")
    # The same worker resumed: neither its recovery watchdog nor the supervisor had to step in.
    assert fault_stack.components["processors"].process.pid == pid, "processors resume by themselves"
    assert fault_stack.restarts.get("processors", 0) == restarts
