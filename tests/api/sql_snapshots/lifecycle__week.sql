-- query 1 of 1
-- parameters: {"first": 2965, "last": 2970, "read_end_ms": 1796601600000}
SELECT i,
       countIf(has(active, i) AND first_seen = i) AS new,
       countIf(has(active, i) AND has(active, i - 1)) AS returning,
       countIf(has(active, i) AND NOT has(active, i - 1) AND first_seen < i) AS resurrecting,
       countIf(NOT has(active, i) AND has(active, i - 1)) AS dormant
FROM
(
    SELECT min(o) AS first_seen, groupUniqArrayIf(o, o >= {first:Int32} - 1) AS active
    FROM
    (
        SELECT customer_id, toInt32(floor((toInt32(toDate32(occurred_at)) + 3) / 7)) AS o
        FROM person_events
        -- no lower bound: "new" needs each customer's first-ever event
        WHERE occurred_at < fromUnixTimestamp64Milli({read_end_ms:Int64}, 'UTC')
    )
    GROUP BY customer_id
    HAVING notEmpty(active)
)
ARRAY JOIN arrayFilter(
    x -> x BETWEEN {first:Int32} AND {last:Int32},
    arrayDistinct(arrayConcat(active, arrayMap(x -> x + 1, active)))
) AS i
GROUP BY i
