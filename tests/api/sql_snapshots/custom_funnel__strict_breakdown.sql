-- query 1 of 1
-- parameters: {"base_ms": 1793491200000, "bkey": "item", "f0_0": 1, "f1_0": 2, "f1_1": "web", "f2_0": "purchase_seen", "f2_1k": "gift", "f2_1v": false, "f2_2k": "item", "f2_2v": "tea", "f2_3k": "qty", "f2_3v": 2.0, "read_end_ms": 1796169600000, "shift_ms": 0, "span_ms": 2592000000, "start_ms": 1793491200000, "window_ms": 86400000}
SELECT grouping(value), value, min(rk), sum(a0), sum(a1), sum(a2), quantileExactInclusiveIfMerge(0.5)(a3), quantileExactInclusiveIfMerge(0.5)(a4)
FROM
(
    SELECT if(rk <= 25, bval, '(other)') AS value, *
    FROM
    (
        SELECT *, row_number() OVER (ORDER BY a0 DESC, bval ASC) AS rk
        FROM (SELECT bval, countIf(level >= 1) AS a0, countIf(level >= 2) AS a1, countIf(level >= 3) AS a2, quantileExactInclusiveIfState(0.5)(reach[2] - reach[1], level >= 2) AS a3, quantileExactInclusiveIfState(0.5)(reach[3] - reach[2], level >= 3) AS a4 FROM (SELECT person_key, best.1 AS level, best.2 AS t1, best.3 AS reach, best.4 AS bval FROM (SELECT *, arraySort(x -> (-toInt16(x.1), x.2, x.3, x.4),
              arrayMap((r, t0, a) -> (toUInt8(arrayCount(v -> v >= 0, r)), t0, r, bs[a]),
                       aReach, aT, anchors))[1] AS best
FROM (SELECT *, arrayMap((t0, g, lg, d0) -> arrayFold((acc, gt, gr, gx) -> arrayMap(cp -> (cp, arrayMap((r, c) -> if(r < 0 AND c >= 0, gt, r), acc.2, cp)), [arrayMap(kk -> toInt8(arrayMax(arrayMap(jj -> if(jj < kk AND acc.1[jj] >= kk AND jj + gr[jj + 1] >= kk, toInt16(acc.1[jj]), toInt16(-1)), range(1, kk + 1)))), range(1, 4))])[1], arraySlice(gT, g + 1, lg - g), arraySlice(gR, g + 1, lg - g), arraySlice(gX, g + 1, lg - g), (arrayMap(kk -> if(kk <= d0, toInt8(3), toInt8(-1)), range(1, 4)), arrayMap(kk -> if(kk <= d0, t0, toInt64(-1)), range(1, 4)))).2, aT, aG, aLast, aD0) AS aReach
FROM (SELECT *, arrayMap(rest -> toUInt8(1 + if(length(rest) = 1, toUInt8(bitTest(rest[1], 2 - 1)), if(arrayAll(mm20 -> bitCount(mm20) <= 1, rest), arrayMap(ra20 -> toUInt8(bitCount(bitAnd(ra20, bitNot(ra20 + 1)))), [bitShiftRight(arrayFold((ab20, mm20) -> bitOr(ab20, mm20), rest, toUInt32(0)), 2 - 1)])[1], arrayFold((s20, k20) -> if(s20.2 = 0, s20, arrayMap(ra20 -> if(ra20.1 = 1, (ra20.2, toUInt8(1), toUInt8(s20.3 + 1)), (s20.1, toUInt8(0), s20.3)), [arrayMap(bf21 -> if(bf21.4 = 0, (toUInt8(0), s20.1), (toUInt8(1), arrayFold((f21, y21) -> arrayMap(lw21 -> (arrayMap((o21, i21) -> if(i21 = f21.2, lw21, if(o21 = lw21, toUInt32(0), o21)), f21.1, arrayEnumerate(f21.1)), toUInt32(arrayFirstIndex(o21 -> o21 = lw21, f21.1))), [toUInt32(bitAnd(bitAnd(rest[f21.2], y21), toUInt32(bitNot(bitAnd(rest[f21.2], y21)) + 1)))])[1], arrayReverse(bf21.3), (s20.1, bf21.4)).1)), [arrayFold((b21, lv21) -> if(b21.5 = 1, b21, arrayMap(fr21 -> if(fr21 > 0, (b21.1, b21.2, arrayPushBack(b21.3, b21.1), fr21, toUInt8(1)), arrayMap(nx21 -> if(nx21 = 0, (toUInt32(0), b21.2, b21.3, toUInt32(0), toUInt8(1)), (nx21, bitOr(b21.2, nx21), arrayPushBack(b21.3, b21.1), toUInt32(0), toUInt8(0))), [toUInt32(bitAnd(arrayFold((a21, m21, o21) -> if(bitAnd(m21, b21.1) != 0, bitOr(a21, o21), a21), rest, s20.1, toUInt32(0)), bitNot(b21.2)))])[1]), [toUInt32(arrayFirstIndex((m21, o21) -> bitAnd(m21, b21.1) != 0 AND o21 = 0, rest, s20.1))])[1]), range(3), (toUInt32(bitShiftLeft(toUInt32(1), k20)), toUInt32(bitShiftLeft(toUInt32(1), k20)), CAST([], 'Array(UInt32)'), toUInt32(0), toUInt8(0)))])[1]])[1]), range(toUInt32(2 - 1), toUInt32(3)), (arrayWithConstant(length(rest), toUInt32(0)), toUInt8(1), toUInt8(0))).3))), aRest) AS aD0
FROM (SELECT *, arrayMap(a -> arrayFilter((v, j) -> gFirst[gid[a]] + j - 1 != a, gM[gid[a]], arrayEnumerate(gM[gid[a]])),
             anchors) AS aRest
FROM (SELECT *, arrayMap(a -> arrayCount(u -> u <= ts[a] + {window_ms:Int64}, gT), anchors) AS aLast
FROM (SELECT *, arrayMap(grp -> arrayMap(stp -> if(length(grp) = 1, toUInt8(bitTest(grp[1], stp - 1)), if(arrayAll(mm10 -> bitCount(mm10) <= 1, grp), arrayMap(ra10 -> toUInt8(bitCount(bitAnd(ra10, bitNot(ra10 + 1)))), [bitShiftRight(arrayFold((ab10, mm10) -> bitOr(ab10, mm10), grp, toUInt32(0)), stp - 1)])[1], arrayFold((s10, k10) -> if(s10.2 = 0, s10, arrayMap(ra10 -> if(ra10.1 = 1, (ra10.2, toUInt8(1), toUInt8(s10.3 + 1)), (s10.1, toUInt8(0), s10.3)), [arrayMap(bf11 -> if(bf11.4 = 0, (toUInt8(0), s10.1), (toUInt8(1), arrayFold((f11, y11) -> arrayMap(lw11 -> (arrayMap((o11, i11) -> if(i11 = f11.2, lw11, if(o11 = lw11, toUInt32(0), o11)), f11.1, arrayEnumerate(f11.1)), toUInt32(arrayFirstIndex(o11 -> o11 = lw11, f11.1))), [toUInt32(bitAnd(bitAnd(grp[f11.2], y11), toUInt32(bitNot(bitAnd(grp[f11.2], y11)) + 1)))])[1], arrayReverse(bf11.3), (s10.1, bf11.4)).1)), [arrayFold((b11, lv11) -> if(b11.5 = 1, b11, arrayMap(fr11 -> if(fr11 > 0, (b11.1, b11.2, arrayPushBack(b11.3, b11.1), fr11, toUInt8(1)), arrayMap(nx11 -> if(nx11 = 0, (toUInt32(0), b11.2, b11.3, toUInt32(0), toUInt8(1)), (nx11, bitOr(b11.2, nx11), arrayPushBack(b11.3, b11.1), toUInt32(0), toUInt8(0))), [toUInt32(bitAnd(arrayFold((a11, m11, o11) -> if(bitAnd(m11, b11.1) != 0, bitOr(a11, o11), a11), grp, s10.1, toUInt32(0)), bitNot(b11.2)))])[1]), [toUInt32(arrayFirstIndex((m11, o11) -> bitAnd(m11, b11.1) != 0 AND o11 = 0, grp, s10.1))])[1]), range(3), (toUInt32(bitShiftLeft(toUInt32(1), k10)), toUInt32(bitShiftLeft(toUInt32(1), k10)), CAST([], 'Array(UInt32)'), toUInt32(0), toUInt8(0)))])[1]])[1]), range(toUInt32(stp - 1), toUInt32(3)), (arrayWithConstant(length(grp), toUInt32(0)), toUInt8(1), toUInt8(0))).3)), range(1, 4)), gM) AS gR
FROM (SELECT *, arrayMap(a -> gid[a], anchors) AS aG
FROM (SELECT *, arrayMap(grp -> arrayFold((acc, v) -> bitOr(acc, v), grp, toUInt32(0)), arraySplit((v, f) -> f, xs, flags)) AS gX
FROM (SELECT *, arraySplit((v, f) -> f, ms, flags) AS gM
FROM (SELECT *, arrayFilter((i, f) -> f, arrayEnumerate(ts), flags) AS gFirst
FROM (SELECT *, arrayFilter((u, f) -> f, ts, flags) AS gT
FROM (SELECT *, arrayCumSum(flags) AS gid
FROM (SELECT *, arrayMap((u, p) -> toUInt8(u != p), ts,
             arrayResize(arrayPushFront(arrayPopBack(ts), toInt64(-1)), length(ts))) AS flags
FROM (SELECT *, arrayMap(a -> ts[a], anchors) AS aT
FROM (SELECT *, arrayFilter((i, v, u) -> bitTest(v, 0) AND u < {span_ms:Int64}, arrayEnumerate(ts), ms, ts) AS anchors
FROM (SELECT *, bs0 AS bs
FROM (SELECT *, xs0 AS xs
FROM (SELECT *, ms0 AS ms
FROM (SELECT *, ts0 AS ts
FROM (
    SELECT ck AS person_key,
           arrayMap(v -> toInt64(bitShiftRight(v, 84)) + {shift_ms:Int64}, ks) AS ts0,
           arrayMap(v -> toUInt32(bitAnd(bitShiftRight(v, 64), 1048575)), ks) AS ms0,
           arrayWithConstant(length(ks), toUInt32(0)) AS xs0,
           arrayFilter((v, f) -> f, arraySort((v, o) -> o, ba, ka), keep) AS bs0
    FROM
    (
        SELECT *, arrayFilter((v, f) -> f, sk, keep) AS ks
        FROM
        (
            SELECT *, arrayMap((v, p, i) -> i = 1 OR bitShiftRight(v, 84) != bitShiftRight(p, 84)
                                            OR bitAnd(v, 18446744073709551615) != bitAnd(p, 18446744073709551615),
                               sk, arrayPushFront(arrayPopBack(sk), toUInt128(0)), arrayEnumerate(sk)) AS keep
            FROM
            (
                SELECT ck, groupArray(k) AS ka, arraySort(ka) AS sk, groupArray(b) AS ba
                FROM
                (
                    SELECT person_key AS ck,
                           toUnixTimestamp64Milli(occurred_at) - {base_ms:Int64} AS tk,
                           tk + {shift_ms:Int64} AS t,
                           toUInt32(bitShiftLeft(toUInt32((toUInt8(stage) = {f0_0:UInt8})), 0) + bitShiftLeft(toUInt32((toUInt8(stage) = {f1_0:UInt8} AND channel = {f1_1:String})), 1) + bitShiftLeft(toUInt32((event = {f2_0:String} AND (JSONType(properties, {f2_1k:String}) = 'Bool' AND JSONExtractBool(properties, {f2_1k:String}) = {f2_1v:Bool}) AND (JSONType(properties, {f2_2k:String}) = 'String' AND JSONExtractString(properties, {f2_2k:String}) = {f2_2v:String}) AND (JSONType(properties, {f2_3k:String}) IN ('Int64', 'UInt64', 'Double') AND JSONExtractFloat(properties, {f2_3k:String}) = {f2_3v:Float64}))), 2)) AS m,
                           toUInt32(0) AS x,
                           if(bitTest(m, 0), multiIf(JSONType(properties, {bkey:String}) = 'String', JSONExtractString(properties, {bkey:String}), JSONType(properties, {bkey:String}) = 'Null', '', JSONExtractRaw(properties, {bkey:String})), '') AS b,
                           bitOr(bitShiftLeft(toUInt128(bitOr(bitShiftLeft(toUInt64(tk), 20), m)), 64), toUInt128(cityHash64(event_id))) AS k
                    FROM person_events
                    WHERE occurred_at >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC')
                      AND occurred_at < fromUnixTimestamp64Milli({read_end_ms:Int64}, 'UTC')
                )
                GROUP BY ck
                -- only customers with a step-1 event in [start, end): the array work runs for them only
                HAVING countIf(bitTest(m, 0) AND t < {span_ms:Int64}) > 0
            )
        )
    )
))))))))))))))))))))) GROUP BY bval)
    )
)
GROUP BY GROUPING SETS ((value), ())
