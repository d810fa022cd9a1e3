"""Pure-Python reference for GET /v1/transitions (services/api/queries/transitions.py).

Straight from the definitions, one customer at a time, for small test data:

* events are dicts with customer_id, event_id, stage, channel, touchpoint and occurred_ms;
  copies with the same (customer_id, occurred_ms, event_id) count once; only occurred_ms in
  [start_ms, end_ms) and, with a channel, events of that channel.
* level=touchpoint: the `top` touchpoints by distinct customers (ties by name) keep their name,
  the others become "(other)"; then each customer's events, ordered by (time, canonical stage,
  event_id), are cut into runs of equal nodes.
* A transition is a pair of consecutive runs; its gap is first time of the second run minus the
  last time of the first. Each customer also has ("(start)", first run's node).
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from itertools import pairwise
from typing import Any

from schemas.events import STAGES

STAGE_INDEX = {s: i for i, s in enumerate(STAGES)}


def top_touchpoints(events: list[Mapping[str, Any]], top: int) -> set[str]:
    customers: dict[str, set[str]] = defaultdict(set)
    for e in events:
        customers[e["touchpoint"]].add(e["customer_id"])
    ranked = sorted(customers, key=lambda tp: (-len(customers[tp]), tp))
    return set(ranked[:top])


def runs(nodes_and_times: list[tuple[str, int]]) -> list[tuple[str, int, int]]:
    """[(node, first_ms, last_ms)] of consecutive equal nodes."""
    out: list[tuple[str, int, int]] = []
    for node, t in nodes_and_times:
        if out and out[-1][0] == node:
            out[-1] = (node, out[-1][1], t)
        else:
            out.append((node, t, t))
    return out


def transitions(
    events: Iterable[Mapping[str, Any]],
    start_ms: int,
    end_ms: int,
    level: str = "stage",
    top: int = 10,
    channel: str | None = None,
) -> list[dict[str, Any]]:
    unique: dict[tuple[str, int, str], Mapping[str, Any]] = {}
    for e in events:
        if not start_ms <= e["occurred_ms"] < end_ms or (channel is not None and e["channel"] != channel):
            continue
        unique.setdefault((e["customer_id"], e["occurred_ms"], e["event_id"]), e)
    kept = list(unique.values())
    named = top_touchpoints(kept, top) if level == "touchpoint" else set()

    def node(e: Mapping[str, Any]) -> str:
        if level == "stage":
            return e["stage"]
        return e["touchpoint"] if e["touchpoint"] in named else "(other)"

    per_customer: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for e in kept:
        per_customer[e["customer_id"]].append(e)

    gaps: dict[tuple[str, str], list[int]] = defaultdict(list)
    who: dict[tuple[str, str], set[str]] = defaultdict(set)
    starts: dict[str, int] = defaultdict(int)
    for customer, evs in per_customer.items():
        evs.sort(key=lambda e: (e["occurred_ms"], STAGE_INDEX[e["stage"]], e["event_id"]))
        path = runs([(node(e), e["occurred_ms"]) for e in evs])
        starts[path[0][0]] += 1
        for (a, _, a_last), (b, b_first, _) in pairwise(path):
            gaps[(a, b)].append(b_first - a_last)
            who[(a, b)].add(customer)

    out = [{"from": "(start)", "to": n, "customers": c, "transitions": c, "median_seconds": None}
           for n, c in starts.items()]
    out += [{"from": a, "to": b, "customers": len(who[(a, b)]), "transitions": len(g),
             "median_seconds": statistics.median(g) / 1000} for (a, b), g in gaps.items()]
    out.sort(key=lambda t: (-t["transitions"], t["from"], t["to"]))
    return out
