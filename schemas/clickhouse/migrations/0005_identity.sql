-- Identity stitching. An event may carry only an anonymous_id (a browser or app install before
-- sign-in): ingest then keys it 'anon:<anonymous_id>' in customer_id, the raw identity key every
-- projection is built on. `identities` is the log of links (POST /v1/identify, and events that carry
-- both ids); the `identity_links` dictionary resolves an anonymous key to the customer it was first
-- linked to, and `person_events` is the event log with customer_id resolved: queries read it, so a
-- person counts once, with the events from before and after sign-in.
-- ${database} and ${dictionary_credentials} are filled in by schemas/clickhouse/migrate.py.

ALTER TABLE events ADD COLUMN IF NOT EXISTS anonymous_id String DEFAULT '' COMMENT 'Device or browser id sent with the event; empty when none' AFTER customer_id;

CREATE TABLE IF NOT EXISTS identities
(
    anonymous_id  String,
    customer_id   String,
    traits        String COMMENT 'JSON object sent with the identify call; {} for a link seen on an event',
    source        LowCardinality(String) COMMENT 'Write key source',
    received_at   DateTime64(3, 'UTC') COMMENT 'When ingest accepted the link: the first link of an anonymous id wins',
    INDEX idx_customer customer_id TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ReplacingMergeTree
ORDER BY (anonymous_id, customer_id, received_at);

-- An anonymous id belongs to the first customer it was linked to (later conflicting links are kept
-- in `identities` but do not move it): a person's history never jumps between customers.
CREATE DICTIONARY IF NOT EXISTS identity_links
(
    identity_key String,
    customer_id  String
)
PRIMARY KEY identity_key
SOURCE(CLICKHOUSE(QUERY 'SELECT concat(''anon:'', anonymous_id) AS identity_key, argMin(customer_id, (received_at, customer_id)) AS customer_id FROM ${database}.identities WHERE anonymous_id != '''' GROUP BY anonymous_id'${dictionary_credentials}))
LIFETIME(MIN 1 MAX 5)
LAYOUT(COMPLEX_KEY_HASHED());

-- The inner select renames the column first: an alias equal to a column name would replace the
-- column everywhere in the query.
CREATE VIEW IF NOT EXISTS person_events AS
SELECT * EXCEPT (identity_key),
       if(startsWith(identity_key, 'anon:'),
          dictGetOrDefault('${database}.identity_links', 'customer_id', tuple(identity_key), identity_key),
          identity_key) AS customer_id,
       identity_key
FROM (SELECT * EXCEPT (customer_id), customer_id AS identity_key FROM events);

-- BI views, now per person: anonymous visitors linked to a customer count as that customer.
CREATE OR REPLACE VIEW bi_journeys
(
    customer_id   String COMMENT 'Customer identifier as sent by the client; anon:<anonymous_id> for a visitor not yet identified',
    current_stage Enum8('awareness' = 1, 'consideration' = 2, 'purchase' = 3, 'use' = 4, 'retention' = 5, 'advocacy' = 6) COMMENT 'Stage of the customer''s latest event',
    first_seen_at DateTime64(3, 'UTC') COMMENT 'Time of the customer''s first event (UTC)',
    last_seen_at  DateTime64(3, 'UTC') COMMENT 'Time of the customer''s latest event (UTC)',
    events        UInt32 COMMENT 'Number of distinct events of the customer'
)
DEFINER = CURRENT_USER SQL SECURITY DEFINER
AS SELECT customer_id, argMax(stage, (last_at, stage)) AS current_stage, min(first_at) AS first_seen_at,
          max(last_at) AS last_seen_at, toUInt32(sum(n)) AS events
FROM
(
    SELECT if(startsWith(k, 'anon:'), dictGetOrDefault('${database}.identity_links', 'customer_id', tuple(k), k), k) AS customer_id,
           stage, first_at, last_at, n
    FROM (SELECT customer_id AS k, stage, first_at, last_at, events AS n FROM journey_stages FINAL)
)
GROUP BY customer_id
COMMENT 'One row per customer (anonymous visits of an identified customer included): where each customer is in the journey now';

CREATE OR REPLACE VIEW bi_stage_funnel_daily
(
    day       Date COMMENT 'UTC day on which the customers first reached the stage',
    stage     Enum8('awareness' = 1, 'consideration' = 2, 'purchase' = 3, 'use' = 4, 'retention' = 5, 'advocacy' = 6) COMMENT 'Journey stage',
    customers UInt64 COMMENT 'Customers whose first event of this stage happened on this day'
)
DEFINER = CURRENT_USER SQL SECURITY DEFINER
AS SELECT toDate(first_at) AS day, stage, count() AS customers
FROM (SELECT customer_id, stage, min(occurred_at) AS first_at FROM person_events GROUP BY customer_id, stage)
GROUP BY day, stage
COMMENT 'Customers entering each journey stage per day, from the event log (each customer counts once per stage, on the day of their first event of it, anonymous visits included once identified)';

CREATE OR REPLACE VIEW bi_events
(
    event_id     String COMMENT 'Client idempotency key; unique per event',
    customer_id  String COMMENT 'Customer identifier as sent by the client, or the customer the anonymous id was linked to; anon:<anonymous_id> while not identified',
    anonymous_id String COMMENT 'Device or browser id sent with the event; empty when none',
    stage        Enum8('awareness' = 1, 'consideration' = 2, 'purchase' = 3, 'use' = 4, 'retention' = 5, 'advocacy' = 6) COMMENT 'Journey stage of the touchpoint',
    channel      LowCardinality(String) COMMENT 'Channel, e.g. web, email, store',
    touchpoint   LowCardinality(String) COMMENT 'Where the interaction happened, e.g. store_12_pos',
    event        LowCardinality(String) COMMENT 'What happened, e.g. order_completed',
    occurred_at  DateTime64(3, 'UTC') COMMENT 'When it happened (UTC)',
    received_at  DateTime64(3, 'UTC') COMMENT 'When ingest accepted it (UTC)',
    properties   String COMMENT 'Free-form properties, a JSON object',
    revenue      Nullable(Decimal(18, 4)) COMMENT 'Revenue of the event, in currency; NULL when none',
    currency     LowCardinality(String) COMMENT 'ISO 4217 code; empty when no revenue',
    nps          Nullable(UInt8) COMMENT 'Net promoter score answer, 0-10',
    csat         Nullable(UInt8) COMMENT 'Customer satisfaction answer, 1-5',
    ces          Nullable(UInt8) COMMENT 'Customer effort score answer, 1-7',
    rating       Nullable(UInt8) COMMENT 'Rating answer, 1-5',
    comment      String COMMENT 'Free-text feedback; empty when none',
    source       LowCardinality(String) COMMENT 'Source of the write key that sent the event'
)
DEFINER = CURRENT_USER SQL SECURITY DEFINER
AS SELECT event_id,
          if(startsWith(k, 'anon:'), dictGetOrDefault('${database}.identity_links', 'customer_id', tuple(k), k), k) AS customer_id,
          anonymous_id, stage, channel, touchpoint, event, occurred_at, received_at, properties,
          revenue, currency, nps, csat, ces, rating, comment, source
FROM (SELECT * EXCEPT (customer_id), customer_id AS k FROM events FINAL)
COMMENT 'Every accepted touchpoint event once (redelivered copies removed), per person, without Kafka bookkeeping columns';
