"""Lifecycle: hand-written weeks (from Monday) and months, clock truncation, request
validation, and a property test against tests/api/cohort_reference.py."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.api.queries.lifecycle import LifecycleQuery, LifecycleQueryRunner
from tests.api import cohort_reference as ref
from tests.api.conftest import make_event
from tests.conftest import examples

UTC = timezone.utc
MS = timedelta(milliseconds=1)
KINDS = ("new", "returning", "resurrecting", "dormant")


def d(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def rows(series: list[dict[str, Any]]) -> list[tuple]:
    return [(datetime.fromisoformat(str(p["interval_start"])), *(p[k] for k in KINDS)) for p in series]


def lifecycle(api, inserted: list[dict[str, Any]], start: datetime, end: datetime, interval: str) -> list[tuple]:
    """The API's series as (interval_start, new, returning, resurrecting, dormant), after checking
    it against the reference (clock: now)."""
    response = api.get("/v1/lifecycle", params={"start": iso(start), "end": iso(end), "interval": interval})
    assert response.status_code == 200, response.text
    got = rows(response.json()["series"])
    assert got == rows(ref.lifecycle(inserted, start, end, interval, datetime.now(UTC)))
    return got


def test_weeks_start_on_monday(api, events):
    evs = [
        make_event("p", "awareness", d(2023, 1, 9) - MS),  # Sunday: week of 01-02
        make_event("p", "purchase", d(2023, 1, 9)),  # Monday: the next week
        make_event("p", "use", d(2023, 1, 27)),
        make_event("q", "awareness", d(2022, 12, 28)),  # week of 2022-12-26, before the range
        make_event("q", "purchase", d(2023, 1, 15, 23)),
        make_event("r", "consideration", d(2023, 1, 16)),
        make_event("s", "awareness", d(2022, 11, 5)),  # long gone: in no row
    ]
    events.insert(evs)
    events.insert(evs[:2])  # duplicate copies
    got = lifecycle(api, evs + evs[:2], d(2023, 1, 2), d(2023, 2, 6), "week")
    assert got == [
        (d(2023, 1, 2), 1, 0, 0, 1),  # p new; q dormant (active the week before)
        (d(2023, 1, 9), 0, 1, 1, 0),  # p returning; q resurrecting
        (d(2023, 1, 16), 1, 0, 0, 2),  # r new; p and q dormant
        (d(2023, 1, 23), 0, 0, 1, 1),  # p resurrecting; r dormant
        (d(2023, 1, 30), 0, 0, 0, 1),  # p dormant
    ]


def test_months_and_unaligned_range(api, events):
    evs = [
        make_event("t", "use", d(2023, 2, 1) - MS),
        make_event("t", "use", d(2023, 2, 1)),
        make_event("u", "use", d(2023, 3, 1) - MS),
        make_event("u", "use", d(2023, 3, 1)),
    ]
    events.insert(evs)
    assert lifecycle(api, evs, d(2023, 1, 15), d(2023, 3, 2), "month") == [
        (d(2023, 1, 1), 1, 0, 0, 0),
        (d(2023, 2, 1), 1, 1, 0, 0),
        (d(2023, 3, 1), 0, 1, 0, 1),
    ]
    # end on a boundary is exclusive; a tiny range still gets its whole interval
    assert lifecycle(api, evs, d(2023, 2, 1), d(2023, 3, 1), "month") == [(d(2023, 2, 1), 1, 1, 0, 0)]
    assert lifecycle(api, evs, d(2023, 2, 1) - MS, d(2023, 2, 1), "day") == [(d(2023, 1, 31), 1, 0, 0, 0)]


def test_response_shape_and_default_interval(api, events):
    evs = [make_event("v", "use", d(2023, 7, 4))]
    events.insert(evs)
    response = api.get("/v1/lifecycle", params={"start": "2023-07-01T00:00:00Z", "end": "2023-07-15T00:00:00Z"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["start"], body["end"], body["interval"]) == ("2023-07-01T00:00:00Z", "2023-07-15T00:00:00Z", "week")
    assert body["series"] == [
        {"interval_start": "2023-06-26T00:00:00Z", "new": 0, "returning": 0, "resurrecting": 0, "dormant": 0},
        {"interval_start": "2023-07-03T00:00:00Z", "new": 1, "returning": 0, "resurrecting": 0, "dormant": 0},
        {"interval_start": "2023-07-10T00:00:00Z", "new": 0, "returning": 0, "resurrecting": 0, "dormant": 1},
    ]


def test_intervals_after_now_are_left_out(chdb, events):
    evs = [make_event("w", "use", d(2023, 8, 1, 10)), make_event("w", "use", d(2023, 8, 2, 10))]
    events.insert(evs)
    query = LifecycleQuery(start=d(2023, 8, 1), end=d(2023, 8, 6), interval="day")
    now = d(2023, 8, 2)  # the 2nd has just started
    got = LifecycleQueryRunner(chdb, query, now=now).run().model_dump()["series"]
    assert rows(got) == [(d(2023, 8, 1), 1, 0, 0, 0), (d(2023, 8, 2), 0, 1, 0, 0)]
    assert rows(got) == rows(ref.lifecycle(evs, query.start, query.end, "day", now))
    assert LifecycleQueryRunner(chdb, query, now=d(2023, 7, 31)).run().series == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("interval=quarter", "interval"),
        ("interval=", "interval"),
        ("start=2019-01-01T00:00:00Z&interval=day", "interval"),  # too many intervals
        ("start=2003-01-01T00:00:00Z", "interval"),  # too many weeks, by default
        ("start=2023-01-01T00:00:00", "start"),
        ("end=2300-01-01T00:00:00Z", "end"),
        ("periods=4", "periods"),  # retention's, not lifecycle's
    ],
)
def test_invalid_query_is_422_naming_the_field(api, query, field):
    response = api.get(f"/v1/lifecycle?start=2023-01-02T00:00:00Z&end=2023-02-01T00:00:00Z&{query}")
    assert response.status_code == 422, response.text
    assert {e["loc"][-1] for e in response.json()["detail"]} == {field}


def test_openapi_documents_the_route(api):
    spec = api.get("/openapi.json").json()
    assert spec["components"]["schemas"]["LifecycleResponse"]["examples"]
    params = {p["name"] for p in spec["paths"]["/v1/lifecycle"]["get"]["parameters"]}
    assert params == {"start", "end", "interval"}


@settings(max_examples=examples(80), deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=ref.event_data(make_event), start=ref.instants(), length=ref.instants(), now=ref.instants(),
       interval=st.sampled_from(["day", "week", "month"]))
def test_matches_reference(api, chdb, events, data, start, length, now, interval):
    unique, batches = data
    events.truncate()
    for batch in batches:
        events.insert(batch)
    end = start + (length - ref.BASE) / 3 + MS  # a range of up to ~17 days, after start
    lifecycle(api, [e for batch in batches for e in batch], start, end, interval)
    query = LifecycleQuery(start=start, end=end, interval=interval)
    got = LifecycleQueryRunner(chdb, query, now=now).run().model_dump()["series"]
    assert rows(got) == rows(ref.lifecycle(unique, start, end, interval, now))
