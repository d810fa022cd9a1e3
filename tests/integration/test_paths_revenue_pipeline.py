"""Transitions and revenue through the real stack: HTTP ingest -> Kafka -> processors ->
ClickHouse -> query API, on a small designed data set in 2022 (this file's year on the shared
stack) of customers prefixed "path-" (journeys, February to April) and "rev-" (orders, July to
December). Expectations are worked out by hand; transitions are also checked against the
pure-Python reference."""
from __future__ import annotations

from datetime import datetime, timezone

from tests.api.transitions_reference import transitions as reference_transitions
from tests.conftest import wait_for

UTC = timezone.utc
MINE = "(customer_id LIKE 'path-%' OR customer_id LIKE 'rev-%')"
YEAR = {"start": "2022-01-01T00:00:00Z", "end": "2023-01-01T00:00:00Z"}
H1 = {"start": "2022-01-01T00:00:00Z", "end": "2022-07-01T00:00:00Z"}
H2 = {"start": "2022-07-01T00:00:00Z", "end": "2023-01-01T00:00:00Z"}


def event(n: int, customer: str, stage: str, channel: str, touchpoint: str, occurred_at: str, **extra) -> dict:
    return {"event_id": f"{customer}-ev-{n:02d}", "customer_id": customer, "stage": stage, "channel": channel,
            "touchpoint": touchpoint, "event": f"{stage}_event", "occurred_at": occurred_at, **extra}


EUR = {"currency": "EUR"}
EVENTS = [
    event(1, "path-a", "awareness", "social", "ad", "2022-02-01T10:00:00Z"),
    event(2, "path-a", "awareness", "web", "site", "2022-02-01T10:00:30Z"),
    event(3, "path-a", "consideration", "web", "site", "2022-02-01T10:02:00Z"),
    event(4, "path-a", "purchase", "pos", "store", "2022-02-03T09:00:00Z", revenue=25.5, **EUR),
    event(5, "path-a", "awareness", "social", "ad", "2022-02-05T00:00:00Z"),
    event(6, "path-b", "consideration", "web", "site", "2022-03-01T12:00:00Z"),
    # same instant as the consideration: canonical stage order puts it after
    event(7, "path-b", "purchase", "web", "site", "2022-03-01T12:00:00Z", revenue=10, currency="USD"),
    event(8, "path-c", "awareness", "social", "ad", "2022-04-10T08:00:00Z"),
    event(9, "path-c", "consideration", "web", "site", "2022-04-10T09:00:00Z"),
    event(10, "rev-a", "purchase", "pos", "till", "2022-07-04T10:00:00Z", revenue=19.99, **EUR),
    event(11, "rev-a", "purchase", "web", "shop", "2022-07-31T23:59:59.999Z", revenue=5.01, **EUR),  # Sunday
    event(12, "rev-a", "purchase", "web", "shop", "2022-08-01T00:00:00Z", revenue=100, currency="USD"),
    event(13, "rev-b", "purchase", "web", "shop", "2022-07-15T12:00:00+02:00", revenue=0.1, **EUR),
    event(14, "rev-b", "use", "app", "app", "2022-09-01T00:00:00Z", revenue=0.2, **EUR),
    event(15, "rev-b", "retention", "email", "newsletter", "2022-09-02T00:00:00Z"),
    event(16, "rev-c", "purchase", "pos", "till", "2022-12-31T23:59:59.999Z", revenue=1000, currency="JPY"),
]
LATE = event(17, "path-b", "awareness", "social", "ad", "2022-03-01T11:00:00Z")  # b's first event, sent last


def rows(events: list[dict]) -> list[dict]:
    return [{**e, "occurred_ms": int(datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00")).timestamp()
                                     * 1000)} for e in events]


def table(response) -> list[tuple]:
    assert response.status_code == 200, response.text
    return [(t["from"], t["to"], t["customers"], t["transitions"], t["median_seconds"])
            for t in response.json()["transitions"]]


def table_of(expected: list[dict]) -> list[tuple]:
    return [(t["from"], t["to"], t["customers"], t["transitions"], t["median_seconds"]) for t in expected]


def money(entry: dict) -> tuple:
    return entry["revenue"], entry["orders"], entry["buyers"], entry["average_order_value"]


def test_transitions_and_revenue_through_the_pipeline(ingest, api, clickhouse):
    # newest first, then a duplicate of two events in their own batch, then b's first event
    for batch in ([*reversed(EVENTS)], [EVENTS[0], EVENTS[9]], [LATE]):
        response = ingest.post("/v1/events", json={"events": batch})
        assert response.status_code == 202, response.text
    unique = len(EVENTS) + 1
    count = f"SELECT uniqExact(event_id) FROM events WHERE {MINE}"
    wait_for(lambda: clickhouse.query(count).result_rows[0][0] >= unique, timeout_s=60,
             what="path-/rev- events in ClickHouse")
    assert clickhouse.query(count).result_rows[0][0] == unique
    posted = rows([*EVENTS, EVENTS[0], EVENTS[9], LATE])
    h1_ms = (1640995200000, 1656633600000)

    # Stages, first half: a aw(10:00, 10:00:30) co(10:02) pu(Feb 3 09:00) aw(Feb 5); b aw co=pu; c aw co.
    stages = table(api.get("/v1/transitions", params=H1))
    assert stages == [
        ("(start)", "awareness", 3, 3, None),
        ("awareness", "consideration", 3, 3, 3600.0),  # gaps 90, 3600, 3600
        ("consideration", "purchase", 2, 2, 84540.0),  # gaps 169080 and 0 (equal times)
        ("purchase", "awareness", 1, 1, 140400.0),
    ]
    assert stages == table_of(reference_transitions(posted, *h1_ms))

    # Touchpoints, top 2 (ad and site, 3 customers each): a's "store" becomes (other).
    touch = table(api.get("/v1/transitions", params={**H1, "level": "touchpoint", "top": 2}))
    assert touch == [
        ("(start)", "ad", 3, 3, None),
        ("ad", "site", 3, 3, 3600.0),  # gaps 30, 3600, 3600
        ("(other)", "ad", 1, 1, 140400.0),
        ("site", "(other)", 1, 1, 169080.0),
    ]
    assert touch == table_of(reference_transitions(posted, *h1_ms, level="touchpoint", top=2))

    # Web only: the social awareness events drop out before runs are collapsed.
    web = table(api.get("/v1/transitions", params={**H1, "channel": "web"}))
    assert web == [
        ("(start)", "consideration", 2, 2, None),
        ("(start)", "awareness", 1, 1, None),
        ("awareness", "consideration", 1, 1, 90.0),
        ("consideration", "purchase", 1, 1, 0.0),
    ]

    # Revenue, whole year, monthly: per currency, the duplicate order counted once.
    response = api.get("/v1/metrics/revenue", params={**YEAR, "interval": "month"})
    assert response.status_code == 200, response.text
    eur, jpy, usd = response.json()["currencies"]
    assert (eur["currency"], jpy["currency"], usd["currency"]) == ("EUR", "JPY", "USD")
    assert money(eur) == ("50.8000", 5, 3, "10.1600")
    assert [(p["interval_start"], *money(p)) for p in eur["series"]] == [
        ("2022-02-01T00:00:00Z", "25.5000", 1, 1, "25.5000"),
        ("2022-07-01T00:00:00Z", "25.1000", 3, 2, "8.3667"),
        ("2022-09-01T00:00:00Z", "0.2000", 1, 1, "0.2000"),
    ]
    assert money(usd) == ("110.0000", 2, 2, "55.0000")
    assert [p["interval_start"] for p in usd["series"]] == ["2022-03-01T00:00:00Z", "2022-08-01T00:00:00Z"]
    assert money(jpy) == ("1000.0000", 1, 1, "1000.0000")
    assert "groups" not in eur

    # Second half by channel and week (weeks start Monday, UTC).
    response = api.get("/v1/metrics/revenue", params={**H2, "interval": "week", "group_by": "channel"})
    assert response.status_code == 200, response.text
    eur, jpy, usd = response.json()["currencies"]
    assert money(eur) == ("25.3000", 4, 2, "6.3250")
    assert [(g["group"], *money(g)) for g in eur["groups"]] == [
        ("pos", "19.9900", 1, 1, "19.9900"), ("web", "5.1100", 2, 2, "2.5550"), ("app", "0.2000", 1, 1, "0.2000")]
    assert [(p["interval_start"], p["revenue"]) for p in eur["series"]] == [
        ("2022-07-04T00:00:00Z", "19.9900"), ("2022-07-11T00:00:00Z", "0.1000"),
        ("2022-07-25T00:00:00Z", "5.0100"), ("2022-08-29T00:00:00Z", "0.2000")]
    web = next(g for g in eur["groups"] if g["group"] == "web")
    assert [p["interval_start"] for p in web["series"]] == ["2022-07-11T00:00:00Z", "2022-07-25T00:00:00Z"]
    assert [(g["group"], g["revenue"]) for g in usd["groups"]] == [("web", "100.0000")]
    assert jpy["series"] == [{"interval_start": "2022-12-26T00:00:00Z", "revenue": "1000.0000", "orders": 1,
                              "buyers": 1, "average_order_value": "1000.0000"}]

    # Lifetime value of one customer; a customer without orders; an unknown one.
    response = api.get("/v1/customers/rev-a/value")
    assert response.status_code == 200, response.text
    assert response.json() == {"customer_id": "rev-a", "currencies": [
        {"currency": "EUR", "revenue": "25.0000", "orders": 2,
         "first_order_at": "2022-07-04T10:00:00.000Z", "last_order_at": "2022-07-31T23:59:59.999Z"},
        {"currency": "USD", "revenue": "100.0000", "orders": 1,
         "first_order_at": "2022-08-01T00:00:00.000Z", "last_order_at": "2022-08-01T00:00:00.000Z"},
    ]}
    assert api.get("/v1/customers/path-c/value").json() == {"customer_id": "path-c", "currencies": []}
    assert api.get("/v1/customers/rev-nobody/value").status_code == 404
