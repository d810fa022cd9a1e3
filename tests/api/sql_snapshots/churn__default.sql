-- query 1 of 1
-- parameters: {"end_ms": 1796083200000, "start_ms": 1793491200000, "window_ms": 7776000000}
SELECT countIf(at_start), countIf(at_end), countIf(at_start AND NOT at_end)
FROM
(
    SELECT max(ms > {start_ms:Int64} - {window_ms:Int64} AND ms <= {start_ms:Int64}) AS at_start,
           max(ms > {end_ms:Int64} - {window_ms:Int64} AND ms <= {end_ms:Int64}) AS at_end
    FROM
    (
        SELECT customer_id, toUnixTimestamp64Milli(occurred_at) AS ms
        FROM person_events
        WHERE (occurred_at > fromUnixTimestamp64Milli({start_ms:Int64} - {window_ms:Int64}, 'UTC')
               AND occurred_at <= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC'))
           OR (occurred_at > fromUnixTimestamp64Milli({end_ms:Int64} - {window_ms:Int64}, 'UTC')
               AND occurred_at <= fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC'))
    )
    GROUP BY customer_id
)
