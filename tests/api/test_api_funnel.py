"""Stage funnel: hand-written cases, each also checked against the reference implementation."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from schemas.events import STAGES
from tests.api.conftest import make_event
from tests.api.reference import stage_funnel as reference_funnel

UTC = timezone.utc
# A minute before a month boundary: test data spans two monthly partitions.
T0 = datetime(2026, 11, 30, 23, 59, 0, tzinfo=UTC)
A, C, P, U, R, ADV = STAGES


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def ms(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def funnel(api, start: datetime, end: datetime, window: int | None = None, channel: str | None = None,
           inserted: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"start": iso(start), "end": iso(end)}
    if window is not None:
        params["window_seconds"] = window
    if channel is not None:
        params["channel"] = channel
    response = api.get("/v1/funnels/stages", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    if inserted is not None:  # the reference must agree with every hand-written expectation
        expected = reference_funnel(
            [{**e, "occurred_ms": ms(e["occurred_at"])} for e in inserted],
            ms(start), ms(end), (window or 30 * 86400) * 1000, channel,
        )
        assert body["stages"] == expected
    return body


def customers(body: dict[str, Any]) -> list[int]:
    return [s["customers"] for s in body["stages"]]


def test_answer_shape_and_echo(api, events):
    evs = [make_event("c1", A, at(0)), make_event("c1", C, at(60))]
    events.insert(evs)
    body = funnel(api, at(-10), at(10), window=3600, inserted=evs)
    assert body["start"] == iso(at(-10))
    assert body["end"] == iso(at(10))
    assert body["window_seconds"] == 3600
    assert body["channel"] is None
    assert [s["stage"] for s in body["stages"]] == list(STAGES)
    assert body["stages"][0] == {
        "stage": A, "customers": 1, "conversion_from_first": 1.0, "conversion_from_previous": 1.0,
        "median_seconds_from_previous": None,
    }
    assert body["stages"][1] == {
        "stage": C, "customers": 1, "conversion_from_first": 1.0, "conversion_from_previous": 1.0,
        "median_seconds_from_previous": 60.0,
    }
    assert body["stages"][2] == {
        "stage": P, "customers": 0, "conversion_from_first": 0.0, "conversion_from_previous": 0.0,
        "median_seconds_from_previous": None,
    }


def test_start_end_echoed_in_utc(api, events):
    response = api.get("/v1/funnels/stages", params={"start": "2026-12-01T02:00:00+02:00",
                                                     "end": "2026-12-01T03:30:00.250+02:00"})
    assert response.status_code == 200, response.text
    assert response.json()["start"] == "2026-12-01T00:00:00Z"
    assert response.json()["end"] == "2026-12-01T01:30:00.250000Z"
    assert response.json()["window_seconds"] == 30 * 86400


def test_nobody_entered(api, events):
    evs = [make_event("c1", C, at(0))]  # no awareness: never enters
    events.insert(evs)
    body = funnel(api, at(-10), at(10), inserted=evs)
    assert customers(body) == [0] * 6
    for step in body["stages"]:
        assert step["conversion_from_first"] == 0.0
        assert step["conversion_from_previous"] == 0.0
        assert step["median_seconds_from_previous"] is None


def test_full_funnel_conversions_and_medians(api, events):
    evs = []
    # c1 goes all the way, 10 s per step; c2 reaches purchase (20 s, 40 s); c3 only awareness.
    for i, stage in enumerate(STAGES):
        evs.append(make_event("c1", stage, at(10 * i)))
    evs += [make_event("c2", A, at(1)), make_event("c2", C, at(21)), make_event("c2", P, at(61))]
    evs += [make_event("c3", A, at(2))]
    events.insert(evs)
    body = funnel(api, at(0), at(5), window=3600, inserted=evs)
    assert customers(body) == [3, 2, 2, 1, 1, 1]
    assert [s["conversion_from_first"] for s in body["stages"]] == [1.0, 2 / 3, 2 / 3, 1 / 3, 1 / 3, 1 / 3]
    assert [s["conversion_from_previous"] for s in body["stages"]] == [1.0, 2 / 3, 1.0, 0.5, 1.0, 1.0]
    # median of (10, 20) = 15 and of (10, 40) = 25; one customer after that.
    assert [s["median_seconds_from_previous"] for s in body["stages"]] == [None, 15.0, 25.0, 10.0, 10.0, 10.0]


@pytest.mark.parametrize("first", ["awareness first", "consideration first"])
def test_equal_timestamps_fill_consecutive_steps_in_either_order(api, events, first):
    a, c = make_event("c1", A, at(0)), make_event("c1", C, at(0))
    p = make_event("c1", P, at(0))
    evs = [a, c, p] if first == "awareness first" else [p, c, a]
    for e in evs:  # one insert each: arrival order is the order of the list
        events.insert([e])
    body = funnel(api, at(-1), at(1), window=1, inserted=evs)
    assert customers(body) == [1, 1, 1, 0, 0, 0]
    assert [s["median_seconds_from_previous"] for s in body["stages"]][:3] == [None, 0.0, 0.0]


def test_earlier_later_stage_does_not_count(api, events):
    evs = [make_event("c1", C, at(0)), make_event("c1", A, at(0.001))]
    events.insert(evs)
    assert customers(funnel(api, at(-1), at(1), inserted=evs)) == [1, 0, 0, 0, 0, 0]


def test_window_boundary_is_inclusive(api, events):
    evs = [
        make_event("exact", A, at(0)), make_event("exact", C, at(100)),
        make_event("over", A, at(0)), make_event("over", C, at(100.001)),
    ]
    events.insert(evs)
    body = funnel(api, at(0), at(1), window=100, inserted=evs)
    assert customers(body) == [2, 1, 0, 0, 0, 0]
    assert body["stages"][1]["median_seconds_from_previous"] == 100.0


def test_window_counts_from_step_one_not_previous_step(api, events):
    evs = [make_event("c1", A, at(0)), make_event("c1", C, at(50)), make_event("c1", P, at(101))]
    events.insert(evs)
    assert customers(funnel(api, at(0), at(1), window=100, inserted=evs)) == [1, 1, 0, 0, 0, 0]


def test_step_one_must_be_in_range_later_steps_need_not(api, events):
    evs = [
        # awareness before start: out, even with consideration inside the range
        make_event("before", A, at(-0.001)), make_event("before", C, at(5)),
        # awareness exactly at start: in; consideration after end but within window: counts
        make_event("at_start", A, at(0)), make_event("at_start", C, at(30)),
        # awareness exactly at end: out (end is exclusive)
        make_event("at_end", A, at(10)), make_event("at_end", C, at(11)),
    ]
    events.insert(evs)
    body = funnel(api, at(0), at(10), window=60, inserted=evs)
    assert customers(body) == [1, 1, 0, 0, 0, 0]
    assert body["stages"][1]["median_seconds_from_previous"] == 30.0


def test_sub_millisecond_range_bounds(api, events):
    evs = [make_event("c1", A, at(0)), make_event("c2", A, at(1))]
    events.insert(evs)
    # start 0.5 ms after c1's event: c1 out; end 0.5 ms after c2's event: c2 in
    params = {"start": iso(at(0.0005)), "end": iso(at(1.0005))}
    assert params["start"].endswith(".000500Z")
    body = api.get("/v1/funnels/stages", params=params).json()
    assert customers(body) == [1, 0, 0, 0, 0, 0]


def test_duplicate_copies_count_once(api, events):
    evs = [make_event("c1", A, at(0)), make_event("c1", C, at(5)), make_event("c2", A, at(1))]
    events.insert(evs)
    events.insert(evs)  # a redelivered batch: same event_ids, separate part until merged
    events.insert([evs[1]])
    assert events.client.command("SELECT count() FROM events") == 7
    body = funnel(api, at(0), at(10), inserted=evs + evs + [evs[1]])
    assert customers(body) == [2, 1, 0, 0, 0, 0]
    assert body["stages"][1]["median_seconds_from_previous"] == 5.0


def test_channel_filter(api, events):
    evs = [
        make_event("c1", A, at(0), channel="web"), make_event("c1", C, at(1), channel="app"),
        make_event("c1", C, at(3), channel="web"),
        make_event("c2", A, at(0), channel="app"), make_event("c2", C, at(2), channel="app"),
    ]
    events.insert(evs)
    everything = funnel(api, at(0), at(10), inserted=evs)
    assert customers(everything) == [2, 2, 0, 0, 0, 0]
    assert everything["stages"][1]["median_seconds_from_previous"] == 1.5  # (1 + 2) / 2
    web = funnel(api, at(0), at(10), channel="web", inserted=evs)
    assert web["channel"] == "web"
    assert customers(web) == [1, 1, 0, 0, 0, 0]
    assert web["stages"][1]["median_seconds_from_previous"] == 3.0
    assert customers(funnel(api, at(0), at(10), channel="pos", inserted=evs)) == [0] * 6


def test_deepest_path_uses_latest_start_and_earliest_next_events(api, events):
    evs = [
        # Two awareness events both reach consideration: the path starts at the later one (t=10),
        # then takes the earliest consideration at or after it (t=20, not t=25).
        make_event("c1", A, at(0)), make_event("c1", A, at(10)),
        make_event("c1", C, at(20)), make_event("c1", C, at(25)),
        # c2: the later awareness (t=50) cannot reach purchase within the window; the earlier
        # (t=0) can, so the deepest path starts at t=0.
        make_event("c2", A, at(0)), make_event("c2", C, at(40)), make_event("c2", A, at(50)),
        make_event("c2", P, at(90)),
    ]
    events.insert(evs)
    body = funnel(api, at(0), at(60), window=90, inserted=evs)
    assert customers(body) == [2, 2, 1, 0, 0, 0]
    assert body["stages"][1]["median_seconds_from_previous"] == 25.0  # median(10, 40)
    assert body["stages"][2]["median_seconds_from_previous"] == 50.0


def test_events_far_outside_the_read_range_are_ignored(api, events):
    evs = [
        make_event("c1", A, T0 - timedelta(days=400)),
        make_event("c1", A, at(0)), make_event("c1", C, at(1)),
        make_event("c1", P, T0 + timedelta(days=40)),  # beyond end + window
    ]
    events.insert(evs)
    body = funnel(api, at(0), at(10), window=30 * 86400, inserted=evs)
    assert customers(body) == [1, 1, 0, 0, 0, 0]


def test_repeat_journey_path_starts_at_the_latest_start(api, events):
    # Two journeys of one customer: the deepest path is the second (start t=10), and the
    # window counts from its start, so purchase at t=22 is in with a 12 s window.
    evs = [
        make_event("c1", A, at(0)), make_event("c1", C, at(5)),
        make_event("c1", A, at(10)), make_event("c1", C, at(12)), make_event("c1", P, at(22)),
    ]
    events.insert(evs)
    body = funnel(api, at(0), at(60), window=12, inserted=evs)
    assert customers(body) == [1, 1, 1, 0, 0, 0]
    assert [s["median_seconds_from_previous"] for s in body["stages"][:3]] == [None, 2.0, 10.0]
    body = funnel(api, at(0), at(60), window=100, inserted=evs)
    assert [s["median_seconds_from_previous"] for s in body["stages"][:3]] == [None, 2.0, 10.0]


def test_last_readable_moment_end_minus_one_ms_plus_window(api, events):
    # The latest possible step 1 (1 ms before end) and a step 2 exactly a window later: the
    # latest event the funnel can ever use, at end + window - 1 ms.
    evs = [make_event("c1", A, at(9.999)), make_event("c1", C, at(9.999 + 60))]
    events.insert(evs)
    body = funnel(api, at(0), at(10), window=60, inserted=evs)
    assert customers(body) == [1, 1, 0, 0, 0, 0]
    assert body["stages"][1]["median_seconds_from_previous"] == 60.0
