"""Any-order funnels: step 1 first, then steps 2..n in any order within the window.

The window's events join a matching one by one in time order (matching.augment); a step's reach
time is when the prefix up to it first becomes fillable. Exclusions are whole-path only (1 -> n).
"""
from __future__ import annotations

from services.api.queries.custom_funnel.matching import augment, let
from services.api.queries.custom_funnel.paths import WINDOW, Column, FunnelPaths


class AnyOrderFunnel(FunnelPaths):
    def anchor_columns(self) -> list[Column]:
        n = self.step_count
        # Step 1 is the anchor itself: other events fill steps 2..n (bit 0 cleared).
        first_times = (f"arrayMap(kk -> if(arrayExists(v -> bitTest(v, kk - 1), im),"
                       f" it[arrayFirstIndex(v -> bitTest(v, kk - 1), im)], toInt64(-1)), range(2, {n + 1}))")
        one_step_reach = (f"arrayPushFront(arrayMap(kk -> if(arrayAll(v -> v >= 0, arraySlice(ft, 1, kk)),"
                          f" arrayMax(arraySlice(ft, 1, kk)), toInt64(-1)), range(1, {n})), t0)")
        reach = (f"if(arrayAll(v -> bitCount(v) <= 1, im), arrayMap(ft -> {one_step_reach}, [{first_times}])[1],"
                 f" {matching_reach(n)})")
        if self.exclusions:
            # The last step must not come after the first exclusion event strictly after step 1.
            exclusion_bits = sum(1 << e for e in range(len(self.exclusions)))
            reach = (f"arrayMap((rr, xi) -> if(xi > 0 AND rr[{n}] > ts[xi], arrayPushBack(arrayPopBack(rr),"
                     f" toInt64(-1)), rr), [{reach}], [toUInt32(arrayFirstIndex((x, u) -> bitAnd(x, {exclusion_bits})"
                     f" != 0 AND u > t0, xs, ts))])[1]")
        return [
            ("arrayMap(a -> toUInt32(gFirst[gid[a]]), anchors)", "aLo"),
            (f"arrayMap(a -> toUInt32(arrayCount(u -> u <= ts[a] + {WINDOW}, ts)), anchors)", "aHi"),
            ("arrayMap((a, lo, hi) -> arrayMap((v, p) -> if(p = a, toUInt32(0), bitAnd(v, toUInt32(4294967294))),"
             "\n             arraySlice(ms, lo, hi - lo + 1), range(lo, hi + 1)), anchors, aLo, aHi)", "aMasked"),
            ("arrayMap((mk, lo, hi) -> arrayFilter((u, v) -> v != 0, arraySlice(ts, lo, hi - lo + 1), mk),"
             "\n             aMasked, aLo, aHi)", "aIT"),
            ("arrayMap(mk -> arrayFilter(v -> v != 0, mk), aMasked)", "aIM"),
            (f"arrayMap((t0, im, it) -> {reach}, aT, aIM, aIT)", "aReach"),
        ]


def matching_reach(n: int) -> str:
    """Reach times by adding the window's events (im, times it) to a matching in time order."""
    available = "arrayMap((v, j) -> if(j <= ii, v, toUInt32(0)), im, arrayEnumerate(im))"
    augmented = let("av", available, augment("av", "z.1", "z.2", n, 30))
    added = let("ag", augmented, "if(ag.1 = 1, (ag.2, toUInt8(z.2 + 1), toUInt8(1)), (z.1, z.2, toUInt8(0)))")
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
