-- query 1 of 2
-- parameters: {"customer_id": "c1"}
SELECT
    count() AS events,
    min(ms) AS first_ms,
    max(ms) AS last_ms,
    argMax(stg, (ms, toUInt8(stg))) AS current_stage,
    countIf(amount IS NOT NULL) AS orders,
    sumMapIf(map(cur, assumeNotNull(amount)), amount IS NOT NULL) AS revenue,
    countMapIf(map(cur, 1), amount IS NOT NULL) AS currency_orders,
    countMapIf(map(item, 1), bought AND item != '') AS items,
    countMap(map(tp, 1)) AS touchpoints,
    countMap(map(ch, 1)) AS channels,
    uniqExactMap(map(toHour(t), toDate(t))) AS hours,
    uniqExactMap(map(toDayOfWeek(t), toDate(t))) AS weekdays,
    argMaxIf((assumeNotNull(s_nps), ms, id), (ms, id), s_nps IS NOT NULL) AS last_nps,
    countIf(s_nps IS NOT NULL) AS nps_responses,
    argMaxIf((assumeNotNull(s_csat), ms, id), (ms, id), s_csat IS NOT NULL) AS last_csat,
    countIf(s_csat IS NOT NULL) AS csat_responses,
    countIf((note != '' OR s_nps <= 6 OR s_csat <= 2 OR s_ces <= 3 OR s_rating <= 2)) AS feedback_items,
    countIf((note != '' OR s_nps <= 6 OR s_csat <= 2 OR s_ces <= 3 OR s_rating <= 2) AND NOT closed) AS open_feedback_items
FROM
(
    -- one row per event: duplicate copies (same event_id) are identical
    SELECT
        event_id AS id, any(stage) AS stg, any(occurred_at) AS t, toUnixTimestamp64Milli(t) AS ms,
        any(channel) AS ch, any(touchpoint) AS tp, any(revenue) AS amount, any(currency) AS cur,
        any(if(JSONType(properties, 'item') = 'String', JSONExtractString(properties, 'item'), '')) AS item, max((stage = 'purchase' OR revenue IS NOT NULL)) AS bought,
        any(nps) AS s_nps, any(csat) AS s_csat, any(ces) AS s_ces, any(rating) AS s_rating, any(comment) AS note,
        -- acknowledged or resolved through the feedback loop (current status, latest change wins)
        -- by event_id alone: a change made before an anonymous visitor was identified is theirs too
        event_id IN (SELECT event_id FROM feedback_status FINAL WHERE status != 'open') AS closed
    FROM person_events
    WHERE identity_key IN (SELECT {customer_id:String} UNION ALL SELECT concat('anon:', anonymous_id) FROM identities WHERE customer_id = {customer_id:String}) AND customer_id = {customer_id:String}
    GROUP BY event_id
)
HAVING events > 0

-- query 2 of 2
-- parameters: {"customer_id": "c1"}
SELECT anonymous_id, traits,
       dictGetOrDefault('identity_links', 'customer_id', tuple(concat('anon:', anonymous_id)), '')
           = {customer_id:String} AS linked
FROM identities
WHERE customer_id = {customer_id:String}
ORDER BY received_at, anonymous_id
