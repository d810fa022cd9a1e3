"""`journeyline demo` and `journeyline query funnel` against the session stack.

The demo is generated for the 90 days before 2012-06-01 (seed 2012, so its event ids are its own)
and loaded through the console script's module in a subprocess; the funnels are printed by
main(argv) and every number in the table is checked against the API's JSON."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.cli.__main__ import main
from services.cli.query import duration, percent
from services.demo import generate
from tests.conftest import READ_TOKEN, WRITE_KEY, wait_for

ROOT = Path(__file__).resolve().parents[2]
UNTIL = datetime(2012, 6, 1, tzinfo=UTC)
CUSTOMERS, SEED = 12, 2012
RANGE = ["--start", "2012-01-01", "--end", "2012-07-01", "--window", "90d"]
API_RANGE = {"start": "2012-01-01T00:00:00Z", "end": "2012-07-01T00:00:00Z", "window_seconds": 90 * 86400}


@pytest.fixture(scope="module")
def demo(stack, api, clickhouse):
    expected = generate(customers=CUSTOMERS, seed=SEED, now=UNTIL)
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "demo", "--customers", str(CUSTOMERS), "--seed", str(SEED),
         "--until", "2012-06-01", "--no-progress"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "INGEST_URL": stack.ingest_url, "JOURNEYLINE_WRITE_KEY": WRITE_KEY})

    def events_seen() -> int:
        response = api.get("/v1/metrics/visits", params={"start": "2012-01-01T00:00:00Z",
                                                          "end": "2013-01-01T00:00:00Z", "group_by": "hour"})
        assert response.status_code == 200, response.text
        return sum(b["events"] for b in response.json()["buckets"])

    wait_for(lambda: events_seen() >= len(expected), what="the demo events in the API")
    # Sign-ins link browser ids to customers; the processors reload the links a moment after the
    # events land, and until then a funnel counts the browser as someone else.
    linked = sorted({"anon:" + e["anonymous_id"] for e in expected if "anonymous_id" in e and "customer_id" in e})

    def links_resolved() -> bool:
        return clickhouse.command(
            "SELECT uniqExact(identity_key) FROM person_events "
            "WHERE identity_key IN {keys:Array(String)} AND customer_id != identity_key",
            parameters={"keys": linked}) == len(linked)

    wait_for(links_resolved, what="the demo's sign-ins linked")
    return done, expected, events_seen()


def test_demo_loads_what_it_reports(demo):
    done, expected, seen = demo
    assert done.returncode == 0, done.stderr
    assert f"{len(expected):,} accepted, 0 refused" in done.stdout
    assert f"{len(expected):,} demo events for {CUSTOMERS} customers (seed {SEED})" in done.stderr
    assert seen == len(expected)  # the API counts exactly the events the command says it loaded


def _rows(text: str) -> dict[str, list[str]]:
    """Table rows by step name: the cells of lines drawn with box characters (or ASCII)."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line) if c.strip()]
        if len(cells) == 5 and cells[0] != "Step":
            rows[cells[0]] = cells[1:]
    return rows


def _expected(steps: list[dict], key: str) -> dict[str, list[str]]:
    return {s[key]: [f"{s['customers']:,}", percent(s["conversion_from_first"]),
                     percent(s["conversion_from_previous"]), duration(s["median_seconds_from_previous"])]
            for s in steps}


@pytest.fixture
def cli(stack, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("JOURNEYLINE_API_URL", stack.api_url)
    monkeypatch.setenv("JOURNEYLINE_READ_TOKEN", READ_TOKEN)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["query", "funnel", *argv])
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return code, out, err
    return run


def test_stage_funnel_table_is_the_apis(demo, api, cli):
    code, out, _ = cli(*RANGE)
    assert code == 0
    response = api.get("/v1/funnels/stages", params=API_RANGE)
    assert response.status_code == 200
    stages = response.json()["stages"]
    assert stages[0]["customers"] == CUSTOMERS  # every demo customer starts with awareness
    assert _rows(out) == _expected(stages, "stage")
    assert "Stage funnel, step 1 in [2012-01-01T00:00:00Z, 2012-07-01T00:00:00Z), window 90d 0h 0m" in out

    code, out, _ = cli(*RANGE, "--channel", "web")
    web = api.get("/v1/funnels/stages", params={**API_RANGE, "channel": "web"}).json()["stages"]
    assert code == 0 and _rows(out) == _expected(web, "stage") and web != stages


def test_custom_funnel_table_is_the_apis(demo, api, cli):
    steps = ["--step", "stage=awareness", "--step", "stage=purchase,name=Bought"]
    body = {**API_RANGE, "steps": [{"stage": "awareness"}, {"stage": "purchase", "name": "Bought"}]}
    for order in ("ordered", "strict"):
        code, out, _ = cli(*RANGE, *steps, "--order", order)
        assert code == 0 and f"Funnel ({order})" in out
        response = api.post("/v1/funnels", json={**body, "order": order})
        assert response.status_code == 200, response.text
        expected = response.json()["steps"]
        assert [s["name"] for s in expected] == ["stage=awareness", "Bought"]
        assert _rows(out) == _expected(expected, "name")
        if order == "ordered":
            assert 0 < expected[1]["customers"] < expected[0]["customers"]


def test_json_output(demo, api, cli):
    import json

    code, out, _ = cli(*RANGE, "--json")
    assert code == 0 and json.loads(out) == api.get("/v1/funnels/stages", params=API_RANGE).json()


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["--token", "not-a-token"], 1, "refused the read token (401"),
    (["--api-url", "http://127.0.0.1:9"], 1, "cannot reach the API at http://127.0.0.1:9"),
    (["--window", "400d"], 2, "(422): window_seconds:"),
    (["--step", "stage=nowhere", "--step", "stage=use"], 2, "(422): steps.0.stage:"),
    (["--step", "stage=use"], 2, "at least two --step"),
    (["--step", "colour=red", "--step", "stage=use"], 2, "unknown key 'colour'"),
    (["--start", "soon"], 2, "--start: 'soon' is not a date"),
    (["--start", "2012-02-01", "--end", "2012-01-01"], 2, "--end must be after --start"),
    (["--window", "a week"], 2, "--window: 'a week' is not a duration"),
])
def test_errors_are_messages_with_exit_codes(stack, cli, argv, code, message):
    got, out, err = cli(*RANGE, *argv)
    assert (got, out) == (code, "")
    assert message in err and err.startswith("journeyline query funnel: ")
