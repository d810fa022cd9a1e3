"""Per-customer SQL: one GROUP BY person_key pass giving each customer's counted path.

person_key is the UInt64 hash of the resolved customer_id (person_events, migrations 0007 and
0008), read from stored columns instead of the String: at 10M events / 1M customers the bench's
funnel went from 2.2-2.7 to 1.8-2.4 s of CPU. Two people share a key only on a 64-bit collision, about
n^2 / 2^65 for n people (3e-8 at 1M), the same policy as the stage funnel and retention; they
would then count as one customer. The customers view, which lists customer ids, groups by the
String customer_id instead (exact; cheaper there than person_key plus any(customer_id)).

Output columns: person_key (customer_id for the customers view), level (UInt8, deepest step), t1
(Int64 ms after `start`: the counted path's step-1 time), reach (Array(Int64), n entries: reach time
of each step on the counted path, -1 beyond level) and bval (breakdown value of the step-1 event, ''
without one).

How, per customer, with array functions only:

* Events become one UInt128 each (time, step mask, event id hash) plus exclusion mask and
  breakdown value, sorted; a copy of an event (same time and event_id) is dropped by comparing
  each with its predecessor. Ordered and any-order funnels read only rows matching some filter;
  strict funnels read every row, since any event between two steps breaks them.
* Ordered funnels without exclusions, for a customer whose every event matches at most one step:
  greedy chains on flat arrays (ordered.chain_columns). Other customers of such funnels, and every
  other funnel, take the general path below.
* Events sharing a timestamp form a *group*. For every group and step s, run[s] is the longest
  run of steps s, s+1, ... its distinct events can fill (matching.max_run).
* Anchors are the step-1 events in [start, end). For each, a fold over the later groups in its
  window computes the reach time of every step (ordered without exclusions: the depth d grows by
  run[d+1] per group, since the deepest prefix dominates; with exclusions or strict: the best
  "cap" per step, see ordered.capped_fold). The anchor's own group contributes run[2] of its other events.
* Any order: the window's events join a matching one by one in time order (matching.augment);
  a step's reach time is when the prefix up to it first becomes fillable.
* The counted path is the anchor with the largest depth, then earliest (t1, reach...), then
  smallest breakdown value (arraySort on that key).

Each funnel order is a class on the shared base `FunnelPaths` (here: the events subquery, the
anchors, the counted path): OrderedFunnel and StrictFunnel (ordered.py), AnyOrderFunnel
(any_order.py); `funnel_class(order)` in runner.py picks one. Every derived column is an
(expression, name) pair, added one SELECT level each by `layered`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

# A derived column: (SQL expression, the name it gets).
Column = tuple[str, str]

WINDOW = "{window_ms:Int64}"

# Step-1 events starting a path, and their times.
ANCHOR_COLUMNS: list[Column] = [
    ("arrayFilter((i, v, u) -> bitTest(v, 0) AND u < {span_ms:Int64}, arrayEnumerate(ts), ms, ts)", "anchors"),
    ("arrayMap(a -> ts[a], anchors)", "aT"),
]
# Events sharing a timestamp form a group. flags: resized so that an empty array (a customer the
# chain columns serve) stays empty.
GROUP_COLUMNS: list[Column] = [
    ("arrayMap((u, p) -> toUInt8(u != p), ts,\n"
     "             arrayResize(arrayPushFront(arrayPopBack(ts), toInt64(-1)), length(ts)))", "flags"),
    ("arrayCumSum(flags)", "gid"),
    ("arrayFilter((u, f) -> f, ts, flags)", "gT"),
    ("arrayFilter((i, f) -> f, arrayEnumerate(ts), flags)", "gFirst"),
    ("arraySplit((v, f) -> f, ms, flags)", "gM"),
    ("arrayMap(grp -> arrayFold((acc, v) -> bitOr(acc, v), grp, toUInt32(0)), arraySplit((v, f) -> f, xs, flags))",
     "gX"),
    ("arrayMap(a -> gid[a], anchors)", "aG"),
]
# The counted path: the deepest anchor, then the earliest (t1, reach...), then the least breakdown value.
BEST_PATH: Column = (
    "arraySort(x -> (-toInt16(x.1), x.2, x.3, x.4),\n"
    "              arrayMap((r, t0, a) -> (toUInt8(arrayCount(v -> v >= 0, r)), t0, r, bs[a]),\n"
    "                       aReach, aT, anchors))[1]",
    "best",
)
GENERAL_INPUTS: list[Column] = [("ts0", "ts"), ("ms0", "ms"), ("xs0", "xs"), ("bs0", "bs")]


class FunnelPaths(ABC):
    """The per-customer subquery of one funnel order. Parameters: start_ms, span_ms (end - start),
    window_ms, read_end_ms (end + window), base_ms (start, or the earliest DateTime64 if start is
    before it), shift_ms (base_ms - start_ms) and those of the filters."""

    # Strict funnels read every event: any event between two steps breaks them.
    reads_every_event = False

    def __init__(self, step_count: int, exclusions: list[tuple[int, int]], *, breakdown: str | None = None,
                 one_step_per_event: bool = False) -> None:
        """exclusions: (from_step, to_step) pairs; breakdown: the SQL of a row's breakdown value;
        one_step_per_event: no event can match two step filters (filters.one_step_per_event)."""
        self.step_count = step_count
        self.exclusions = exclusions
        self.breakdown = breakdown
        self.one_step_per_event = one_step_per_event

    def sql(self, step_mask: str, exclusion_mask: str, *, customer_filter: str = "",
            customer_ids: bool = False) -> str:
        """Columns key (person_key, or customer_id with customer_ids), level, t1, reach, bval."""
        key = "customer_id" if customer_ids else "person_key"
        events = self.events_sql(step_mask, exclusion_mask, customer_filter, key)
        return self.paths_sql(events, key)

    def paths_sql(self, events: str, key: str) -> str:
        """Every customer through the anchors' general path."""
        per_customer = layered(events, [*GENERAL_INPUTS, *self.general_columns()])
        return counted_path_sql(key, "best", per_customer)

    def general_columns(self) -> list[Column]:
        return [*ANCHOR_COLUMNS, *GROUP_COLUMNS, *self.anchor_columns(), BEST_PATH]

    @abstractmethod
    def anchor_columns(self) -> list[Column]:
        """Columns ending in aReach: per anchor, the reach time of every step (-1: not reached)."""

    def events_sql(self, step_mask: str, exclusion_mask: str, customer_filter: str, key: str) -> str:
        breakdown_value = f"if(bitTest(m, 0), {self.breakdown}, '')" if self.breakdown else "''"
        matching_rows = "" if self.reads_every_event else "\n                      AND (m != 0 OR x != 0)"
        return events_sql(step_mask, exclusion_mask, breakdown_value, matching_rows + customer_filter,
                          exclusions=bool(self.exclusions), breakdown=self.breakdown is not None, key=key)


def counted_path_sql(key: str, path: str, source: str) -> str:
    """The output columns from `path`, a (level, t1, reach, bval) tuple column of `source`."""
    return f"SELECT {key}, {path}.1 AS level, {path}.2 AS t1, {path}.3 AS reach, {path}.4 AS bval FROM ({source})"


def layered(source: str, columns: list[Column]) -> str:
    """`source` with the columns added one SELECT level each.
    Written in one SELECT, each use of an alias is a copy of its expression (the analyzer inlines
    aliases), and these aliases build on each other: the copies multiplied, and planning and
    running them cost seconds. A subquery's column is computed once."""
    query = source
    for expression, name in columns:
        query = f"SELECT *, {expression} AS {name}\nFROM ({query})"
    return query


# One UInt128 per event sorts them by (time, step mask, event id hash): the time after base_ms
# (44 bits: DateTime64 spans 400 years), the step mask (20 bits: at most 20 steps), the hash.
_SORT_KEY = ("bitOr(bitShiftLeft(toUInt128(bitOr(bitShiftLeft(toUInt64(tk), 20), m)), 64),"
             " toUInt128(cityHash64(event_id)))")
_LOW64 = 18446744073709551615


def events_sql(step_mask: str, exclusion_mask: str, breakdown_value: str, row_filter: str, *,
               exclusions: bool, breakdown: bool, key: str) -> str:
    """Per customer: times (ms after start), step masks, exclusion masks and
    breakdown values of the events (ts0, ms0, xs0, bs0), sorted by (time, step mask, event id
    hash); a copy of an event (same time and event id) sits next to its original and is dropped.
    Without exclusions or breakdown, their arrays are constants, not collected and sorted."""
    def aligned(column: str, fallback: str) -> str:
        """The column's values in sort order, copies dropped; `fallback` when not collected."""
        if column not in collected:
            return fallback
        return f"arrayFilter((v, f) -> f, arraySort((v, o) -> o, {column}a, ka), keep)"

    collected = ("x" if exclusions else "") + ("b" if breakdown else "")
    exclusion_masks = aligned("x", "arrayWithConstant(length(ks), toUInt32(0))")
    breakdown_values = aligned("b", "arrayWithConstant(length(ks), '')")
    collected_arrays = "".join(f", groupArray({column}) AS {column}a" for column in collected)
    # key: the view listing customer ids groups by the String itself: measured cheaper than
    # person_key plus any(customer_id) (1.55 vs 1.75 s of CPU at 10M events).
    return f"""
    SELECT ck AS {key},
           arrayMap(v -> toInt64(bitShiftRight(v, 84)) + {{shift_ms:Int64}}, ks) AS ts0,
           arrayMap(v -> toUInt32(bitAnd(bitShiftRight(v, 64), 1048575)), ks) AS ms0,
           {exclusion_masks} AS xs0,
           {breakdown_values} AS bs0
    FROM
    (
        SELECT *, arrayFilter((v, f) -> f, sk, keep) AS ks
        FROM
        (
            SELECT *, arrayMap((v, p, i) -> i = 1 OR bitShiftRight(v, 84) != bitShiftRight(p, 84)
                                            OR bitAnd(v, {_LOW64}) != bitAnd(p, {_LOW64}),
                               sk, arrayPushFront(arrayPopBack(sk), toUInt128(0)), arrayEnumerate(sk)) AS keep
            FROM
            (
                SELECT ck, groupArray(k) AS ka, arraySort(ka) AS sk{collected_arrays}
                FROM
                (
                    SELECT {key} AS ck,
                           toUnixTimestamp64Milli(occurred_at) - {{base_ms:Int64}} AS tk,
                           tk + {{shift_ms:Int64}} AS t,
                           {step_mask} AS m,
                           {exclusion_mask} AS x,
                           {breakdown_value} AS b,
                           {_SORT_KEY} AS k
                    FROM person_events
                    WHERE occurred_at >= fromUnixTimestamp64Milli({{start_ms:Int64}}, 'UTC')
                      AND occurred_at < fromUnixTimestamp64Milli({{read_end_ms:Int64}}, 'UTC')\
{row_filter}
                )
                GROUP BY ck
                -- only customers with a step-1 event in [start, end): the array work runs for them only
                HAVING countIf(bitTest(m, 0) AND t < {{span_ms:Int64}}) > 0
            )
        )
    )
"""
