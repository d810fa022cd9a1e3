-- Closing the loop on feedback. Feedback items themselves are not stored: they are the events
-- in `events` with a comment or a low score (services/api/queries/feedback.py), so there is
-- nothing to rebuild for them. Status changes come from the topic journeyline.feedback-status.v1
-- (written by services/processors/feedback.py).

-- Every status change, kept. Delivery is at-least-once, so a change may land twice after a
-- processor crash: readers count each change_id once.
CREATE TABLE IF NOT EXISTS feedback_status_history
(
    event_id        String COMMENT 'The feedback item: its event_id in events',
    customer_id     String,
    change_id       String COMMENT 'Unique per status change, set by the API',
    status          Enum8('open' = 1, 'acknowledged' = 2, 'resolved' = 3),
    note            String,
    who             LowCardinality(String) COMMENT 'Identity of the token that made the change, or api',
    changed_at      DateTime64(6, 'UTC') COMMENT 'When the API accepted the change',
    kafka_partition UInt32,
    kafka_offset    UInt64,
    recorded_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (event_id, changed_at, change_id);

-- Current status per item: a projection of the history, the latest change winning. The version
-- is derived from the change itself (changed_at in microseconds), never from the time of the
-- write, so a redelivered or re-inserted old change never replaces a newer one.
CREATE TABLE IF NOT EXISTS feedback_status
(
    event_id    String,
    customer_id String,
    change_id   String,
    status      Enum8('open' = 1, 'acknowledged' = 2, 'resolved' = 3),
    note        String,
    who         LowCardinality(String),
    changed_at  DateTime64(6, 'UTC'),
    version     UInt64 COMMENT 'toUnixTimestamp64Micro(changed_at)'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY event_id;
