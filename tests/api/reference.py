"""Pure-Python reference for the stage funnel (services/api/queries/stage_funnel.py).

Written straight from the definitions, one customer at a time, for small test data only:

* Duplicate events (same customer_id and event_id) count once; with a channel set, only
  events of that channel count. No time filter beyond the definitions (the reference reads
  every event, so it also checks that the API's read range loses nothing).
* For a step-1 event at t1 in [start, end), the chain takes, for k = 2, 3, ..., the earliest
  stage-k event at or after the previous step's time while it stays within window of t1.
  Earliest choices leave every later option open, so this chain reaches a step exactly when
  some chain does (`brute_force_level` checks that claim on small inputs).
* level = the deepest step over all step-1 events; the deepest path is the chain of the
  latest step-1 event that reaches that level.
* median_seconds_from_previous[k] = statistics.median over customers with level >= k of
  (t_k - t_{k-1}) on the deepest path, in seconds.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from schemas.events import STAGES

STAGE_INDEX = {s: i for i, s in enumerate(STAGES)}


def unique_events(events: Iterable[Mapping[str, Any]], channel: str | None = None) -> dict[str, list[tuple[int, int]]]:
    """customer_id -> [(occurred_ms, stage index)] of unique events (first copy of each event_id)."""
    seen: set[tuple[str, str]] = set()
    per_customer: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for e in events:
        key = (e["customer_id"], e["event_id"])
        if key in seen:
            continue
        seen.add(key)
        if channel is not None and e["channel"] != channel:
            continue
        per_customer[e["customer_id"]].append((e["occurred_ms"], STAGE_INDEX[e["stage"]]))
    return per_customer


def greedy_chain(events: list[tuple[int, int]], t1: int, window_ms: int) -> list[int]:
    """Times of the chain from a step-1 event at t1: earliest next-stage event, within window."""
    chain = [t1]
    for stage in range(1, len(STAGES)):
        later = [t for t, s in events if s == stage and t >= chain[-1]]
        if not later or min(later) - t1 > window_ms:
            break
        chain.append(min(later))
    return chain


def deepest_path(events: list[tuple[int, int]], start_ms: int, end_ms: int, window_ms: int) -> list[int]:
    """The customer's deepest path (empty when they never enter the funnel)."""
    best: list[int] = []
    for t1 in sorted({t for t, s in events if s == 0 and start_ms <= t < end_ms}):
        chain = greedy_chain(events, t1, window_ms)
        if len(chain) >= len(best):  # ascending t1: on equal depth the later start wins
            best = chain
    return best


def brute_force_level(events: list[tuple[int, int]], start_ms: int, end_ms: int, window_ms: int) -> int:
    """Deepest step by trying every chain of events (exponential: tiny inputs only)."""

    def deepest(step: int, t1: int, previous: int) -> int:
        found = step
        for t, s in events:
            if s == step and previous <= t <= t1 + window_ms:
                found = max(found, deepest(step + 1, t1, t))
        return found

    return max(
        (deepest(1, t, t) for t, s in events if s == 0 and start_ms <= t < end_ms),
        default=0,
    )


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def stage_funnel(
    events: Iterable[Mapping[str, Any]],
    start_ms: int,
    end_ms: int,
    window_ms: int,
    channel: str | None = None,
) -> list[dict[str, Any]]:
    """The `stages` list of the API answer. events: dicts with customer_id, event_id, stage,
    channel and occurred_ms."""
    paths = [
        deepest_path(evs, start_ms, end_ms, window_ms)
        for evs in unique_events(events, channel).values()
    ]
    counts = [sum(1 for p in paths if len(p) > k) for k in range(len(STAGES))]
    result = []
    for k, stage in enumerate(STAGES):
        deltas = [p[k] - p[k - 1] for p in paths if k and len(p) > k]
        result.append(
            {
                "stage": stage,
                "customers": counts[k],
                "conversion_from_first": _ratio(counts[k], counts[0]),
                "conversion_from_previous": _ratio(counts[k], counts[k - 1] if k else counts[0]),
                "median_seconds_from_previous": statistics.median(deltas) / 1000 if deltas else None,
            }
        )
    return result
