-- Views for BI tools: the only objects the read-only BI user may read (deploy/clickhouse/bi_user.sql;
-- the embedded server's `views=` allow-list). They hide internal columns and read deduplicated data.
-- SQL SECURITY DEFINER: a reader needs SELECT on the view only, not on the tables under it.
-- Stage enum: awareness, consideration, purchase, use, retention, advocacy (canonical order).

CREATE VIEW IF NOT EXISTS bi_journeys
(
    customer_id   String COMMENT 'Customer identifier as sent by the client',
    current_stage Enum8('awareness' = 1, 'consideration' = 2, 'purchase' = 3, 'use' = 4, 'retention' = 5, 'advocacy' = 6) COMMENT 'Stage of the customer''s latest event',
    first_seen_at DateTime64(3, 'UTC') COMMENT 'Time of the customer''s first event (UTC)',
    last_seen_at  DateTime64(3, 'UTC') COMMENT 'Time of the customer''s latest event (UTC)',
    events        UInt32 COMMENT 'Number of distinct events of the customer'
)
DEFINER = CURRENT_USER SQL SECURITY DEFINER
AS SELECT customer_id, current_stage, first_seen_at, last_seen_at, events
FROM journeys FINAL
COMMENT 'One row per customer: where each customer is in the journey now';

CREATE VIEW IF NOT EXISTS bi_stage_funnel_daily
(
    day       Date COMMENT 'UTC day on which the customers first reached the stage',
    stage     Enum8('awareness' = 1, 'consideration' = 2, 'purchase' = 3, 'use' = 4, 'retention' = 5, 'advocacy' = 6) COMMENT 'Journey stage',
    customers UInt64 COMMENT 'Customers whose first event of this stage happened on this day'
)
DEFINER = CURRENT_USER SQL SECURITY DEFINER
AS SELECT toDate(first_at) AS day, stage, count() AS customers
FROM (SELECT customer_id, stage, min(occurred_at) AS first_at FROM events GROUP BY customer_id, stage)
GROUP BY day, stage
COMMENT 'Customers entering each journey stage per day, from the event log (each customer counts once per stage, on the day of their first event of it)';

CREATE VIEW IF NOT EXISTS bi_events
(
    event_id    String COMMENT 'Client idempotency key; unique per event',
    customer_id String COMMENT 'Customer identifier as sent by the client',
    stage       Enum8('awareness' = 1, 'consideration' = 2, 'purchase' = 3, 'use' = 4, 'retention' = 5, 'advocacy' = 6) COMMENT 'Journey stage of the touchpoint',
    channel     LowCardinality(String) COMMENT 'Channel, e.g. web, email, store',
    touchpoint  LowCardinality(String) COMMENT 'Where the interaction happened, e.g. store_12_pos',
    event       LowCardinality(String) COMMENT 'What happened, e.g. order_completed',
    occurred_at DateTime64(3, 'UTC') COMMENT 'When it happened (UTC)',
    received_at DateTime64(3, 'UTC') COMMENT 'When ingest accepted it (UTC)',
    properties  String COMMENT 'Free-form properties, a JSON object',
    revenue     Nullable(Decimal(18, 4)) COMMENT 'Revenue of the event, in currency; NULL when none',
    currency    LowCardinality(String) COMMENT 'ISO 4217 code; empty when no revenue',
    nps         Nullable(UInt8) COMMENT 'Net promoter score answer, 0-10',
    csat        Nullable(UInt8) COMMENT 'Customer satisfaction answer, 1-5',
    ces         Nullable(UInt8) COMMENT 'Customer effort score answer, 1-7',
    rating      Nullable(UInt8) COMMENT 'Rating answer, 1-5',
    comment     String COMMENT 'Free-text feedback; empty when none',
    source      LowCardinality(String) COMMENT 'Source of the write key that sent the event'
)
DEFINER = CURRENT_USER SQL SECURITY DEFINER
AS SELECT event_id, customer_id, stage, channel, touchpoint, event, occurred_at, received_at, properties,
          revenue, currency, nps, csat, ces, rating, comment, source
FROM events FINAL
COMMENT 'Every accepted touchpoint event once (redelivered copies removed), without Kafka bookkeeping columns';
