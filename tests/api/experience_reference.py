"""Pure-Python reference for the customer-experience insights (services/api/queries/experience.py,
profile.py, recommendations.py, visits.py), written straight from their definitions with
fractions and datetime calendar maths, one event at a time, for small test data only.

Events are TouchpointEvent-like dicts (occurred_at an aware datetime or RFC 3339); a repeated
(customer_id, event_id) is a duplicate copy and counts once.

Also here: a hypothesis strategy of event data with ties on hour, day, week and month
boundaries, feedback of every kind, items and revenue, shared by the property tests.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import strategies as st

from schemas.events import STAGES
from tests.api.cohort_reference import step, truncate

UTC = timezone.utc
Event = Mapping[str, Any]


def unique(events: Iterable[Event]) -> list[Event]:
    """The first copy of each (customer_id, event_id)."""
    seen: set[tuple[str, str]] = set()
    out = []
    for e in events:
        key = (e["customer_id"], e["event_id"])
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def utc(e: Event) -> datetime:
    t = e["occurred_at"]
    if isinstance(t, str):
        t = datetime.fromisoformat(t.replace("Z", "+00:00"))
    return t.astimezone(UTC)


def iso_ms(t: datetime) -> str:
    t = t.astimezone(UTC)
    return f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 1000:03d}Z"


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def half_away(x: Fraction, places: int) -> float:
    """x rounded half away from zero to `places` decimals."""
    n = math.floor(abs(x) * 10**places + Fraction(1, 2))
    return float(Fraction(n if x >= 0 else -n, 10**places))


def _percent(part: int, whole: int) -> float | None:
    return half_away(Fraction(100 * part, whole), 1) if whole else None


def _mean(scores: list[int]) -> float | None:
    return half_away(Fraction(sum(scores), len(scores)), 2) if scores else None


# --- NPS, CSAT, CES ---------------------------------------------------------------------------


def figures(metric: str, scores: list[int]) -> dict[str, Any]:
    n = len(scores)
    if metric == "nps":
        promoters = sum(9 <= s <= 10 for s in scores)
        passives = sum(7 <= s <= 8 for s in scores)
        detractors = sum(0 <= s <= 6 for s in scores)
        return {"score": _percent(promoters - detractors, n), "responses": n, "promoters": promoters,
                "passives": passives, "detractors": detractors}
    if metric == "csat":
        satisfied = sum(s in (4, 5) for s in scores)
        return {"score": _percent(satisfied, n), "mean": _mean(scores), "responses": n, "satisfied": satisfied}
    easy = sum(s in (5, 6, 7) for s in scores)
    return {"score": _mean(scores), "easy_percent": _percent(easy, n), "responses": n, "easy": easy}


def scores(events: Iterable[Event], metric: str, start: datetime, end: datetime, group_by: str = "none",
           interval: str = "none", channel: str | None = None) -> dict[str, Any]:
    """The body of GET /v1/metrics/{metric} minus the echoed parameters."""
    responses = [
        (e, e["feedback"][metric]) for e in unique(events)
        if start <= utc(e) < end and (e.get("feedback") or {}).get(metric) is not None
        and channel in (None, e["channel"])
    ]
    out = figures(metric, [s for _, s in responses])
    by_group: dict[str, list[int]] = defaultdict(list)
    if group_by != "none":
        for e, s in responses:
            by_group[e[group_by]].append(s)
    groups = [{"group": g, **figures(metric, v)} for g, v in by_group.items()]
    out["groups"] = sorted(groups, key=lambda g: (-g["responses"], g["group"]))
    out["series"] = []
    if interval != "none":
        s = truncate(start, interval)
        while s < end:
            inside = [v for e, v in responses if truncate(utc(e), interval) == s]
            out["series"].append({"interval_start": iso(s), **figures(metric, inside)})
            s = step(s, interval, 1)
    return out


# --- profile ----------------------------------------------------------------------------------


def item_of(e: Event) -> str | None:
    item = (e.get("properties") or {}).get("item")
    return item if isinstance(item, str) and item else None


def bought_item(e: Event) -> str | None:
    """The item an event bought: purchase stage or revenue, with a string item."""
    if e["stage"] == "purchase" or e.get("revenue") is not None:
        return item_of(e)
    return None


def _top(counts: Mapping[Any, int], n: int) -> list[tuple[Any, int]]:
    keys = sorted(counts, key=lambda k: (-counts[k], k))
    return [(k, counts[k]) for k in keys[:n]]


def _last(evs: list[Event], kind: str) -> dict[str, Any] | None:
    given = [e for e in evs if (e.get("feedback") or {}).get(kind) is not None]
    if not given:
        return None
    e = max(given, key=lambda e: (utc(e), e["event_id"]))
    return {"score": e["feedback"][kind], "at": iso_ms(utc(e)), "event_id": e["event_id"]}


def is_feedback_item(e: Event) -> bool:
    f = e.get("feedback") or {}

    def low(kind: str, limit: int) -> bool:
        return f.get(kind) is not None and f[kind] <= limit

    return bool(f.get("comment")) or low("nps", 6) or low("csat", 2) or low("ces", 3) or low("rating", 2)


def profile(events: Iterable[Event], customer_id: str) -> dict[str, Any] | None:
    """The body of GET /v1/customers/{id}/profile; None for an unknown customer."""
    evs = [e for e in unique(events) if e["customer_id"] == customer_id]
    if not evs:
        return None
    latest = max(evs, key=lambda e: (utc(e), STAGES.index(e["stage"])))
    orders = [e for e in evs if e.get("revenue") is not None]
    revenue: dict[str, list[Decimal]] = defaultdict(list)
    for e in orders:
        revenue[e.get("currency") or ""].append(Decimal(str(e["revenue"])))
    hours: dict[int, set] = defaultdict(set)
    weekdays: dict[int, set] = defaultdict(set)
    for e in evs:
        hours[utc(e).hour].add(utc(e).date())
        weekdays[utc(e).isoweekday()].add(utc(e).date())
    items = Counter(i for i in map(bought_item, evs) if i is not None)
    feedback_items = sum(map(is_feedback_item, evs))
    return {
        "customer_id": customer_id,
        "first_seen": iso_ms(min(map(utc, evs))),
        "last_seen": iso_ms(max(map(utc, evs))),
        "events": len(evs),
        "current_stage": latest["stage"],
        "orders": len(orders),
        "revenue": [{"currency": c or None, "orders": len(v), "revenue": f"{sum(v):.4f}"}
                    for c, v in sorted(revenue.items())],
        "favourite_items": [{"name": k, "events": n} for k, n in _top(items, 5)],
        "favourite_touchpoints": [{"name": k, "events": n}
                                  for k, n in _top(Counter(e["touchpoint"] for e in evs), 5)],
        "preferred_channel": _top(Counter(e["channel"] for e in evs), 1)[0][0],
        "visit_hours": [{"value": k, "days": n} for k, n in _top({h: len(d) for h, d in hours.items()}, 3)],
        "visit_weekdays": [{"value": k, "days": n} for k, n in _top({w: len(d) for w, d in weekdays.items()}, 3)],
        "last_nps": _last(evs, "nps"),
        "last_csat": _last(evs, "csat"),
        "feedback_items": feedback_items,
        "open_feedback_items": feedback_items,
        "anonymous_ids": [],  # events here carry none: identity has its own tests (test_identity.py)
        "traits": {},
    }


# --- recommendations --------------------------------------------------------------------------


def recommendations(events: Iterable[Event], customer_id: str, limit: int = 5) -> dict[str, Any] | None:
    """The body of GET /v1/customers/{id}/recommendations; None for an unknown customer."""
    evs = unique(events)
    if not any(e["customer_id"] == customer_id for e in evs):
        return None
    baskets: dict[str, Counter] = defaultdict(Counter)
    for e in evs:
        item = bought_item(e)
        if item is not None:
            baskets[e["customer_id"]][item] += 1
    mine = baskets.get(customer_id, Counter())
    favourites = [k for k, _ in _top(mine, 3)]
    similar = [c for c, basket in baskets.items() if c != customer_id and set(basket) & set(favourites)]
    counts = Counter(item for c in similar for item in baskets[c] if item not in mine)
    return {
        "customer_id": customer_id,
        "based_on": favourites,
        "similar_customers": len(similar),
        "recommendations": [{"item": k, "customers": n, "score": n / len(similar)} for k, n in _top(counts, limit)],
    }


# --- visits -----------------------------------------------------------------------------------


def visits(events: Iterable[Event], start: datetime, end: datetime, group_by: str = "hour",
           touchpoint: str | None = None, stage: str = "any") -> list[dict[str, int]]:
    """The buckets of GET /v1/metrics/visits."""
    per: dict[int, list[Event]] = defaultdict(list)
    for e in unique(events):
        if start <= utc(e) < end and touchpoint in (None, e["touchpoint"]) and stage in ("any", e["stage"]):
            per[utc(e).hour if group_by == "hour" else utc(e).isoweekday()].append(e)
    buckets = range(24) if group_by == "hour" else range(1, 8)
    return [{"bucket": b, "events": len(per[b]), "customers": len({e["customer_id"] for e in per[b]})}
            for b in buckets]


# --- test data -----------------------------------------------------------------------------

# Around Monday 2016-02-29 (a week start, in a leap February) and Tuesday 2016-03-01 (a month
# start): hour, day, week and month boundaries, each also 1 ms either side.
BASE = datetime(2016, 2, 26, tzinfo=UTC)
SPAN = timedelta(days=8)
BOUNDARIES = [datetime(2016, 2, 28, 23, tzinfo=UTC), datetime(2016, 2, 29, tzinfo=UTC),
              datetime(2016, 2, 29, 8, tzinfo=UTC), datetime(2016, 3, 1, tzinfo=UTC),
              datetime(2016, 3, 1, 9, tzinfo=UTC)]
CUSTOMERS = ["c1", "c2", "c3", "c4", "c5"]
ITEMS = ["latte", "mocha", "scone", "tea"]
TOUCHPOINTS = ["till", "app_order", "site"]
CHANNELS = ["pos", "app", "web"]


def ranges() -> st.SearchStrategy[tuple[datetime, datetime]]:
    """[start, end): the whole span (often), or from any instant for up to the whole span."""
    whole = st.just((BASE, BASE + SPAN))
    part = st.tuples(instants(), st.integers(1, SPAN // timedelta(milliseconds=1))).map(
        lambda r: (r[0], r[0] + timedelta(milliseconds=r[1])))
    return st.one_of(whole, part)


def instants() -> st.SearchStrategy[datetime]:
    """A boundary (exact or 1 ms off) or any millisecond of the span."""
    near = st.tuples(st.sampled_from(BOUNDARIES), st.sampled_from([-1, 0, 0, 1])).map(
        lambda b: b[0] + timedelta(milliseconds=b[1]))
    anywhere = st.integers(0, SPAN // timedelta(milliseconds=1)).map(lambda ms: BASE + timedelta(milliseconds=ms))
    return st.one_of(near, anywhere)


# Each score kind present about half the time; no feedback at all sometimes.
FEEDBACK = st.fixed_dictionaries({
    "nps": st.none() | st.integers(0, 10), "csat": st.none() | st.integers(1, 5),
    "ces": st.none() | st.integers(1, 7), "rating": st.none() | st.integers(1, 5),
    "comment": st.sampled_from([None, "", "too slow", "lovely"]),
}).map(lambda f: {k: v for k, v in f.items() if v is not None} or None)
PROPERTIES = st.sampled_from([{}, {"size": "large"}, {"item": 7}, {"item": ""}]) | st.sampled_from(ITEMS).map(
    lambda item: {"item": item})
REVENUE = st.sampled_from([{}, {}, {"revenue": 4.5, "currency": "EUR"}, {"revenue": 0, "currency": "EUR"},
                           {"revenue": 12.25, "currency": "USD"}, {"revenue": 3.1}, {"currency": "EUR"}])


@st.composite
def event_data(draw, make_event, *, customers: list[str] = CUSTOMERS, max_events: int = 7):
    """(unique events, insert batches): times from a small pool (ties), duplicate copies in
    separate inserts, random arrival order."""
    pool = draw(st.lists(instants(), min_size=1, max_size=6))
    events, copies = [], []
    for customer in customers[: draw(st.integers(1, len(customers)))]:
        for _ in range(draw(st.integers(1, max_events))):
            fields = {"channel": draw(st.sampled_from(CHANNELS)), "touchpoint": draw(st.sampled_from(TOUCHPOINTS)),
                      "properties": draw(PROPERTIES), **draw(REVENUE)}
            feedback = draw(FEEDBACK)
            if feedback is not None:
                fields["feedback"] = feedback
            stage = draw(st.sampled_from(["purchase", "purchase", *STAGES]))
            e = make_event(customer, stage, draw(st.sampled_from(pool)), **fields)
            events.append(e)
            copies += [e] * draw(st.integers(0, 1))
    physical = events + copies
    order = draw(st.permutations(range(len(physical)))) if physical else []
    arrival = [physical[i] for i in order]
    cuts = sorted(draw(st.lists(st.integers(0, len(arrival)), max_size=3)))
    batches = [arrival[a:b] for a, b in zip([0, *cuts], [*cuts, len(arrival)], strict=True)]
    return events, batches
