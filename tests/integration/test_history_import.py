"""Imported history on the real stack: a backfill spanning decades lands whole, beside live traffic;
an event ClickHouse refuses is dead-lettered alone; `journeyline check` accounts for every accepted
event, and `replay` and `check --repair` mend a store that lost events after their journeys counted
them. Years 1941-1965 and 1975-1994 (backfills), 2005, 2006 and 2008: no other test of the shared stack
uses them.
"""
from __future__ import annotations

import json
import random
import threading
import uuid
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from services.cli.__main__ import main
from tests.conftest import WRITE_KEY, wait_for

UTC = timezone.utc
STAGES = ["awareness", "consideration", "purchase", "use", "retention", "advocacy"]


def history(prefix: str, n: int, first_year: int, years: int, customers: int) -> list[dict]:
    """`n` events of `customers` customers spread evenly over `years` years; each customer's events
    a few hours apart, through the stages in order. Shuffled, as an export sorted by something else
    would be: every request, and every batch of the processors, spans the whole period."""
    start = datetime(first_year, 1, 1, 6, tzinfo=UTC)
    per_customer = n // customers
    step = (datetime(first_year + years, 1, 1, tzinfo=UTC) - start) / customers
    events = [{"event_id": f"{prefix}-{i}", "customer_id": f"{prefix}-c{i // per_customer}",
               "stage": STAGES[min(i % per_customer, 5)], "channel": "pos", "touchpoint": "till",
               "event": "imported", "occurred_at": (start + i // per_customer * step
                                                  + timedelta(hours=i % per_customer)).isoformat()}
              for i in range(n)]
    random.Random(n).shuffle(events)
    return events


@pytest.fixture
def cli(stack, monkeypatch, capsys):
    """`journeyline ...` in-process against the stack: (exit code, stdout)."""
    for name, value in stack.env().items():
        if name.startswith(("KAFKA_", "CLICKHOUSE_", "TOPIC_", "PROCESSOR_APP")):
            monkeypatch.setenv(name, value)

    def run(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main(list(argv))
        return code, capsys.readouterr().out

    return run


def stored(clickhouse, prefix: str) -> int:
    return clickhouse.query("SELECT uniqExact(customer_id, event_id) FROM events WHERE startsWith(customer_id, "
                            "{p:String})", parameters={"p": prefix}).result_rows[0][0]


def journey_counts(clickhouse, prefix: str) -> dict[str, int]:
    rows = clickhouse.query("SELECT customer_id, events FROM journeys FINAL WHERE startsWith(customer_id, {p:String})",
                            parameters={"p": prefix}).result_rows
    return dict(rows)


def event_counts(clickhouse, prefix: str) -> dict[str, int]:
    rows = clickhouse.query("SELECT customer_id, uniqExact(event_id) FROM events WHERE startsWith(customer_id, "
                            "{p:String}) GROUP BY customer_id", parameters={"p": prefix}).result_rows
    return dict(rows)


def lose_events(clickhouse, partition: str, lost: list[str]) -> None:
    """The partition's rows less `lost`, swapped in at once (a mutation over the many parts the
    backfills left would take minutes)."""
    clickhouse.command("CREATE TABLE events_kept AS events")
    try:
        clickhouse.command(f"INSERT INTO events_kept SELECT * FROM events WHERE _partition_id = '{partition}' AND "
                           "NOT (startsWith(customer_id, 'dmg-') AND event_id IN {lost:Array(String)})",
                           parameters={"lost": lost})
        clickhouse.command(f"ALTER TABLE events REPLACE PARTITION ID '{partition}' FROM events_kept")
    finally:
        clickhouse.command("DROP TABLE events_kept")


def checked(cli, since: datetime, *extra: str) -> tuple[int, dict]:
    code, out = cli("check", "--since", since.isoformat(), "--wait", "60", "--json", *extra)
    return code, json.loads(out)


def test_a_backfill_of_20_years_lands_completely(stack, clickhouse, api, cli, tmp_path):
    since = datetime.now(UTC) - timedelta(seconds=2)
    events = history("bf20", 10_000, 1975, 20, customers=1000)
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in events))
    code, _ = cli("load", str(path), "--url", stack.ingest_url, "--write-key", WRITE_KEY, "--batch-size", "1000",
                  "--no-progress")
    assert code == 0
    wait_for(lambda: stored(clickhouse, "bf20-") == 10_000, timeout_s=120, what="the 20-year backfill")
    assert clickhouse.command("SELECT uniqExact(toYYYYMM(occurred_at)) FROM events WHERE startsWith(customer_id, "
                              "'bf20-')") == 240
    wait_for(lambda: journey_counts(clickhouse, "bf20-") == {f"bf20-c{c}": 10 for c in range(1000)},
             what="every journey counting its ten events")
    funnel = api.get("/v1/funnels/stages", params={"start": "1975-01-01T00:00:00Z", "end": "1995-01-01T00:00:00Z"})
    assert [s["customers"] for s in funnel.json()["stages"]] == [1000] * 6
    code, report = checked(cli, since)
    assert code == 0 and report["ok"], report
    assert (report["unique"], report["stored"], report["missing"], report["pending"]) == (10_000, 10_000, [], 0)


def test_a_backfill_and_live_traffic_at_once_both_land(stack, clickhouse, ingest, cli):
    since = datetime.now(UTC) - timedelta(seconds=2)
    backfill = history("bfmix", 5000, 1941, 25, customers=500)
    live = [{"event_id": f"live-{i}", "customer_id": f"bflive-c{i % 40}", "stage": "purchase", "channel": "app",
             "touchpoint": "app", "event": "order", "occurred_at": f"2005-03-0{1 + i % 9}T10:00:00+09:00"}
            for i in range(600)]
    answers: list[int] = []

    def post(events: list[dict], size: int) -> None:
        for start in range(0, len(events), size):
            answers.append(ingest.post("/v1/events", json={"events": events[start:start + size]}).status_code)

    clients = [threading.Thread(target=post, args=(backfill, 1000)), threading.Thread(target=post, args=(live, 20))]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    assert answers.count(202) == len(answers) == 5 + 30
    wait_for(lambda: stored(clickhouse, "bfmix-") == 5000 and stored(clickhouse, "bflive-") == 600,
             timeout_s=120, what="the backfill and the live events")
    code, report = checked(cli, since)
    assert code == 0 and report["stored"] == 5600 and not report["missing"]


def test_an_event_clickhouse_refuses_is_dead_lettered_alone(stack, clickhouse, ingest, api, cli):
    since = datetime.now(UTC) - timedelta(seconds=2)
    refused = f"chref-{uuid.uuid4().hex[:6]}"
    clickhouse.command(f"ALTER TABLE events ADD CONSTRAINT refuse_one CHECK customer_id != '{refused}'")
    try:
        events = [{"event_id": f"chref-{i}", "customer_id": refused if i == 3 else f"chref-ok-{i % 4}",
                   "stage": "purchase", "channel": "web", "touchpoint": "shop", "event": "order",
                   "occurred_at": f"2006-05-0{1 + i % 5}T12:00:00Z"} for i in range(12)]
        assert ingest.post("/v1/events", json={"events": events}).status_code == 202
        wait_for(lambda: stored(clickhouse, "chref-ok-") == 11, what="the events ClickHouse takes")
        wait_for(lambda: journey_counts(clickhouse, "chref-ok-") == {f"chref-ok-{c}": 3 if c != 3 else 2
                                                                    for c in range(4)}, what="their journeys")
        assert api.get(f"/v1/customers/{refused}/journey").status_code == 404
        assert journey_counts(clickhouse, refused) == {}
        code, out = cli("dlq", "list", "--json")
        letters = [d for d in json.loads(out) if d["key"] == refused]
        assert len(letters) == 1 and json.loads(letters[0]["value"])["event_id"] == "chref-3"
        assert letters[0]["reason"].startswith("ClickHouse refused the event: Code: 469.")
        assert "refuse_one" in letters[0]["reason"]
        code, report = checked(cli, since)
        assert code == 0 and (report["stored"], report["dead_lettered"], report["missing"]) == (11, 1, [])
    finally:
        clickhouse.command("ALTER TABLE events DROP CONSTRAINT IF EXISTS refuse_one")
    # The cause fixed, the dead letter goes again and lands.
    code, _ = cli("dlq", "replay")
    assert code == 0
    wait_for(lambda: stored(clickhouse, refused) == 1, what="the replayed event")
    wait_for(lambda: journey_counts(clickhouse, refused) == {refused: 1}, what="its journey")


def test_replay_and_repair_mend_a_store_that_lost_events(stack, clickhouse, ingest, cli):
    since = datetime.now(UTC) - timedelta(seconds=2)
    events = [{"event_id": f"dmg-{i}", "customer_id": f"dmg-c{i % 10}", "stage": STAGES[i // 10 % 6],
               "channel": "store", "touchpoint": "store_1", "event": "visit",
               "occurred_at": (datetime(2008, 2, 1, tzinfo=UTC) + timedelta(hours=7 * i)).isoformat()}
              for i in range(60)]
    assert ingest.post("/v1/events", json={"events": events}).status_code == 202
    full = {f"dmg-c{c}": 6 for c in range(10)}
    wait_for(lambda: journey_counts(clickhouse, "dmg-") == full, what="the journeys")
    # The damage the lost inserts did: journeys counted events that `events` does not hold.
    lost = [f"dmg-{i}" for i in range(60) if i % 4 == 1]
    lose_events(clickhouse, "200802", lost)
    assert stored(clickhouse, "dmg-") == 45 and journey_counts(clickhouse, "dmg-") == full

    code, _ = cli("replay")
    assert code == 0
    assert journey_counts(clickhouse, "dmg-") == event_counts(clickhouse, "dmg-") != full

    code, report = checked(cli, since)
    assert code == 1 and len(report["missing"]) == 15 and report["stored"] >= 45
    assert {m["event_id"] for m in report["missing"]} == set(lost)
    code, report = checked(cli, since, "--repair")
    assert code == 0 and report["repair"]["written"] == 15 and not report["repair"]["refused"]
    assert stored(clickhouse, "dmg-") == 60
    assert journey_counts(clickhouse, "dmg-") == event_counts(clickhouse, "dmg-") == full
    code, report = checked(cli, since)
    assert code == 0 and report["ok"] and report["stored"] >= 60
