-- query 1 of 1
-- parameters: {"end_ms": 1796083200000, "start_ms": 1793491200000}
SELECT
    pair.1 AS from_node,
    pair.2 AS to_node,
    countIf(pair.4 = 1) AS customers,
    count() AS transitions,
    quantileExactInclusive(0.5)(pair.3) AS median_ms,
    '' AS from_label,
    '' AS to_label
FROM
(
    SELECT arrayJoin(arrayZip(froms, run_nodes, gaps, arrayEnumerateUniq(arrayZip(froms, run_nodes)))) AS pair
    FROM
    (
        SELECT
            arrayMap(e -> toInt32(bitAnd(e, 7)), evs) AS nodes,
            arrayMap(e -> bitShiftRight(e, 3), evs) AS times,
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
            SELECT arraySort(groupArray((toUnixTimestamp64Milli(occurred_at) - {start_ms:Int64}) * 8 + toUInt8(stage))) AS evs
            FROM person_events
            WHERE occurred_at >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC')
              AND occurred_at < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC')
            GROUP BY customer_id
        )
    )
)
GROUP BY from_node, to_node
