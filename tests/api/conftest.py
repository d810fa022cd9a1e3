"""Fixtures for the query API tests: a real ClickHouse engine (chDB, in-process) and the app.

chDB hosts one engine path per process, so the whole session shares one temporary directory;
each test module gets its own database in it (created with the real migrations), and tests
that write events start from an empty `events` table. `api` here overrides the suite-wide
fixture of that name (an HTTP client on the whole stack) with the app in-process, so these
tests need no broker and no server.
"""
from __future__ import annotations

import itertools
import re
import warnings
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import clickhouse_connect
import pytest
from clickhouse_connect.driver.client import Client

from schemas.clickhouse.migrate import create_database, migrate
from schemas.events import RecordedEvent
from services.api.app import create_app
from services.api.settings import ApiSettings
from services.processors.events_sink import EVENT_COLUMNS as SINK_EVENT_COLUMNS
from services.processors.events_sink import Consumed, event_rows
from services.processors.identities_sink import IDENTITY_DICTIONARIES

with warnings.catch_warnings():
    # Starlette suggests httpx2 for its TestClient; the project pins httpx, which works.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

TOKEN = "test-read-token"
OTHER_TOKEN = "second-read-token"
UTC = timezone.utc

EVENT_COLUMNS = list(SINK_EVENT_COLUMNS)

_ids = itertools.count(1)


def chdb_client(path: str, database: str | None = None) -> Client:
    return clickhouse_connect.get_client(interface="chdb", path=path, database=database)


def ms_time(epoch_ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=epoch_ms)


def make_event(customer_id: str, stage: str, occurred_at: datetime | str, **fields: Any) -> dict[str, Any]:
    """A TouchpointEvent-like dict with sensible defaults; `fields` override or add keys."""
    event = {
        "event_id": f"ev-{next(_ids):06d}",
        "customer_id": customer_id,
        "stage": stage,
        "channel": "web",
        "touchpoint": "site",
        "event": f"{stage}_seen",
        "occurred_at": occurred_at,
    }
    event.update(fields)
    return event


def event_row(event: dict[str, Any], offset: int = 0) -> list[Any]:
    """One `events` row, as the stream processor would write it, from an event dict.

    The dict is validated as a RecordedEvent (received_at defaults to occurred_at + 1 s,
    source to "default"), so test data always satisfies the event format.
    """
    data = dict(event)
    occurred = data["occurred_at"]
    if isinstance(occurred, str):
        occurred = datetime.fromisoformat(occurred.replace("Z", "+00:00"))
    data.setdefault("received_at", occurred + timedelta(seconds=1))
    # The processors' own row builder, so the tests read what the pipeline writes.
    return event_rows([Consumed(RecordedEvent.model_validate(data), 0, offset)])[0]


class EventWriter:
    """Inserts event dicts into `events`; each call is one insert (one part until merged)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def insert(self, events: Iterable[dict[str, Any]]) -> None:
        rows = [event_row(e, i) for i, e in enumerate(events)]
        if rows:
            self.client.insert("events", rows, column_names=EVENT_COLUMNS)

    def truncate(self) -> None:
        self.client.command("TRUNCATE TABLE events")
        self.client.command("TRUNCATE TABLE identities")
        for name in IDENTITY_DICTIONARIES:
            self.client.command(f"SYSTEM RELOAD DICTIONARY {name}")


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("chdb"))


@pytest.fixture(scope="module")
def chdb(chdb_path: str, request: pytest.FixtureRequest) -> Iterator[Client]:
    """A client on a fresh, migrated database for this test module."""
    database = "api_" + re.sub(r"\W", "_", request.module.__name__.rsplit(".", 1)[-1])
    admin = chdb_client(chdb_path)
    admin.command(f"DROP DATABASE IF EXISTS {database}")
    create_database(admin, database)
    client = chdb_client(chdb_path, database)
    migrate(client)
    try:
        yield client
    finally:
        admin.command(f"DROP DATABASE IF EXISTS {database}")
        client.close()
        admin.close()


@pytest.fixture(scope="module")
def api_settings(chdb: Client) -> ApiSettings:
    return ApiSettings(read_tokens=f"{TOKEN}, {OTHER_TOKEN}", clickhouse_database=chdb.database)


@pytest.fixture(scope="module")
def api(chdb_path: str, chdb: Client, api_settings: ApiSettings) -> Iterator[TestClient]:
    """TestClient on the app (lifespan run), authenticated with a valid read token."""
    app = create_app(api_settings, client_factory=lambda: chdb_client(chdb_path, chdb.database))
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


@pytest.fixture
def events(chdb: Client) -> EventWriter:
    """An empty `events` table and a writer for it."""
    writer = EventWriter(chdb)
    writer.truncate()
    return writer
