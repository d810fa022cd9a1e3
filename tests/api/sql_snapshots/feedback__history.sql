-- query 1 of 2
-- parameters: {"event_id": "sql-snap-3", "low_ces": 3, "low_csat": 2, "low_nps": 6, "low_rating": 2}
SELECT customer_id FROM person_events
WHERE event_id = {event_id:String} AND (comment != '' OR (ifNull(nps <= {low_nps:UInt8}, 0) OR ifNull(csat <= {low_csat:UInt8}, 0) OR ifNull(ces <= {low_ces:UInt8}, 0) OR ifNull(rating <= {low_rating:UInt8}, 0)))
ORDER BY kafka_partition, kafka_offset
LIMIT 1

-- query 2 of 2
-- parameters: {"event_id": "sql-snap-3"}
SELECT change_id, toString(status), note, who, toUnixTimestamp64Milli(changed_at) AS changed_ms
FROM feedback_status_history
WHERE event_id = {event_id:String}
ORDER BY changed_at, kafka_partition, kafka_offset, change_id
LIMIT 1 BY change_id
