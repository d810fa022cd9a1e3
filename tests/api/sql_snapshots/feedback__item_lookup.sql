-- query 1 of 1
-- parameters: {"event_id": "sql-snap-3", "low_ces": 3, "low_csat": 2, "low_nps": 6, "low_rating": 2}
SELECT customer_id FROM person_events
WHERE event_id = {event_id:String} AND (comment != '' OR (ifNull(nps <= {low_nps:UInt8}, 0) OR ifNull(csat <= {low_csat:UInt8}, 0) OR ifNull(ces <= {low_ces:UInt8}, 0) OR ifNull(rating <= {low_rating:UInt8}, 0)))
ORDER BY kafka_partition, kafka_offset
LIMIT 1
