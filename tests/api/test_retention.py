"""Cohort retention: hand-written cases (weeks from Monday, month boundaries, first-ever
cohort event, clock truncation), request validation, and a property test against
tests/api/cohort_reference.py."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.api.queries.retention import RetentionQuery, RetentionQueryRunner
from tests.api import cohort_reference as ref
from tests.api.conftest import make_event
from tests.conftest import examples

UTC = timezone.utc
MS = timedelta(milliseconds=1)


def d(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def retention(api, inserted: list[dict[str, Any]], **params: Any) -> list[dict[str, Any]]:
    """The API's cohorts, after checking them against the reference (clock: now)."""
    query = {k: iso(v) if isinstance(v, datetime) else v for k, v in params.items()}
    response = api.get("/v1/retention", params=query)
    assert response.status_code == 200, response.text
    body = response.json()
    q = RetentionQuery.model_validate(params)
    expected = ref.retention(inserted, q.start, q.end, q.interval.value, q.periods, q.cohort_stage.value,
                             q.return_stage.value, datetime.now(UTC), q.channel and q.channel.value)
    assert_same(body["cohorts"], expected)
    return body["cohorts"]


def assert_same(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert [(datetime.fromisoformat(c["cohort_start"]), c["customers"], c["retained"]) for c in got] == [
        (x["cohort_start"], x["customers"], x["retained"]) for x in expected], (got, expected)
    for c in got:
        n = c["customers"]
        assert c["retention_rate"] == pytest.approx([r / n if n else 0.0 for r in c["retained"]])


def summary(cohorts: list[dict[str, Any]]) -> list[tuple[str, int, list[int]]]:
    return [(c["cohort_start"], c["customers"], c["retained"]) for c in cohorts]


def test_weeks_start_on_monday_and_cohort_is_first_ever_purchase(api, events):
    evs = [
        # a: first purchase on Sunday's last millisecond: week of Monday 01-02
        make_event("a", "purchase", d(2023, 1, 9) - MS),
        make_event("a", "purchase", d(2023, 1, 9)),  # Monday: next week, period 1
        make_event("a", "purchase", d(2023, 1, 23, 12)),  # period 3
        # b: first purchase Monday 00:00; the Sunday after is still its cohort week
        make_event("b", "purchase", d(2023, 1, 9)),
        make_event("b", "purchase", d(2023, 1, 16) - MS),
        make_event("b", "purchase", d(2023, 1, 16)),
        make_event("b", "awareness", d(2023, 1, 23)),  # not a purchase: not a return
        make_event("c", "awareness", d(2023, 1, 3)),  # never purchased: in no purchase cohort
        # d: first purchase before the range, so not new in it
        make_event("d", "purchase", d(2022, 12, 20)),
        make_event("d", "purchase", d(2023, 1, 4)),
    ]
    events.insert(evs)
    events.insert(evs[:3])  # duplicate copies, another part
    params = {"start": d(2023, 1, 2), "end": d(2023, 1, 16), "interval": "week", "periods": 4}
    assert summary(retention(api, evs + evs[:3], **params)) == [
        ("2023-01-02T00:00:00Z", 1, [1, 1, 0, 1]),
        ("2023-01-09T00:00:00Z", 1, [1, 1, 0, 0]),
    ]
    # any stage: c joins the first week, b's awareness is a return; d still started in 2022
    assert summary(retention(api, evs, cohort_stage="any", return_stage="any", **params)) == [
        ("2023-01-02T00:00:00Z", 2, [2, 1, 0, 1]),
        ("2023-01-09T00:00:00Z", 1, [1, 1, 1, 0]),
    ]
    # awareness cohorts: c, and b only from 01-23 (outside the range)
    assert summary(retention(api, evs, cohort_stage="awareness", **params)) == [
        ("2023-01-02T00:00:00Z", 1, [1, 0, 0, 0]),
        ("2023-01-09T00:00:00Z", 0, [0, 0, 0, 0]),
    ]


def test_months_and_unaligned_range_widened_to_whole_intervals(api, events):
    evs = [
        make_event("e", "purchase", d(2023, 2, 1) - MS),  # January's last millisecond
        make_event("e", "purchase", d(2023, 2, 1)),
        make_event("e", "purchase", d(2023, 3, 31, 23, 59, 59)),
        make_event("f", "purchase", d(2023, 3, 1) - MS),  # February (28 days)
        make_event("f", "purchase", d(2023, 3, 1)),
        make_event("g", "purchase", d(2023, 1, 3)),  # before start, but in the widened January
    ]
    events.insert(evs)
    cohorts = retention(api, evs, start=d(2023, 1, 15), end=d(2023, 2, 15), interval="month", periods=3)
    assert summary(cohorts) == [
        ("2023-01-01T00:00:00Z", 2, [2, 1, 1]),
        ("2023-02-01T00:00:00Z", 1, [1, 1, 0]),
    ]
    assert cohorts[0]["retention_rate"] == [1.0, 0.5, 0.5]
    # end exactly on a boundary is exclusive: February is not a cohort
    cohorts = retention(api, evs, start=d(2023, 1, 1), end=d(2023, 2, 1), interval="month", periods=1)
    assert summary(cohorts) == [("2023-01-01T00:00:00Z", 2, [2])]


def test_days_and_response_echo(api, events):
    evs = [make_event("h", "purchase", d(2023, 5, 1, 23)), make_event("h", "purchase", d(2023, 5, 3, 1))]
    events.insert(evs)
    response = api.get("/v1/retention", params={"start": "2023-05-01T00:00:00+02:00", "end": "2023-05-02T00:00:00Z",
                                                "interval": "day", "periods": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert {k: body[k] for k in ("start", "end", "interval", "periods", "cohort_stage", "return_stage")} == {
        "start": "2023-04-30T22:00:00Z", "end": "2023-05-02T00:00:00Z", "interval": "day", "periods": 3,
        "cohort_stage": "purchase", "return_stage": "purchase"}
    assert summary(body["cohorts"]) == [("2023-04-30T00:00:00Z", 0, [0, 0, 0]),
                                        ("2023-05-01T00:00:00Z", 1, [1, 0, 1])]
    assert body["cohorts"][0]["retention_rate"] == [0.0, 0.0, 0.0]


def test_channel_filter_reads_only_that_channel(api, events):
    evs = [
        make_event("a", "purchase", d(2023, 1, 2), channel="web"),
        make_event("a", "purchase", d(2023, 1, 9), channel="app"),  # a's first app purchase: cohort 01-09
        make_event("a", "purchase", d(2023, 1, 16), channel="app"),
        make_event("b", "purchase", d(2023, 1, 3), channel="app"),
    ]
    events.insert(evs)
    window = {"start": d(2023, 1, 2), "end": d(2023, 1, 16), "interval": "week", "periods": 3}
    assert summary(retention(api, evs, **window)) == [("2023-01-02T00:00:00Z", 2, [2, 1, 1]),
                                                      ("2023-01-09T00:00:00Z", 0, [0, 0, 0])]
    assert summary(retention(api, evs, **window, channel="app")) == [("2023-01-02T00:00:00Z", 1, [1, 0, 0]),
                                                                     ("2023-01-09T00:00:00Z", 1, [1, 1, 0])]


def test_intervals_after_now_are_left_out(chdb, events):
    evs = [make_event("i", "purchase", d(2023, 6, 1, 9)), make_event("i", "purchase", d(2023, 6, 2, 9)),
           make_event("j", "purchase", d(2023, 6, 2, 10)), make_event("i", "purchase", d(2023, 6, 3, 9))]
    events.insert(evs)
    query = RetentionQuery(start=d(2023, 6, 1), end=d(2023, 6, 5), interval="day", periods=5)
    now = d(2023, 6, 2, 9, 30)  # the 2nd has started (j's event is "future" data), the 3rd not
    body = RetentionQueryRunner(chdb, query, now=now).run()
    assert [(c.cohort_start, c.customers, c.retained) for c in body.cohorts] == [
        (d(2023, 6, 1), 1, [1, 1]), (d(2023, 6, 2), 1, [1])]
    assert body.cohorts[0].retained == ref.retention(evs, query.start, query.end, "day", 5, "purchase", "purchase",
                                                     now)[0]["retained"]
    assert RetentionQueryRunner(chdb, query, now=d(2023, 5, 31, 23)).run().cohorts == []
    later = RetentionQueryRunner(chdb, query, now=d(2024, 1, 1)).run()
    assert [c.retained for c in later.cohorts] == [[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [0] * 5, [0] * 5]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("interval=year", "interval"),
        ("periods=0", "periods"),
        ("periods=53", "periods"),
        ("periods=two", "periods"),
        ("cohort_stage=buying", "cohort_stage"),
        ("return_stage=", "return_stage"),
        ("cohort=purchase", "cohort"),  # unknown parameter
    ],
)
def test_invalid_query_is_422_naming_the_field(api, query, field):
    response = api.get(f"/v1/retention?start=2023-01-02T00:00:00Z&end=2023-02-01T00:00:00Z&{query}")
    assert response.status_code == 422, response.text
    assert {e["loc"][-1] for e in response.json()["detail"]} == {field}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("start=2020-01-01T00:00:00Z&end=2023-01-01T00:00:00Z&interval=day", "interval"),  # 1096 days
        ("start=1899-12-31T00:00:00Z&end=1900-02-01T00:00:00Z", "start"),
        ("start=2299-01-01T00:00:00Z&end=9999-01-01T00:00:00Z&interval=month", "end"),
        ("start=2023-02-01T00:00:00Z&end=2023-01-01T00:00:00Z", "end"),
        ("end=2023-01-01T00:00:00Z", "start"),
    ],
)
def test_out_of_range_times_are_422(api, query, field):
    response = api.get(f"/v1/retention?{query}")
    assert response.status_code == 422, response.text
    assert {e["loc"][-1] for e in response.json()["detail"]} == {field}


def test_limits_are_accepted(api, events):
    ok = api.get("/v1/retention?start=2020-01-01T00:00:00Z&end=2022-09-27T00:00:00Z&interval=day&periods=52")
    assert ok.status_code == 200, ok.text
    assert len(ok.json()["cohorts"]) == 1000


def test_openapi_documents_the_route(api):
    spec = api.get("/openapi.json").json()
    assert spec["components"]["schemas"]["RetentionResponse"]["examples"]
    params = {p["name"] for p in spec["paths"]["/v1/retention"]["get"]["parameters"]}
    assert params == {"start", "end", "interval", "periods", "cohort_stage", "return_stage", "channel"}


STAGE_FILTERS = st.sampled_from([None, "any", "purchase", "awareness", "use"])


@settings(max_examples=examples(80), deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=ref.event_data(make_event), start=ref.instants(), length=ref.instants(), now=ref.instants(),
       interval=st.sampled_from(["day", "week", "month"]), periods=st.integers(1, 6),
       cohort_stage=STAGE_FILTERS, return_stage=STAGE_FILTERS, channel=st.sampled_from([None, "app"]))
def test_matches_reference(api, chdb, events, data, start, length, now, interval, periods, cohort_stage,
                           return_stage, channel):
    unique, batches = data
    events.truncate()
    for batch in batches:
        events.insert(batch)
    end = start + (length - ref.BASE) / 3 + MS  # a range of up to ~17 days, after start
    params: dict[str, Any] = {"start": start, "end": end, "interval": interval, "periods": periods}
    if cohort_stage:
        params["cohort_stage"] = cohort_stage
    if return_stage:
        params["return_stage"] = return_stage
    if channel:
        params["channel"] = channel
    physical = [e for batch in batches for e in batch]
    retention(api, physical, **params)  # clock: now, after all the data
    # a clock inside the data: later intervals are left out
    q = RetentionQuery.model_validate(params)
    got = RetentionQueryRunner(chdb, q, now=now).run().model_dump(mode="json")["cohorts"]
    assert_same(got, ref.retention(unique, q.start, q.end, interval, periods, q.cohort_stage.value,
                                   q.return_stage.value, now, channel))
