"""Property tests: the stage funnel API agrees with the pure-Python reference on random data.

Few customers, few distinct timestamps (so many ties, also across stages), event_ids repeated
(exact copies inserted again, in separate inserts so they stay unmerged), random arrival order
split over several inserts, random windows, ranges and channel filters.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.events import STAGES
from tests.api.conftest import make_event
from tests.api.reference import brute_force_level, deepest_path
from tests.api.reference import stage_funnel as reference_funnel
from tests.conftest import examples

UTC = timezone.utc
T0 = datetime(2026, 11, 30, 23, 59, 58, tzinfo=UTC)  # data crosses a monthly partition boundary
T0_MS = (T0 - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
STEP_MS = 500  # timestamps on a 0.5 s grid, windows whole seconds: many exact-boundary cases
CHANNELS = ["web", "app", "pos"]

CUSTOMERS = ["c1", "c2", "c3", "c4"]
early_stage = st.sampled_from([0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 4, 5])  # deep steps need early ones
channel_of = st.sampled_from(["web", "web", "web", "web", "web", "app", "pos"])


@st.composite
def customer_events(draw, first_slot):
    """(stage index, time slot, channel, extra copies): a progressing chain plus noise events."""
    out = []
    for chain in range(draw(st.integers(1, 2))):  # a second chain: a repeat journey, later or overlapping
        slot = first_slot + draw(st.integers(0, 6)) * chain
        for stage in range(draw(st.sampled_from([6, 5, 4, 3, 2, 1, 0]))):  # stages 0..L-1, in order
            out.append((stage, slot, draw(channel_of), draw(st.integers(0, 1))))
            slot += draw(st.integers(0, 3))  # +0: a tie
    noise = st.tuples(early_stage, st.integers(0, 20), channel_of, st.integers(0, 1))
    out += draw(st.lists(noise, max_size=5))
    return out


@st.composite
def scenarios(draw):
    start_slot = draw(st.integers(0, 8))
    end_slot = draw(st.integers(start_slot + 1, start_slot + 10))
    window_seconds = draw(st.integers(1, 6))
    channel = draw(st.sampled_from([None, None, *CHANNELS]))
    events, copies = [], []
    for customer in CUSTOMERS[: draw(st.integers(1, len(CUSTOMERS)))]:
        # chains start a little before, inside or after the range
        for stage, slot, chan, extra in draw(customer_events(draw(st.integers(start_slot - 2, end_slot + 1)))):
            e = make_event(customer, STAGES[stage], T0 + timedelta(milliseconds=slot * STEP_MS), channel=chan)
            events.append(e)
            copies += [e] * extra
    physical = events + copies
    order = draw(st.permutations(range(len(physical)))) if physical else []
    arrival = [physical[i] for i in order]
    cuts = sorted(draw(st.lists(st.integers(0, len(arrival)), max_size=3)))
    batches = [arrival[a:b] for a, b in zip([0, *cuts], [*cuts, len(arrival)], strict=True)]
    return events, physical, batches, start_slot, end_slot, window_seconds, channel


@settings(max_examples=examples(120), deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios())
def test_api_matches_reference(api, events, scenario):
    unique, physical, batches, start_slot, end_slot, window_seconds, channel = scenario
    events.truncate()
    for batch in batches:
        events.insert(batch)

    start_ms = T0_MS + start_slot * STEP_MS
    end_ms = T0_MS + end_slot * STEP_MS
    params = {
        "start": (T0 + timedelta(milliseconds=start_slot * STEP_MS)).isoformat(),
        "end": (T0 + timedelta(milliseconds=end_slot * STEP_MS)).isoformat(),
        "window_seconds": window_seconds,
    }
    if channel:
        params["channel"] = channel
    response = api.get("/v1/funnels/stages", params=params)
    assert response.status_code == 200, response.text

    rows = [{**e, "occurred_ms": T0_MS + (e["occurred_at"] - T0) // timedelta(milliseconds=1)} for e in physical]
    expected = reference_funnel(rows, start_ms, end_ms, window_seconds * 1000, channel)
    got = response.json()["stages"]
    for g, x in zip(got, expected, strict=True):
        assert g["customers"] == x["customers"], (got, expected)
        assert g["conversion_from_first"] == pytest.approx(x["conversion_from_first"])
        assert g["conversion_from_previous"] == pytest.approx(x["conversion_from_previous"])
        if x["median_seconds_from_previous"] is None:
            assert g["median_seconds_from_previous"] is None, (got, expected)
        else:
            assert g["median_seconds_from_previous"] == pytest.approx(x["median_seconds_from_previous"]), (
                got, expected)


@settings(max_examples=examples(300), deadline=None, database=None)
@given(
    evs=st.lists(st.tuples(st.integers(0, 12), st.integers(0, 5)), max_size=12),
    start=st.integers(-1, 10),
    span=st.integers(1, 10),
    window=st.integers(0, 8),
)
def test_reference_greedy_chain_is_as_deep_as_any_chain(evs, start, span, window):
    """The reference's greedy chain reaches exactly the depth of an exhaustive search."""
    assert len(deepest_path(evs, start, start + span, window)) == brute_force_level(evs, start, start + span, window)
