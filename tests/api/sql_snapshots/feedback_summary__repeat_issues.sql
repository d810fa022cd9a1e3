-- query 1 of 2
-- parameters: {"end_ms": 1796083200000, "limit": 50, "low_ces": 3, "low_csat": 2, "low_nps": 6, "low_rating": 2, "min_items": 1, "start_ms": 1788307200000}
SELECT customer_id, count() AS n, max(occurred_ms) AS latest_ms
FROM (
SELECT event_id, customer_id, toUnixTimestamp64Milli(occurred_at) AS occurred_ms,
       toString(channel) AS channel, toString(touchpoint) AS touchpoint, toString(stage) AS stage,
       nps, csat, ces, rating, comment
FROM person_events
WHERE (comment != '' OR (ifNull(nps <= {low_nps:UInt8}, 0) OR ifNull(csat <= {low_csat:UInt8}, 0) OR ifNull(ces <= {low_ces:UInt8}, 0) OR ifNull(rating <= {low_rating:UInt8}, 0))) AND (ifNull(nps <= {low_nps:UInt8}, 0) OR ifNull(csat <= {low_csat:UInt8}, 0) OR ifNull(ces <= {low_ces:UInt8}, 0) OR ifNull(rating <= {low_rating:UInt8}, 0)) AND occurred_at >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC') AND occurred_at < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC')
ORDER BY occurred_at DESC, event_id DESC, kafka_partition, kafka_offset
LIMIT 1 BY event_id

)
GROUP BY customer_id
HAVING n >= {min_items:UInt32}
ORDER BY n DESC, latest_ms DESC, customer_id
LIMIT {limit:UInt32}

-- query 2 of 2
-- parameters: {"customers": ["c2", "c1"], "end_ms": 1796083200000, "limit": 50, "low_ces": 3, "low_csat": 2, "low_nps": 6, "low_rating": 2, "min_items": 1, "per_customer": 100, "start_ms": 1788307200000}
SELECT i.event_id AS event_id, i.customer_id AS customer_id, i.occurred_ms AS occurred_ms,
       i.channel AS channel, i.touchpoint AS touchpoint, i.stage AS stage, i.nps AS nps, i.csat AS csat,
       i.ces AS ces, i.rating AS rating, i.comment AS comment,
       if(s.present = 1, s.status, 'open') AS item_status, s.note AS note, s.changed_ms AS changed_ms,
       s.present AS present, h.changes AS changes
FROM (
SELECT event_id, customer_id, toUnixTimestamp64Milli(occurred_at) AS occurred_ms,
       toString(channel) AS channel, toString(touchpoint) AS touchpoint, toString(stage) AS stage,
       nps, csat, ces, rating, comment
FROM person_events
WHERE (comment != '' OR (ifNull(nps <= {low_nps:UInt8}, 0) OR ifNull(csat <= {low_csat:UInt8}, 0) OR ifNull(ces <= {low_ces:UInt8}, 0) OR ifNull(rating <= {low_rating:UInt8}, 0))) AND (ifNull(nps <= {low_nps:UInt8}, 0) OR ifNull(csat <= {low_csat:UInt8}, 0) OR ifNull(ces <= {low_ces:UInt8}, 0) OR ifNull(rating <= {low_rating:UInt8}, 0)) AND occurred_at >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC') AND occurred_at < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC') AND customer_id IN {customers:Array(String)}
ORDER BY occurred_at DESC, event_id DESC, kafka_partition, kafka_offset
LIMIT 1 BY event_id

) AS i
LEFT JOIN (
    SELECT event_id, toString(status) AS status, note, toUnixTimestamp64Milli(changed_at) AS changed_ms,
           toUInt8(1) AS present
    FROM feedback_status FINAL
) AS s ON s.event_id = i.event_id
LEFT JOIN (
    SELECT event_id, uniqExact(change_id) AS changes FROM feedback_status_history GROUP BY event_id
) AS h ON h.event_id = i.event_id

ORDER BY i.customer_id, i.occurred_ms DESC, i.event_id DESC
LIMIT {per_customer:UInt32} BY i.customer_id
