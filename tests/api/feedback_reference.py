"""Feedback items, statuses, summary and repeat issues in plain Python: the executable spec the
API's SQL is checked against. Events are event dicts (tests/api/conftest.make_event) with
`occurred_at` datetimes; status changes are dicts {change_id, event_id, customer_id, status,
note, who, changed_at (datetime), offset} as written to the history, possibly twice."""
from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from typing import Any

# Restated from the task, not imported: NPS <= 6, CSAT <= 2, CES <= 3, rating <= 2.
LOW = {"nps": 6, "csat": 2, "ces": 3, "rating": 2}


def ms(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=moment.tzinfo)) // timedelta(milliseconds=1)


def is_low(event: dict[str, Any]) -> bool:
    fb = event.get("feedback") or {}
    return any(fb.get(k) is not None and fb[k] <= limit for k, limit in LOW.items())


def is_item(event: dict[str, Any]) -> bool:
    fb = event.get("feedback") or {}
    return bool(fb.get("comment")) or is_low(event)


def unique_changes(changes: list[dict[str, Any]], event_id: str) -> list[dict[str, Any]]:
    """The item's changes, each change_id once, in order (changed_at, then topic offset)."""
    seen: dict[str, dict[str, Any]] = {}
    for c in sorted(changes, key=lambda c: (c["changed_at"], c["offset"])):
        if c["event_id"] == event_id:
            seen.setdefault(c["change_id"], c)
    return list(seen.values())


def with_status(event: dict[str, Any], changes: list[dict[str, Any]]) -> dict[str, Any]:
    mine = unique_changes(changes, event["event_id"])
    last = mine[-1] if mine else None
    return {**event, "status": last["status"] if last else "open", "status_note": last["note"] if last else None,
            "status_changed_ms": ms(last["changed_at"]) if last else None, "history_length": len(mine)}


def items(events: list[dict[str, Any]], changes: list[dict[str, Any]], *, status: str | None = None,
          channel: str | None = None, touchpoint: str | None = None, min_score: int | None = None,
          max_score: int | None = None, q: str | None = None, start: datetime | None = None,
          end: datetime | None = None) -> list[dict[str, Any]]:
    """Matching items, newest first (occurred_at, then event_id, descending)."""
    found = []
    for e in {e["event_id"]: e for e in events}.values():
        fb = e.get("feedback") or {}
        nps = fb.get("nps")
        if not is_item(e):
            continue
        if channel is not None and e.get("channel", "web") != channel:
            continue
        if touchpoint is not None and e.get("touchpoint") != touchpoint:
            continue
        if min_score is not None and (nps is None or nps < min_score):
            continue
        if max_score is not None and (nps is None or nps > max_score):
            continue
        if q is not None and q.lower() not in (fb.get("comment") or "").lower():
            continue
        if start is not None and e["occurred_at"] < start:
            continue
        if end is not None and e["occurred_at"] >= end:
            continue
        item = with_status(e, changes)
        if status is not None and item["status"] != status:
            continue
        found.append(item)
    return sorted(found, key=lambda i: (ms(i["occurred_at"]), i["event_id"]), reverse=True)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summary(events: list[dict[str, Any]], changes: list[dict[str, Any]], start: datetime,
            end: datetime) -> dict[str, Any]:
    mine = items(events, changes, start=start, end=end)
    to_ack, to_resolve, open_by = [], [], {}
    for i in mine:
        history = unique_changes(changes, i["event_id"])
        acks = [c["changed_at"] for c in history if c["status"] in ("acknowledged", "resolved")]
        resolves = [c["changed_at"] for c in history if c["status"] == "resolved"]
        if acks:
            to_ack.append(max(0, ms(min(acks)) - ms(i["occurred_at"])) / 1000)
        if resolves:
            to_resolve.append(max(0, ms(min(resolves)) - ms(i["occurred_at"])) / 1000)
        if i["status"] == "open":
            open_by[i["touchpoint"]] = open_by.get(i["touchpoint"], 0) + 1
    return {
        "items": len(mine),
        "open": sum(i["status"] == "open" for i in mine),
        "acknowledged": sum(i["status"] == "acknowledged" for i in mine),
        "resolved": sum(i["status"] == "resolved" for i in mine),
        "acknowledged_items": len(to_ack), "median_time_to_acknowledge_s": _median(to_ack),
        "resolved_items": len(to_resolve), "median_time_to_resolve_s": _median(to_resolve),
        "open_by_touchpoint": [{"touchpoint": t, "open_items": n}
                               for t, n in sorted(open_by.items(), key=lambda kv: (-kv[1], kv[0]))],
    }


def repeat_issues(events: list[dict[str, Any]], changes: list[dict[str, Any]], as_of: datetime, days: int,
                  min_items: int) -> list[tuple[str, int, list[str]]]:
    """[(customer_id, negative items, their event_ids newest first)], callers first."""
    start = as_of - timedelta(days=days)
    per: dict[str, list[dict[str, Any]]] = {}
    for i in items(events, changes, start=start, end=as_of):
        if is_low(i):
            per.setdefault(i["customer_id"], []).append(i)
    ranked = sorted(((c, len(v), max(ms(x["occurred_at"]) for x in v), [x["event_id"] for x in v])
                     for c, v in per.items() if len(v) >= min_items), key=lambda r: (-r[1], -r[2], r[0]))
    return [(c, n, ids) for c, n, _, ids in ranked]
