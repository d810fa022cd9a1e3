-- query 1 of 2
-- parameters: {"customer_id": "c1"}
SELECT sum(n) AS events,
       arrayMap(x -> x.2, arraySort(groupArrayIf((-toInt64(n), key), key != ''))) AS bought
FROM
(
    SELECT key, count() AS n
    FROM
    (
        SELECT event_id, any(if(JSONType(properties, 'item') = 'String', JSONExtractString(properties, 'item'), '')) AS item, max((stage = 'purchase' OR revenue IS NOT NULL)) AS is_bought
        FROM person_events
        WHERE identity_key IN (SELECT {customer_id:String} UNION ALL SELECT concat('anon:', anonymous_id) FROM identities WHERE customer_id = {customer_id:String}) AND customer_id = {customer_id:String}
        GROUP BY event_id
    )
    -- every event stays in (key '' when not bought): events = 0 only for an unknown customer
    GROUP BY if(is_bought, item, '') AS key
)

-- query 2 of 2
-- parameters: {"customer_id": "c1", "favourites": ["tea"], "limit": 5, "owned": ["tea"]}
SELECT item, countIf(similar) AS customers
FROM
(
    SELECT groupUniqArray(item) AS items,
           customer_id != {customer_id:String} AND hasAny(items, {favourites:Array(String)}) AS similar
    FROM
    (
        SELECT customer_id, if(JSONType(properties, 'item') = 'String', JSONExtractString(properties, 'item'), '') AS item
        FROM person_events
        WHERE (stage = 'purchase' OR revenue IS NOT NULL)
    )
    WHERE item != ''
    GROUP BY customer_id
    HAVING similar
)
ARRAY JOIN arrayPushFront(items, '') AS item
WHERE NOT has({owned:Array(String)}, item)
GROUP BY item
ORDER BY item = '' DESC, customers DESC, item
LIMIT {limit:UInt16} + 1
