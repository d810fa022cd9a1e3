-- query 1 of 1
-- parameters: {"customer_id": "c1"}
SELECT
    event_id, anonymous_id, stage, channel, touchpoint, event,
    toUnixTimestamp64Milli(occurred_at) AS occurred_ms,
    toUnixTimestamp64Milli(received_at) AS received_ms,
    properties, revenue, currency, nps, csat, ces, rating, comment, source
FROM person_events
WHERE identity_key IN (SELECT {customer_id:String} UNION ALL SELECT concat('anon:', anonymous_id) FROM identities WHERE customer_id = {customer_id:String}) AND customer_id = {customer_id:String}
-- stage is the Enum8: it sorts by its value, i.e. in canonical order
ORDER BY occurred_at, stage, event_id, received_at
LIMIT 1 BY event_id
