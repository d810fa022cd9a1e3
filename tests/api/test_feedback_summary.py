"""Closing-the-loop figures and repeat-issue customers on chDB: hand-computed cases, validation,
and a property test against tests/api/feedback_reference.py."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api import feedback_reference as ref
from tests.api.test_feedback import T0, UTC, Store, change, fb, iso
from tests.conftest import examples

RANGE = {"start": "2015-01-01T00:00:00Z", "end": "2016-01-01T00:00:00Z"}


@pytest.fixture
def store(events, chdb) -> Store:
    return Store(events, chdb)


def summary(api, **params: Any) -> dict[str, Any]:
    response = api.get("/v1/feedback/summary", params={k: iso(v) if isinstance(v, datetime) else v
                                                        for k, v in (params or RANGE).items()})
    assert response.status_code == 200, response.text
    return response.json()


def test_summary_by_hand(api, store):
    a = fb("a", 0, nps=2, touchpoint="store_1")
    b = fb("b", 10, csat=1, touchpoint="store_1")
    c = fb("c", 20, comment="why?", touchpoint="app")
    d = fb("d", 30, rating=1, touchpoint="store_2")
    e = fb("e", 40, nps=4, touchpoint="store_2")
    outside = fb("f", -60 * 24 * 400, nps=0, touchpoint="store_1")  # 2014: not in range
    store.add(a, b, c, d, e, outside)
    store.change(
        change(a, "acknowledged", 30), change(a, "resolved", 90),  # ack 30 min, resolve 90 min
        change(b, "resolved", 60),  # resolving acknowledges: ack 60 min, resolve 60 min
        change(c, "acknowledged", 10), change(c, "open", 20),  # reopened: still acknowledged once, 10 min
        change(d, "resolved", 240), change(d, "open", 300),  # reopened after resolution: resolve 240 min
        change(e, "acknowledged", -5),  # stamped before the event (dated ahead): 0 s
        change(outside, "resolved", 1),
    )
    got = summary(api)
    assert got["items"] == 5
    assert (got["open"], got["acknowledged"], got["resolved"]) == (2, 1, 2)
    # ack minutes 30, 60, 10, 240, 0 -> median 30; resolve minutes 90, 60, 240 -> median 90
    assert got["acknowledged_items"] == 5 and got["median_time_to_acknowledge_s"] == 30 * 60
    assert got["resolved_items"] == 3 and got["median_time_to_resolve_s"] == 90 * 60
    assert got["open_by_touchpoint"] == [{"touchpoint": "app", "open_items": 1},
                                         {"touchpoint": "store_2", "open_items": 1}]
    store.change(change(e, "resolved", 61))  # resolve minutes 60, 61, 90, 240 -> (61 + 90) / 2
    assert summary(api)["median_time_to_resolve_s"] == (61 + 90) / 2 * 60
    year = (T0.replace(month=1, day=1), T0.replace(year=2016, month=1, day=1))
    assert summary(api) == {**ref.summary(store.events, store.changes, *year), **RANGE}


def test_summary_of_nothing(api, store):
    store.add(fb("z", 0, nps=9))
    assert summary(api) == {"start": RANGE["start"], "end": RANGE["end"], "items": 0, "open": 0,
                            "acknowledged": 0, "resolved": 0, "acknowledged_items": 0,
                            "median_time_to_acknowledge_s": None, "resolved_items": 0,
                            "median_time_to_resolve_s": None, "open_by_touchpoint": []}


@pytest.mark.parametrize("params, field", [
    ({}, "start"), ({"start": RANGE["start"]}, "end"), ({"start": "yesterday", "end": RANGE["end"]}, "start"),
    ({"start": RANGE["end"], "end": RANGE["start"]}, "end"),
])
def test_summary_validation(api, params, field):
    response = api.get("/v1/feedback/summary", params=params)
    assert response.status_code == 422, response.text
    assert field in {str(p) for e in response.json()["detail"] for p in e["loc"]}


def repeat(api, **params: Any) -> dict[str, Any]:
    response = api.get("/v1/customers/repeat-issues",
                       params={k: iso(v) if isinstance(v, datetime) else v for k, v in params.items()})
    assert response.status_code == 200, response.text
    return response.json()


def test_repeat_issues_by_hand(api, store):
    day = 24 * 60
    as_of = T0 + timedelta(days=100)
    evs = {
        "x1": fb("x", 11 * day, nps=1), "x2": fb("x", 20 * day, csat=1), "x3": fb("x", 30 * day, ces=2),
        "y1": fb("y", 50 * day, rating=1), "y2": fb("y", 60 * day, nps=6),
        "w1": fb("w", 40 * day, nps=3), "w2": fb("w", 60 * day, nps=5),  # ties with y on count and latest
        "z1": fb("z", 50 * day, nps=0), "z2": fb("z", 55 * day, comment="where is my order"),  # comment only
        "v1": fb("v", 9 * day, nps=0), "v2": fb("v", 99 * day, nps=2),  # v1: 91 days before as_of
        "u1": fb("u", 100 * day, nps=0), "u2": fb("u", 99 * day, nps=1),  # u1 at as_of: excluded
        "t1": fb("t", 50 * day, nps=7, comment="fine"), "t2": fb("t", 51 * day, nps=9),
    }
    store.add(*evs.values())
    store.change(change(evs["x1"], "resolved", 5, "sorted"))
    got = repeat(api, as_of=as_of)
    assert (got["start"], got["end"], got["min_items"]) == (iso(as_of - timedelta(days=90)), iso(as_of), 2)
    assert [(c["customer_id"], c["items"], [i["event_id"] for i in c["feedback"]]) for c in got["customers"]] == [
        ("x", 3, [evs[k]["event_id"] for k in ("x3", "x2", "x1")]),
        ("w", 2, [evs[k]["event_id"] for k in ("w2", "w1")]),
        ("y", 2, [evs[k]["event_id"] for k in ("y2", "y1")]),
    ]
    assert got["customers"][0]["latest_at"] == iso(evs["x3"]["occurred_at"]).replace("Z", ".000Z")
    assert got["customers"][0]["feedback"][2]["status"] == "resolved"
    assert [c["customer_id"] for c in repeat(api, as_of=as_of, min_items=3)["customers"]] == ["x"]
    assert [c["customer_id"] for c in repeat(api, as_of=as_of, days=91)["customers"]] == ["x", "v", "w", "y"]
    assert [c["customer_id"] for c in repeat(api, as_of=as_of, limit=1)["customers"]] == ["x"]
    assert repeat(api, as_of=as_of, min_items=4)["customers"] == []


@pytest.mark.parametrize("params, field", [
    ({"days": 0}, "days"), ({"days": "ninety"}, "days"), ({"min_items": 0}, "min_items"),
    ({"as_of": "2015-01-01"}, "as_of"), ({"limit": 501}, "limit"), ({"customer": "x"}, "customer"),
    # as_of - days before year 1, or as_of after 9999 in UTC: were 500s
    ({"as_of": "0001-01-05T00:00:00Z"}, "as_of"), ({"as_of": "9999-12-31T23:59:59-01:00"}, "as_of"),
    ({"as_of": "2300-01-01T00:00:00Z"}, "as_of"),
])
def test_repeat_issues_validation(api, params, field):
    response = api.get("/v1/customers/repeat-issues", params=params)
    assert response.status_code == 422, response.text
    assert field in {str(p) for e in response.json()["detail"] for p in e["loc"]}


def test_repeat_issues_default_window_is_now(api, store):
    recent = datetime.now(UTC) - timedelta(days=3)
    store.add(*(fb("now", 0, nps=1) | {"occurred_at": recent - timedelta(hours=h)} for h in (1, 2)))
    store.add(fb("old", 0, nps=1), fb("old", 1, nps=1))  # 2015: long before the last 90 days
    assert [c["customer_id"] for c in repeat(api)["customers"]] == ["now"]


specs = st.lists(st.tuples(st.sampled_from(["r1", "r2", "r3", "r4"]), st.integers(0, 60 * 24 * 12),
                           st.sampled_from([None, 0, 6, 7, 10]), st.sampled_from([None, 1, 3]),
                           st.sampled_from([None, "", "late"]), st.sampled_from(["tp1", "tp2"])), max_size=25)
change_specs = st.lists(st.tuples(st.integers(0, 24), st.sampled_from(["open", "acknowledged", "resolved"]),
                                  st.integers(-30, 60 * 24 * 3)), max_size=20)


@settings(max_examples=examples(30), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=specs, changes=change_specs, start_day=st.integers(0, 6), days=st.integers(1, 12),
       min_items=st.integers(1, 3))
def test_summary_and_repeat_issues_match_reference(api, events, chdb, specs, changes, start_day, days, min_items):
    store = Store(events, chdb)
    events.truncate()
    evs = [fb(c, minute, event_id=f"q-{n:02d}", touchpoint=tp,
              **{k: v for k, v in (("nps", nps), ("csat", csat), ("comment", comment)) if v is not None})
           for n, (c, minute, nps, csat, comment, tp) in enumerate(specs)]
    store.add(*evs)
    items = [e for e in evs if ref.is_item(e)]
    if items:
        store.change(*[change(items[k % len(items)], status, after) for k, status, after in changes])
    start, end = T0 + timedelta(days=start_day), T0 + timedelta(days=start_day + days)
    assert summary(api, start=start, end=end) == {
        **ref.summary(store.events, store.changes, start, end), "start": iso(start), "end": iso(end)}
    got = repeat(api, as_of=end, days=days, min_items=min_items)
    assert [(c["customer_id"], c["items"], [i["event_id"] for i in c["feedback"]]) for c in got["customers"]] == \
        ref.repeat_issues(store.events, store.changes, end, days, min_items)
