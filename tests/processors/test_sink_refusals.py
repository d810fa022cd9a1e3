"""The sink against ClickHouse's refusals, through the embedded server's HTTP interface: a batch
spanning decades of months lands whole; events ClickHouse refuses for what they hold are returned
alone (the others written, once); anything else is retried until ClickHouse takes it."""
from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from schemas.clickhouse.migrate import create_database, migrate
from schemas.events import RecordedEvent
from services.processors.events_sink import ClickHouseSink, Consumed
from services.processors.retry import PERMANENT_CODES, refusal
from tests.deploy.test_embedded_clickhouse import Server, start_server

UTC = timezone.utc
POISON = "refused-by-constraint"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("sink") / "data")
    yield srv
    assert srv.stop() == 0


@pytest.fixture
def client(server: Server):
    database = f"sink_{uuid.uuid4().hex[:8]}"
    with server.client() as admin:
        create_database(admin, database)
    with server.client(database=database, autogenerate_session_id=False) as c:
        migrate(c)
        yield c


def consumed(n: int, start: datetime, step: timedelta, customers: int = 7, **fields) -> list[Consumed]:
    items = []
    for i in range(n):
        data = {"event_id": f"ev-{i}", "customer_id": f"cust-{i % customers}", "stage": "purchase",
                "channel": "pos", "touchpoint": "till", "event": "sale", "occurred_at": (start + i * step).isoformat(),
                "received_at": "2026-12-01T00:00:00Z", "source": "test", **fields}
        items.append(Consumed(RecordedEvent.model_validate(data), i % 3, 100 + i))
    return items


def _count(client) -> tuple[int, int]:
    return client.query("SELECT count(), uniqExact(customer_id, event_id) FROM events").result_rows[0]


@pytest.mark.server
@pytest.mark.parametrize("columnar", [False, True], ids=["text", "columnar"])
def test_a_batch_spanning_decades_of_months_lands_whole(client, columnar):
    batch = consumed(360, datetime(2001, 1, 15, 9, tzinfo=UTC), timedelta(days=31))  # 30 years, one a month
    if columnar:  # a time the text form cannot carry sends the batch the columnar way
        batch += consumed(1, datetime(1899, 12, 31, tzinfo=UTC), timedelta(0), event_id="ev-old")
    assert asyncio.run(ClickHouseSink(client, 1).write_events(batch)) == []
    assert _count(client) == (len(batch), len(batch))
    assert client.command("SELECT uniqExact(_partition_id) FROM events") >= 360


@pytest.mark.server
def test_refused_events_stand_alone_and_the_rest_is_written_once(client):
    client.command(f"ALTER TABLE events ADD CONSTRAINT no_poison CHECK customer_id != '{POISON}'")
    batch = consumed(500, datetime(2020, 1, 1, tzinfo=UTC), timedelta(hours=5))
    poisoned = {17, 250, 251, 499}
    for i in poisoned:
        batch[i] = consumed(1, datetime(2020, 6, 1, tzinfo=UTC), timedelta(0), customer_id=POISON,
                            event_id=f"poison-{i}")[0]
    refused = asyncio.run(ClickHouseSink(client, 1).write_events(batch))
    assert sorted(r.consumed.event.event_id for r in refused) == sorted(f"poison-{i}" for i in poisoned)
    assert {r.code for r in refused} == {469}
    assert all("Constraint `no_poison`" in r.reason and r.reason.startswith("Code: 469.") for r in refused)
    assert _count(client) == (496, 496)
    # Written again as a replayed batch: nothing twice, the same events refused.
    again = asyncio.run(ClickHouseSink(client, 1).write_events(batch, maybe_written=True))
    assert len(again) == 4 and _count(client) == (496, 496)


@pytest.mark.server
def test_other_failures_are_retried_until_taken(client):
    client.command("RENAME TABLE events TO events_away")  # as if a migration were not run yet
    batch = consumed(50, datetime(2020, 1, 1, tzinfo=UTC), timedelta(days=40))

    def put_back() -> None:
        time.sleep(1.5)
        client.command("RENAME TABLE events_away TO events")

    thread = threading.Thread(target=put_back)
    thread.start()
    started = time.monotonic()
    assert asyncio.run(ClickHouseSink(client, 0.5).write_events(batch)) == []
    thread.join()
    assert time.monotonic() - started >= 1.5
    assert _count(client) == (50, 50)


@pytest.mark.parametrize(("text", "permanent"), [
    ("Received ClickHouse exception, code: 469, server response: Code: 469. DB::Exception: Constraint `c` for "
     "table x is violated at row 1. (VIOLATED_CONSTRAINT) (for url http://127.0.0.1:8123)", True),
    ("Code: 252. DB::Exception: Too many partitions for single INSERT block (more than 100). (TOO_MANY_PARTS)", True),
    ("Code: 252. DB::Exception: Too many parts (300). Merges are processing significantly slower than inserts. "
     "(TOO_MANY_PARTS)", False),
    ("Code: 241. DB::Exception: Query memory limit exceeded. (MEMORY_LIMIT_EXCEEDED)", False),
    ("Code: 60. DB::Exception: Table journeyline.events does not exist. (UNKNOWN_TABLE)", False),
    ("Code: 164. DB::Exception: Cannot execute query in readonly mode. (READONLY)", False),
    ("HTTPConnectionPool(host='127.0.0.1', port=8123): Max retries exceeded", False),
])
def test_which_failures_are_refusals(text, permanent):
    found = refusal(Exception(text))
    assert (found is not None) == permanent
    if found:
        assert found.message.startswith(f"Code: {found.code}. ") and "for url" not in found.message
        assert found.code in PERMANENT_CODES or found.code == 252
