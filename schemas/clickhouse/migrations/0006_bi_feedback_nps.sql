-- BI views of customer feedback: the feedback items with where each stands, and NPS per day and
-- channel. Like the other bi_* views they read person_events (a person counts once, anonymous
-- visits included once identified), hide Kafka bookkeeping and count each event once, with the
-- API's semantics, so a BI chart and the API agree:
--   bi_feedback    = GET /v1/feedback (services/api/queries/feedback.py)
--   bi_nps_daily   = GET /v1/metrics/nps?interval=day&channel=... (services/api/queries/experience.py)
-- The low-score thresholds are schemas/feedback.py's LOW_NPS = 6, LOW_CSAT = 2, LOW_CES = 3 and
-- LOW_RATING = 2 (a view cannot take parameters; tests/security/test_bi_views.py checks the edges).

CREATE VIEW IF NOT EXISTS bi_feedback
(
    event_id          String COMMENT 'The feedback item: its event''s idempotency key',
    customer_id       String COMMENT 'Customer who gave the feedback (an anonymous visitor counts as the customer it was linked to; anon:<anonymous_id> while not identified)',
    occurred_at       DateTime64(3, 'UTC') COMMENT 'When the feedback was given (UTC)',
    day               Date COMMENT 'UTC day of occurred_at',
    channel           LowCardinality(String) COMMENT 'Channel it was given on, e.g. web, email, store',
    touchpoint        LowCardinality(String) COMMENT 'Where it was given, e.g. store_12_pos',
    stage             Enum8('awareness' = 1, 'consideration' = 2, 'purchase' = 3, 'use' = 4, 'retention' = 5, 'advocacy' = 6) COMMENT 'Journey stage of the event',
    nps               Nullable(UInt8) COMMENT 'Net promoter score answer, 0-10; NULL when none',
    csat              Nullable(UInt8) COMMENT 'Customer satisfaction answer, 1-5; NULL when none',
    ces               Nullable(UInt8) COMMENT 'Customer effort answer, 1-7, high is easy; NULL when none',
    rating            Nullable(UInt8) COMMENT 'Rating answer, 1-5; NULL when none',
    comment           String COMMENT 'Free-text feedback; empty when none',
    low_score         UInt8 COMMENT '1 when a score is low: NPS <= 6, CSAT <= 2, CES <= 3 or rating <= 2',
    status            Enum8('open' = 1, 'acknowledged' = 2, 'resolved' = 3) COMMENT 'Where the item stands: the latest status change, open before any',
    status_note       String COMMENT 'Note of the latest status change; empty before any',
    status_changed_at Nullable(DateTime64(6, 'UTC')) COMMENT 'Time of the latest status change (UTC); NULL before any',
    status_changes    UInt64 COMMENT 'Status changes so far'
)
DEFINER = CURRENT_USER SQL SECURITY DEFINER
AS SELECT i.event_id AS event_id, i.customer_id AS customer_id, i.occurred_at AS occurred_at,
          toDate(i.occurred_at) AS day, i.channel AS channel, i.touchpoint AS touchpoint, i.stage AS stage,
          i.nps AS nps, i.csat AS csat, i.ces AS ces, i.rating AS rating, i.comment AS comment,
          i.low AS low_score,
          CAST(if(s.present = 1, toString(s.st), 'open'), 'Enum8(''open'' = 1, ''acknowledged'' = 2, ''resolved'' = 3)') AS status,
          if(s.present = 1, s.note, '') AS status_note,
          if(s.present = 1, s.changed_at, NULL) AS status_changed_at,
          toUInt64(h.changes) AS status_changes
FROM
(
    -- One row per item: copies of an event sort together and LIMIT 1 BY keeps the first read from Kafka.
    SELECT event_id, customer_id, occurred_at, channel, touchpoint, stage, nps, csat, ces, rating, comment,
           toUInt8(ifNull(nps <= 6, 0) OR ifNull(csat <= 2, 0) OR ifNull(ces <= 3, 0) OR ifNull(rating <= 2, 0)) AS low
    FROM person_events
    WHERE comment != '' OR ifNull(nps <= 6, 0) OR ifNull(csat <= 2, 0) OR ifNull(ces <= 3, 0) OR ifNull(rating <= 2, 0)
    ORDER BY occurred_at DESC, event_id DESC, kafka_partition, kafka_offset
    LIMIT 1 BY event_id
) AS i
LEFT JOIN
(
    SELECT event_id, status AS st, note, changed_at, toUInt8(1) AS present FROM feedback_status FINAL
) AS s ON s.event_id = i.event_id
LEFT JOIN
(
    SELECT event_id, uniqExact(change_id) AS changes FROM feedback_status_history GROUP BY event_id
) AS h ON h.event_id = i.event_id
COMMENT 'One row per feedback item (an event with a comment or a low score, counted once) with its current status, as GET /v1/feedback lists them';

CREATE VIEW IF NOT EXISTS bi_nps_daily
(
    day        Date COMMENT 'UTC day the answers were given',
    channel    LowCardinality(String) COMMENT 'Channel the answers were given on',
    responses  UInt64 COMMENT 'Unique events with an NPS answer (0-10)',
    promoters  UInt64 COMMENT 'Answers of 9 or 10',
    passives   UInt64 COMMENT 'Answers of 7 or 8',
    detractors UInt64 COMMENT 'Answers of 0 to 6',
    score      Float64 COMMENT 'Net promoter score, -100..100: % promoters minus % detractors, 1 decimal rounded half away from zero'
)
DEFINER = CURRENT_USER SQL SECURITY DEFINER
AS SELECT d AS day, ch AS channel, count() AS responses, countIf(v >= 9) AS promoters,
          countIf(v BETWEEN 7 AND 8) AS passives, countIf(v <= 6) AS detractors,
          -- Decimal division, then Decimal rounding (half away from zero), as the API rounds.
          toFloat64(round(toDecimal128(100 * (toInt64(promoters) - toInt64(detractors)), 6) / responses, 1)) AS score
FROM
(
    -- Each response once: duplicate copies of an event share (customer_id, event_id).
    SELECT any(toDate(occurred_at)) AS d, any(channel) AS ch, any(assumeNotNull(nps)) AS v
    FROM person_events
    WHERE nps IS NOT NULL
    GROUP BY customer_id, event_id
)
GROUP BY d, ch
COMMENT 'Net promoter score per UTC day and channel (days and channels without answers have no row); sum responses, promoters and detractors over rows to combine days or channels, never average the scores';
