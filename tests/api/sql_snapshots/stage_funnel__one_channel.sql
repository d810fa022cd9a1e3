-- query 1 of 1
-- parameters: {"channel": "web", "read_end_ms": 1798675200000, "span_ms": 2592000000, "start_ms": 1793491200000, "window_ms": 2592000000}
SELECT countIf(level >= 1), countIf(level >= 2), countIf(level >= 3), countIf(level >= 4), countIf(level >= 5), countIf(level >= 6),
       quantileExactInclusiveIf(0.5)(t2 - t1, level >= 2), quantileExactInclusiveIf(0.5)(t3 - t2, level >= 3), quantileExactInclusiveIf(0.5)(t4 - t3, level >= 4), quantileExactInclusiveIf(0.5)(t5 - t4, level >= 5), quantileExactInclusiveIf(0.5)(t6 - t5, level >= 6)
FROM (SELECT level, evs, t1, t2, t3, t4, t5, if(level >= 6, bitShiftRight(arrayFirst(e -> bitAnd(e, 7) = 6 AND bitShiftRight(e, 3) >= t5, evs), 3), t5) AS t6 FROM (SELECT level, evs, t1, t2, t3, t4, if(level >= 5, bitShiftRight(arrayFirst(e -> bitAnd(e, 7) = 5 AND bitShiftRight(e, 3) >= t4, evs), 3), t4) AS t5 FROM (SELECT level, evs, t1, t2, t3, if(level >= 4, bitShiftRight(arrayFirst(e -> bitAnd(e, 7) = 4 AND bitShiftRight(e, 3) >= t3, evs), 3), t3) AS t4 FROM (SELECT level, evs, t1, t2, if(level >= 3, bitShiftRight(arrayFirst(e -> bitAnd(e, 7) = 3 AND bitShiftRight(e, 3) >= t2, evs), 3), t2) AS t3 FROM (SELECT level, evs, t1, if(level >= 2, bitShiftRight(arrayFirst(e -> bitAnd(e, 7) = 2 AND bitShiftRight(e, 3) >= t1, evs), 3), t1) AS t2 FROM (SELECT level, evs, [st.1, st.2, st.3, st.4, st.5, st.6][greatest(level, 1)] AS t1 FROM (SELECT st, toUInt8((st.1 >= 0) + (st.2 >= 0) + (st.3 >= 0) + (st.4 >= 0) + (st.5 >= 0) + (st.6 >= 0)) AS level, evs FROM (SELECT arrayFold((acc, e) -> (if(bitAnd(e, 7) = 1 AND bitShiftRight(e, 3) < {span_ms:Int64}, bitShiftRight(e, 3), acc.1), if(bitAnd(e, 7) = 2 AND acc.1 > acc.2 AND bitShiftRight(e, 3) - acc.1 <= {window_ms:Int64}, acc.1, acc.2), if(bitAnd(e, 7) = 3 AND acc.2 > acc.3 AND bitShiftRight(e, 3) - acc.2 <= {window_ms:Int64}, acc.2, acc.3), if(bitAnd(e, 7) = 4 AND acc.3 > acc.4 AND bitShiftRight(e, 3) - acc.3 <= {window_ms:Int64}, acc.3, acc.4), if(bitAnd(e, 7) = 5 AND acc.4 > acc.5 AND bitShiftRight(e, 3) - acc.4 <= {window_ms:Int64}, acc.4, acc.5), if(bitAnd(e, 7) = 6 AND acc.5 > acc.6 AND bitShiftRight(e, 3) - acc.5 <= {window_ms:Int64}, acc.5, acc.6)), evs, (toInt64(-1), toInt64(-1), toInt64(-1), toInt64(-1), toInt64(-1), toInt64(-1))) AS st, evs FROM (
    SELECT
        arraySort(groupArray(
            (toUnixTimestamp64Milli(occurred_at) - {start_ms:Int64}) * 8 + toUInt8(stage)
        )) AS evs
    FROM person_events
    WHERE occurred_at >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC')
      AND occurred_at < fromUnixTimestamp64Milli({read_end_ms:Int64}, 'UTC')
      AND channel = {channel:String}
    GROUP BY person_key)))))))))
