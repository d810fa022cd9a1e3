"""Pure-Python reference for retention, churn and lifecycle (services/api/queries/retention.py,
churn.py, lifecycle.py), written straight from the definitions with datetime calendar maths
(no interval ordinals, unlike the API), one customer at a time, for small test data only.

Events are dicts with customer_id, event_id, stage and occurred_at (an aware datetime); a
repeated (customer_id, event_id) is a duplicate copy and counts once.

Also here: a hypothesis strategy of event data with many ties on day, week and month
boundaries, shared by the property tests.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from schemas.events import STAGES

UTC = timezone.utc
Event = Mapping[str, Any]


def unique_events(events: Iterable[Event]) -> dict[str, list[tuple[datetime, str]]]:
    """customer_id -> [(occurred_at, stage)] of the first copy of each event_id."""
    seen: set[tuple[str, str]] = set()
    out: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for e in events:
        key = (e["customer_id"], e["event_id"])
        if key not in seen:
            seen.add(key)
            out[e["customer_id"]].append((e["occurred_at"], e["stage"]))
    return out


def truncate(t: datetime, interval: str) -> datetime:
    """Start of the UTC day, Monday-week or month holding t."""
    day = t.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "day":
        return day
    if interval == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def step(s: datetime, interval: str, n: int) -> datetime:
    """The interval start n intervals after (n < 0: before) the interval start s."""
    if interval == "day":
        return s + timedelta(days=n)
    if interval == "week":
        return s + timedelta(weeks=n)
    months = s.year * 12 + s.month - 1 + n
    return s.replace(year=months // 12, month=months % 12 + 1)


def intervals(start: datetime, end: datetime, interval: str, now: datetime) -> list[datetime]:
    """Starts of the intervals overlapping [start, end) that have started by now."""
    out, s = [], truncate(start, interval)
    while s < end and s <= now:
        out.append(s)
        s = step(s, interval, 1)
    return out


def _matches(stage: str, wanted: str) -> bool:
    return wanted == "any" or stage == wanted


def retention(events: Iterable[Event], start: datetime, end: datetime, interval: str, periods: int,
              cohort_stage: str, return_stage: str, now: datetime, channel: str | None = None
              ) -> list[dict[str, Any]]:
    """[{cohort_start, customers, retained}] as GET /v1/retention defines them."""
    per_customer = unique_events(e for e in events if channel in (None, e.get("channel", "web")))
    cohort_of: dict[str, datetime] = {}
    for customer, evs in per_customer.items():
        firsts = [t for t, s in evs if _matches(s, cohort_stage)]
        if firsts:
            cohort_of[customer] = truncate(min(firsts), interval)
    out = []
    for c in intervals(start, end, interval, now):
        members = [customer for customer, cohort in cohort_of.items() if cohort == c]
        retained = [len(members)]
        for i in range(1, periods):
            period = step(c, interval, i)
            if period > now:
                break
            retained.append(sum(
                any(_matches(s, return_stage) and truncate(t, interval) == period for t, s in per_customer[m])
                for m in members
            ))
        out.append({"cohort_start": c, "customers": len(members), "retained": retained})
    return out


def active(events: Iterable[Event], at: datetime, days: int) -> set[str]:
    """Customers with an event in (at - days, at]."""
    return {
        customer for customer, evs in unique_events(events).items()
        if any(at - timedelta(days=days) < t <= at for t, _ in evs)
    }


def churn(events: list[Event], start: datetime, end: datetime, active_days: int) -> dict[str, Any]:
    a_start, a_end = active(events, start, active_days), active(events, end, active_days)
    n = len(a_start)
    return {
        "customers_at_start": n,
        "customers_at_end": len(a_end),
        "churned": len(a_start - a_end),
        "churn_rate": len(a_start - a_end) / n if n else 0.0,
        "net_change_rate": (n - len(a_end)) / n if n else 0.0,
    }


def lifecycle(events: Iterable[Event], start: datetime, end: datetime, interval: str,
              now: datetime) -> list[dict[str, Any]]:
    """[{interval_start, new, returning, resurrecting, dormant}] as GET /v1/lifecycle defines them."""
    per_customer = unique_events(events)
    out = []
    for s in intervals(start, end, interval, now):
        previous = step(s, interval, -1)
        row = {"interval_start": s, "new": 0, "returning": 0, "resurrecting": 0, "dormant": 0}
        for evs in per_customer.values():
            seen = {truncate(t, interval) for t, _ in evs}
            first = min(seen)
            if s in seen:
                if first == s:
                    row["new"] += 1
                elif previous in seen:
                    row["returning"] += 1
                elif first < s:
                    row["resurrecting"] += 1
            elif previous in seen:
                row["dormant"] += 1
        out.append(row)
    return out


# --- test data -----------------------------------------------------------------------------

# Around Monday 2023-01-30, Wednesday 2023-02-01 and Wednesday 2023-03-01: day, week and
# month boundaries, each also 1 ms either side.
BASE = datetime(2023, 1, 20, tzinfo=UTC)
SPAN = timedelta(days=50)
BOUNDARIES = [
    datetime(2023, 1, 23, tzinfo=UTC), datetime(2023, 1, 30, tzinfo=UTC), datetime(2023, 2, 1, tzinfo=UTC),
    datetime(2023, 2, 6, tzinfo=UTC), datetime(2023, 2, 28, tzinfo=UTC), datetime(2023, 3, 1, tzinfo=UTC),
    datetime(2023, 3, 6, tzinfo=UTC),
]
CUSTOMERS = ["c1", "c2", "c3", "c4", "c5", "c6"]
# purchase weighted up: it is the retention default
STAGE_CHOICES = st.sampled_from(["purchase", "purchase", "purchase", *STAGES])


def instants() -> st.SearchStrategy[datetime]:
    """A boundary (exact or 1 ms off) or any millisecond of the span."""
    near = st.tuples(st.sampled_from(BOUNDARIES), st.sampled_from([-1, 0, 0, 1])).map(
        lambda b: b[0] + timedelta(milliseconds=b[1]))
    anywhere = st.integers(0, SPAN // timedelta(milliseconds=1)).map(lambda ms: BASE + timedelta(milliseconds=ms))
    return st.one_of(near, anywhere)


@st.composite
def event_data(draw, make_event):
    """(unique events, insert batches): times from a small pool (ties), duplicate copies in
    separate inserts, random arrival order."""
    pool = draw(st.lists(instants(), min_size=1, max_size=8))
    events, copies = [], []
    for customer in CUSTOMERS[: draw(st.integers(1, len(CUSTOMERS)))]:
        for _ in range(draw(st.integers(0, 6))):
            e = make_event(customer, draw(STAGE_CHOICES), draw(st.sampled_from(pool)),
                           channel=draw(st.sampled_from(["web", "web", "app"])))
            events.append(e)
            copies += [e] * draw(st.integers(0, 1))
    physical = events + copies
    order = draw(st.permutations(range(len(physical)))) if physical else []
    arrival = [physical[i] for i in order]
    cuts = sorted(draw(st.lists(st.integers(0, len(arrival)), max_size=3)))
    batches = [arrival[a:b] for a, b in zip([0, *cuts], [*cuts, len(arrival)], strict=True)]
    return events, batches
