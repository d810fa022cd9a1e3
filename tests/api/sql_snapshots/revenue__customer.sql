-- query 1 of 1
-- parameters: {"customer_id": "c1"}
SELECT
    cur,
    sumIf(amount, amount IS NOT NULL) AS revenue,
    countIf(amount IS NOT NULL) AS orders,
    minIf(occurred_ms, amount IS NOT NULL) AS first_ms,
    maxIf(occurred_ms, amount IS NOT NULL) AS last_ms
FROM
(
    -- every unique event of the customer (so an unknown customer has no row at all)
    SELECT any(currency) AS cur, any(revenue) AS amount, toUnixTimestamp64Milli(occurred_at) AS occurred_ms
    FROM person_events
    WHERE identity_key IN (SELECT {customer_id:String} UNION ALL SELECT concat('anon:', anonymous_id) FROM identities WHERE customer_id = {customer_id:String}) AND customer_id = {customer_id:String}
    GROUP BY occurred_at, event_id
)
GROUP BY cur
ORDER BY cur
