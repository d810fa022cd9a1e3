"""NPS, CSAT and CES: hand-worked cases (bands, rounding half away from zero, groups, dense
series, duplicates, responses of other kinds), request validation, and a property test against
tests/api/experience_reference.py."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api import experience_reference as ref
from tests.api.conftest import make_event
from tests.conftest import examples

UTC = timezone.utc
MS = timedelta(milliseconds=1)
RANGE = {"start": "2016-02-29T00:00:00Z", "end": "2016-03-14T00:00:00Z"}


def d(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def metric(api, name: str, **params: Any) -> dict[str, Any]:
    response = api.get(f"/v1/metrics/{name}", params={**RANGE, **params})
    assert response.status_code == 200, response.text
    return response.json()


def figures(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("start", "end", "group_by", "interval")}


def nps_event(customer: str, channel: str, occurred_at: datetime | str, score: int, **extra: Any) -> dict:
    feedback = {"nps": score, **extra.pop("feedback", {})}
    return make_event(customer, "use", occurred_at, channel=channel, touchpoint=f"{channel}_survey",
                      feedback=feedback, **extra)


def test_nps_bands_groups_and_weekly_series(api, events):
    a1 = nps_event("c1", "web", d(2016, 2, 29, 10), 10)
    evs = [
        a1,
        nps_event("c1", "app", d(2016, 3, 1), 9, feedback={"csat": 5}),
        nps_event("c2", "web", d(2016, 3, 2, 12), 7),
        nps_event("c2", "app", d(2016, 3, 7), 3),  # Monday: the second week
        nps_event("c3", "web", "2016-03-07T01:00:00+02:00", 8),  # Sunday 23:00 UTC: the first week
        make_event("c3", "use", d(2016, 3, 9), feedback={"csat": 1, "comment": "no nps"}),  # no NPS response
        nps_event("c4", "web", d(2016, 3, 14), 10),  # end is exclusive
        nps_event("c4", "web", d(2016, 2, 29) - MS, 0),  # before start
    ]
    events.insert(evs)
    events.insert([a1, a1])  # duplicate copies in another part: counted once

    body = metric(api, "nps", group_by="channel", interval="week")
    # promoters 10, 9; passives 7, 8; detractor 3: 100 * (2 - 1) / 5
    assert figures(body) == {
        "score": 20.0, "responses": 5, "promoters": 2, "passives": 2, "detractors": 1,
        "groups": [
            {"group": "web", "score": 33.3, "responses": 3, "promoters": 1, "passives": 2, "detractors": 0},
            {"group": "app", "score": 0.0, "responses": 2, "promoters": 1, "passives": 0, "detractors": 1},
        ],
        "series": [
            {"interval_start": "2016-02-29T00:00:00Z", "score": 50.0, "responses": 4, "promoters": 2,
             "passives": 2, "detractors": 0},
            {"interval_start": "2016-03-07T00:00:00Z", "score": -100.0, "responses": 1, "promoters": 0,
             "passives": 0, "detractors": 1},
        ],
    }
    physical = evs + [a1, a1]
    expected = ref.scores(physical, "nps", d(2016, 2, 29), d(2016, 3, 14), "channel", "week")
    assert figures(body) == expected
    assert body["group_by"] == "channel" and body["interval"] == "week"


def test_channel_filter_counts_only_that_channels_responses(api, events):
    events.insert([nps_event("c1", "web", d(2016, 3, 1), 10), nps_event("c2", "app", d(2016, 3, 1), 2),
                   nps_event("c3", "app", d(2016, 3, 8), 9), nps_event("c3", "pos", d(2016, 3, 8), 0)])
    body = metric(api, "nps", channel="app", interval="week", group_by="channel")
    assert (body["score"], body["responses"], body["promoters"], body["detractors"]) == (0.0, 2, 1, 1)
    assert [g["group"] for g in body["groups"]] == ["app"]
    assert [(p["responses"], p["score"]) for p in body["series"]] == [(1, -100.0), (1, 100.0)]
    assert metric(api, "nps")["responses"] == 4
    bad = api.get("/v1/metrics/csat", params={**RANGE, "channel": "fax"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "channel"]


def test_csat_top_two_box_and_mean_round_half_away_from_zero(api, events):
    scores = [5, 5, 5, 4, 4, 4, 3, 3]  # mean 33 / 8 = 4.125: 4.13 (half-even would give 4.12)
    evs = [make_event(f"c{i}", "use", d(2016, 3, 1, i), feedback={"csat": s}) for i, s in enumerate(scores)]
    evs.append(make_event("c9", "use", d(2016, 3, 1), feedback={"nps": 10}))  # no CSAT response
    events.insert(evs)
    events.insert(evs[:2])
    body = metric(api, "csat", group_by="stage")
    assert figures(body) == {
        "score": 75.0, "mean": 4.13, "responses": 8, "satisfied": 6,
        "groups": [{"group": "use", "score": 75.0, "mean": 4.13, "responses": 8, "satisfied": 6}],
        "series": [],
    }


def test_ces_mean_and_easy_share(api, events):
    # 7 = strongly agree it was easy: high is good. Mean 20 / 6 = 3.333..; easy (5-7) 2 of 6.
    evs = [make_event("c1", stage, d(2016, 3, 2, h), touchpoint=tp, feedback={"ces": s})
           for h, (stage, tp, s) in enumerate([("use", "desk", 7), ("use", "desk", 5), ("retention", "desk", 4),
                                               ("retention", "phone", 2), ("use", "phone", 1),
                                               ("use", "chat", 1)])]
    events.insert(evs)
    body = metric(api, "ces", group_by="touchpoint", interval="day", start="2016-03-02T00:00:00Z",
                  end="2016-03-04T00:00:00Z")
    assert figures(body) == {
        "score": 3.33, "easy_percent": 33.3, "responses": 6, "easy": 2,
        "groups": [
            {"group": "desk", "score": 5.33, "easy_percent": 66.7, "responses": 3, "easy": 2},
            {"group": "phone", "score": 1.5, "easy_percent": 0.0, "responses": 2, "easy": 0},
            {"group": "chat", "score": 1.0, "easy_percent": 0.0, "responses": 1, "easy": 0},
        ],
        "series": [
            {"interval_start": "2016-03-02T00:00:00Z", "score": 3.33, "easy_percent": 33.3, "responses": 6,
             "easy": 2},
            {"interval_start": "2016-03-03T00:00:00Z", "score": None, "easy_percent": None, "responses": 0,
             "easy": 0},
        ],
    }


def test_no_responses_gives_null_scores_and_a_dense_series(api, events):
    events.insert([make_event("c1", "use", d(2016, 3, 1))])  # an event without feedback
    body = metric(api, "nps", interval="month", group_by="stage", start="2016-02-15T00:00:00Z",
                  end="2016-03-02T00:00:00Z")
    empty = {"score": None, "responses": 0, "promoters": 0, "passives": 0, "detractors": 0}
    assert figures(body) == {**empty, "groups": [], "series": [
        {"interval_start": "2016-02-01T00:00:00Z", **empty}, {"interval_start": "2016-03-01T00:00:00Z", **empty}]}


@pytest.mark.parametrize(("params", "field"), [
    ({"group_by": "city"}, "group_by"),
    ({"interval": "hour"}, "interval"),
    ({"start": "2016-03-01"}, "start"),
    ({"end": "2016-02-01T00:00:00Z"}, "end"),
    ({"start": "1900-01-01T00:00:00Z", "end": "2290-01-01T00:00:00Z", "interval": "day"}, "interval"),
    ({"colour": "red"}, "colour"),
])
@pytest.mark.parametrize("name", ["nps", "csat", "ces"])
def test_bad_parameters_are_422_naming_the_field(api, name, params, field):
    response = api.get(f"/v1/metrics/{name}", params={**RANGE, **params})
    assert response.status_code == 422, response.text
    assert any(field in error["loc"] for error in response.json()["detail"]), response.text


def test_missing_range_is_422(api):
    response = api.get("/v1/metrics/nps")
    assert response.status_code == 422
    assert {tuple(e["loc"]) for e in response.json()["detail"]} == {("query", "start"), ("query", "end")}


def test_needs_the_read_token(api):
    response = api.get("/v1/metrics/csat", params=RANGE, headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401


@settings(max_examples=examples(40), deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=ref.event_data(make_event), time_range=ref.ranges(), name=st.sampled_from(["nps", "csat", "ces"]),
       group_by=st.sampled_from(["none", "channel", "touchpoint", "stage"]),
       interval=st.sampled_from(["none", "day", "week", "month"]), channel=st.sampled_from([None, "pos", "app"]))
def test_matches_reference(api, events, data, time_range, name, group_by, interval, channel):
    unique, batches = data
    start, end = time_range
    events.truncate()
    for batch in batches:
        events.insert(batch)
    only = {"channel": channel} if channel else {}
    body = metric(api, name, start=ref.iso(start), end=ref.iso(end), group_by=group_by, interval=interval, **only)
    physical = [e for batch in batches for e in batch]
    assert figures(body) == ref.scores(physical, name, start, end, group_by, interval, channel)
    assert figures(body) == ref.scores(unique, name, start, end, group_by, interval, channel)
