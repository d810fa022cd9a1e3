-- query 1 of 1
-- parameters: {"channel": "web", "cursor_id": "sql-snap-9", "cursor_ms": 1796000000000, "end_ms": 1796083200000, "limit": 6, "low_ces": 3, "low_csat": 2, "low_nps": 6, "low_rating": 2, "max_score": 6, "min_score": 0, "q": "slow", "start_ms": 1793491200000, "status": "open", "touchpoint": "site"}
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
WHERE (comment != '' OR (ifNull(nps <= {low_nps:UInt8}, 0) OR ifNull(csat <= {low_csat:UInt8}, 0) OR ifNull(ces <= {low_ces:UInt8}, 0) OR ifNull(rating <= {low_rating:UInt8}, 0))) AND channel = {channel:String} AND touchpoint = {touchpoint:String} AND ifNull(nps >= {min_score:UInt8}, 0) AND ifNull(nps <= {max_score:UInt8}, 0) AND positionCaseInsensitiveUTF8(comment, {q:String}) > 0 AND occurred_at >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC') AND occurred_at < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC') AND occurred_at <= fromUnixTimestamp64Milli({cursor_ms:Int64}, 'UTC') AND (occurred_at < fromUnixTimestamp64Milli({cursor_ms:Int64}, 'UTC') OR event_id < {cursor_id:String})
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

WHERE item_status = {status:String}
ORDER BY i.occurred_ms DESC, i.event_id DESC
LIMIT {limit:UInt32}
