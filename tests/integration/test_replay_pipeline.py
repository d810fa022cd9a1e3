"""`journeyline replay` on the real stack: rebuilding the projections from the event log changes no
answer, repairs a corrupted projection, and keeps what the processors write during the rebuild.

Customers "rpl-*", events in 2018 only (this file's share of the session stack).
"""
from __future__ import annotations

import random
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from schemas.events import STAGES, RecordedEvent
from services.processors.journey_state import JourneyState
from services.processors.replay import JOURNEY_STAGES, JOURNEYS, PROJECTIONS, choose_buckets, replay
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2018, 4, 2, 9, 0, tzinfo=timezone.utc)
MINE = "customer_id LIKE 'rpl-%'"
FUNNEL = {"start": "2018-01-01T00:00:00Z", "end": "2019-01-01T00:00:00Z"}


def iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ev(cid: str, event_id: str, stage: str, t: datetime) -> dict:
    return {"event_id": event_id, "customer_id": cid, "stage": stage, "channel": "web",
            "touchpoint": "replay_test", "event": f"{stage}_evt", "occurred_at": iso(t)}


def make_batches(seed: int = 7, customers: int = 30) -> list[list[dict]]:
    """On-time events, then duplicates (some with a changed time and stage: the first copy
    counts) and late events from before the rest of the journey. Ties on purpose."""
    rng = random.Random(seed)
    on_time, again = [], []
    for c in range(customers):
        cid = f"rpl-c{c:02d}"
        t = T0 + timedelta(hours=rng.randint(0, 24 * 60), milliseconds=rng.randint(0, 999))
        mine = []
        for i in range(rng.randint(1, 7)):
            t += timedelta(minutes=rng.choice([0, 0, 3, 240]), milliseconds=rng.choice([0, 1, 123]))
            mine.append(ev(cid, f"rpl-{c}-{i}", rng.choice(STAGES), t))
        on_time += mine
        for dup in rng.sample(mine, min(2, len(mine))):
            changed = rng.random() < 0.5
            again.append({**dup, "stage": rng.choice(STAGES), "occurred_at": iso(t + timedelta(days=1))}
                         if changed else dup)
        if rng.random() < 0.5:  # a POS sync about an earlier visit, possibly tying with the first
            late = T0 + timedelta(hours=rng.randint(-48, 0)) if c % 3 else datetime.fromisoformat(
                mine[0]["occurred_at"].replace("Z", "+00:00"))
            again.append(ev(cid, f"rpl-{c}-late", rng.choice(STAGES), late))
    rng.shuffle(on_time)
    return [on_time, again]


def reference(batches: list[list[dict]]) -> tuple[list[tuple], list[tuple]]:
    """journeys and journey_stages rows as the Faust JourneyState computes them, in arrival order."""
    states: dict[str, JourneyState] = {}
    for event in (e for batch in batches for e in batch):
        recorded = RecordedEvent.model_validate({**event, "received_at": T0})
        states.setdefault(event["customer_id"], JourneyState()).add(recorded)

    def at(ms: int) -> datetime:
        return datetime(1970, 1, 1) + timedelta(milliseconds=ms)

    journeys = sorted((cid, s.current_stage, at(s.first_seen_ms), at(s.last_seen_ms), s.events)
                      for cid, s in states.items())
    stages = sorted((cid, STAGES[i], at(first), at(last), n)
                    for cid, s in states.items() for i, (first, last, n) in s.stages.items())
    return journeys, stages


def projections(clickhouse) -> tuple[list[tuple], list[tuple]]:
    journeys = clickhouse.query(
        f"SELECT customer_id, current_stage, first_seen_at, last_seen_at, events FROM journeys FINAL "
        f"WHERE {MINE} ORDER BY customer_id").result_rows
    stages = clickhouse.query(
        f"SELECT customer_id, toString(stage), first_at, last_at, events FROM journey_stages FINAL "
        f"WHERE {MINE} ORDER BY customer_id, stage").result_rows
    return [tuple(r) for r in journeys], sorted(tuple(r) for r in stages)


def snapshot(clickhouse, api, customers: list[str]) -> dict:
    journeys, stages = projections(clickhouse)
    return {
        "journeys": journeys, "journey_stages": stages,
        "api_journeys": {cid: api.get(f"/v1/customers/{cid}/journey").json() for cid in customers},
        "funnel": api.get("/v1/funnels/stages", params=FUNNEL).json(),
    }


def run_replay(stack, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "services.cli", "replay", *args], env=stack.env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def versions(clickhouse) -> set[int]:
    return {r[0] for r in clickhouse.query(f"SELECT DISTINCT version FROM journeys FINAL WHERE {MINE}").result_rows}


def ddl(clickhouse) -> list[str]:
    return [clickhouse.command(f"SHOW CREATE TABLE {p.table}") for p in PROJECTIONS]


@pytest.fixture(scope="module")
def posted(ingest, clickhouse):
    batches = make_batches()
    for batch in batches:
        response = ingest.post("/v1/events", json={"events": batch})
        assert response.status_code == 202, response.text
    expected = reference(batches)
    wait_for(lambda: projections(clickhouse) == expected, what="processors' projections of the rpl- customers")
    return expected


def test_replay_changes_no_answer(stack, clickhouse, api, posted):
    customers = sorted(row[0] for row in posted[0])
    before, tables_before, versions_before = snapshot(clickhouse, api, customers), ddl(clickhouse), versions(clickhouse)
    assert len(before["journeys"]) == 30 and before["funnel"]["stages"][0]["customers"] > 0

    out = run_replay(stack, "--buckets", "3")
    assert "in 3 buckets" in out

    assert snapshot(clickhouse, api, customers) == before
    assert ddl(clickhouse) == tables_before
    # Rebuilt rows (one new version), not the old ones left in place; no staging table left.
    after = versions(clickhouse)
    assert len(after) == 1 and min(after) > max(versions_before)
    assert not clickhouse.query("SELECT name FROM system.tables WHERE database = currentDatabase() "
                                "AND name LIKE '%\\_\\_replay'").result_rows


def test_replay_repairs_a_corrupted_projection(stack, clickhouse, posted):
    journeys, stages = posted
    lost, inflated, skewed = journeys[0][0], journeys[1][0], journeys[2][0]
    sync = {"mutations_sync": 2}
    clickhouse.command("ALTER TABLE journeys DELETE WHERE customer_id = {c:String}",
                       parameters={"c": lost}, settings=sync)
    clickhouse.command("ALTER TABLE journey_stages UPDATE events = events + 5 WHERE customer_id = {c:String}",
                       parameters={"c": skewed}, settings=sync)
    # A bogus row that outranks every real version, and a stage the customer never reached.
    clickhouse.insert("journeys", [[inflated, "advocacy", T0, T0, 999, 2**63]],
                      column_names=list(JOURNEYS.columns))
    clickhouse.insert("journey_stages", [[inflated, "advocacy", T0, T0, 999, 2**63],
                                         ["rpl-ghost", "use", T0, T0, 1, 1]],
                      column_names=list(JOURNEY_STAGES.columns))
    assert projections(clickhouse) != posted

    run_replay(stack)
    assert projections(clickhouse) == posted


def test_events_processed_during_the_rebuild_are_kept(ingest, clickhouse, posted):
    """The processors write to the old tables until the swap; replay catches those customers up."""
    late = ev("rpl-race", "rpl-race-0", "purchase", T0 + timedelta(days=90))
    extra = ev(posted[0][3][0], "rpl-race-1", "advocacy", T0 + timedelta(days=91))

    def race() -> None:
        assert ingest.post("/v1/events", json={"events": [late, extra]}).status_code == 202
        wait_for(lambda: clickhouse.query(
            "SELECT count() FROM journeys FINAL WHERE customer_id IN ('rpl-race', {c:String})",
            parameters={"c": extra["customer_id"]}).result_rows[0][0] == 2
            and clickhouse.query("SELECT count() FROM events WHERE event_id LIKE 'rpl-race-%'")
            .result_rows[0][0] == 2, what="race events written to the old projection")

    assert choose_buckets(0) == 1 and choose_buckets(1_000_001) == 3
    result = replay(clickhouse, buckets=2, before_swap=race)
    assert result.caught_up_customers >= 2
    # The reference over everything posted, now including the race events.
    assert projections(clickhouse) == reference([*make_batches(), [late, extra]])
