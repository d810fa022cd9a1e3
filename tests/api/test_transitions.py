"""GET /v1/transitions: hand-made cases with answers worked out by hand, and request validation."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.api.conftest import make_event

UTC = timezone.utc
T0 = datetime(2022, 3, 1, tzinfo=UTC)
RANGE = {"start": "2022-03-01T00:00:00Z", "end": "2022-04-01T00:00:00Z"}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def get(api, **params):
    response = api.get("/v1/transitions", params={**RANGE, **params})
    assert response.status_code == 200, response.text
    return response.json()


def table(answer) -> list[tuple]:
    return [(t["from"], t["to"], t["customers"], t["transitions"], t["median_seconds"]) for t in answer["transitions"]]


def test_runs_collapse_and_gap_is_last_of_from_run_to_first_of_to_run(api, events):
    events.insert([
        make_event("a", "awareness", at(0)),
        make_event("a", "awareness", at(60)),
        make_event("a", "consideration", at(180)),
        make_event("a", "consideration", at(200)),
        make_event("a", "awareness", at(800)),
        make_event("b", "consideration", at(5)),
        make_event("b", "purchase", at(35.5)),
    ])
    answer = get(api)
    assert answer["level"] == "stage"
    assert table(answer) == [
        ("(start)", "awareness", 1, 1, None),
        ("(start)", "consideration", 1, 1, None),
        ("awareness", "consideration", 1, 1, 120.0),  # 60 s (last awareness) -> 180 s
        ("consideration", "awareness", 1, 1, 600.0),  # 200 s -> 800 s
        ("consideration", "purchase", 1, 1, 30.5),
    ]


def test_counts_customers_and_occurrences_and_sorts_by_transitions(api, events):
    # a: aw -> co -> aw -> co (aw->co twice), b: aw -> co once, c: co only
    events.insert([
        make_event("a", "awareness", at(0)), make_event("a", "consideration", at(10)),
        make_event("a", "awareness", at(20)), make_event("a", "consideration", at(50)),
        make_event("b", "awareness", at(0)), make_event("b", "consideration", at(20)),
        make_event("c", "consideration", at(0)),
    ])
    assert table(get(api)) == [
        ("awareness", "consideration", 2, 3, 20.0),  # gaps 10, 30, 20 -> median 20
        ("(start)", "awareness", 2, 2, None),
        ("(start)", "consideration", 1, 1, None),
        ("consideration", "awareness", 1, 1, 10.0),
    ]


def test_even_count_median_is_mean_of_middle_pair(api, events):
    events.insert([
        make_event("a", "awareness", at(0)), make_event("a", "purchase", at(10)),
        make_event("b", "awareness", at(0)), make_event("b", "purchase", at(25)),
    ])
    assert table(get(api)) == [("(start)", "awareness", 2, 2, None), ("awareness", "purchase", 2, 2, 17.5)]


def test_equal_times_follow_stage_order_then_event_id(api, events):
    events.insert([
        make_event("a", "consideration", at(0), event_id="x1"),  # inserted first, sorts second
        make_event("a", "awareness", at(0), event_id="x2"),
        make_event("b", "awareness", at(0), touchpoint="zeta", event_id="b-1"),
        make_event("b", "awareness", at(0), touchpoint="alpha", event_id="b-2"),
    ])
    assert ("awareness", "consideration", 1, 1, 0.0) in table(get(api))
    touch = table(get(api, level="touchpoint"))
    assert ("zeta", "alpha", 1, 1, 0.0) in touch  # event_id b-1 before b-2, whatever the names
    assert ("(start)", "zeta", 1, 1, None) in touch


def test_duplicates_and_out_of_order_inserts_do_not_change_the_answer(api, events):
    evs = [make_event("a", "awareness", at(0)), make_event("a", "consideration", at(30)),
           make_event("a", "awareness", at(90))]
    events.insert(evs)
    once = get(api)
    events.truncate()
    events.insert([evs[2]])  # later event first
    events.insert(evs)
    events.insert([evs[0], evs[1]])  # unmerged copies in separate parts
    assert get(api) == once
    assert table(once) == [
        ("(start)", "awareness", 1, 1, None),
        ("awareness", "consideration", 1, 1, 30.0),
        ("consideration", "awareness", 1, 1, 60.0),
    ]


def test_range_is_half_open_and_channel_filters_before_collapsing(api, events):
    events.insert([
        make_event("a", "awareness", T0 - timedelta(milliseconds=1)),  # before start: ignored
        make_event("a", "consideration", at(0), channel="web"),
        make_event("a", "purchase", at(10), channel="app"),
        make_event("a", "consideration", at(20), channel="web"),
        make_event("a", "advocacy", datetime(2022, 4, 1, tzinfo=UTC)),  # at end: ignored
    ])
    assert table(get(api)) == [
        ("(start)", "consideration", 1, 1, None),
        ("consideration", "purchase", 1, 1, 10.0),
        ("purchase", "consideration", 1, 1, 10.0),
    ]
    assert table(get(api, channel="web")) == [("(start)", "consideration", 1, 1, None)]
    assert get(api, channel="pos") == {"level": "stage", "transitions": []}


def test_touchpoint_level_keeps_top_n_and_merges_the_rest_before_collapsing(api, events):
    # "home" has 3 customers, "cart" 2, "blog" and "faq" 1 each.
    events.insert([
        make_event("a", "awareness", at(0), touchpoint="home"),
        make_event("a", "awareness", at(10), touchpoint="blog"),
        make_event("a", "consideration", at(20), touchpoint="faq"),
        make_event("a", "purchase", at(50), touchpoint="cart"),
        make_event("b", "awareness", at(0), touchpoint="home"),
        make_event("b", "purchase", at(5), touchpoint="cart"),
        make_event("c", "awareness", at(0), touchpoint="home"),
    ])
    top1 = table(get(api, level="touchpoint", top=1))
    assert top1 == [
        ("(start)", "home", 3, 3, None),
        ("home", "(other)", 2, 2, 7.5),  # a: 0 -> 10 (blog, faq, cart one run), b: 0 -> 5
    ]
    top2 = table(get(api, level="touchpoint", top=2))
    assert top2 == [
        ("(start)", "home", 3, 3, None),
        ("(other)", "cart", 1, 1, 30.0),  # faq at 20 -> cart at 50
        ("home", "(other)", 1, 1, 10.0),
        ("home", "cart", 1, 1, 5.0),
    ]
    default = get(api, level="touchpoint")
    assert default["level"] == "touchpoint"
    assert ("blog", "faq", 1, 1, 10.0) in table(default)
    assert all(t["from"] != "(other)" and t["to"] != "(other)" for t in default["transitions"])


def test_top_ranks_by_distinct_customers_not_events(api, events):
    # "busy": 4 events of one customer (and a copy); "wide": one event each of two customers
    busy = [make_event("a", "awareness", at(i), touchpoint="busy") for i in range(4)]
    events.insert([*busy, make_event("a", "consideration", at(9), touchpoint="wide"),
                   make_event("b", "consideration", at(0), touchpoint="wide")])
    events.insert(busy)
    assert table(get(api, level="touchpoint", top=1)) == [
        ("(other)", "wide", 1, 1, 6.0),  # last busy event at 3 s
        ("(start)", "(other)", 1, 1, None),
        ("(start)", "wide", 1, 1, None),
    ]


def test_top_ties_are_broken_by_touchpoint_name(api, events):
    events.insert([
        make_event("a", "awareness", at(0), touchpoint="b-page"),
        make_event("a", "awareness", at(1), touchpoint="a-page"),
    ])
    assert table(get(api, level="touchpoint", top=1)) == [
        ("(other)", "a-page", 1, 1, 1.0),
        ("(start)", "(other)", 1, 1, None),
    ]


def test_empty_range(api, events):
    assert get(api) == {"level": "stage", "transitions": []}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("level=channel", "level"),
        ("level=touchpoint&top=0", "top"),
        ("level=touchpoint&top=101", "top"),
        ("top=2.5", "top"),
        ("channel=fax", "channel"),
        ("limit=5", "limit"),
    ],
)
def test_invalid_query_is_422_naming_the_field(api, query, field):
    response = api.get(f"/v1/transitions?start={RANGE['start']}&end={RANGE['end']}&{query}")
    assert response.status_code == 422, response.text
    assert {e["loc"][-1] for e in response.json()["detail"]} == {field}


def test_end_before_start_is_422(api):
    response = api.get("/v1/transitions", params={"start": RANGE["end"], "end": RANGE["start"]})
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["query", "end"]]


def test_openapi_has_example_and_parameters(api):
    spec = api.get("/openapi.json").json()
    assert spec["components"]["schemas"]["TransitionsResponse"]["examples"]
    params = {p["name"] for p in spec["paths"]["/v1/transitions"]["get"]["parameters"]}
    assert params == {"start", "end", "level", "top", "channel"}
