-- Write keys (one per source) and read tokens, for ingest and the query API.
-- Only a SHA-256 of each secret is kept (secrets are 32 random bytes, so a slow password hash
-- adds nothing), plus a short prefix to recognise a key in listings.
-- A revocation inserts a newer version of the key's row; lookups read FINAL, so the newest row
-- per key_id wins at once, before any merge. Rows are never deleted: the table is the audit trail.
CREATE TABLE IF NOT EXISTS access_keys
(
    key_id      String COMMENT 'Public identifier, used by `journeyline keys revoke`',
    kind        Enum8('write' = 1, 'read' = 2),
    source      String COMMENT 'Write keys: the source stamped on every event they send; empty for read tokens',
    hash        String COMMENT 'Hex SHA-256 of the secret',
    prefix      String COMMENT 'First characters of the secret, for display',
    created_at  DateTime64(3, 'UTC'),
    revoked_at  Nullable(DateTime64(3, 'UTC')),
    version     UInt64 COMMENT 'Newest row per key_id wins (ReplacingMergeTree)',
    INDEX idx_hash hash TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = ReplacingMergeTree(version)
ORDER BY key_id
COMMENT 'Hashed write keys and read tokens; see services/common/access_keys.py';
