"""Feedback items on a real ClickHouse engine (chDB): what is an item, filters, cursor pages,
statuses written by the processors' own writer, history, request validation, and a property
test against tests/api/feedback_reference.py. Publishing a status (202) needs the broker:
tests/integration/test_feedback_loop.py; here, the 404 / 422 / 503 answers."""
from __future__ import annotations

import itertools
import socket
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.feedback import StatusChange
from services.api.app import create_app
from services.processors.feedback_status_sink import Change, StatusSink, rebuild_current_status
from tests.api import feedback_reference as ref
from tests.api.conftest import TOKEN, TestClient, chdb_client, make_event
from tests.conftest import examples

UTC = timezone.utc
T0 = datetime(2015, 3, 1, tzinfo=UTC)
_changes = itertools.count(1)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def fb(customer: str, minutes: int, event_id: str | None = None, **feedback: Any) -> dict[str, Any]:
    extra = {"event_id": event_id} if event_id else {}
    touchpoint = feedback.pop("touchpoint", "site")
    channel = feedback.pop("channel", "web")
    return make_event(customer, "use", T0 + timedelta(minutes=minutes), touchpoint=touchpoint, channel=channel,
                      **({"feedback": feedback} if feedback else {}), **extra)


def change(event: dict[str, Any], status: str, minutes_after: float, note: str = "") -> dict[str, Any]:
    n = next(_changes)
    return {"change_id": f"chg-{n:06d}", "event_id": event["event_id"], "customer_id": event["customer_id"],
            "status": status, "note": note, "who": "api",
            "changed_at": event["occurred_at"] + timedelta(minutes=minutes_after), "offset": n}


class Store:
    """Events and status changes in the module's database; changes go through the processors'
    StatusSink, as the status agent writes them."""

    def __init__(self, events, chdb) -> None:
        self.events_writer, self.client = events, chdb
        self.events: list[dict[str, Any]] = []
        self.changes: list[dict[str, Any]] = []
        for table in ("feedback_status_history", "feedback_status"):
            chdb.command(f"TRUNCATE TABLE {table}")

    def add(self, *events: dict[str, Any]) -> None:
        self.events_writer.insert(events)
        self.events.extend(events)

    def change(self, *changes: dict[str, Any]) -> None:
        StatusSink(self.client)._insert([
            Change(StatusChange(**{k: v for k, v in c.items() if k != "offset"}), 0, c["offset"]) for c in changes])
        self.changes.extend(changes)


@pytest.fixture
def store(events, chdb) -> Store:
    return Store(events, chdb)


def listing(api, **params: Any) -> dict[str, Any]:
    query = {k: iso(v) if isinstance(v, datetime) else v for k, v in params.items() if v is not None}
    response = api.get("/v1/feedback", params=query)
    assert response.status_code == 200, response.text
    return response.json()


def all_pages(api, cursor: str | None = None, **params: Any) -> list[dict[str, Any]]:
    got = []
    for _ in range(1000):
        page = listing(api, **params, cursor=cursor)
        got.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return got
    raise AssertionError("no last page")


def rfc3339_ms(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def check(item: dict[str, Any], expected: dict[str, Any]) -> None:
    fb_ = expected.get("feedback") or {}
    assert item == {
        "event_id": expected["event_id"], "customer_id": expected["customer_id"],
        "occurred_at": rfc3339_ms(ref.ms(expected["occurred_at"])),
        "channel": expected.get("channel", "web"), "touchpoint": expected["touchpoint"], "stage": expected["stage"],
        "scores": {k: fb_.get(k) for k in ("nps", "csat", "ces", "rating")}, "comment": fb_.get("comment") or None,
        "status": expected["status"], "status_note": expected["status_note"],
        "status_changed_at": (None if expected["status_changed_ms"] is None
                              else rfc3339_ms(expected["status_changed_ms"])),
        "history_length": expected["history_length"],
    }


def test_items_are_comments_and_low_scores_each_once(api, store):
    evs = [
        fb("a", 1, nps=6), fb("a", 2, nps=7), fb("a", 3, csat=2), fb("a", 4, csat=3), fb("b", 5, ces=3),
        fb("b", 6, ces=4), fb("b", 7, rating=2), fb("b", 8, rating=3), fb("c", 9, nps=10, comment="Lovely"),
        fb("c", 10), fb("c", 11, nps=0), fb("c", 12, comment=""),
    ]
    store.add(*evs)
    store.add(evs[0], evs[8])  # duplicate copies not merged yet
    got = listing(api)
    assert [i["event_id"] for i in got["items"]] == [evs[k]["event_id"] for k in (10, 8, 6, 4, 2, 0)]
    assert got["next_cursor"] is None
    for item, expected in zip(got["items"], ref.items(store.events, []), strict=True):
        check(item, expected)
    assert got["items"][1]["comment"] == "Lovely" and got["items"][1]["scores"]["nps"] == 10


def test_filters(api, store):
    evs = [
        fb("a", 1, nps=2, comment="The coffee was COLD", touchpoint="store_1", channel="pos"),
        fb("a", 2, nps=5, comment="slow app", touchpoint="app_home", channel="app"),
        fb("b", 3, csat=1, comment="cold cOFFee again", touchpoint="store_1", channel="pos"),
        fb("b", 4, nps=6, touchpoint="store_2", channel="store"),
        fb("c", 5, nps=9, comment="100% _great_", touchpoint="store_2", channel="store"),
    ]
    store.add(*evs)
    cases = [
        {"q": "coffee"}, {"q": "COLD"}, {"q": "%"}, {"q": "_"}, {"q": "'; DROP TABLE events; --"},
        {"channel": "pos"}, {"touchpoint": "store_2"}, {"min_score": 5}, {"max_score": 5},
        {"min_score": 5, "max_score": 6}, {"min_score": 0, "max_score": 10},
        {"start": T0 + timedelta(minutes=2), "end": T0 + timedelta(minutes=4)}, {"status": "open"},
        {"status": "resolved"}, {"channel": "store", "min_score": 7},
    ]
    for params in cases:
        got = [i["event_id"] for i in listing(api, **params)["items"]]
        assert got == [i["event_id"] for i in ref.items(store.events, [], **params)], params
    assert [i["event_id"] for i in listing(api, q="coffee")["items"]] == [evs[2]["event_id"], evs[0]["event_id"]]
    assert api.get("/v1/feedback/summary", params={"start": "2015-01-01T00:00:00Z",
                                                    "end": "2016-01-01T00:00:00Z"}).json()["items"] == 5


def test_cursor_pages_newest_first_with_ties(api, store):
    # Same minute for several items: the event_id breaks the tie; pages neither repeat nor skip.
    evs = [fb(f"p{k % 3}", k // 4, event_id=f"pg-{k:02d}", nps=k % 7) for k in range(23)]
    store.add(*evs)
    for limit in (1, 2, 5, 23, 50):
        got = all_pages(api, limit=limit)
        assert [i["event_id"] for i in got] == [i["event_id"] for i in ref.items(store.events, [])], limit
    page = listing(api, limit=5)
    store.add(fb("p9", 100, event_id="pg-new", nps=1))  # newer than the first page: not on later pages
    rest = all_pages(api, limit=5, cursor=page["next_cursor"])
    assert [i["event_id"] for i in page["items"] + rest] == [i["event_id"] for i in ref.items(evs, [])]


def test_status_history_and_status_filter(api, store):
    a, b, c = fb("s", 1, nps=3, comment="rude"), fb("s", 2, csat=1), fb("t", 3, comment="nice")
    store.add(a, b, c)
    first, second = change(a, "acknowledged", 10, "called back"), change(a, "resolved", 60, "refunded")
    store.change(first, change(b, "resolved", 5))
    store.change(second)
    store.change(first)  # redelivered: counted once in the history
    by_id = {i["event_id"]: i for i in listing(api)["items"]}
    for expected in ref.items(store.events, store.changes):
        check(by_id[expected["event_id"]], expected)
    assert by_id[a["event_id"]]["status"] == "resolved" and by_id[a["event_id"]]["history_length"] == 2
    assert by_id[c["event_id"]]["status"] == "open" and by_id[c["event_id"]]["status_changed_at"] is None
    assert [i["event_id"] for i in listing(api, status="resolved")["items"]] == [b["event_id"], a["event_id"]]
    assert [i["event_id"] for i in listing(api, status="open")["items"]] == [c["event_id"]]
    assert listing(api, status="acknowledged")["items"] == []

    history = api.get(f"/v1/feedback/{a['event_id']}/history")
    assert history.status_code == 200, history.text
    body = history.json()
    assert (body["event_id"], body["customer_id"], body["status"]) == (a["event_id"], "s", "resolved")
    assert [(x["change_id"], x["status"], x["note"], x["who"]) for x in body["changes"]] == [
        (first["change_id"], "acknowledged", "called back", "api"),
        (second["change_id"], "resolved", "refunded", "api")]
    assert body["changes"][0]["changed_at"] == iso(first["changed_at"]).replace("Z", ".000Z")
    assert api.get(f"/v1/feedback/{c['event_id']}/history").json()["changes"] == []

    # A reopen later than the resolution wins; an older change replayed late does not.
    store.change(change(a, "open", 120, "customer wrote again"))
    store.change(first)
    assert listing(api, status="open")["items"][-1]["event_id"] == a["event_id"]


def test_not_an_item_is_404(api, store):
    plain = fb("n", 1, nps=9)
    store.add(plain)
    for event_id in (plain["event_id"], "no-such-event"):
        assert api.get(f"/v1/feedback/{event_id}/history").status_code == 404
        response = api.post(f"/v1/feedback/{event_id}/status", json={"status": "resolved"})
        assert response.status_code == 404, response.text
        assert "not a feedback item" in response.json()["detail"]


@pytest.mark.parametrize("params, field", [
    ({"status": "closed"}, "status"), ({"channel": "fax"}, "channel"), ({"min_score": 11}, "min_score"),
    ({"max_score": -1}, "max_score"), ({"min_score": 7, "max_score": 3}, "max_score"), ({"limit": 0}, "limit"),
    ({"limit": 501}, "limit"), ({"q": "x" * 201}, "q"), ({"q": ""}, "q"), ({"cursor": "not-a-cursor"}, "cursor"),
    ({"cursor": "WzEsMl0"}, "cursor"), ({"start": "2015-03-01"}, "start"),
    ({"start": "2015-03-02T00:00:00Z", "end": "2015-03-01T00:00:00Z"}, "end"), ({"touchpoint": ""}, "touchpoint"),
    ({"bogus": "1"}, "bogus"),
])
def test_bad_list_parameters_are_422_naming_the_field(api, params, field):
    response = api.get("/v1/feedback", params=params)
    assert response.status_code == 422, response.text
    assert field in {str(part) for e in response.json()["detail"] for part in e["loc"]}, response.json()


@pytest.mark.parametrize("body, field", [
    ({"status": "closed"}, "status"), ({}, "status"), ({"status": "resolved", "note": "x" * 2001}, "note"),
    ({"status": "resolved", "note": 5}, "note"), ({"status": "resolved", "who": "me"}, "who"),
])
def test_bad_status_body_is_422_naming_the_field(api, store, body, field):
    item = fb("v", 1, comment="meh")
    store.add(item)
    response = api.post(f"/v1/feedback/{item['event_id']}/status", json=body)
    assert response.status_code == 422, response.text
    assert field in {str(part) for e in response.json()["detail"] for part in e["loc"]}


def test_status_needs_a_token(api, store):
    response = api.post("/v1/feedback/x/status", json={"status": "open"}, headers={"Authorization": ""})
    assert response.status_code == 401


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_broker_down_is_503_with_retry_after(chdb_path, chdb, api_settings, store):
    item = fb("d", 1, nps=1)
    store.add(item)
    settings = api_settings.model_copy(update={
        "kafka_bootstrap_servers": f"127.0.0.1:{_closed_port()}", "feedback_publish_timeout_s": 2.0,
        "feedback_retry_after_s": 7})
    app = create_app(settings, client_factory=lambda: chdb_client(chdb_path, chdb.database))
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        for _ in range(2):  # and again: a failed producer is replaced, not reused
            response = client.post(f"/v1/feedback/{item['event_id']}/status", json={"status": "acknowledged"})
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "7"


scores = st.one_of(st.none(), st.integers(0, 10))
event_specs = st.lists(st.tuples(
    st.sampled_from(["h1", "h2", "h3"]), st.integers(0, 40), scores, st.one_of(st.none(), st.integers(1, 5)),
    st.one_of(st.none(), st.integers(1, 7)), st.one_of(st.none(), st.integers(1, 5)),
    st.sampled_from([None, "", "Cold coffee", "slow SERVICE", "ok"]), st.sampled_from(["s1", "s2"]),
    st.sampled_from(["web", "pos"])), max_size=30)
change_specs = st.lists(st.tuples(st.integers(0, 29), st.sampled_from(["open", "acknowledged", "resolved"]),
                                  st.integers(-5, 500)), max_size=15)
filters = st.fixed_dictionaries({}, optional={
    "status": st.sampled_from(["open", "acknowledged", "resolved"]), "channel": st.sampled_from(["web", "pos"]),
    "touchpoint": st.sampled_from(["s1", "s2"]), "min_score": st.integers(0, 10), "max_score": st.integers(5, 10),
    "q": st.sampled_from(["coffee", "SERVICE", "o"]),
    "start": st.integers(0, 20).map(lambda m: T0 + timedelta(minutes=m)),
    "limit": st.integers(1, 7)})


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=event_specs, changes=change_specs, params=filters)
def test_listing_matches_reference(api, events, chdb, specs, changes, params):
    store = Store(events, chdb)
    events.truncate()
    evs = []
    for n, (cust, minute, nps, csat, ces, rating, comment, tp, channel) in enumerate(specs):
        feedback = {k: v for k, v in (("nps", nps), ("csat", csat), ("ces", ces), ("rating", rating),
                                      ("comment", comment)) if v is not None}
        evs.append(fb(cust, minute, event_id=f"h-{n:02d}", touchpoint=tp, channel=channel, **feedback))
    store.add(*evs)
    items = [e for e in evs if ref.is_item(e)]
    if items:
        store.change(*[change(items[k % len(items)], status, after) for k, status, after in changes])
    if "min_score" in params and "max_score" in params and params["max_score"] < params["min_score"]:
        params["max_score"] = params["min_score"]
    limit = params.pop("limit", 50)
    got = all_pages(api, limit=limit, **params)
    expected = ref.items(store.events, store.changes, **params)
    assert [i["event_id"] for i in got] == [i["event_id"] for i in expected]
    for item, exp in zip(got, expected, strict=True):
        check(item, exp)


def test_current_status_rebuilds_from_the_history(api, store, chdb):
    a, b = fb("r", 1, nps=0), fb("r", 2, comment="noisy")
    store.add(a, b)
    store.change(change(a, "acknowledged", 1), change(b, "resolved", 2), change(a, "resolved", 3))
    store.change(change(a, "open", 4, "again"))
    before = listing(api)["items"]
    chdb.command("TRUNCATE TABLE feedback_status")
    assert {i["status"] for i in listing(api)["items"]} == {"open"}  # the projection is gone
    assert rebuild_current_status(chdb) == 2
    assert rebuild_current_status(chdb) == 2  # idempotent: same versions
    assert listing(api)["items"] == before
    assert [(i["status"], i["status_note"]) for i in before] == [("resolved", ""), ("open", "again")]
