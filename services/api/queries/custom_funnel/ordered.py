"""Time-ordered funnels: OrderedFunnel and StrictFunnel, on their shared GroupedFunnel.

Both walk, per anchor, the groups of events (equal timestamps) after it in its window: run[s] of
a group is the longest run of steps s, s+1, ... its distinct events can fill (matching.max_run).
Ordered funnels without exclusions grow the depth by run[d+1] per group (the deepest prefix
dominates); with exclusions, and strict funnels, keep the best "cap" per step (capped_fold).
Ordered funnels without exclusions also have a cheaper chain for customers whose every event
matches at most one step (chain_columns).
"""
from __future__ import annotations

from abc import abstractmethod

from services.api.queries.custom_funnel.matching import let, max_run
from services.api.queries.custom_funnel.paths import (
    WINDOW,
    Column,
    FunnelPaths,
    counted_path_sql,
    layered,
)

CHAIN_INPUTS: list[Column] = [("ts0", "cts"), ("ms0", "cms"), ("bs0", "cbs")]
CHAIN_OUTPUT = "(clevel, ct1, creach, cbval)"


class GroupedFunnel(FunnelPaths):
    """Steps in time order: per anchor, a fold over the later groups in its window."""

    def anchor_columns(self) -> list[Column]:
        n = self.step_count
        return [
            (f"arrayMap(grp -> arrayMap(stp -> {max_run('grp', 'stp', n, 10)}, range(1, {n + 1})), gM)", "gR"),
            (f"arrayMap(a -> arrayCount(u -> u <= ts[a] + {WINDOW}, gT), anchors)", "aLast"),
            ("arrayMap(a -> arrayFilter((v, j) -> gFirst[gid[a]] + j - 1 != a, gM[gid[a]], arrayEnumerate(gM[gid[a]])),"
             "\n             anchors)", "aRest"),
            (f"arrayMap(rest -> toUInt8(1 + {max_run('rest', '2', n, 20)}), aRest)", "aD0"),
            (f"arrayMap((t0, g, lg, d0) -> {self.group_fold()}, aT, aG, aLast, aD0)", "aReach"),
        ]

    @abstractmethod
    def group_fold(self) -> str:
        """Array(Int64) of an anchor's reach times, from t0 (its time), g (its group), lg (the
        last group in its window) and d0 (the steps its own group fills)."""


class OrderedFunnel(GroupedFunnel):
    """Steps in time order; events of the customer between steps are allowed."""

    def group_fold(self) -> str:
        if self.exclusions:
            return capped_fold(self.step_count, strict=False, exclusions=self.exclusions)
        return deepest_prefix_fold(self.step_count)

    def paths_sql(self, events: str, key: str) -> str:
        if self.exclusions:
            return super().paths_sql(events, key)
        chain = chain_columns(self.step_count, self.breakdown is not None)
        if self.one_step_per_event:
            per_customer = layered(events, [*CHAIN_INPUTS, *chain])
            return counted_path_sql(key, CHAIN_OUTPUT, per_customer)
        # Per customer: the chain when each of their events matches at most one step, else the
        # general path; each side sees empty arrays for the other's customers.
        def empty(element_type: str) -> str:
            return f"CAST([], 'Array({element_type})')"

        split = [("arrayAll(v -> bitCount(v) <= 1, ms0)", "simple")]
        for column, name, element_type in (("ts0", "cts", "Int64"), ("ms0", "cms", "UInt32"), ("bs0", "cbs", "String")):
            split.append((f"if(simple, {column}, {empty(element_type)})", name))
        general_inputs = [(f"if(simple, {empty(element_type)}, {column})", name) for column, name, element_type in (
            ("ts0", "ts", "Int64"), ("ms0", "ms", "UInt32"), ("xs0", "xs", "UInt32"), ("bs0", "bs", "String"))]
        # Picked by index, not if(): ClickHouse evaluates an if() branch lazily, re-running the array
        # work below it (4 times the CPU).
        result = (f"[best, {CHAIN_OUTPUT}][simple + 1]", "res")
        per_customer = layered(events, [*split, *chain, *general_inputs, *self.general_columns(), result])
        return counted_path_sql(key, "res", per_customer)


class StrictFunnel(GroupedFunnel):
    """Steps in time order with no other event of the customer between two steps."""

    reads_every_event = True

    def group_fold(self) -> str:
        return capped_fold(self.step_count, strict=True, exclusions=self.exclusions)


def _taint(cap: str, j: str, k: str, exclusions: list[tuple[int, int]], exclusion_bits: str) -> str:
    """Int16 cap of a path moving from step j to step k in a group whose exclusion events are
    exclusion_bits: an exclusion (a, b) seen with a <= j (e_a earlier) and k < b (e_b not yet)
    caps the path at b - 1. Events at e_a's or e_b's own time are not strictly between, so do not count."""
    terms = [f"toInt16({cap})"] + [
        f"if(bitTest({exclusion_bits}, {e}) AND {j} >= {a} AND {k} < {b}, {b - 1}, 127)"
        for e, (a, b) in enumerate(exclusions)
    ]
    return f"least({', '.join(terms)})" if len(terms) > 1 else terms[0]


def capped_fold(n: int, strict: bool, exclusions: list[tuple[int, int]]) -> str:
    """Per-anchor fold over groups; state (caps, reach). caps[k] = highest step a path now at
    step k may still reach (-1: no such path); strict keeps only paths whose last event is in
    the current group, so a path must move on in every group or end."""
    moved_cap = (f"if(jj < kk AND acc.1[jj] >= kk AND jj + gr[jj + 1] >= kk,"
                 f" {_taint('acc.1[jj]', 'jj', 'kk', exclusions, 'gx')}, toInt16(-1))")
    if not strict:
        stayed_cap = f"if(acc.1[kk] < 0, toInt16(-1), {_taint('acc.1[kk]', 'kk', 'kk', exclusions, 'gx')})"
        moved_cap = f"if(jj = kk, {stayed_cap}, {moved_cap})"
    caps = f"arrayMap(kk -> toInt8(arrayMax(arrayMap(jj -> {moved_cap}, range(1, kk + 1)))), range(1, {n + 1}))"
    step = let("cp", caps, "(cp, arrayMap((r, c) -> if(r < 0 AND c >= 0, gt, r), acc.2, cp))")
    return (
        f"arrayFold((acc, gt, gr, gx) -> {step},"
        f" arraySlice(gT, g + 1, lg - g), arraySlice(gR, g + 1, lg - g), arraySlice(gX, g + 1, lg - g),"
        f" (arrayMap(kk -> if(kk <= d0, toInt8({n}), toInt8(-1)), range(1, {n + 1})),"
        f" arrayMap(kk -> if(kk <= d0, t0, toInt64(-1)), range(1, {n + 1})))).2"
    )


def deepest_prefix_fold(n: int) -> str:
    """Ordered without exclusions: the depth grows by the run of the group from the next step."""
    step = let("nd", "toUInt8(acc.1 + gr[acc.1 + 1])",
               "(nd, arrayMap((r, kk) -> if(r < 0 AND kk <= nd, gt, r), acc.2, arrayEnumerate(acc.2)))")
    return (
        f"arrayFold((acc, gt, gr) -> if(acc.1 >= {n}, acc, {step}),"
        f" arraySlice(gT, g + 1, lg - g), arraySlice(gR, g + 1, lg - g),"
        f" (d0, arrayMap(kk -> if(kk <= d0, t0, toInt64(-1)), range(1, {n + 1})))).2"
    )


def chain_columns(n: int, breakdown: bool) -> list[Column]:
    """Ordered, no exclusions, a customer whose every event matches at most one step: from an
    anchor, the greedy chain (earliest next-step event at or after the previous one) reaches each
    step as early as any path. Events are sorted by (time, step mask), so "at or after" is "later
    in the array", ties included. With flat arrays only (no per-anchor work): chain[S, k][i] is
    the time step k is reached on the chain from the first step-S event at or after position i
    (-1: never, -2: no step-S event from i on), filled backwards from the step-S events' values,
    which read chain[S + 1, k] there. An anchor's depth counts its chain's times within its window.
    The counted anchor is the first of the deepest; anchors at its time share its chain (nothing
    lies between them in the array), so the breakdown value is the least of theirs. Reads cts, cms,
    cbs; gives clevel, ct1, creach, cbval."""
    chain: dict[tuple[int, int], str] = {}
    for s in range(n, 1, -1):
        bit = 1 << (s - 1)
        chain[s, s] = f"arrayReverseFill(x -> x != -2, arrayMap((t, m) -> if(m = {bit}, t, toInt64(-2)), cts, cms))"
        for k in range(s + 1, n + 1):
            chain[s, k] = (f"arrayReverseFill(x -> x != -2, arrayMap((m, g) -> if(m = {bit},"
                           f" if(g < 0, toInt64(-1), g), toInt64(-2)), cms, {chain[s + 1, k]}))")
    names = [f"cg{k}" for k in range(2, n + 1)]

    def in_window(time: str, start: str) -> str:
        return f"({time} >= 0 AND {time} <= {start} + {WINDOW})"

    depth = " + ".join(in_window(v, "t") for v in names)
    reach = ", ".join(f"if({in_window(f'{v}[bi]', 'ct1')}, {v}[bi], toInt64(-1))" for v in names)
    breakdown_value = ("arrayReduce('min', arrayFilter((b, t, d) -> d > 0 AND t = ct1, cbs, cts, cdep))"
                       if breakdown else "''")
    return [
        *((chain[2, k], f"cg{k}") for k in range(2, n + 1)),
        (f"arrayMap((t, m, {', '.join(names)}) -> if(m = 1 AND t < {{span_ms:Int64}}, toUInt8(1 + {depth}),"
         f" toUInt8(0)),\n             cts, cms, {', '.join(names)})", "cdep"),
        ("arrayMax(cdep)", "clevel"),
        ("arrayFirstIndex(d -> d = clevel, cdep)", "bi"),
        ("cts[bi]", "ct1"),
        (f"[ct1, {reach}]", "creach"),
        (breakdown_value, "cbval"),
    ]
