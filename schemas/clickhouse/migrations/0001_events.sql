-- The durable event log: every accepted touchpoint event, exactly once per event_id.
-- ORDER BY customer first: journeys and funnels group by customer and read in order;
-- monthly partitions prune time-range queries. ReplacingMergeTree collapses a redelivered
-- copy of an event (same customer, time and id) that a crash let through twice.
CREATE TABLE IF NOT EXISTS events
(
    event_id      String COMMENT 'Client idempotency key',
    customer_id   String,
    stage         Enum8('awareness' = 1, 'consideration' = 2, 'purchase' = 3, 'use' = 4, 'retention' = 5, 'advocacy' = 6),
    channel       LowCardinality(String),
    touchpoint    LowCardinality(String),
    event         LowCardinality(String),
    occurred_at   DateTime64(3, 'UTC'),
    received_at   DateTime64(3, 'UTC'),
    properties    String COMMENT 'JSON object',
    revenue       Nullable(Decimal(18, 4)),
    currency      LowCardinality(String) COMMENT 'ISO 4217, empty when no revenue',
    nps           Nullable(UInt8),
    csat          Nullable(UInt8),
    ces           Nullable(UInt8),
    rating        Nullable(UInt8),
    comment       String,
    source        LowCardinality(String) COMMENT 'Write key source that sent the event',
    kafka_partition UInt32,
    kafka_offset  UInt64,
    INDEX idx_event_id event_id TYPE bloom_filter(0.001) GRANULARITY 4
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (customer_id, occurred_at, event_id);

-- Per-customer journey projection, rebuilt from the event log by replay.
-- A newer version of a customer's row replaces the older one.
CREATE TABLE IF NOT EXISTS journeys
(
    customer_id   String,
    current_stage Enum8('awareness' = 1, 'consideration' = 2, 'purchase' = 3, 'use' = 4, 'retention' = 5, 'advocacy' = 6),
    first_seen_at DateTime64(3, 'UTC'),
    last_seen_at  DateTime64(3, 'UTC'),
    events        UInt32,
    version       UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY customer_id;

CREATE TABLE IF NOT EXISTS journey_stages
(
    customer_id   String,
    stage         Enum8('awareness' = 1, 'consideration' = 2, 'purchase' = 3, 'use' = 4, 'retention' = 5, 'advocacy' = 6),
    first_at      DateTime64(3, 'UTC'),
    last_at       DateTime64(3, 'UTC'),
    events        UInt32,
    version       UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (customer_id, stage);
