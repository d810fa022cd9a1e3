"""Property test: GET /v1/metrics/revenue equals a Decimal reference written from the definitions.

Random orders over ~10 weeks around a month and a year boundary, several currencies (and none),
revenues with 4 decimals, exact copies inserted again (unmerged), events without revenue,
random arrival order, ranges, intervals and groupings.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.events import STAGES
from tests.api.conftest import make_event
from tests.conftest import examples

UTC = timezone.utc
T0 = datetime(2021, 12, 20, tzinfo=UTC)
HOUR = timedelta(hours=1)
SPAN_HOURS = 24 * 70


def bucket(moment: datetime, interval: str) -> date:
    day = moment.astimezone(UTC).date()
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def figures(orders: list[dict[str, Any]]) -> dict[str, Any]:
    total = sum((Decimal(str(o["revenue"])) for o in orders), Decimal(0))
    return {"revenue": str(total.quantize(Decimal("0.0001"))), "orders": len(orders),
            "buyers": len({o["customer_id"] for o in orders}),
            "average_order_value": str((total / len(orders)).quantize(Decimal("0.0001"), ROUND_HALF_EVEN))}


def series(orders: list[dict[str, Any]], interval: str) -> list[dict[str, Any]]:
    by_bucket = defaultdict(list)
    for o in orders:
        by_bucket[bucket(o["occurred_at"], interval)].append(o)
    return [{"interval_start": f"{b:%Y-%m-%d}T00:00:00Z", **figures(v)} for b, v in sorted(by_bucket.items())]


def reference(events: list[dict[str, Any]], start: datetime, end: datetime, interval: str, group_by: str):
    unique = {}
    for e in events:
        if e.get("revenue") is not None and start <= e["occurred_at"] < end:
            unique[(e["customer_id"], e["occurred_at"], e["event_id"])] = e
    by_currency = defaultdict(list)
    for e in unique.values():
        by_currency[e.get("currency") or ""].append(e)
    out = []
    for currency, orders in sorted(by_currency.items()):
        entry = {"currency": currency or None, **figures(orders)}
        if interval != "none":
            entry["series"] = series(orders, interval)
        if group_by != "none":
            by_group = defaultdict(list)
            for o in orders:
                by_group[o[group_by]].append(o)
            groups = []
            for name, members in by_group.items():
                group = {"group": name, **figures(members)}
                if interval != "none":
                    group["series"] = series(members, interval)
                groups.append(group)
            entry["groups"] = sorted(groups, key=lambda g: (-Decimal(g["revenue"]), g["group"]))
        out.append(entry)
    return {"currencies": out}


@st.composite
def scenarios(draw):
    unique, copies = [], []
    for c in range(draw(st.integers(1, 6))):
        for _ in range(draw(st.integers(1, 6))):
            paid = draw(st.integers(0, 4)) > 0
            fields: dict[str, Any] = {
                "channel": draw(st.sampled_from(["web", "app", "pos"])),
                "touchpoint": draw(st.sampled_from(["shop", "till", "app_store"])),
            }
            if paid:
                # up to 99999.9999 in 4-decimal steps, including 0; a few small amounts share values
                fields["revenue"] = float(Decimal(draw(st.one_of(st.integers(0, 20), st.integers(0, 999_999_999))))
                                          / 10_000)
                currency = draw(st.sampled_from(["EUR", "EUR", "USD", "JPY", None]))
                if currency:
                    fields["currency"] = currency
            stage = draw(st.sampled_from(STAGES))
            when = T0 + HOUR * draw(st.integers(0, SPAN_HOURS)) + timedelta(milliseconds=draw(st.integers(0, 999)))
            e = make_event(f"r{c}", stage, when, **fields)
            unique.append(e)
            copies += [e] * draw(st.integers(0, 1))
    physical = unique + copies
    arrival = [physical[i] for i in draw(st.permutations(range(len(physical))))]
    cut = draw(st.integers(0, len(arrival)))
    start = T0 + HOUR * draw(st.integers(-24, SPAN_HOURS // 2))
    end = start + HOUR * draw(st.integers(1, SPAN_HOURS))
    interval = draw(st.sampled_from(["none", "day", "week", "month"]))
    group_by = draw(st.sampled_from(["none", "channel", "touchpoint", "stage"]))
    return physical, [arrival[:cut], arrival[cut:]], start, end, interval, group_by


@settings(max_examples=examples(80), deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios())
def test_api_matches_reference(api, events, scenario):
    physical, batches, start, end, interval, group_by = scenario
    events.truncate()
    for batch in batches:
        events.insert(batch)
    params = {"start": start.isoformat(), "end": end.isoformat(), "interval": interval, "group_by": group_by}
    response = api.get("/v1/metrics/revenue", params=params)
    assert response.status_code == 200, response.text
    assert response.json() == reference(physical, start, end, interval, group_by)
