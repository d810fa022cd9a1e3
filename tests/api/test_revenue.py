"""GET /v1/metrics/revenue and GET /v1/customers/{id}/value: hand-made cases and validation."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.api.conftest import make_event

UTC = timezone.utc
RANGE = {"start": "2022-01-01T00:00:00Z", "end": "2022-03-01T00:00:00Z"}


def t(day: int, hour: int = 12, month: int = 1) -> datetime:
    return datetime(2022, month, day, hour, tzinfo=UTC)


def order(customer: str, when: datetime, revenue: float, currency: str | None = "EUR", **fields):
    extra = {"currency": currency} if currency else {}
    return make_event(customer, "purchase", when, revenue=revenue, **extra, **fields)


def get(api, **params):
    response = api.get("/v1/metrics/revenue", params={**RANGE, **params})
    assert response.status_code == 200, response.text
    return response.json()


def test_per_currency_totals_never_mixed(api, events):
    events.insert([
        order("a", t(3), 10.5), order("a", t(4), 4.25), order("b", t(5), 1.25),
        order("a", t(6), 100, "USD"),
        make_event("c", "awareness", t(3)),  # no revenue: not an order
    ])
    assert get(api) == {"currencies": [
        {"currency": "EUR", "revenue": "16.0000", "orders": 3, "buyers": 2, "average_order_value": "5.3333"},
        {"currency": "USD", "revenue": "100.0000", "orders": 1, "buyers": 1, "average_order_value": "100.0000"},
    ]}


def test_sums_are_exact_decimals(api, events):
    events.insert([order("a", t(d), 0.1) for d in range(1, 11)] + [order("b", t(2), 0.2)]
                  + [order("c", t(d), 99999999.9999) for d in range(1, 4)])
    [eur] = get(api)["currencies"]
    # as floats, ten 0.1s make 0.9999999999999999 and 3 x 99999999.9999 is not 299999999.9997
    assert eur["revenue"] == "300000001.1997"
    assert eur["orders"] == 14


def test_average_rounds_half_even_and_zero_revenue_is_an_order(api, events):
    events.insert([order("a", t(1), 0.0001), order("a", t(2), 0.0004), order("b", t(3), 0, "USD")])
    eur, usd = get(api)["currencies"]
    assert eur["average_order_value"] == "0.0002"  # 0.00025: half-even, not half-up 0.0003
    assert usd == {"currency": "USD", "revenue": "0.0000", "orders": 1, "buyers": 1, "average_order_value": "0.0000"}


def test_duplicates_count_once_and_range_is_half_open(api, events):
    first = order("a", datetime(2022, 1, 1, tzinfo=UTC), 5)
    events.insert([first, order("a", t(2), 7), order("b", datetime(2022, 3, 1, tzinfo=UTC), 1000),
                   order("b", datetime(2021, 12, 31, 23, 59, 59, 999000, tzinfo=UTC), 1000)])
    events.insert([first])  # an unmerged copy in another part
    assert get(api)["currencies"] == [
        {"currency": "EUR", "revenue": "12.0000", "orders": 2, "buyers": 1, "average_order_value": "6.0000"}]


def test_revenue_without_currency_is_its_own_bucket(api, events):
    events.insert([order("a", t(1), 3, None), order("a", t(1, 13), 4)])
    answer = get(api)["currencies"]
    assert [(c["currency"], c["revenue"]) for c in answer] == [(None, "3.0000"), ("EUR", "4.0000")]


def test_weekly_series_starts_monday_utc(api, events):
    events.insert([
        order("a", datetime(2022, 1, 2, 23, 59, tzinfo=UTC), 1),  # Sunday: week of Mon 2021-12-27
        order("a", datetime(2022, 1, 3, 0, 30, 0, tzinfo=UTC), 2),  # Monday
        # Sunday 23:30 at -02:00 is Monday 01:30 UTC
        order("b", datetime.fromisoformat("2022-01-09T23:30:00-02:00"), 4),
        order("b", datetime(2022, 2, 20, tzinfo=UTC), 8, "USD"),
    ])
    eur, usd = get(api, interval="week")["currencies"]
    assert eur["series"] == [
        {"interval_start": "2021-12-27T00:00:00Z", "revenue": "1.0000", "orders": 1, "buyers": 1,
         "average_order_value": "1.0000"},
        {"interval_start": "2022-01-03T00:00:00Z", "revenue": "2.0000", "orders": 1, "buyers": 1,
         "average_order_value": "2.0000"},
        {"interval_start": "2022-01-10T00:00:00Z", "revenue": "4.0000", "orders": 1, "buyers": 1,
         "average_order_value": "4.0000"},
    ]
    assert [p["interval_start"] for p in usd["series"]] == ["2022-02-14T00:00:00Z"]
    assert "groups" not in eur
    daily = get(api, interval="day")["currencies"][0]["series"]
    assert [p["interval_start"] for p in daily] == ["2022-01-02T00:00:00Z", "2022-01-03T00:00:00Z",
                                                    "2022-01-10T00:00:00Z"]
    monthly = get(api, interval="month")["currencies"]
    assert [(p["interval_start"], p["revenue"], p["buyers"]) for p in monthly[0]["series"]] == [
        ("2022-01-01T00:00:00Z", "7.0000", 2)]
    assert [p["interval_start"] for p in monthly[1]["series"]] == ["2022-02-01T00:00:00Z"]


def test_groups_by_channel_stage_touchpoint_with_series(api, events):
    events.insert([
        order("a", t(3), 10, channel="web", touchpoint="shop"),
        order("b", t(3), 30, channel="pos", touchpoint="till"),
        order("b", t(20), 5, channel="web", touchpoint="shop"),
        make_event("c", "use", t(21), revenue=2.5, currency="EUR", channel="app", touchpoint="upgrade"),
    ])
    [eur] = get(api, group_by="channel")["currencies"]
    assert "series" not in eur
    assert eur["groups"] == [
        {"group": "pos", "revenue": "30.0000", "orders": 1, "buyers": 1, "average_order_value": "30.0000"},
        {"group": "web", "revenue": "15.0000", "orders": 2, "buyers": 2, "average_order_value": "7.5000"},
        {"group": "app", "revenue": "2.5000", "orders": 1, "buyers": 1, "average_order_value": "2.5000"},
    ]
    [eur] = get(api, group_by="stage")["currencies"]
    assert [(g["group"], g["revenue"]) for g in eur["groups"]] == [("purchase", "45.0000"), ("use", "2.5000")]
    [eur] = get(api, group_by="touchpoint", interval="week")["currencies"]
    assert (eur["revenue"], eur["buyers"]) == ("47.5000", 3)
    assert [p["interval_start"] for p in eur["series"]] == ["2022-01-03T00:00:00Z", "2022-01-17T00:00:00Z"]
    shop = next(g for g in eur["groups"] if g["group"] == "shop")
    assert [(p["interval_start"], p["revenue"]) for p in shop["series"]] == [
        ("2022-01-03T00:00:00Z", "10.0000"), ("2022-01-17T00:00:00Z", "5.0000")]
    assert [g["group"] for g in eur["groups"]] == ["till", "shop", "upgrade"]


def test_nothing_in_range(api, events):
    assert get(api, interval="day", group_by="stage") == {"currencies": []}


@pytest.mark.parametrize(
    ("query", "field"),
    [("interval=year", "interval"), ("group_by=country", "group_by"), ("interval=", "interval"),
     ("currency=EUR", "currency")],
)
def test_invalid_revenue_query_is_422_naming_the_field(api, query, field):
    response = api.get(f"/v1/metrics/revenue?start={RANGE['start']}&end={RANGE['end']}&{query}")
    assert response.status_code == 422, response.text
    assert {e["loc"][-1] for e in response.json()["detail"]} == {field}


def test_bad_range_is_422(api):
    response = api.get("/v1/metrics/revenue", params={"start": "2022-01-01", "end": RANGE["end"]})
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["query", "start"]]


# --- customer value ---------------------------------------------------------------------------

def test_customer_value_per_currency_all_time(api, events):
    first = order("a", datetime(2020, 5, 1, 8, 0, 0, 250000, tzinfo=UTC), 19.99)
    events.insert([first, order("a", t(2), 0.01), order("a", t(9), 50, "USD"), order("a", t(10), 1, None),
                   make_event("a", "awareness", t(11)), order("b", t(3), 1000)])
    events.insert([first])
    response = api.get("/v1/customers/a/value")
    assert response.status_code == 200, response.text
    assert response.json() == {"customer_id": "a", "currencies": [
        {"currency": None, "revenue": "1.0000", "orders": 1,
         "first_order_at": "2022-01-10T12:00:00.000Z", "last_order_at": "2022-01-10T12:00:00.000Z"},
        {"currency": "EUR", "revenue": "20.0000", "orders": 2,
         "first_order_at": "2020-05-01T08:00:00.250Z", "last_order_at": "2022-01-02T12:00:00.000Z"},
        {"currency": "USD", "revenue": "50.0000", "orders": 1,
         "first_order_at": "2022-01-09T12:00:00.000Z", "last_order_at": "2022-01-09T12:00:00.000Z"},
    ]}


def test_customer_without_orders_has_no_currencies_and_unknown_is_404(api, events):
    events.insert([make_event("browser", "awareness", t(1))])
    assert api.get("/v1/customers/browser/value").json() == {"customer_id": "browser", "currencies": []}
    response = api.get("/v1/customers/nobody/value")
    assert response.status_code == 404
    assert "nobody" in response.json()["detail"]


def test_customer_id_too_long_is_422(api):
    response = api.get(f"/v1/customers/{'x' * 257}/value")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "customer_id"]


def test_openapi_has_examples(api):
    spec = api.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert schemas["RevenueResponse"]["examples"]
    assert schemas["CustomerValueResponse"]["examples"]
    params = {p["name"] for p in spec["paths"]["/v1/metrics/revenue"]["get"]["parameters"]}
    assert params == {"start", "end", "interval", "group_by"}
