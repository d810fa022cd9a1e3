-- query 1 of 1
-- parameters: {"cohort_stage": 3, "first": 2965, "last": 2970, "periods": 8, "read_end_ms": 1797811200000, "return_stage": 3}
SELECT cohort, count() AS customers,
       sumForEach(arrayMap(i -> toUInt64(has(returns, cohort + i)), range(1, {periods:UInt8}))) AS retained
FROM
(
    SELECT minIf(o, is_cohort) AS cohort,
           groupUniqArrayIf(o, is_return AND o > {first:Int32}) AS returns
    FROM
    (
        SELECT person_key, toInt32(floor((toInt32(toDate32(occurred_at)) + 3) / 7)) AS o,
               ({cohort_stage:UInt8} = 0 OR toUInt8(stage) = {cohort_stage:UInt8}) AS is_cohort,
               ({return_stage:UInt8} = 0 OR toUInt8(stage) = {return_stage:UInt8}) AS is_return
        FROM person_events
        -- no lower bound: the cohort is the interval of the first-ever cohort-stage event
        WHERE occurred_at < fromUnixTimestamp64Milli({read_end_ms:Int64}, 'UTC')
    )
    -- a row that is neither a cohort event nor a later return changes nothing: not grouped
    WHERE is_cohort OR (is_return AND o > {first:Int32})
    GROUP BY person_key
    HAVING countIf(is_cohort) > 0 AND cohort BETWEEN {first:Int32} AND {last:Int32}
)
GROUP BY cohort
