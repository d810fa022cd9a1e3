-- query 1 of 1
-- parameters: {"channel": "web", "end_ms": 1796083200000, "start_ms": 1793491200000}
SELECT GROUPING(grp) * 2 + GROUPING(bucket) AS level, grp AS g, bucket AS b,
       count() AS responses, countIf(v >= 4) AS top, countIf(v <= 2) AS bottom,
       sum(v) AS total
FROM
(
    SELECT any(assumeNotNull(csat)) AS v, any(toString(touchpoint)) AS grp, any(toInt32(floor((toInt32(toDate32(occurred_at)) + 3) / 7))) AS bucket
    FROM person_events
    WHERE occurred_at >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC')
      AND occurred_at < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC')
      AND csat IS NOT NULL
      AND channel = {channel:String}
    GROUP BY customer_id, event_id
)
GROUP BY GROUPING SETS ((), (grp), (bucket))
SETTINGS force_grouping_standard_compatibility = 1
