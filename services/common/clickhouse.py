"""One way to reach ClickHouse: clickhouse-connect over HTTP, real server or the embedded one."""
from __future__ import annotations

from urllib.parse import urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from schemas.clickhouse.migrate import create_database, migrate
from services.common.settings import ClickHouseSettings


def connect(settings: ClickHouseSettings, database: str | None = None, **kwargs) -> Client:
    url = urlsplit(settings.clickhouse_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError(f"CLICKHOUSE_URL must be http(s)://host:port, got {settings.clickhouse_url!r}")
    return clickhouse_connect.get_client(
        host=url.hostname,
        port=url.port or (8443 if url.scheme == "https" else 8123),
        secure=url.scheme == "https",
        username=settings.clickhouse_user,
        password=settings.clickhouse_password,
        database=settings.clickhouse_database if database is None else database,
        # Sessions serialise a client's queries server-side; the services need none.
        autogenerate_session_id=False,
        **kwargs,
    )


def connect_migrated(settings: ClickHouseSettings, **kwargs) -> Client:
    """Apply pending migrations, then return a client on the Journeyline database."""
    admin = connect(settings, database="default")
    try:
        create_database(admin, settings.clickhouse_database)
    finally:
        admin.close()
    client = connect(settings, **kwargs)
    migrate(client, settings.clickhouse_dictionary_user, settings.clickhouse_dictionary_password)
    return client
