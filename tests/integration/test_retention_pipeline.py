"""Retention, churn and lifecycle through the real stack: HTTP ingest -> Kafka -> processors ->
ClickHouse -> query API, on a small designed data set in 2023 (this file's year on the shared
stack) of customers prefixed "ret-". Expectations: designed by hand, and checked against the
pure-Python reference too."""
from __future__ import annotations

from datetime import datetime, timezone

from tests.api import cohort_reference as ref
from tests.conftest import wait_for

UTC = timezone.utc
MINE = "customer_id LIKE 'ret-%'"


def event(n: int, customer: str, stage: str, occurred_at: str) -> dict:
    return {"event_id": f"ret-ev-{n:03d}", "customer_id": f"ret-{customer}", "stage": stage, "channel": "web",
            "touchpoint": "ret_site", "event": f"{stage}_event", "occurred_at": occurred_at}


EVENTS = [
    event(1, "a", "purchase", "2023-01-02T10:00:00Z"),  # Monday
    event(2, "a", "purchase", "2023-01-09T00:00:00Z"),  # the next Monday, first millisecond
    event(3, "a", "purchase", "2023-01-22T23:59:59.999Z"),  # Sunday: week of 01-16
    event(4, "a", "use", "2023-03-15T08:00:00Z"),
    event(5, "b", "purchase", "2023-01-08T23:59:59.999Z"),  # Sunday: week of 01-02
    event(6, "b", "purchase", "2023-01-30T09:00:00+02:00"),  # 07:00Z, week of 01-30
    event(7, "c", "purchase", "2023-01-10T12:00:00Z"),
    event(8, "c", "purchase", "2023-01-11T12:00:00Z"),  # same week: no return
    event(9, "c", "advocacy", "2023-02-20T12:00:00Z"),
    event(10, "d", "awareness", "2023-02-01T00:00:00Z"),
    event(11, "d", "use", "2023-06-10T00:00:00Z"),
    event(12, "e", "purchase", "2023-04-03T00:00:00Z"),
    event(13, "e", "purchase", "2023-04-10T00:00:00Z"),
    event(14, "f", "use", "2023-05-01T00:00:00Z"),
    event(15, "f", "retention", "2023-08-20T00:00:00Z"),
]
LATE = event(16, "b", "awareness", "2023-01-05T00:00:00Z")  # b's first event, arriving last


def parsed(events: list[dict]) -> list[dict]:
    return [{**e, "occurred_at": datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00"))} for e in events]


def test_retention_churn_lifecycle_through_the_pipeline(ingest, api, clickhouse):
    # newest first, a duplicate of a's first purchase in its own batch, and b's first event last
    for batch in ([*reversed(EVENTS)], [EVENTS[0], EVENTS[4]], [LATE]):
        response = ingest.post("/v1/events", json={"events": batch})
        assert response.status_code == 202, response.text
    unique = len(EVENTS) + 1
    wait_for(lambda: clickhouse.query(f"SELECT uniqExact(event_id) FROM events WHERE {MINE}").result_rows[0][0]
             >= unique, timeout_s=60, what="ret- events in ClickHouse")
    assert clickhouse.query(f"SELECT uniqExact(event_id) FROM events WHERE {MINE}").result_rows[0][0] == unique
    posted = parsed([*EVENTS, EVENTS[0], EVENTS[4], LATE])
    now = datetime.now(UTC)

    # Weekly repeat-purchase retention (the defaults): a and b new in the week of 01-02, c in 01-09.
    start, end = datetime(2023, 1, 2, tzinfo=UTC), datetime(2023, 1, 16, tzinfo=UTC)
    response = api.get("/v1/retention", params={"start": "2023-01-02T00:00:00Z", "end": "2023-01-16T00:00:00Z",
                                                "interval": "week", "periods": 5})
    assert response.status_code == 200, response.text
    cohorts = [(c["cohort_start"], c["customers"], c["retained"]) for c in response.json()["cohorts"]]
    assert cohorts == [("2023-01-02T00:00:00Z", 2, [2, 1, 1, 0, 1]), ("2023-01-09T00:00:00Z", 1, [1, 0, 0, 0, 0])]
    expected = ref.retention(posted, start, end, "week", 5, "purchase", "purchase", now)
    assert [(datetime.fromisoformat(c[0]), c[1], c[2]) for c in cohorts] == [
        (x["cohort_start"], x["customers"], x["retained"]) for x in expected]
    assert response.json()["cohorts"][0]["retention_rate"] == [1.0, 0.5, 0.5, 0.0, 0.5]

    # Any-stage monthly retention: January's cohort is a, b, c.
    response = api.get("/v1/retention", params={"start": "2023-01-01T00:00:00Z", "end": "2023-03-01T00:00:00Z",
                                                "interval": "month", "periods": 3, "cohort_stage": "any",
                                                "return_stage": "any"})
    assert response.status_code == 200, response.text
    got = [(c["cohort_start"], c["customers"], c["retained"]) for c in response.json()["cohorts"]]
    expected = ref.retention(posted, datetime(2023, 1, 1, tzinfo=UTC), datetime(2023, 3, 1, tzinfo=UTC),
                             "month", 3, "any", "any", now)
    assert got == [(x["cohort_start"].isoformat().replace("+00:00", "Z"), x["customers"], x["retained"])
                   for x in expected]
    assert got[0] == ("2023-01-01T00:00:00Z", 3, [3, 1, 1])

    # Churn: active at 06-01 (since 03-03): a, e, f; at 09-01 (since 06-03): d, f.
    start, end = datetime(2023, 6, 1, tzinfo=UTC), datetime(2023, 9, 1, tzinfo=UTC)
    response = api.get("/v1/metrics/churn", params={"start": "2023-06-01T00:00:00Z", "end": "2023-09-01T00:00:00Z",
                                                    "active_days": 90})
    assert response.status_code == 200, response.text
    body = response.json()
    assert {k: body[k] for k in ("customers_at_start", "customers_at_end", "churned")} == {
        "customers_at_start": 3, "customers_at_end": 2, "churned": 2}
    expected = ref.churn(posted, start, end, 90)
    assert {k: body[k] for k in expected} == expected

    # Monthly lifecycle February to September (January, the interval before, is also 2023).
    response = api.get("/v1/lifecycle", params={"start": "2023-02-01T00:00:00Z", "end": "2023-10-01T00:00:00Z",
                                                "interval": "month"})
    assert response.status_code == 200, response.text
    series = response.json()["series"]
    expected = ref.lifecycle(posted, datetime(2023, 2, 1, tzinfo=UTC), datetime(2023, 10, 1, tzinfo=UTC),
                             "month", now)
    kinds = ("new", "returning", "resurrecting", "dormant")
    assert [(p["interval_start"], *(p[k] for k in kinds)) for p in series] == [
        (x["interval_start"].isoformat().replace("+00:00", "Z"), *(x[k] for k in kinds)) for x in expected]
    # February: d new; c returning; a and b dormant.
    assert series[0] == {"interval_start": "2023-02-01T00:00:00Z", "new": 1, "returning": 1, "resurrecting": 0,
                         "dormant": 2}
