"""Pure-Python reference for custom funnels (services/api/queries/custom_funnel), for small data.

Straight from the definitions in the package docstring, by exhaustive search: every valid path
from every step-1 event is enumerated (prefixes of valid paths are valid, so invalid prefixes
are pruned), which gives each anchor's depth and reach times, then the counted path and the
aggregates of each view. Times are integer milliseconds.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

UTC = timezone.utc
MAX_VALUES = 25
OTHER = "(other)"


@dataclass(frozen=True)
class Ev:
    t: int
    i: int  # position among the customer's unique events, for identity
    data: Mapping[str, Any]


def _property_equal(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, bool) or isinstance(actual, bool):
        return isinstance(wanted, bool) and isinstance(actual, bool) and actual == wanted
    if isinstance(wanted, str) or isinstance(actual, str):
        return isinstance(wanted, str) and isinstance(actual, str) and actual == wanted
    return isinstance(actual, int | float) and float(actual) == float(wanted)


def matches(f: Mapping[str, Any], e: Mapping[str, Any]) -> bool:
    for field in ("stage", "event", "channel", "touchpoint"):
        if f.get(field) is not None and e[field] != f[field]:
            return False
    props = e.get("properties") or {}
    return all(k in props and _property_equal(props[k], v) for k, v in (f.get("properties") or {}).items())


def breakdown_value(e: Mapping[str, Any], breakdown: str | None) -> str:
    if breakdown is None:
        return ""
    if not breakdown.startswith("properties."):
        return e[breakdown]
    v = (e.get("properties") or {}).get(breakdown.removeprefix("properties."))
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))  # ClickHouse writes 1.0 as 1 (tests use no other fractions)
    return v if isinstance(v, str) else str(v)


def unique_events(events: Iterable[Mapping[str, Any]]) -> dict[str, list[Ev]]:
    """customer_id -> unique events (first copy of each (occurred_ms, event_id)), time-sorted.
    events: dicts with the event fields plus occurred_ms."""
    seen: set[tuple] = set()
    out: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for e in events:
        key = (e["customer_id"], e["occurred_ms"], e["event_id"])
        if key not in seen:
            seen.add(key)
            out[e["customer_id"]].append(e)
    return {c: [Ev(e["occurred_ms"], i, e) for i, e in enumerate(sorted(es, key=lambda e: e["occurred_ms"]))]
            for c, es in out.items()}


def anchor_search(evs: list[Ev], anchor: Ev, q: Mapping[str, Any]) -> list[int]:
    """reach[k-1] = least 'last time' over valid k-step paths from the anchor (-1: none)."""
    steps, order, window = q["steps"], q["order"], q["window_ms"]
    n = len(steps)
    exclusions = [(x["filter"], x["from_step"], x["to_step"]) for x in q.get("exclusions", [])]
    reach = [-1] * n

    def excluded(path: list[Ev]) -> bool:
        k = len(path)
        for f, a, b in exclusions:
            if b != k:
                continue
            lo, hi = (path[a - 1].t, path[b - 1].t) if order != "any" else (path[0].t, max(p.t for p in path))
            if any(lo < x.t < hi and matches(f, x.data) for x in evs):
                return True
        return False

    def extend(path: list[Ev]) -> None:
        k = len(path)
        last = max(p.t for p in path)
        if reach[k - 1] < 0 or last < reach[k - 1]:
            reach[k - 1] = last
        if k == n:
            return
        prev = path[-1].t
        for e in evs:
            if e in path or not (anchor.t <= e.t <= anchor.t + window) or not matches(steps[k], e.data):
                continue
            if order != "any" and e.t < prev:
                continue
            if order == "strict" and any(prev < x.t < e.t for x in evs):
                continue
            if not excluded(path + [e]):
                extend(path + [e])

    extend([anchor])
    return reach


def customer_paths(events: Iterable[Mapping[str, Any]], q: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """customer_id -> {level, t1, reach, bval} for customers with a step-1 event in [start, end);
    times in ms since the epoch. q: steps (filter dicts), order, exclusions, window_ms, start_ms, end_ms, breakdown."""
    out = {}
    for customer, evs in unique_events(events).items():
        results = []
        for a in evs:
            if q["start_ms"] <= a.t < q["end_ms"] and matches(q["steps"][0], a.data):
                reach = anchor_search(evs, a, q)
                depth = sum(1 for r in reach if r >= 0)
                results.append(((-depth, a.t, reach, breakdown_value(a.data, q.get("breakdown"))), depth))
        if results:
            (_, t1, reach, bval), level = min(results)
            out[customer] = {"level": level, "t1": t1, "reach": reach, "bval": bval}
    return out


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def steps_view(paths: Iterable[Mapping[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    paths = list(paths)
    n = len(names)
    counts = [sum(1 for p in paths if p["level"] > k) for k in range(n)]
    out = []
    for k in range(n):
        deltas = [p["reach"][k] - p["reach"][k - 1] for p in paths if k and p["level"] > k]
        out.append({
            "name": names[k], "customers": counts[k],
            "conversion_from_first": _ratio(counts[k], counts[0]),
            "conversion_from_previous": _ratio(counts[k], counts[k - 1] if k else counts[0]),
            "median_seconds_from_previous": statistics.median(deltas) / 1000 if deltas else None,
        })
    return out


def breakdown_view(paths: Mapping[str, Mapping[str, Any]], names: list[str], cap: int = MAX_VALUES) -> list[dict]:
    by_value: dict[str, list] = defaultdict(list)
    for p in paths.values():
        by_value[p["bval"]].append(p)
    ranked = sorted(by_value, key=lambda v: (-len(by_value[v]), v))
    out = [{"value": v, "steps": steps_view(by_value[v], names)} for v in ranked[:cap]]
    rest = [p for v in ranked[cap:] for p in by_value[v]]
    if rest:
        out.append({"value": OTHER, "steps": steps_view(rest, names)})
    return out


def time_to_convert_view(paths: Mapping[str, Mapping[str, Any]], n: int, bins: int) -> dict[str, Any]:
    durations = [p["reach"][n - 1] - p["t1"] for p in paths.values() if p["level"] == n]
    if not durations:
        return {"converted": 0, "median_seconds": None, "average_seconds": None, "bins": []}
    lo = min(durations) // 1000 * 1000
    width = max(1000, -(-(max(durations) - lo + 1) // (bins * 1000)) * 1000)
    count = -(-(max(durations) - lo + 1) // width)
    hist = [0] * count
    for d in durations:
        hist[(d - lo) // width] += 1
    return {
        "converted": len(durations), "median_seconds": statistics.median(durations) / 1000,
        "average_seconds": statistics.fmean(durations) / 1000,
        "bins": [{"from_seconds": (lo + i * width) // 1000, "to_seconds": (lo + (i + 1) * width) // 1000,
                  "customers": c} for i, c in enumerate(hist)],
    }


def _period(day: date, interval: str) -> date:
    if interval == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1) if interval == "month" else day


def trends_view(paths: Mapping[str, Mapping[str, Any]], n: int, start_ms: int, end_ms: int,
                interval: str) -> list[dict[str, Any]]:
    def day_of(ms: int) -> date:
        return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).date()

    counts: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for p in paths.values():
        c = counts[_period(day_of(p["t1"]), interval)]
        c[0] += 1
        c[1] += p["level"] == n
    out, day = [], _period(day_of(start_ms), interval)
    while day <= _period(day_of(end_ms - 1), interval):
        entered, converted = counts.get(day, [0, 0])
        out.append({"interval_start": f"{day.isoformat()}T00:00:00Z", "entered": entered, "converted": converted,
                    "conversion_rate": _ratio(converted, entered)})
        day = {"day": day + timedelta(days=1), "week": day + timedelta(days=7),
               "month": (day.replace(day=28) + timedelta(days=4)).replace(day=1)}[interval]
    return out


def customers_view(paths: Mapping[str, Mapping[str, Any]], step: int, status: str) -> list[tuple[str, int, int]]:
    """(customer_id, level, t1) in customer_id order."""
    keep = (lambda lv: lv >= step + 1) if status == "converted" else (lambda lv: lv == step)
    return sorted((c, p["level"], p["t1"]) for c, p in paths.items() if keep(p["level"]))
