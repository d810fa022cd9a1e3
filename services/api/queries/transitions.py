"""Transitions: how customers move from one stage (or touchpoint) to the next, for Sankey views.

Semantics (the reference in tests/api/transitions_reference.py is the executable spec):

* Only events with occurred_at in [start, end) are read, and with `channel` set, only events of
  that channel. A duplicate copy of an event (same customer_id, occurred_at, event_id) counts once.
* Each customer's events are put in order by occurred_at, ties by canonical stage order, then
  by event_id. Each event's *node* is its stage (level=stage) or its touchpoint
  (level=touchpoint). At level=touchpoint only the `top` touchpoints with the most distinct
  customers in the range (ties: touchpoint name ascending) keep their name; every other
  touchpoint becomes the node "(other)", BEFORE runs are collapsed.
* Consecutive events of the same node form a *run*; every pair of consecutive runs (A, B) is
  one transition A -> B. Each customer also has one ("(start)" -> first node) entry.
* transitions = occurrences of A -> B; customers = distinct customers with at least one.
* median_seconds = median over all occurrences of A -> B of the seconds from the LAST event of
  the A run to the FIRST event of the B run (the time spent "between" the two nodes, not the
  dwell time inside A); millisecond precision, mean of the middle pair for even counts. null
  for "(start)" entries.
* Sorted by transitions descending, then from, then to. "(start)" and "(other)" are reserved
  labels: a real touchpoint spelled the same way is not told apart in the answer.

How the SQL gets there, in one GROUP BY customer_id pass with array functions:

* Each event is packed into an Int64 `(occurred_ms - start_ms) * 8 + stage_ordinal`, so sorting
  sorts by (time, canonical stage). At level=stage that is the whole sort key and the stage is
  the node. At level=touchpoint the sort key is the tuple (packed, event_id, node), node being
  the 1-based index of the touchpoint in the top-N list (0 = "(other)"), from a scalar subquery.
* A duplicate copy has the same sort key as its original, so it sorts next to it and falls into
  the same run: runs, transitions and gaps are unchanged, no dedupe pass is needed.
* `is_first` flags the events whose node differs from the previous one; `arrayFilter` keeps the
  run nodes and run first times, and the same flags shifted left mark run last times.
* The (from, to, gap) pairs, the "(start)" entry first (from = -1), are arrayJoin'ed;
  `arrayEnumerateUniq` marks each pair's first occurrence per customer so the outer GROUP BY
  counts customers without a distinct-count over customer ids.
"""
from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import Channel
from services.api.queries.base import STAGES, QueryRunner, TimeRange, epoch_ms_ceil

START_NODE = "(start)"
OTHER_NODE = "(other)"
DEFAULT_TOP = 10
MAX_TOP = 100


class Level(StrEnum):
    stage = "stage"
    touchpoint = "touchpoint"


class TransitionsQuery(TimeRange):
    """Query parameters of GET /v1/transitions."""

    model_config = ConfigDict(extra="forbid")

    level: Annotated[
        Level, Field(description="Node of the path: the event's stage or its touchpoint")
    ] = Level.stage
    top: Annotated[
        int,
        Field(
            ge=1,
            le=MAX_TOP,
            description="level=touchpoint: keep the top N touchpoints by distinct customers (ties by "
            "name), the rest become \"(other)\". Ignored at level=stage.",
            examples=[DEFAULT_TOP],
        ),
    ] = DEFAULT_TOP
    channel: Annotated[
        Channel | None,
        Field(description="Read only events of this channel; all channels when absent"),
    ] = None


class Transition(BaseModel):
    model_config = ConfigDict(
        validate_by_name=True,
        json_schema_extra={
            "examples": [
                {"from": "awareness", "to": "consideration", "customers": 412, "transitions": 530,
                 "median_seconds": 86400.5}
            ]
        },
    )

    from_: Annotated[
        str,
        Field(alias="from", description="Node left; \"(start)\" for the customer's first node"),
    ]
    to: Annotated[str, Field(description="Node entered")]
    customers: Annotated[int, Field(ge=1, description="Distinct customers with this transition")]
    transitions: Annotated[int, Field(ge=1, description="Occurrences of this transition")]
    median_seconds: Annotated[
        float | None,
        Field(
            description="Median over the occurrences of the seconds from the last event of the from-run "
            "to the first event of the to-run; even counts: mean of the middle pair. null for \"(start)\".",
        ),
    ]


class TransitionsResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "level": "stage",
                    "transitions": [
                        {"from": "(start)", "to": "awareness", "customers": 950, "transitions": 950,
                         "median_seconds": None},
                        {"from": "awareness", "to": "consideration", "customers": 412, "transitions": 530,
                         "median_seconds": 86400.5},
                        {"from": "consideration", "to": "awareness", "customers": 90, "transitions": 101,
                         "median_seconds": 172800.0},
                        {"from": "(start)", "to": "purchase", "customers": 50, "transitions": 50,
                         "median_seconds": None},
                    ],
                }
            ]
        }
    )

    level: Level
    transitions: Annotated[
        list[Transition], Field(description="By transitions descending, then from, then to")
    ]


_READ_FILTER = """occurred_at >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC')
              AND occurred_at < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC')"""
_CHANNEL_FILTER = "\n              AND channel = {channel:String}"
_PACKED = "(toUnixTimestamp64Milli(occurred_at) - {start_ms:Int64}) * 8 + toUInt8(stage)"


def _top_touchpoints(read_filter: str) -> str:
    """WITH clause: the `top` touchpoints by distinct customers, ties by name."""
    return f"""WITH (
    SELECT groupArray(touchpoint) FROM
    (
        SELECT touchpoint
        FROM person_events
        WHERE {read_filter}
        GROUP BY touchpoint
        ORDER BY uniqExact(customer_id) DESC, touchpoint
        LIMIT {{top:UInt32}}
    )
) AS top_touchpoints
"""


# Per level: the element collected per event, and how to read the sort-ordered node and time out
# of an element `e`.
_STAGE = {
    "element": _PACKED,
    "node": "toInt32(bitAnd(e, 7))",
    "time": "bitShiftRight(e, 3)",
}
_TOUCHPOINT = {
    "element": f"({_PACKED}, event_id, toInt32(indexOf(top_touchpoints, touchpoint)))",
    "node": "e.3",
    "time": "bitShiftRight(e.1, 3)",
}


def _build_sql(level: Level, with_channel: bool) -> str:
    parts = _STAGE if level is Level.stage else _TOUCHPOINT
    read_filter = _READ_FILTER + (_CHANNEL_FILTER if with_channel else "")
    # The touchpoint name of a top node (nodes >= 1); '' where unused.
    labels = [f"any(if({n} >= 1, top_touchpoints[{n}], ''))" if level is Level.touchpoint else "''"
              for n in ("from_node", "to_node")]
    with_clause = _top_touchpoints(read_filter) if level is Level.touchpoint else ""
    return with_clause + f"""
SELECT
    pair.1 AS from_node,
    pair.2 AS to_node,
    countIf(pair.4 = 1) AS customers,
    count() AS transitions,
    quantileExactInclusive(0.5)(pair.3) AS median_ms,
    {labels[0]} AS from_label,
    {labels[1]} AS to_label
FROM
(
    SELECT arrayJoin(arrayZip(froms, run_nodes, gaps, arrayEnumerateUniq(arrayZip(froms, run_nodes)))) AS pair
    FROM
    (
        SELECT
            arrayMap(e -> {parts["node"]}, evs) AS nodes,
            arrayMap(e -> {parts["time"]}, evs) AS times,
            -- compare with the array shifted right (-2: no node), not nodes[i - 1]: a lambda capturing
            -- `nodes` copies it per element, quadratic for a customer with many events
            arrayMap((n, p) -> n != p, nodes, arrayPushFront(arrayPopBack(nodes), -2)) AS is_first,
            arrayFilter((n, f) -> f, nodes, is_first) AS run_nodes,
            arrayFilter((t, f) -> f, times, is_first) AS run_first,
            -- an event ends a run when the next one starts a run (the last event always does)
            arrayFilter((t, f) -> f, times, arrayPushBack(arrayPopFront(is_first), 1)) AS run_last,
            arrayPushFront(arrayPopBack(run_nodes), -1) AS froms,
            arrayPushFront(arrayMap((a, b) -> b - a, arrayPopBack(run_last), arrayPopFront(run_first)),
                           toInt64(-1)) AS gaps
        FROM
        (
            SELECT arraySort(groupArray({parts["element"]})) AS evs
            FROM person_events
            WHERE {read_filter}
            GROUP BY customer_id
        )
    )
)
GROUP BY from_node, to_node
"""


SQL = {(level, ch): _build_sql(level, ch) for level in Level for ch in (False, True)}


class TransitionsQueryRunner(QueryRunner[TransitionsQuery, TransitionsResponse]):
    def run(self) -> TransitionsResponse:
        q = self.query
        parameters: dict[str, object] = {"start_ms": epoch_ms_ceil(q.start), "end_ms": epoch_ms_ceil(q.end)}
        if q.level is Level.touchpoint:
            parameters["top"] = q.top
        if q.channel is not None:
            parameters["channel"] = q.channel.value
        rows = self.select(SQL[(q.level, q.channel is not None)], parameters).result_rows

        def name(node: int, label: str) -> str:
            if node == -1:
                return START_NODE
            if q.level is Level.stage:
                return STAGES[node - 1]
            return label if node >= 1 else OTHER_NODE

        out = []
        for from_node, to_node, customers, transitions, median_ms, from_label, to_label in rows:
            median = None if from_node == -1 or median_ms is None or math.isnan(median_ms) else median_ms / 1000
            out.append(Transition.model_construct(
                from_=name(from_node, from_label), to=name(to_node, to_label), customers=int(customers),
                transitions=int(transitions), median_seconds=median,
            ))
        out.sort(key=lambda t: (-t.transitions, t.from_, t.to))
        return TransitionsResponse.model_construct(level=q.level, transitions=out)
