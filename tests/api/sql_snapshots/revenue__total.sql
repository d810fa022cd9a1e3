-- query 1 of 1
-- parameters: {"end_ms": 1796083200000, "start_ms": 1793491200000}
SELECT
    0 AS level, cur,
    sum(amount) AS revenue, count() AS orders, uniqExact(customer_id) AS buyers
FROM
(
    SELECT customer_id, any(currency) AS cur, any(revenue) AS amount
    FROM person_events
    WHERE occurred_at >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC')
      AND occurred_at < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC')
      AND revenue IS NOT NULL
    GROUP BY customer_id, occurred_at, event_id
)
GROUP BY GROUPING SETS ((cur))
SETTINGS force_grouping_standard_compatibility = 1
