"""NPS, CSAT, CES, visits, profile and recommendations through the real stack: HTTP ingest ->
Kafka -> processors -> ClickHouse -> query API, on a small designed data set in 2016 (this
file's year on the shared stack) of customers prefixed "cx-", buying items prefixed "cx-" (so
nobody else's baskets reach the recommendations). A purchase is posted twice and a customer's
first event arrives last. Expectations are worked out by hand and checked against the
pure-Python reference too."""
from __future__ import annotations

from datetime import datetime, timezone

from tests.api import experience_reference as ref
from tests.conftest import wait_for

UTC = timezone.utc
MINE = "customer_id LIKE 'cx-%'"
YEAR = {"start": "2016-01-01T00:00:00Z", "end": "2017-01-01T00:00:00Z"}
TWO_WEEKS = {"start": "2016-02-29T00:00:00Z", "end": "2016-03-14T00:00:00Z"}  # Monday to Monday


def event(n: int, customer: str, stage: str, channel: str, touchpoint: str, occurred_at: str, **extra) -> dict:
    return {"event_id": f"cx-ev-{n:02d}", "customer_id": f"cx-{customer}", "stage": stage, "channel": channel,
            "touchpoint": touchpoint, "event": f"{stage}_event", "occurred_at": occurred_at, **extra}


def item(name: str) -> dict:
    return {"properties": {"item": f"cx-{name}"}}


EUR = {"currency": "EUR"}
EVENTS = [
    # ann: a regular at the till around 8
    event(2, "ann", "purchase", "pos", "till", "2016-03-01T08:00:00Z", **item("latte"), revenue=3.5, **EUR,
          feedback={"nps": 10, "csat": 5}),
    event(3, "ann", "retention", "pos", "till", "2016-03-02T08:10:00Z", **item("latte"), revenue=3.5, **EUR),
    event(4, "ann", "retention", "app", "app_order", "2016-03-04T08:20:00Z", **item("scone"), revenue=2.25, **EUR,
          feedback={"csat": 2, "comment": "stale"}),
    event(5, "ann", "use", "app", "app_survey", "2016-03-05T12:00:00Z", feedback={"nps": 6, "ces": 6}),
    # ben: same latte (09:00+01:00 is 08:00 UTC), then a bagel paid in dollars
    event(6, "ben", "purchase", "pos", "till", "2016-03-01T09:00:00+01:00", **item("latte"), revenue=3.5, **EUR,
          feedback={"nps": 9}),
    event(7, "ben", "retention", "web", "shop", "2016-03-08T17:00:00Z", **item("bagel"), revenue=4, currency="USD",
          feedback={"csat": 4, "ces": 2}),
    # cat: same scone, then a juice, and a review
    event(8, "cat", "purchase", "web", "shop", "2016-03-07T17:30:00Z", **item("scone"), revenue=2.25, **EUR),
    event(9, "cat", "retention", "web", "shop", "2016-03-09T18:00:00Z", **item("juice"), revenue=3, **EUR,
          feedback={"nps": 3, "comment": "slow"}),
    event(10, "cat", "advocacy", "other", "google_maps", "2016-03-10T10:00:00Z", feedback={"rating": 5, "nps": 9}),
    # dan: tea nobody else buys; a bagel only looked at
    event(11, "dan", "purchase", "pos", "till", "2016-03-03T08:05:00Z", **item("tea"), revenue=2, **EUR),
    event(12, "dan", "consideration", "web", "shop", "2016-03-03T07:00:00Z", **item("bagel")),
]
LATE = event(1, "ann", "awareness", "social", "instagram", "2016-03-01T07:55:00Z")  # ann's first, sent last


def parsed(events: list[dict]) -> list[dict]:
    return [{**e, "occurred_at": datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00"))} for e in events]


def get(api, path: str, **params) -> dict:
    response = api.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def figures(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in ("start", "end", "group_by", "interval")}


def test_experience_insights_through_the_pipeline(ingest, api, clickhouse):
    # newest first, ann's first order again in its own batch, ann's first event last
    for batch in ([*reversed(EVENTS)], [EVENTS[0]], [LATE]):
        response = ingest.post("/v1/events", json={"events": batch})
        assert response.status_code == 202, response.text
    unique = len(EVENTS) + 1
    count = f"SELECT uniqExact(event_id) FROM events WHERE {MINE}"
    wait_for(lambda: clickhouse.query(count).result_rows[0][0] >= unique, timeout_s=60, what="cx- events")
    assert clickhouse.query(count).result_rows[0][0] == unique
    posted = parsed([*EVENTS, EVENTS[0], LATE])
    start, end = datetime(2016, 1, 1, tzinfo=UTC), datetime(2017, 1, 1, tzinfo=UTC)

    # NPS: 10, 6, 9, 3, 9 (the duplicate once): 3 promoters, 2 detractors of 5
    nps = get(api, "/v1/metrics/nps", **YEAR, group_by="channel")
    assert (nps["score"], nps["responses"], nps["promoters"], nps["passives"], nps["detractors"]) == (20.0, 5, 3, 0, 2)
    assert [(g["group"], g["responses"], g["score"]) for g in nps["groups"]] == [
        ("pos", 2, 100.0), ("app", 1, -100.0), ("other", 1, 100.0), ("web", 1, -100.0)]
    assert figures(nps) == ref.scores(posted, "nps", start, end, "channel")
    weekly = get(api, "/v1/metrics/nps", **TWO_WEEKS, interval="week")
    assert [(p["interval_start"], p["responses"], p["score"]) for p in weekly["series"]] == [
        ("2016-02-29T00:00:00Z", 3, 33.3), ("2016-03-07T00:00:00Z", 2, 0.0)]
    assert figures(weekly) == ref.scores(posted, "nps", datetime(2016, 2, 29, tzinfo=UTC),
                                         datetime(2016, 3, 14, tzinfo=UTC), "none", "week")

    # CSAT 5, 2, 4: two of three top-2-box, mean 11 / 3; CES 6, 2 (high is easy)
    csat = get(api, "/v1/metrics/csat", **YEAR)
    assert (csat["score"], csat["mean"], csat["responses"], csat["satisfied"]) == (66.7, 3.67, 3, 2)
    assert figures(csat) == ref.scores(posted, "csat", start, end)
    ces = get(api, "/v1/metrics/ces", **YEAR)
    assert (ces["score"], ces["easy_percent"], ces["responses"], ces["easy"]) == (4.0, 50.0, 2, 1)
    assert figures(ces) == ref.scores(posted, "ces", start, end)

    # Visits per UTC hour: 8 o'clock is the rush (ann three times, ben, dan)
    hours = get(api, "/v1/metrics/visits", **YEAR)["buckets"]
    assert {b["bucket"]: (b["events"], b["customers"]) for b in hours if b["events"]} == {
        7: (2, 2), 8: (5, 3), 10: (1, 1), 12: (1, 1), 17: (2, 2), 18: (1, 1)}
    assert hours == ref.visits(posted, start, end)
    till = get(api, "/v1/metrics/visits", **YEAR, touchpoint="till", stage="purchase", group_by="weekday")["buckets"]
    assert [(b["bucket"], b["events"], b["customers"]) for b in till] == [
        (1, 0, 0), (2, 2, 2), (3, 0, 0), (4, 1, 1), (5, 0, 0), (6, 0, 0), (7, 0, 0)]  # Tue 1 March, Thu 3 March
    assert till == ref.visits(posted, start, end, "weekday", "till", "purchase")

    # ann's profile
    profile = get(api, "/v1/customers/cx-ann/profile")
    assert profile == ref.profile(posted, "cx-ann")
    assert (profile["first_seen"], profile["last_seen"], profile["events"], profile["current_stage"]) == (
        "2016-03-01T07:55:00.000Z", "2016-03-05T12:00:00.000Z", 5, "use")
    assert profile["orders"] == 3 and profile["revenue"] == [{"currency": "EUR", "orders": 3, "revenue": "9.2500"}]
    assert profile["favourite_items"] == [{"name": "cx-latte", "events": 2}, {"name": "cx-scone", "events": 1}]
    assert profile["preferred_channel"] == "app"  # app 2, pos 2: ties by name
    assert profile["visit_hours"][0] == {"value": 8, "days": 3}
    assert profile["last_nps"] == {"score": 6, "at": "2016-03-05T12:00:00.000Z", "event_id": "cx-ev-05"}
    assert profile["last_csat"] == {"score": 2, "at": "2016-03-04T08:20:00.000Z", "event_id": "cx-ev-04"}
    assert profile["feedback_items"] == profile["open_feedback_items"] == 2
    ben = get(api, "/v1/customers/cx-ben/profile")
    assert ben["revenue"] == [{"currency": "EUR", "orders": 1, "revenue": "3.5000"},
                              {"currency": "USD", "orders": 1, "revenue": "4.0000"}]
    assert api.get("/v1/customers/cx-nobody/profile").status_code == 404

    # Recommendations: ann's favourites are latte and scone; ben (latte) and cat (scone) share them
    recs = get(api, "/v1/customers/cx-ann/recommendations")
    assert recs == {"customer_id": "cx-ann", "based_on": ["cx-latte", "cx-scone"], "similar_customers": 2,
                    "recommendations": [{"item": "cx-bagel", "customers": 1, "score": 0.5},
                                        {"item": "cx-juice", "customers": 1, "score": 0.5}]}
    assert recs == ref.recommendations(posted, "cx-ann")
    assert get(api, "/v1/customers/cx-dan/recommendations")["recommendations"] == []
    assert api.get("/v1/customers/cx-nobody/recommendations").status_code == 404
