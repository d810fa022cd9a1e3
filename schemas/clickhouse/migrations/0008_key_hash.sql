-- person_key without reading the raw key: person_events computed person_key from the String
-- customer_id of every event (cityHash64, and the identity_links dictionary for anonymous keys), and
-- reading that String was most of its cost. Two columns stored at insert carry what it needs:
-- key_hash (cityHash64 of the raw key, which is the person_key of every non-anonymous event) and
-- anonymous_key; `identity_person_keys` maps the key_hash of a linked anonymous key to its
-- person's key_hash. Stage funnel at 10M events / 1M customers: person_key 0.39 -> 0.14 s of CPU.
-- Parts written before this migration compute both columns from customer_id when read.
-- ${database} and ${dictionary_credentials} are filled in by schemas/clickhouse/migrate.py.

ALTER TABLE events ADD COLUMN IF NOT EXISTS key_hash UInt64 MATERIALIZED cityHash64(customer_id) COMMENT 'cityHash64 of customer_id (the raw identity key)';

ALTER TABLE events ADD COLUMN IF NOT EXISTS anonymous_key Bool MATERIALIZED startsWith(customer_id, 'anon:') COMMENT 'customer_id is an anonymous key (anon:<anonymous_id>)';

-- The same resolution as identity_links (an anonymous id belongs to the first customer it was
-- linked to), keyed and valued by hashes. Reloaded together with identity_links.
CREATE DICTIONARY IF NOT EXISTS identity_person_keys
(
    key_hash   UInt64,
    person_key UInt64
)
PRIMARY KEY key_hash
SOURCE(CLICKHOUSE(QUERY 'SELECT cityHash64(concat(''anon:'', anonymous_id)) AS key_hash, cityHash64(argMin(customer_id, (received_at, customer_id))) AS person_key FROM ${database}.identities WHERE anonymous_id != '''' GROUP BY anonymous_id'${dictionary_credentials}))
LIFETIME(MIN 1 MAX 5)
LAYOUT(HASHED());

-- person_key as before (cityHash64 of the resolved customer_id), now read from key_hash; the
-- dictionary is only asked for anonymous keys (`if` evaluates a branch only for its rows).
CREATE OR REPLACE VIEW person_events AS
SELECT * EXCEPT (identity_key, key_hash, anonymous_key),
       if(startsWith(identity_key, 'anon:'),
          dictGetOrDefault('${database}.identity_links', 'customer_id', tuple(identity_key), identity_key),
          identity_key) AS customer_id,
       identity_key,
       if(anonymous_key,
          dictGetOrDefault('${database}.identity_person_keys', 'person_key', key_hash, key_hash),
          key_hash) AS person_key
FROM (SELECT * EXCEPT (customer_id), customer_id AS identity_key, key_hash, anonymous_key FROM events);
