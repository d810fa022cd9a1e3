-- query 1 of 1
-- parameters: {"end_ms": 1796083200000, "stage_filter": 0, "start_ms": 1793491200000, "touchpoint": ""}
SELECT toHour(occurred_at) AS b, uniqExact(customer_id, event_id) AS evs, uniqExact(customer_id) AS people
FROM person_events
WHERE occurred_at >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC')
  AND occurred_at < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC')
  AND ({touchpoint:String} = '' OR touchpoint = {touchpoint:String})
  AND ({stage_filter:UInt8} = 0 OR toUInt8(stage) = {stage_filter:UInt8})
GROUP BY b
