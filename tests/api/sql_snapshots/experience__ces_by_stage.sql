-- query 1 of 1
-- parameters: {"end_ms": 1796083200000, "start_ms": 1793491200000}
SELECT GROUPING(grp) * 2 + 1 AS level, grp AS g, 0 AS b,
       count() AS responses, countIf(v >= 5) AS top, countIf(v <= 3) AS bottom,
       sum(v) AS total
FROM
(
    SELECT any(assumeNotNull(ces)) AS v, any(toString(stage)) AS grp
    FROM person_events
    WHERE occurred_at >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC')
      AND occurred_at < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC')
      AND ces IS NOT NULL
    GROUP BY customer_id, event_id
)
GROUP BY GROUPING SETS ((), (grp))
SETTINGS force_grouping_standard_compatibility = 1
