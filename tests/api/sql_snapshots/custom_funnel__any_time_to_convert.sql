-- query 1 of 1
-- parameters: {"base_ms": 1793491200000, "bins": 5, "f0_0": 1, "f1_0": 2, "f1_1": "web", "f2_0": "purchase_seen", "f2_1k": "gift", "f2_1v": false, "f2_2k": "item", "f2_2v": "tea", "f2_3k": "qty", "f2_3v": 2.0, "f3_0": "use_seen", "read_end_ms": 1796169600000, "shift_ms": 0, "span_ms": 2592000000, "start_ms": 1793491200000, "window_ms": 86400000}
SELECT cnt, av, med, lo, w, arrayMap(i -> countEqual(bin_of, i), range(toUInt64(intDiv(mx - lo + w, w))))
FROM
(
    SELECT count() AS cnt, min(d) AS mn, max(d) AS mx, avg(d) AS av, quantileExactInclusive(0.5)(d) AS med,
           groupArray(d) AS ds, intDiv(mn, 1000) * 1000 AS lo,
           greatest(toInt64(1), intDiv(mx - lo + {bins:UInt32} * 1000, {bins:UInt32} * 1000)) * 1000 AS w,
           arrayMap(x -> intDiv(x - lo, w), ds) AS bin_of
    FROM (SELECT reach[3] - t1 AS d FROM (SELECT person_key, best.1 AS level, best.2 AS t1, best.3 AS reach, best.4 AS bval FROM (SELECT *, arraySort(x -> (-toInt16(x.1), x.2, x.3, x.4),
              arrayMap((r, t0, a) -> (toUInt8(arrayCount(v -> v >= 0, r)), t0, r, bs[a]),
                       aReach, aT, anchors))[1] AS best
FROM (SELECT *, arrayMap((t0, im, it) -> arrayMap((rr, xi) -> if(xi > 0 AND rr[3] > ts[xi], arrayPushBack(arrayPopBack(rr), toInt64(-1)), rr), [if(arrayAll(v -> bitCount(v) <= 1, im), arrayMap(ft -> arrayPushFront(arrayMap(kk -> if(arrayAll(v -> v >= 0, arraySlice(ft, 1, kk)), arrayMax(arraySlice(ft, 1, kk)), toInt64(-1)), range(1, 3)), t0), [arrayMap(kk -> if(arrayExists(v -> bitTest(v, kk - 1), im), it[arrayFirstIndex(v -> bitTest(v, kk - 1), im)], toInt64(-1)), range(2, 4))])[1], arrayFold((q, ii) -> arrayMap(at -> (at.1, at.2, arrayMap((r, kk) -> if(r < 0 AND kk <= at.2, it[ii], r), q.3, arrayEnumerate(q.3))), [arrayFold((z, zz) -> if(z.3 = 0 OR z.2 >= 3, (z.1, z.2, toUInt8(0)), arrayMap(ag -> if(ag.1 = 1, (ag.2, toUInt8(z.2 + 1), toUInt8(1)), (z.1, z.2, toUInt8(0))), [arrayMap(av -> arrayMap(bf30 -> if(bf30.4 = 0, (toUInt8(0), z.1), (toUInt8(1), arrayFold((f30, y30) -> arrayMap(lw30 -> (arrayMap((o30, i30) -> if(i30 = f30.2, lw30, if(o30 = lw30, toUInt32(0), o30)), f30.1, arrayEnumerate(f30.1)), toUInt32(arrayFirstIndex(o30 -> o30 = lw30, f30.1))), [toUInt32(bitAnd(bitAnd(av[f30.2], y30), toUInt32(bitNot(bitAnd(av[f30.2], y30)) + 1)))])[1], arrayReverse(bf30.3), (z.1, bf30.4)).1)), [arrayFold((b30, lv30) -> if(b30.5 = 1, b30, arrayMap(fr30 -> if(fr30 > 0, (b30.1, b30.2, arrayPushBack(b30.3, b30.1), fr30, toUInt8(1)), arrayMap(nx30 -> if(nx30 = 0, (toUInt32(0), b30.2, b30.3, toUInt32(0), toUInt8(1)), (nx30, bitOr(b30.2, nx30), arrayPushBack(b30.3, b30.1), toUInt32(0), toUInt8(0))), [toUInt32(bitAnd(arrayFold((a30, m30, o30) -> if(bitAnd(m30, b30.1) != 0, bitOr(a30, o30), a30), av, z.1, toUInt32(0)), bitNot(b30.2)))])[1]), [toUInt32(arrayFirstIndex((m30, o30) -> bitAnd(m30, b30.1) != 0 AND o30 = 0, av, z.1))])[1]), range(3), (toUInt32(bitShiftLeft(toUInt32(1), z.2)), toUInt32(bitShiftLeft(toUInt32(1), z.2)), CAST([], 'Array(UInt32)'), toUInt32(0), toUInt8(0)))])[1], [arrayMap((v, j) -> if(j <= ii, v, toUInt32(0)), im, arrayEnumerate(im))])[1]])[1]), range(3), (q.1, q.2, toUInt8(1)))])[1], range(1, length(im) + 1), (arrayWithConstant(length(im), toUInt32(0)), toUInt8(1), arrayMap(kk -> if(kk = 1, t0, toInt64(-1)), range(1, 4)))).3)], [toUInt32(arrayFirstIndex((x, u) -> bitAnd(x, 1) != 0 AND u > t0, xs, ts))])[1], aT, aIM, aIT) AS aReach
FROM (SELECT *, arrayMap(mk -> arrayFilter(v -> v != 0, mk), aMasked) AS aIM
FROM (SELECT *, arrayMap((mk, lo, hi) -> arrayFilter((u, v) -> v != 0, arraySlice(ts, lo, hi - lo + 1), mk),
             aMasked, aLo, aHi) AS aIT
FROM (SELECT *, arrayMap((a, lo, hi) -> arrayMap((v, p) -> if(p = a, toUInt32(0), bitAnd(v, toUInt32(4294967294))),
             arraySlice(ms, lo, hi - lo + 1), range(lo, hi + 1)), anchors, aLo, aHi) AS aMasked
FROM (SELECT *, arrayMap(a -> toUInt32(arrayCount(u -> u <= ts[a] + {window_ms:Int64}, ts)), anchors) AS aHi
FROM (SELECT *, arrayMap(a -> toUInt32(gFirst[gid[a]]), anchors) AS aLo
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
           arrayFilter((v, f) -> f, arraySort((v, o) -> o, xa, ka), keep) AS xs0,
           arrayWithConstant(length(ks), '') AS bs0
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
                SELECT ck, groupArray(k) AS ka, arraySort(ka) AS sk, groupArray(x) AS xa
                FROM
                (
                    SELECT person_key AS ck,
                           toUnixTimestamp64Milli(occurred_at) - {base_ms:Int64} AS tk,
                           tk + {shift_ms:Int64} AS t,
                           toUInt32(bitShiftLeft(toUInt32((toUInt8(stage) = {f0_0:UInt8})), 0) + bitShiftLeft(toUInt32((toUInt8(stage) = {f1_0:UInt8} AND channel = {f1_1:String})), 1) + bitShiftLeft(toUInt32((event = {f2_0:String} AND (JSONType(properties, {f2_1k:String}) = 'Bool' AND JSONExtractBool(properties, {f2_1k:String}) = {f2_1v:Bool}) AND (JSONType(properties, {f2_2k:String}) = 'String' AND JSONExtractString(properties, {f2_2k:String}) = {f2_2v:String}) AND (JSONType(properties, {f2_3k:String}) IN ('Int64', 'UInt64', 'Double') AND JSONExtractFloat(properties, {f2_3k:String}) = {f2_3v:Float64}))), 2)) AS m,
                           toUInt32(bitShiftLeft(toUInt32((event = {f3_0:String})), 0)) AS x,
                           '' AS b,
                           bitOr(bitShiftLeft(toUInt128(bitOr(bitShiftLeft(toUInt64(tk), 20), m)), 64), toUInt128(cityHash64(event_id))) AS k
                    FROM person_events
                    WHERE occurred_at >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC')
                      AND occurred_at < fromUnixTimestamp64Milli({read_end_ms:Int64}, 'UTC')
                      AND (m != 0 OR x != 0)
                )
                GROUP BY ck
                -- only customers with a step-1 event in [start, end): the array work runs for them only
                HAVING countIf(bitTest(m, 0) AND t < {span_ms:Int64}) > 0
            )
        )
    )
)))))))))))))))))))))) WHERE level = 3)
)
