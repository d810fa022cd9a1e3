"""SQL expressions for "can these steps be filled by distinct events?" (bipartite matching).

One event may match several step filters but fills at most one step of a path. Where several
events could fill several steps in any order (events sharing a timestamp in ordered and strict
funnels, all of the window in an any-order funnel), whether steps s, s+1, ..., s+m-1 can all be
filled is a bipartite matching question. These builders emit ClickHouse array expressions for it:
Kuhn's augmenting paths, with a step's neighbours found through bitmasks.

Items are event step masks (UInt32, bit k-1 set when the event matches step k). A matching is an
Array(UInt32) parallel to the items: the one step bit an item fills, 0 when free.
Builders take SQL *names* (lambda parameters or columns) for arrays, since they repeat them;
`d` keeps lambda parameter names of nested calls apart.
"""
from __future__ import annotations


def _low_bit(x: str) -> str:
    return f"toUInt32(bitAnd({x}, toUInt32(bitNot({x}) + 1)))"


def let(name: str, value: str, body: str) -> str:
    """`body` with `name` bound to `value`, evaluated once: SQL has no let, a one-element arrayMap is one."""
    return f"arrayMap({name} -> {body}, [{value}])[1]"


def augment(items: str, own: str, bit: str, n: int, d: int) -> str:
    """Tuple(found UInt8, matching Array(UInt32)): try to add step bit `bit` (0-based) to the
    matching `own` by an augmenting path. BFS over steps in layers; a layer's neighbours are the
    items matching one of its steps; a free one ends the search, else their steps form the next
    layer. The path is then flipped walking the layers back."""
    b, lv, m, o, a, f, y, i, fr, nx, bf, lw = (
        f"{v}{d}" for v in ("b", "lv", "m", "o", "a", "f", "y", "i", "fr", "nx", "bf", "lw"))
    start = f"toUInt32(bitShiftLeft(toUInt32(1), {bit}))"
    free = f"toUInt32(arrayFirstIndex(({m}, {o}) -> bitAnd({m}, {b}.1) != 0 AND {o} = 0, {items}, {own}))"
    nxt = (f"toUInt32(bitAnd(arrayFold(({a}, {m}, {o}) -> if(bitAnd({m}, {b}.1) != 0, bitOr({a}, {o}), {a}),"
           f" {items}, {own}, toUInt32(0)), bitNot({b}.2)))")
    grow = let(nx, nxt, f"if({nx} = 0, (toUInt32(0), {b}.2, {b}.3, toUInt32(0), toUInt8(1)),"
               f" ({nx}, bitOr({b}.2, {nx}), arrayPushBack({b}.3, {b}.1), toUInt32(0), toUInt8(0)))")
    layer = let(fr, free, f"if({fr} > 0, ({b}.1, {b}.2, arrayPushBack({b}.3, {b}.1), {fr}, toUInt8(1)), {grow})")
    bfs = (f"arrayFold(({b}, {lv}) -> if({b}.5 = 1, {b}, {layer}),"
           f" range({n}), ({start}, {start}, CAST([], 'Array(UInt32)'), toUInt32(0), toUInt8(0)))")
    low = _low_bit(f"bitAnd({items}[{f}.2], {y})")
    step = let(lw, low, (
        f"(arrayMap(({o}, {i}) -> if({i} = {f}.2, {lw}, if({o} = {lw}, toUInt32(0), {o})),"
        f" {f}.1, arrayEnumerate({f}.1)),"
        f" toUInt32(arrayFirstIndex({o} -> {o} = {lw}, {f}.1)))"))
    flip = f"arrayFold(({f}, {y}) -> {step}, arrayReverse({bf}.3), ({own}, {bf}.4)).1"
    return let(bf, bfs, f"if({bf}.4 = 0, (toUInt8(0), {own}), (toUInt8(1), {flip}))")


def max_run(items: str, start: str, n: int, d: int = 0) -> str:
    """UInt8: the largest m such that steps start..start+m-1 (1-based `start`, a name or a
    constant) can be filled by distinct items. Runs stop at the first step that cannot be added:
    with no augmenting path the matching is maximum, so no longer run exists either."""
    s, k, m, a, r = (f"{v}{d}" for v in ("s", "k", "mm", "ab", "ra"))
    aug = augment(items, f"{s}.1", f"{k}", n, d + 1)
    added = let(r, aug, f"if({r}.1 = 1, ({r}.2, toUInt8(1), toUInt8({s}.3 + 1)), ({s}.1, toUInt8(0), {s}.3))")
    general = (
        f"arrayFold(({s}, {k}) -> if({s}.2 = 0, {s}, {added}),"
        f" range(toUInt32({start} - 1), toUInt32({n})),"
        f" (arrayWithConstant(length({items}), toUInt32(0)), toUInt8(1), toUInt8(0))).3"
    )
    # Fast paths: one item fills at most one step; items matching one step each fill a run
    # exactly when every step of it has an item (trailing ones of the OR of masks).
    either = f"bitShiftRight(arrayFold(({a}, {m}) -> bitOr({a}, {m}), {items}, toUInt32(0)), {start} - 1)"
    run_of_ones = let(r, either, f"toUInt8(bitCount(bitAnd({r}, bitNot({r} + 1))))")
    return (
        f"if(length({items}) = 1, toUInt8(bitTest({items}[1], {start} - 1)),"
        f" if(arrayAll({m} -> bitCount({m}) <= 1, {items}), {run_of_ones}, {general}))"
    )
