"""Property tests: GET /v1/transitions agrees with the pure-Python reference on random data.

Few customers, stages, touchpoints and timestamps (a 0.5 s grid: many ties, also of stage and
of touchpoint at one stage), event ids in random order relative to time, exact copies inserted
again in separate inserts (unmerged), random arrival order split over inserts, data across a
monthly partition boundary, random ranges, levels, top N and channel filters.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.events import STAGES
from tests.api.conftest import make_event
from tests.api.transitions_reference import runs, transitions
from tests.conftest import examples

UTC = timezone.utc
T0 = datetime(2022, 3, 31, 23, 59, 56, tzinfo=UTC)
T0_MS = (T0 - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
STEP_MS = 500
SLOTS = 16
CUSTOMERS = ["c1", "c2", "c3", "c4", "c5"]
TOUCHPOINTS = ["t1", "t2", "t3", "t4", "t5"]
CHANNELS = ["web", "app", "pos"]


def iso(slot: int) -> str:
    return (T0 + timedelta(milliseconds=slot * STEP_MS)).isoformat()


@st.composite
def scenarios(draw):
    unique, copies = [], []
    for customer in CUSTOMERS[: draw(st.integers(1, len(CUSTOMERS)))]:
        for n in range(draw(st.integers(1, 8))):
            event = make_event(
                customer,
                STAGES[draw(st.integers(0, 3))],  # few stages: repeats and runs are common
                T0 + timedelta(milliseconds=draw(st.integers(0, SLOTS - 1)) * STEP_MS),
                touchpoint=draw(st.sampled_from(TOUCHPOINTS)),
                channel=draw(st.sampled_from(CHANNELS)),
                # random prefix: id order independent of time and arrival
                event_id=f"{draw(st.integers(0, 99)):02d}-{customer}-{n}",
            )
            unique.append(event)
            copies += [event] * draw(st.integers(0, 1))
    physical = unique + copies
    arrival = [physical[i] for i in draw(st.permutations(range(len(physical))))]
    cuts = sorted(draw(st.lists(st.integers(0, len(arrival)), max_size=3)))
    batches = [arrival[a:b] for a, b in zip([0, *cuts], [*cuts, len(arrival)], strict=True)]
    start = draw(st.integers(-1, SLOTS - 2))
    end = draw(st.integers(start + 1, SLOTS + 1))
    level = draw(st.sampled_from(["stage", "touchpoint"]))
    top = draw(st.integers(1, 6))
    channel = draw(st.sampled_from([None, None, *CHANNELS]))
    return physical, batches, start, end, level, top, channel


@settings(max_examples=examples(100), deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios())
def test_api_matches_reference(api, events, scenario):
    physical, batches, start, end, level, top, channel = scenario
    events.truncate()
    for batch in batches:
        events.insert(batch)

    params = {"start": iso(start), "end": iso(end), "level": level, "top": top}
    if channel:
        params["channel"] = channel
    response = api.get("/v1/transitions", params=params)
    assert response.status_code == 200, response.text
    got = response.json()
    assert got["level"] == level

    rows = [{**e, "occurred_ms": T0_MS + (e["occurred_at"] - T0) // timedelta(milliseconds=1)} for e in physical]
    expected = transitions(rows, T0_MS + start * STEP_MS, T0_MS + end * STEP_MS, level, top, channel)
    assert [(t["from"], t["to"], t["customers"], t["transitions"]) for t in got["transitions"]] == [
        (t["from"], t["to"], t["customers"], t["transitions"]) for t in expected
    ], (got, expected)
    for g, x in zip(got["transitions"], expected, strict=True):
        if x["median_seconds"] is None:
            assert g["median_seconds"] is None
        else:
            assert g["median_seconds"] == pytest.approx(x["median_seconds"])


@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 9)), max_size=10))
@settings(max_examples=examples(100), deadline=None, database=None)
def test_reference_runs_partition_the_path(path):
    """Runs cover the events in order, and neighbouring runs always differ."""
    collapsed = runs(path)
    expanded: list[str] = []
    i = 0
    for node, first, last in collapsed:
        assert path[i] == (node, first)
        while i < len(path) and path[i][0] == node:
            i += 1
        assert path[i - 1] == (node, last)
        expanded.append(node)
    assert i == len(path)
    assert all(a != b for a, b in pairwise(expanded))
