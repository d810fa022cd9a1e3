"""Custom funnels over the API on chDB: designed cases for each rule, views and validation."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.api.conftest import make_event

UTC = timezone.utc
T = datetime(2021, 3, 10, 12, tzinfo=UTC)  # a Wednesday
RANGE = {"start": "2021-03-01T00:00:00Z", "end": "2021-04-01T00:00:00Z"}


def at(seconds: float) -> datetime:
    return T + timedelta(seconds=seconds)


def ev(customer: str, name: str, seconds: float, stage: str = "awareness", **fields):
    return make_event(customer, stage, at(seconds), event=name, **fields)


def funnel(api, steps, **extra) -> dict:
    response = api.post("/v1/funnels", json={"steps": steps, **RANGE, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def counts(answer: dict) -> list[int]:
    return [s["customers"] for s in answer["steps"]]


A, B, C, X = ({"event": e} for e in ("a", "b", "c", "x"))


def test_steps_ratios_medians_and_copies_counted_once(api, events):
    e1, e2 = ev("c1", "a", 0), ev("c1", "b", 10)
    events.insert([e1, e2, ev("c2", "a", 0), ev("c2", "b", 30), ev("c3", "a", 0), ev("c3", "c", 1)])
    events.insert([e1, e2])  # copies of c1's events, unmerged
    answer = funnel(api, [A, B, C])
    assert counts(answer) == [3, 2, 0]
    second = answer["steps"][1]
    assert second["conversion_from_first"] == pytest.approx(2 / 3)
    assert second["median_seconds_from_previous"] == 20.0  # c1: 10 s, c2: 30 s
    assert answer["steps"][2] == {"name": "event=c", "customers": 0, "conversion_from_first": 0.0,
                                  "conversion_from_previous": 0.0, "median_seconds_from_previous": None}
    assert answer["breakdown"] == []


def test_equal_timestamps_fill_steps_in_either_order_one_step_per_event(api, events):
    # x matches steps 1 and 2, y only step 1, same millisecond: y fills 1 and x fills 2.
    events.insert([ev("c1", "a", 0, channel="web"), ev("c1", "a", 0, channel="app")])
    # One event matching both steps cannot fill both.
    events.insert([ev("c2", "a", 0, channel="web")])
    answer = funnel(api, [{"event": "a"}, {"channel": "web"}])
    assert counts(answer) == [2, 1]
    # Ties in "wrong" insertion order still count in ordered funnels.
    events.truncate()
    events.insert([ev("c1", "b", 5), ev("c1", "a", 5)])
    assert counts(funnel(api, [A, B])) == [1, 1]


def test_strict_order_broken_by_an_event_between_but_not_by_a_tie(api, events):
    events.insert([ev("c1", "a", 0), ev("c1", "noise", 1), ev("c1", "b", 2),  # noise between: broken
                   ev("c2", "a", 0), ev("c2", "noise", 0), ev("c2", "b", 2),  # noise tied with a: fine
                   ev("c3", "a", 0), ev("c3", "b", 2), ev("c3", "noise", 2)])  # tied with b: fine
    assert counts(funnel(api, [A, B], order="strict")) == [3, 2]
    assert counts(funnel(api, [A, B], order="ordered")) == [3, 3]


def test_any_order_needs_step_one_first(api, events):
    events.insert([ev("c1", "a", 0), ev("c1", "c", 1), ev("c1", "b", 2),
                   ev("c2", "b", 0), ev("c2", "a", 1), ev("c2", "c", 2)])  # b before step 1
    assert counts(funnel(api, [A, B, C], order="any")) == [2, 1, 1]  # c1 converts, c2 stays at 1
    assert counts(funnel(api, [A, B, C], order="ordered")) == [2, 1, 0]


def test_any_order_exclusion_spans_step_one_to_the_last_event(api, events):
    events.insert([ev("c1", e, s) for e, s in [("a", 0), ("c", 1), ("x", 2), ("b", 3)]])  # x before the last
    events.insert([ev("c2", e, s) for e, s in [("a", 0), ("c", 1), ("b", 2), ("x", 2)]])  # x tied with it
    exclusion = [{"filter": X, "from_step": 1, "to_step": 3}]
    assert counts(funnel(api, [A, B, C], order="any", exclusions=exclusion)) == [2, 2, 1]


def test_window_is_inclusive_and_step_one_must_be_in_range(api, events):
    events.insert([ev("c1", "a", 0), ev("c1", "b", 60),
                   ev("c2", "a", 0), ev("c2", "b", 60.001),
                   make_event("c3", "awareness", datetime(2021, 2, 28, 23, 59, 59, tzinfo=UTC), event="a"),
                   make_event("c3", "awareness", datetime(2021, 3, 1, tzinfo=UTC), event="b")])
    for order in ("ordered", "strict", "any"):
        assert counts(funnel(api, [A, B], window_seconds=60, order=order)) == [2, 1], order
    # Overlapping filters take the general (grouped) path: same boundary.
    assert counts(funnel(api, [A, {"channel": "web"}], window_seconds=60)) == [2, 1]


def test_exclusion_blocks_only_paths_it_lies_inside(api, events):
    exclusion = [{"filter": X, "from_step": 2, "to_step": 3}]
    # c1: x between b@1 and c@4, but the later b@3 gives a clean path.
    events.insert([ev("c1", e, s) for e, s in [("a", 0), ("b", 1), ("x", 2), ("b", 3), ("c", 4)]])
    # c2: no clean path to c; still counts at step 2. c3: x at b's own time is not between.
    events.insert([ev("c2", e, s) for e, s in [("a", 0), ("b", 1), ("x", 2), ("c", 4)]])
    events.insert([ev("c3", e, s) for e, s in [("a", 0), ("b", 1), ("x", 1), ("c", 4)]])
    assert counts(funnel(api, [A, B, C], exclusions=exclusion)) == [3, 3, 2]
    assert counts(funnel(api, [A, B, C])) == [3, 3, 3]


def test_exclusion_before_to_step_only(api, events):
    exclusion = [{"filter": X, "from_step": 1, "to_step": 2}]
    events.insert([ev("c1", e, s) for e, s in [("a", 0), ("b", 1), ("x", 2), ("c", 3)]])  # x after b
    events.insert([ev("c2", e, s) for e, s in [("a", 0), ("x", 1), ("b", 1), ("c", 3)]])  # x tied with b
    events.insert([ev("c3", e, s) for e, s in [("a", 0), ("x", 0.5), ("b", 1), ("c", 3)]])  # x between
    assert counts(funnel(api, [A, B, C], exclusions=exclusion)) == [3, 2, 2]
    # strict: x breaks c1 between b and c, and c3 between a and b
    assert counts(funnel(api, [A, B, C], exclusions=exclusion, order="strict")) == [3, 2, 1]


def test_tied_events_need_the_best_assignment_to_steps(api, events):
    # At 1 s, b@web could fill "event=b" or "channel=web", not both; c fills the last step.
    events.insert([ev("c1", "a", 0, channel="app"), ev("c1", "b", 1, channel="web"), ev("c1", "c", 1, channel="app")])
    steps = [A, B, {"channel": "web"}, C]
    assert counts(funnel(api, steps)) == [1, 1, 0, 0]
    assert counts(funnel(api, [A, {"channel": "web"}, B], order="any")) == [1, 1, 0]
    events.insert([ev("c1", "z", 1, channel="web")])  # a second web event at 1 s: now all fit
    assert counts(funnel(api, steps)) == [1, 1, 1, 1]


def test_counted_path_among_tied_anchors_is_the_earliest_to_reach_steps(api, events):
    # Both step-1 events are at 0 s. From y, x fills step 2 at 0 s; from x, step 2 waits for z.
    events.insert([ev("c1", "a", 0, channel="web", properties={"src": "aa"}),  # x
                   ev("c1", "a", 0, channel="app", properties={"src": "zz"}),  # y
                   ev("c1", "b", 5, channel="web")])  # z
    answer = funnel(api, [A, {"channel": "web"}], breakdown="properties.src")
    assert [b["value"] for b in answer["breakdown"]] == ["zz"]
    assert answer["steps"][1]["median_seconds_from_previous"] == 0.0


def test_property_filters_compare_by_json_type(api, events):
    values = {"c1": 1, "c2": 1.0, "c3": "1", "c4": True, "c5": "flat white"}
    events.insert([ev(c, "a", 0, properties={"k": v}) for c, v in values.items()])
    events.insert([ev(c, "b", 1) for c in values])

    def who(value) -> int:
        return funnel(api, [{"properties": {"k": value}}, B])["steps"][0]["customers"]

    assert [who(1), who("1"), who(True), who("flat white"), who(2)] == [2, 1, 1, 1, 0]


def test_breakdown_first_touch_top_values_and_other(api, events):
    # 27 values; v00 has 3 customers, v01 2, the rest 1: top 25 then (other) with 2 customers.
    rows, n = [], 0
    for value, customers in [("v00", 3), ("v01", 2)] + [(f"v{i:02d}", 1) for i in range(2, 27)]:
        for _ in range(customers):
            cid = f"c{n:03d}"
            n += 1
            rows += [ev(cid, "a", 0, properties={"src": value}), ev(cid, "b", 5, properties={"src": "later"})]
    rows.append(ev("c000", "a", 100, properties={"src": "v26"}))  # a later step-1 event: not first touch
    events.insert(rows)
    answer = funnel(api, [A, B], breakdown="properties.src")
    got = [(b["value"], b["steps"][0]["customers"], b["steps"][1]["customers"]) for b in answer["breakdown"]]
    expected_top = [("v00", 3, 3), ("v01", 2, 2)] + [(f"v{i:02d}", 1, 1) for i in range(2, 25)]
    assert got == expected_top + [("(other)", 2, 2)]
    assert counts(answer) == [n, n]


def test_breakdown_counts_each_customer_once_by_the_deepest_path(api, events):
    events.insert([ev("c1", "a", 0, channel="app"), ev("c1", "a", 10, channel="web"), ev("c1", "b", 20)])
    events.insert([ev("c2", "a", 0, channel="app")])
    answer = funnel(api, [A, B], breakdown="channel", window_seconds=15)
    assert {b["value"]: counts(b) for b in answer["breakdown"]} == {"app": [1, 0], "web": [1, 1]}


def test_time_to_convert_histogram(api, events):
    for i, seconds in enumerate([3.5, 10, 20, 100]):
        events.insert([ev(f"c{i}", "a", 0), ev(f"c{i}", "b", seconds)])
    events.insert([ev("c9", "a", 0)])
    answer = funnel(api, [A, B], view="time_to_convert", bins=4)
    assert answer["converted"] == 4
    assert answer["median_seconds"] == 15.0 and answer["average_seconds"] == pytest.approx(133.5 / 4)
    # from 3 s (3.5 rounded down), width ceil((100 - 3 + 0.001) / 4) = 25 s
    assert answer["bins"] == [{"from_seconds": 3, "to_seconds": 28, "customers": 3},
                              {"from_seconds": 28, "to_seconds": 53, "customers": 0},
                              {"from_seconds": 53, "to_seconds": 78, "customers": 0},
                              {"from_seconds": 78, "to_seconds": 103, "customers": 1}]


def test_trends_weeks_start_monday_with_empty_weeks(api, events):
    events.insert([ev("c1", "a", 0), ev("c1", "b", 1),  # Wed 10 March: week of Mon 8 March
                   make_event("c2", "awareness", datetime(2021, 3, 22, tzinfo=UTC), event="a")])  # a Monday
    body = {"steps": [A, B], "start": "2021-03-03T00:00:00Z", "end": "2021-03-23T00:00:00Z",
            "view": "trends", "interval": "week"}
    response = api.post("/v1/funnels", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["trends"] == [
        {"interval_start": "2021-03-01T00:00:00Z", "entered": 0, "converted": 0, "conversion_rate": 0.0},
        {"interval_start": "2021-03-08T00:00:00Z", "entered": 1, "converted": 1, "conversion_rate": 1.0},
        {"interval_start": "2021-03-15T00:00:00Z", "entered": 0, "converted": 0, "conversion_rate": 0.0},
        {"interval_start": "2021-03-22T00:00:00Z", "entered": 1, "converted": 0, "conversion_rate": 0.0},
    ]


@pytest.mark.parametrize(("interval", "starts"), [("week", ["9999-12-20", "9999-12-27"]), ("month", ["9999-12-01"])])
def test_trends_up_to_the_last_period_of_9999(api, events, interval, starts):
    body = {"steps": [A, B], "start": "9999-12-24T00:00:00Z", "end": "9999-12-31T23:59:59Z",
            "view": "trends", "interval": interval}
    response = api.post("/v1/funnels", json=body)  # was a 500: stepping past the last period overflowed
    assert response.status_code == 200, response.text
    assert [t["interval_start"] for t in response.json()["trends"]] == [f"{day}T00:00:00Z" for day in starts]


def test_customers_cursor_pages(api, events):
    for i in range(5):
        events.insert([ev(f"c{i}", "a", i)] + ([ev(f"c{i}", "b", 10)] if i % 2 == 0 else []))
    body = {"steps": [A, B], **RANGE, "step": 1, "status": "dropped", "limit": 1}
    seen, cursor = [], None
    while True:
        response = api.post("/v1/funnels/customers", json={**body, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        seen += page["customers"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [{"customer_id": "c1", "reached_step": 1, "step_1_at": "2021-03-10T12:00:01.000Z"},
                    {"customer_id": "c3", "reached_step": 1, "step_1_at": "2021-03-10T12:00:03.000Z"}]
    converted = api.post("/v1/funnels/customers", json={**body, "status": "converted", "limit": 10}).json()
    assert [c["customer_id"] for c in converted["customers"]] == ["c0", "c2", "c4"]


BAD_BODIES = [
    ({"steps": [{}, B]}, ["body", "steps", 0]),
    ({"steps": [A]}, ["body", "steps"]),
    ({"steps": [A] * 21}, ["body", "steps"]),
    ({"steps": [A, {"event": "b", "colour": "red"}]}, ["body", "steps", 1, "colour"]),
    ({"steps": [A, {"properties": {"k": None}}]}, ["body", "steps", 1, "properties", "k"]),
    ({"steps": [A, {"properties": {"k": 2**60}}]}, ["body", "steps", 1, "properties"]),
    ({"steps": [A, {"stage": "bought"}]}, ["body", "steps", 1, "stage"]),
    ({"steps": [A, B], "breakdown": "properties.a b"}, ["body", "breakdown"]),
    ({"steps": [A, B], "breakdown": "colour"}, ["body", "breakdown"]),
    ({"steps": [A, B], "breakdown": "channel", "view": "trends"}, ["body", "breakdown"]),
    ({"steps": [A, B], "exclusions": [{"filter": X, "from_step": 2, "to_step": 2}]}, ["body", "exclusions"]),
    ({"steps": [A, B], "exclusions": [{"filter": X, "from_step": 1, "to_step": 3}]}, ["body", "exclusions"]),
    ({"steps": [A, B, C], "order": "any", "exclusions": [{"filter": X, "from_step": 1, "to_step": 2}]},
     ["body", "exclusions"]),
    ({"steps": [A, B], "order": "sometimes"}, ["body", "order"]),
    ({"steps": [A, B], "window_seconds": 0}, ["body", "window_seconds"]),
    ({"steps": [A, B], "end": "2021-02-01T00:00:00Z"}, ["body", "end"]),
    ({"steps": [A, B], "start": "1614556800"}, ["body", "start"]),
    ({"steps": [A, B], "view": "trends", "start": "2001-01-01T00:00:00Z"}, ["body", "interval"]),
]


@pytest.mark.parametrize(("body", "loc"), BAD_BODIES)
def test_bad_funnel_bodies_are_422_naming_the_field(api, body, loc):
    response = api.post("/v1/funnels", json={**RANGE, **body})
    assert response.status_code == 422, response.text[:300]
    assert any(e["loc"][: len(loc)] == loc for e in response.json()["detail"]), response.json()


@pytest.mark.parametrize(("extra", "loc"), [
    ({"step": 3, "status": "dropped"}, ["body", "step"]),
    ({"step": 2, "status": "converted"}, ["body", "status"]),
    ({"step": 1, "status": "dropped", "cursor": "not-a-cursor"}, ["body", "cursor"]),
    ({"step": 1, "status": "dropped", "limit": 1001}, ["body", "limit"]),
    ({"step": 1, "status": "dropped", "breakdown": "channel"}, ["body", "breakdown"]),
])
def test_bad_customers_bodies_are_422_naming_the_field(api, extra, loc):
    response = api.post("/v1/funnels/customers", json={"steps": [A, B], **RANGE, **extra})
    assert response.status_code == 422, response.text[:300]
    assert any(e["loc"][: len(loc)] == loc for e in response.json()["detail"]), response.json()


def test_openapi_documents_semantics_and_examples(api):
    spec = api.get("/openapi.json").json()
    post = spec["paths"]["/v1/funnels"]["post"]
    assert "strictly between" in post["description"] and "first touch" in post["description"]
    assert "/v1/funnels/customers" in spec["paths"] and "/v1/funnels/stages" in spec["paths"]
    schemas = spec["components"]["schemas"]
    for name in ("FunnelQuery", "FunnelStepsResponse", "FunnelTimeToConvertResponse", "FunnelTrendsResponse",
                 "FunnelCustomersQuery", "FunnelCustomersResponse"):
        assert schemas[name].get("examples"), name
