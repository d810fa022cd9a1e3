"""Visits per UTC hour and ISO weekday: hand-worked cases (offsets, zeros, duplicates, filters,
range ends), validation, and a property test against tests/api/experience_reference.py."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api import experience_reference as ref
from tests.api.conftest import make_event
from tests.conftest import examples

UTC = timezone.utc
WEEK = {"start": "2016-02-29T00:00:00Z", "end": "2016-03-07T00:00:00Z"}  # Monday to Monday


def d(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def visits(api, **params) -> list[dict]:
    response = api.get("/v1/metrics/visits", params={**WEEK, **params})
    assert response.status_code == 200, response.text
    return response.json()["buckets"]


def nonzero(buckets: list[dict]) -> dict[int, tuple[int, int]]:
    return {b["bucket"]: (b["events"], b["customers"]) for b in buckets if b["events"] or b["customers"]}


EVENTS = [
    make_event("a", "purchase", d(2016, 2, 29, 8, 0), touchpoint="till"),  # Monday 08
    make_event("a", "use", d(2016, 2, 29, 8, 59, 59), touchpoint="counter"),  # Monday 08
    make_event("b", "purchase", "2016-03-01T09:30:00+01:00", touchpoint="till"),  # Tuesday 08:30 UTC
    make_event("b", "purchase", "2016-03-06T23:30:00-02:00", touchpoint="till"),  # Monday 01:30 UTC: outside
    make_event("c", "purchase", d(2016, 3, 6, 23, 59, 59), touchpoint="till"),  # Sunday 23
    make_event("c", "awareness", d(2016, 2, 28, 23, 59, 59), touchpoint="ad"),  # before start
]


def test_hours_are_utc_and_all_listed(api, events):
    events.insert(EVENTS)
    events.insert(EVENTS[:1])  # a duplicate copy
    buckets = visits(api)
    assert [b["bucket"] for b in buckets] == list(range(24))
    assert nonzero(buckets) == {8: (3, 2), 23: (1, 1)}
    assert buckets == ref.visits(EVENTS, d(2016, 2, 29), d(2016, 3, 7))


def test_weekdays_are_iso_monday_first(api, events):
    events.insert(EVENTS)
    body = api.get("/v1/metrics/visits", params={**WEEK, "group_by": "weekday"}).json()
    assert [b["bucket"] for b in body["buckets"]] == [1, 2, 3, 4, 5, 6, 7]
    assert nonzero(body["buckets"]) == {1: (2, 1), 2: (1, 1), 7: (1, 1)}
    assert body["group_by"] == "weekday" and body["stage"] == "any" and body["touchpoint"] is None


def test_touchpoint_and_stage_filters(api, events):
    events.insert(EVENTS)
    assert nonzero(visits(api, touchpoint="till")) == {8: (2, 2), 23: (1, 1)}
    assert nonzero(visits(api, touchpoint="till", stage="purchase", group_by="weekday")) == {
        1: (1, 1), 2: (1, 1), 7: (1, 1)}
    assert nonzero(visits(api, stage="use")) == {8: (1, 1)}
    assert nonzero(visits(api, touchpoint="nowhere")) == {}


@pytest.mark.parametrize(("params", "field"), [
    ({"group_by": "minute"}, "group_by"),
    ({"stage": "shopping"}, "stage"),
    ({"touchpoint": ""}, "touchpoint"),
    ({"start": "yesterday"}, "start"),
    ({"end": "2016-02-28T00:00:00Z"}, "end"),
])
def test_bad_parameters_are_422_naming_the_field(api, params, field):
    response = api.get("/v1/metrics/visits", params={**WEEK, **params})
    assert response.status_code == 422, response.text
    assert any(field in e["loc"] for e in response.json()["detail"]), response.text


@settings(max_examples=examples(30), deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=ref.event_data(make_event), time_range=ref.ranges(), group_by=st.sampled_from(["hour", "weekday"]),
       touchpoint=st.sampled_from([None, *ref.TOUCHPOINTS]), stage=st.sampled_from(["any", "purchase", "use"]))
def test_matches_reference(api, events, data, time_range, group_by, touchpoint, stage):
    unique, batches = data
    start, end = time_range
    events.truncate()
    for batch in batches:
        events.insert(batch)
    params = {"start": ref.iso(start), "end": ref.iso(end), "group_by": group_by, "stage": stage}
    if touchpoint:
        params["touchpoint"] = touchpoint
    assert visits(api, **params) == ref.visits(unique, start, end, group_by, touchpoint, stage)
