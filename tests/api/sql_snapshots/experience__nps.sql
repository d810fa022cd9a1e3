-- query 1 of 1
-- parameters: {"end_ms": 1796083200000, "start_ms": 1793491200000}
SELECT 1 * 2 + 1 AS level, '' AS g, 0 AS b,
       count() AS responses, countIf(v >= 9) AS top, countIf(v <= 6) AS bottom,
       sum(v) AS total
FROM
(
    SELECT any(assumeNotNull(nps)) AS v
    FROM person_events
    WHERE occurred_at >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC')
      AND occurred_at < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC')
      AND nps IS NOT NULL
    GROUP BY customer_id, event_id
)
GROUP BY GROUPING SETS (())
SETTINGS force_grouping_standard_compatibility = 1
