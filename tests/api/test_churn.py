"""Churn: hand-written window boundaries, request validation, and a property test against
tests/api/cohort_reference.py."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api import cohort_reference as ref
from tests.api.conftest import make_event
from tests.conftest import examples

UTC = timezone.utc
MS = timedelta(milliseconds=1)
START = datetime(2023, 3, 1, tzinfo=UTC)
END = datetime(2023, 4, 1, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def churn(api, inserted: list[dict[str, Any]], start: datetime, end: datetime,
          active_days: int | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"start": iso(start), "end": iso(end)}
    if active_days is not None:
        params["active_days"] = active_days
    response = api.get("/v1/metrics/churn", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    expected = ref.churn(inserted, start, end, 90 if active_days is None else active_days)
    assert {k: body[k] for k in expected} == pytest.approx(expected)
    return body


def test_window_is_open_before_and_closed_at_the_moment(api, events):
    days = timedelta(days=10)
    evs = [
        make_event("on-start", "use", START),  # (start - 10d, start]: the end is in
        make_event("just-in", "use", START - days + MS),
        make_event("just-out", "use", START - days),  # the start is out
        make_event("after-start", "use", START + MS),  # active at neither moment
        make_event("both", "awareness", START - timedelta(days=1)),
        make_event("both", "advocacy", END),
        make_event("new", "purchase", END - days + MS),
        make_event("late", "purchase", END + MS),
    ]
    events.insert(evs)
    events.insert(evs[:2])  # duplicate copies
    body = churn(api, evs, START, END, active_days=10)
    assert {k: body[k] for k in ("customers_at_start", "customers_at_end", "churned")} == {
        "customers_at_start": 3, "customers_at_end": 2, "churned": 2}
    assert body["churn_rate"] == pytest.approx(2 / 3)
    assert body["net_change_rate"] == pytest.approx(1 / 3)
    assert (body["start"], body["end"], body["active_days"]) == (iso(START), iso(END), 10)


def test_growth_gives_negative_net_change_and_default_window(api, events):
    evs = [make_event("old", "use", START - timedelta(days=89)), make_event("old", "use", END - timedelta(days=5)),
           *(make_event(f"n{i}", "use", END - timedelta(days=i)) for i in range(3))]
    events.insert(evs)
    body = churn(api, evs, START, END)
    assert body["active_days"] == 90
    assert (body["customers_at_start"], body["customers_at_end"], body["churned"]) == (1, 4, 0)
    assert body["net_change_rate"] == pytest.approx(-3.0)
    assert body["churn_rate"] == 0.0


def test_nobody_active_at_start_gives_zero_rates(api, events):
    evs = [make_event("x", "use", END)]
    events.insert(evs)
    body = churn(api, evs, START, END, active_days=1)
    assert (body["customers_at_start"], body["customers_at_end"], body["churn_rate"], body["net_change_rate"]) == (
        0, 1, 0.0, 0.0)


def test_sub_millisecond_moments(api, events):
    evs = [make_event("y", "use", START)]
    events.insert(evs)
    # moments 0.5 ms off the event's millisecond: the window (T - 1 day, T] is exact to the microsecond
    start = START + timedelta(microseconds=500)
    body = churn(api, evs, start, start + timedelta(days=1), active_days=1)
    assert (body["customers_at_start"], body["customers_at_end"]) == (1, 0)
    body = churn(api, evs, start, start + timedelta(days=1) - MS, active_days=1)
    assert (body["customers_at_start"], body["customers_at_end"]) == (1, 1)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("active_days=0", "active_days"),
        ("active_days=3651", "active_days"),
        ("active_days=1.5", "active_days"),
        ("active=30", "active"),  # unknown parameter
        ("start=2023-05-01T00:00:00Z", "end"),  # after end
        ("start=1800-01-01T00:00:00Z", "start"),
        ("start=2023-03-01", "start"),
    ],
)
def test_invalid_query_is_422_naming_the_field(api, query, field):
    response = api.get(f"/v1/metrics/churn?start=2023-03-01T00:00:00Z&end=2023-04-01T00:00:00Z&{query}")
    assert response.status_code == 422, response.text
    assert {e["loc"][-1] for e in response.json()["detail"]} == {field}


def test_openapi_documents_the_route(api):
    spec = api.get("/openapi.json").json()
    assert spec["components"]["schemas"]["ChurnResponse"]["examples"]
    params = {p["name"] for p in spec["paths"]["/v1/metrics/churn"]["get"]["parameters"]}
    assert params == {"start", "end", "active_days"}


@settings(max_examples=examples(60), deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=ref.event_data(make_event), start=ref.instants(), gap_ms=st.integers(1, 20 * 86_400_000),
       active_days=st.integers(1, 20))
def test_matches_reference(api, events, data, start, gap_ms, active_days):
    _, batches = data
    events.truncate()
    for batch in batches:
        events.insert(batch)
    churn(api, [e for batch in batches for e in batch], start, start + timedelta(milliseconds=gap_ms), active_days)
