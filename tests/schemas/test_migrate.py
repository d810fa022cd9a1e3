"""Migrations are versioned: a second run applies nothing and records nothing twice."""
from __future__ import annotations

import clickhouse_connect

from schemas.clickhouse.migrate import create_database, load_migrations, migrate

DATABASE = "migrate_twice"  # its own database on the session stack's ClickHouse


def test_migrate_twice_applies_nothing_the_second_time(stack, clickhouse):
    clickhouse.command(f"DROP DATABASE IF EXISTS {DATABASE}")
    create_database(clickhouse, DATABASE)
    client = clickhouse_connect.get_client(host="127.0.0.1", port=stack.ports.clickhouse, database=DATABASE,
                                           autogenerate_session_id=False, password=stack.clickhouse_password)
    try:
        versions = [m.version for m in load_migrations()]
        assert versions and migrate(client) == versions
        tables = client.query("SELECT name, metadata_modification_time FROM system.tables "
                              "WHERE database = currentDatabase() ORDER BY name").result_rows
        assert {"events", "journeys", "journey_stages", "schema_migrations"} <= {name for name, _ in tables}

        assert migrate(client) == []
        assert client.query("SELECT version FROM schema_migrations ORDER BY version").result_rows == [
            (v,) for v in versions]
        assert client.query("SELECT name, metadata_modification_time FROM system.tables "
                            "WHERE database = currentDatabase() ORDER BY name").result_rows == tables
    finally:
        client.close()
        clickhouse.command(f"DROP DATABASE IF EXISTS {DATABASE}")


def test_key_hash_of_events_written_before_0008(stack, clickhouse, monkeypatch):
    # Parts written before migration 0008 have no key_hash / anonymous_key on disk: ClickHouse
    # computes them from customer_id when read, so person_key stays the hash of the resolved person.
    database = "key_hash_before"
    clickhouse.command(f"DROP DATABASE IF EXISTS {database}")
    create_database(clickhouse, database)
    client = clickhouse_connect.get_client(host="127.0.0.1", port=stack.ports.clickhouse, database=database,
                                           autogenerate_session_id=False, password=stack.clickhouse_password)
    try:
        every = load_migrations()
        monkeypatch.setattr("schemas.clickhouse.migrate.load_migrations", lambda: [m for m in every if m.version < 8])
        migrate(client)
        client.command("INSERT INTO events (event_id, customer_id, stage, occurred_at) VALUES "
                       "('e1', 'kim', 'awareness', '2007-01-01 00:00:00'), "
                       "('e2', 'anon:d1', 'consideration', '2007-01-02 00:00:00'), "
                       "('e3', 'anon:d2', 'purchase', '2007-01-03 00:00:00')")
        client.command("INSERT INTO identities (anonymous_id, customer_id, traits, source, received_at) VALUES "
                       "('d1', 'kim', '{}', 'web', '2007-01-02 00:00:00')")
        monkeypatch.setattr("schemas.clickhouse.migrate.load_migrations", lambda: every)
        assert migrate(client) == [m.version for m in every if m.version >= 8]
        client.command("INSERT INTO events (event_id, customer_id, stage, occurred_at) VALUES "
                       "('e4', 'anon:d1', 'use', '2007-01-04 00:00:00')")
        rows = client.query("SELECT event_id, customer_id, person_key = cityHash64(customer_id) FROM person_events "
                            "ORDER BY event_id").result_rows
        assert rows == [("e1", "kim", True), ("e2", "kim", True), ("e3", "anon:d2", True), ("e4", "kim", True)]
        assert client.query("SELECT count(), countIf(anonymous_key), uniqExact(key_hash) FROM events").result_rows == [
            (4, 3, 3)]
    finally:
        client.close()
        clickhouse.command(f"DROP DATABASE IF EXISTS {database}")
