"""Migrations are versioned: a second run applies nothing and records nothing twice."""
from __future__ import annotations

import clickhouse_connect

from schemas.clickhouse.migrate import create_database, load_migrations, migrate

DATABASE = "migrate_twice"  # its own database on the session stack's ClickHouse


def test_migrate_twice_applies_nothing_the_second_time(stack, clickhouse):
    clickhouse.command(f"DROP DATABASE IF EXISTS {DATABASE}")
    create_database(clickhouse, DATABASE)
    client = clickhouse_connect.get_client(host="127.0.0.1", port=stack.ports.clickhouse, database=DATABASE,
                                           autogenerate_session_id=False)
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
