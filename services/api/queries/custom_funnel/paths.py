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
  greedy chains on flat arrays (_chain_columns). Other customers of such funnels, and every
  other funnel, take the general path below.
* Events sharing a timestamp form a *group*. For every group and step s, run[s] is the longest
  run of steps s, s+1, ... its distinct events can fill (matching.max_run).
* Anchors are the step-1 events in [start, end). For each, a fold over the later groups in its
  window computes the reach time of every step (ordered without exclusions: the depth d grows by
  run[d+1] per group, since the deepest prefix dominates; with exclusions or strict: the best
  "cap" per step, see _capped_fold). The anchor's own group contributes run[2] of its other events.
* Any order: the window's events join a matching one by one in time order (matching.augment);
  a step's reach time is when the prefix up to it first becomes fillable.
* The counted path is the anchor with the largest depth, then earliest (t1, reach...), then
  smallest breakdown value (arraySort on that key).
"""
from __future__ import annotations

from services.api.queries.custom_funnel.matching import augment, let, max_run

W = "{window_ms:Int64}"


_EVENTS = """
    arrayFilter((i, v, u) -> bitTest(v, 0) AND u < {span_ms:Int64}, arrayEnumerate(ts), ms, ts) AS anchors,
    arrayMap(a -> ts[a], anchors) AS aT,"""
# flags: resized so that an empty array (a customer the chain columns serve) stays empty.
_GROUPS = """
    arrayMap((u, p) -> toUInt8(u != p), ts,
             arrayResize(arrayPushFront(arrayPopBack(ts), toInt64(-1)), length(ts))) AS flags,
    arrayCumSum(flags) AS gid,
    arrayFilter((u, f) -> f, ts, flags) AS gT,
    arrayFilter((i, f) -> f, arrayEnumerate(ts), flags) AS gFirst,
    arraySplit((v, f) -> f, ms, flags) AS gM,
    arrayMap(grp -> arrayFold((acc, v) -> bitOr(acc, v), grp, toUInt32(0)), arraySplit((v, f) -> f, xs, flags)) AS gX,
    arrayMap(a -> gid[a], anchors) AS aG,"""


def _taint(cap: str, j: str, k: str, exclusions: list[tuple[int, int]], gx: str) -> str:
    """Int16 cap of a path moving from step j to step k in a group whose exclusion events are
    gx: an exclusion (a, b) seen with a <= j (e_a earlier) and k < b (e_b not yet) caps the
    path at b - 1. Events at e_a's or e_b's own time are not strictly between, so do not count."""
    terms = [f"toInt16({cap})"] + [
        f"if(bitTest({gx}, {e}) AND {j} >= {a} AND {k} < {b}, {b - 1}, 127)"
        for e, (a, b) in enumerate(exclusions)
    ]
    return f"least({', '.join(terms)})" if len(terms) > 1 else terms[0]


def _capped_fold(n: int, strict: bool, exclusions: list[tuple[int, int]]) -> str:
    """Per-anchor fold over groups; state (caps, reach). caps[k] = highest step a path now at
    step k may still reach (-1: no such path); strict keeps only paths whose last event is in
    the current group, so a path must move on in every group or end."""
    cand = (f"if(jj < kk AND acc.1[jj] >= kk AND jj + gr[jj + 1] >= kk,"
            f" {_taint('acc.1[jj]', 'jj', 'kk', exclusions, 'gx')}, toInt16(-1))")
    if not strict:
        cand = (f"if(jj = kk, if(acc.1[kk] < 0, toInt16(-1), {_taint('acc.1[kk]', 'kk', 'kk', exclusions, 'gx')}),"
                f" {cand})")
    caps = f"arrayMap(kk -> toInt8(arrayMax(arrayMap(jj -> {cand}, range(1, kk + 1)))), range(1, {n + 1}))"
    step = let("cp", caps, "(cp, arrayMap((r, c) -> if(r < 0 AND c >= 0, gt, r), acc.2, cp))")
    return (
        f"arrayFold((acc, gt, gr, gx) -> {step},"
        f" arraySlice(gT, g + 1, lg - g), arraySlice(gR, g + 1, lg - g), arraySlice(gX, g + 1, lg - g),"
        f" (arrayMap(kk -> if(kk <= d0, toInt8({n}), toInt8(-1)), range(1, {n + 1})),"
        f" arrayMap(kk -> if(kk <= d0, t0, toInt64(-1)), range(1, {n + 1})))).2"
    )


def _ordered_fold(n: int) -> str:
    step = let("nd", "toUInt8(acc.1 + gr[acc.1 + 1])",
               "(nd, arrayMap((r, kk) -> if(r < 0 AND kk <= nd, gt, r), acc.2, arrayEnumerate(acc.2)))")
    return (
        f"arrayFold((acc, gt, gr) -> if(acc.1 >= {n}, acc, {step}),"
        f" arraySlice(gT, g + 1, lg - g), arraySlice(gR, g + 1, lg - g),"
        f" (d0, arrayMap(kk -> if(kk <= d0, t0, toInt64(-1)), range(1, {n + 1})))).2"
    )


def _grouped_anchor_columns(n: int, order: str, exclusions: list[tuple[int, int]]) -> str:
    fold = _ordered_fold(n) if order == "ordered" and not exclusions else _capped_fold(n, order == "strict", exclusions)
    return f"""
    arrayMap(grp -> arrayMap(stp -> {max_run('grp', 'stp', n, 10)}, range(1, {n + 1})), gM) AS gR,
    arrayMap(a -> arrayCount(u -> u <= ts[a] + {W}, gT), anchors) AS aLast,
    arrayMap(a -> arrayFilter((v, j) -> gFirst[gid[a]] + j - 1 != a, gM[gid[a]], arrayEnumerate(gM[gid[a]])),
             anchors) AS aRest,
    arrayMap(rest -> toUInt8(1 + {max_run('rest', '2', n, 20)}), aRest) AS aD0,
    arrayMap((t0, g, lg, d0) -> {fold}, aT, aG, aLast, aD0) AS aReach"""


def _any_general(n: int) -> str:
    """Reach times by adding the window's events (im, times it) to a matching in time order."""
    avail = "arrayMap((v, j) -> if(j <= ii, v, toUInt32(0)), im, arrayEnumerate(im))"
    aug = let("av", avail, augment("av", "z.1", "z.2", n, 30))
    added = let("ag", aug, "if(ag.1 = 1, (ag.2, toUInt8(z.2 + 1), toUInt8(1)), (z.1, z.2, toUInt8(0)))")
    attempts = (f"arrayFold((z, zz) -> if(z.3 = 0 OR z.2 >= {n}, (z.1, z.2, toUInt8(0)), {added}),"
                f" range({n}), (q.1, q.2, toUInt8(1)))")
    step = let("at", attempts,
               "(at.1, at.2, arrayMap((r, kk) -> if(r < 0 AND kk <= at.2, it[ii], r), q.3, arrayEnumerate(q.3)))")
    return (
        f"arrayFold((q, ii) -> {step},"
        f" range(1, length(im) + 1),"
        f" (arrayWithConstant(length(im), toUInt32(0)), toUInt8(1),"
        f" arrayMap(kk -> if(kk = 1, t0, toInt64(-1)), range(1, {n + 1})))).3"
    )


def _any_anchor_columns(n: int, exclusions: list[tuple[int, int]]) -> str:
    # Step 1 is the anchor itself: other events fill steps 2..n (bit 0 cleared).
    first = (f"arrayMap(kk -> if(arrayExists(v -> bitTest(v, kk - 1), im),"
             f" it[arrayFirstIndex(v -> bitTest(v, kk - 1), im)], toInt64(-1)), range(2, {n + 1}))")
    fast = (f"arrayPushFront(arrayMap(kk -> if(arrayAll(v -> v >= 0, arraySlice(ft, 1, kk)),"
            f" arrayMax(arraySlice(ft, 1, kk)), toInt64(-1)), range(1, {n})), t0)")
    reach = f"if(arrayAll(v -> bitCount(v) <= 1, im), arrayMap(ft -> {fast}, [{first}])[1], {_any_general(n)})"
    if exclusions:
        # Only whole-path exclusions (1 -> n): the last step must not come after the first
        # exclusion event strictly after step 1.
        xa = sum(1 << e for e in range(len(exclusions)))
        reach = (f"arrayMap((rr, xi) -> if(xi > 0 AND rr[{n}] > ts[xi], arrayPushBack(arrayPopBack(rr), toInt64(-1)),"
                 f" rr), [{reach}], [toUInt32(arrayFirstIndex((x, u) -> bitAnd(x, {xa}) != 0 AND u > t0, xs, ts))])[1]")
    return f"""
    arrayMap(a -> toUInt32(gFirst[gid[a]]), anchors) AS aLo,
    arrayMap(a -> toUInt32(arrayCount(u -> u <= ts[a] + {W}, ts)), anchors) AS aHi,
    arrayMap((a, lo, hi) -> arrayMap((v, p) -> if(p = a, toUInt32(0), bitAnd(v, toUInt32(4294967294))),
             arraySlice(ms, lo, hi - lo + 1), range(lo, hi + 1)), anchors, aLo, aHi) AS aMasked,
    arrayMap((mk, lo, hi) -> arrayFilter((u, v) -> v != 0, arraySlice(ts, lo, hi - lo + 1), mk),
             aMasked, aLo, aHi) AS aIT,
    arrayMap(mk -> arrayFilter(v -> v != 0, mk), aMasked) AS aIM,
    arrayMap((t0, im, it) -> {reach}, aT, aIM, aIT) AS aReach"""


def _chain_columns(n: int, breakdown: bool) -> str:
    """Ordered, no exclusions, a customer whose every event matches at most one step: from an
    anchor, the greedy chain (earliest next-step event at or after the previous one) reaches each
    step as early as any path. Events are sorted by (time, step mask), so "at or after" is "later
    in the array", ties included. With flat arrays only (no per-anchor work): gS_k[i] is the time
    step k is reached on the chain from the first step-S event at or after position i (-1: never,
    -2: no step-S event from i on), filled backwards from the step-S events' values, which read
    g(S+1)_k there. An anchor's depth counts its chain's times within its window. The counted
    anchor is the first of the deepest; anchors at its time share its chain (nothing lies between
    them in the array), so the breakdown value is the least of theirs. Reads cts, cms, cbs; gives
    clevel, ct1, creach, cbval."""
    g: dict[tuple[int, int], str] = {}
    for s in range(n, 1, -1):
        bit = 1 << (s - 1)
        g[s, s] = f"arrayReverseFill(x -> x != -2, arrayMap((t, m) -> if(m = {bit}, t, toInt64(-2)), cts, cms))"
        for k in range(s + 1, n + 1):
            g[s, k] = (f"arrayReverseFill(x -> x != -2, arrayMap((m, g) -> if(m = {bit},"
                       f" if(g < 0, toInt64(-1), g), toInt64(-2)), cms, {g[s + 1, k]}))")
    names = [f"cg{k}" for k in range(2, n + 1)]

    def ok(v: str, t: str) -> str:
        return f"({v} >= 0 AND {v} <= {t} + {W})"

    depth = " + ".join(ok(v, "t") for v in names)
    reach = ", ".join(f"if({ok(f'{v}[bi]', 'ct1')}, {v}[bi], toInt64(-1))" for v in names)
    bval = ("arrayReduce('min', arrayFilter((b, t, d) -> d > 0 AND t = ct1, cbs, cts, cdep))" if breakdown
            else "''")
    return "".join(f"\n    {g[2, k]} AS cg{k}," for k in range(2, n + 1)) + f"""
    arrayMap((t, m, {', '.join(names)}) -> if(m = 1 AND t < {{span_ms:Int64}}, toUInt8(1 + {depth}), toUInt8(0)),
             cts, cms, {', '.join(names)}) AS cdep,
    arrayMax(cdep) AS clevel, arrayFirstIndex(d -> d = clevel, cdep) AS bi, cts[bi] AS ct1,
    [ct1, {reach}] AS creach,
    {bval} AS cbval"""


# One UInt128 per event sorts them by (time, step mask, event id hash): the time after base_ms
# (44 bits: DateTime64 spans 400 years), the step mask (20 bits: at most 20 steps), the hash.
_SORT_KEY = ("bitOr(bitShiftLeft(toUInt128(bitOr(bitShiftLeft(toUInt64(tk), 20), m)), 64),"
             " toUInt128(cityHash64(event_id)))")
_LOW64 = 18446744073709551615


def _events_sql(step_mask: str, exclusion_mask: str, bvalue: str, prefilter: str, customer_filter: str,
                exclusions: bool, breakdown: bool, customer_ids: bool) -> str:
    """Per customer: times (ms after start), step masks, exclusion masks and
    breakdown values of the events (ts0, ms0, xs0, bs0), sorted by (time, step mask, event id
    hash); a copy of an event (same time and event id) sits next to its original and is dropped.
    Without exclusions or breakdown, their arrays are constants, not collected and sorted."""
    def aligned(name: str, fallback: str) -> str:
        return f"arrayFilter((v, f) -> f, arraySort((v, o) -> o, {name}a, ka), keep)" if name in collected else fallback

    collected = ("x" if exclusions else "") + ("b" if breakdown else "")
    xs0 = aligned("x", "arrayWithConstant(length(ks), toUInt32(0))")
    bs0 = aligned("b", "arrayWithConstant(length(ks), '')")
    arrays = "".join(f", groupArray({v}) AS {v}a" for v in collected)
    # The view listing customer ids groups by the String itself: measured cheaper than
    # person_key plus any(customer_id) (1.55 vs 1.75 s of CPU at 10M events).
    key = "customer_id" if customer_ids else "person_key"
    return f"""
    SELECT ck AS {key},
           arrayMap(v -> toInt64(bitShiftRight(v, 84)) + {{shift_ms:Int64}}, ks) AS ts0,
           arrayMap(v -> toUInt32(bitAnd(bitShiftRight(v, 64), 1048575)), ks) AS ms0,
           {xs0} AS xs0,
           {bs0} AS bs0
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
                SELECT ck, groupArray(k) AS ka, arraySort(ka) AS sk{arrays}
                FROM
                (
                    SELECT {key} AS ck,
                           toUnixTimestamp64Milli(occurred_at) - {{base_ms:Int64}} AS tk,
                           tk + {{shift_ms:Int64}} AS t,
                           {step_mask} AS m,
                           {exclusion_mask} AS x,
                           {bvalue} AS b,
                           {_SORT_KEY} AS k
                    FROM person_events
                    WHERE occurred_at >= fromUnixTimestamp64Milli({{start_ms:Int64}}, 'UTC')
                      AND occurred_at < fromUnixTimestamp64Milli({{read_end_ms:Int64}}, 'UTC')\
{prefilter}{customer_filter}
                )
                GROUP BY ck
                -- only customers with a step-1 event in [start, end): the array work runs for them only
                HAVING countIf(bitTest(m, 0) AND t < {{span_ms:Int64}}) > 0
            )
        )
    )
"""


_OUT = "SELECT {key}, {b}.1 AS level, {b}.2 AS t1, {b}.3 AS reach, {b}.4 AS bval FROM ({q})"


def customer_paths_sql(
    *, n: int, order: str, exclusions: list[tuple[int, int]], step_mask: str, exclusion_mask: str,
    breakdown: str | None, one_step_per_event: bool = False, customer_filter: str = "", customer_ids: bool = False,
) -> str:
    """The per-customer subquery. Parameters: start_ms, span_ms (end - start), window_ms,
    read_end_ms (end + window), base_ms (start, or the earliest DateTime64 if start is before
    it), shift_ms (base_ms - start_ms) and those of the filters. one_step_per_event: no event can
    match two step filters (filters.one_step_per_event), so every customer takes the chain."""
    prefilter = "" if order == "strict" else "\n                      AND (m != 0 OR x != 0)"
    bvalue = f"if(bitTest(m, 0), {breakdown}, '')" if breakdown else "''"
    events = _events_sql(step_mask, exclusion_mask, bvalue, prefilter, customer_filter, bool(exclusions),
                         breakdown is not None, customer_ids)
    key = "customer_id" if customer_ids else "person_key"
    chain = order == "ordered" and not exclusions
    if chain and one_step_per_event:
        q = layered(events, "ts0 AS cts, ms0 AS cms, bs0 AS cbs," + _chain_columns(n, breakdown is not None))
        return f"SELECT {key}, clevel AS level, ct1 AS t1, creach AS reach, cbval AS bval FROM ({q})"
    if order == "any":
        anchors = _GROUPS + _any_anchor_columns(n, exclusions)
    else:
        anchors = _GROUPS + _grouped_anchor_columns(n, order, exclusions)
    general = f"""{_EVENTS}{anchors},
    arraySort(x -> (-toInt16(x.1), x.2, x.3, x.4),
              arrayMap((r, t0, a) -> (toUInt8(arrayCount(v -> v >= 0, r)), t0, r, bs[a]),
                       aReach, aT, anchors))[1] AS best"""
    if not chain:
        q = layered(events, "ts0 AS ts, ms0 AS ms, xs0 AS xs, bs0 AS bs," + general)
        return _OUT.format(key=key, b="best", q=q)
    # Per customer: the chain fold when each of their events matches at most one step, else the
    # general path; each side sees empty arrays for the other's customers.
    e = "CAST([], 'Array({})')".format
    split = f"""
    arrayAll(v -> bitCount(v) <= 1, ms0) AS simple,
    if(simple, ts0, {e('Int64')}) AS cts, if(simple, ms0, {e('UInt32')}) AS cms, if(simple, bs0, {e('String')}) AS cbs,
{_chain_columns(n, breakdown is not None)},
    if(simple, {e('Int64')}, ts0) AS ts, if(simple, {e('UInt32')}, ms0) AS ms,
    if(simple, {e('UInt32')}, xs0) AS xs, if(simple, {e('String')}, bs0) AS bs,"""
    # Picked by index, not if(): ClickHouse evaluates an if() branch lazily, re-running the array
    # work below it (4 times the CPU).
    q = layered(events, split + general + ",\n    [best, (clevel, ct1, creach, cbval)][simple + 1] AS res")
    return _OUT.format(key=key, b="res", q=q)


def layered(source: str, columns: str) -> str:
    """`source` with the comma-separated `expression AS name` columns added one SELECT level each.
    Written in one SELECT, each use of an alias is a copy of its expression (the analyzer inlines
    aliases), and these aliases build on each other: the copies multiplied, and planning and
    running them cost seconds. A subquery's column is computed once."""
    query = source
    for expression, name in _definitions(columns):
        query = f"SELECT *, {expression} AS {name}\nFROM ({query})"
    return query


def _definitions(columns: str) -> list[tuple[str, str]]:
    items, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(columns):
        if quoted:
            quoted = ch != "'"
        elif ch == "'":
            quoted = True
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(columns[start:i])
            start = i + 1
    items.append(columns[start:])
    definitions = []
    for item in filter(None, (item.strip() for item in items)):
        expression, _, name = item.rpartition(" AS ")
        definitions.append((expression.strip(), name.strip()))
    return definitions
