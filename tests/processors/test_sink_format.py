"""The sink's JSON text rows store exactly what the columnar rows stored, column by column.

Both forms of the same events go into scratch copies of `events` on the session's ClickHouse and
are read back as text (every column, NULLs, DateTime64 milliseconds, Decimal digits) and compared.
"""
from __future__ import annotations

import asyncio
import random
import uuid
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from schemas.events import RecordedEvent
from services.processors.events_sink import (
    EVENT_COLUMNS,
    TEXT_FORMAT,
    TEXT_SETTINGS,
    ClickHouseSink,
    Consumed,
    as_text,
    event_rows,
    event_values,
)

UTC = timezone.utc
ODD_TEXT = ['plain', 'quote " and \\ backslash', "new\nline\ttab\rcr", "nul\x00byte", "ünïcödé ☕ 🚀 日本語",
            "\u2028\u2029 separators", "'single' `tick`", "</script>", " lead and trail "]


def recorded(n: int, **fields) -> RecordedEvent:
    data = {"event_id": f"fmt-{n}", "customer_id": f"fmt-cust-{n % 7}", "stage": "purchase", "channel": "pos",
            "touchpoint": "store_12_pos", "event": "pos_sale", "occurred_at": "2009-03-01T10:00:00.123Z",
            "received_at": "2009-03-01T10:00:01.456Z", "source": "pos"}
    data.update(fields)
    return RecordedEvent.model_validate(data)


def tricky_events() -> list[RecordedEvent]:
    rng = random.Random(6)
    events = []
    times = ["2009-03-01T10:00:00Z", "2009-03-01T10:00:00.999999+02:00", "2009-03-01T10:00:00.000500-05:30",
             "2009-02-28T23:59:59.9995+14:00", "1901-01-01T00:00:00+01:00", "1969-12-31T23:59:59.999Z",
             "1970-01-01T00:00:00Z", "2298-12-31T23:59:59.999999-03:00", "2024-02-29T12:00:00.001+00:00"]
    revenues = [None, 0.0, 4.2, 4.23456, 4.99999, 1e-05, 1.5e-05, 0.30000000000000004, 12345678.9,
                99999999999999.98, 1 / 3, 2.5e-4, 123.0001]
    revenues += [rng.uniform(0, 10 ** rng.randint(0, 13)) for _ in range(200)]
    feedbacks = [None, {}, {"nps": 0}, {"nps": 10, "csat": 1, "ces": 7, "rating": 5, "comment": "great"},
                 {"comment": ""}, {"comment": ODD_TEXT[4]}, {"csat": 3, "comment": ODD_TEXT[1]}]
    properties = [{}, {"item": "flat white", "basket_size": 2}, {"nested": {"a": [1, 2.5, None, True]}},
                  {"float": 0.1, "big": 1e300, "neg": -0.0, "int": 2**63 - 1, "min": -(2**63)},
                  {ODD_TEXT[4]: ODD_TEXT[3], "k": ODD_TEXT[2]}, {"list": [], "obj": {}}]
    for n in range(len(revenues)):
        fields = {
            "occurred_at": times[n % len(times)],
            "revenue": revenues[n], "currency": "EUR" if revenues[n] is not None else None,
            "feedback": feedbacks[n % len(feedbacks)], "properties": properties[n % len(properties)],
            "touchpoint": ODD_TEXT[n % len(ODD_TEXT)], "event": ODD_TEXT[(n + 3) % len(ODD_TEXT)],
            "source": ODD_TEXT[(n + 5) % len(ODD_TEXT)][:100],
        }
        if n % 3 == 0:
            fields["anonymous_id"] = f"anon-{ODD_TEXT[n % len(ODD_TEXT)]}"
        if n % 5 == 0:
            fields["event_id"] = f"fmt-{n}-{ODD_TEXT[n % len(ODD_TEXT)]}"
        events.append(recorded(n, **fields))
    return events


@pytest.fixture
def scratch(clickhouse):
    names = [f"sink_fmt_{uuid.uuid4().hex[:8]}_{kind}" for kind in ("text", "rows")]
    for name in names:
        clickhouse.command(f"CREATE TABLE {name} AS events")
    yield names
    for name in names:
        clickhouse.command(f"DROP TABLE IF EXISTS {name}")


def read_back(clickhouse, table: str) -> bytes:
    columns = ", ".join(f"toString({c}) AS {c}" for c in EVENT_COLUMNS)
    return clickhouse.raw_query(f"SELECT {columns} FROM {table} ORDER BY kafka_offset FORMAT TSVWithNames")


def test_text_lines_store_what_columnar_rows_stored(clickhouse, scratch):
    events = tricky_events()
    consumed = [Consumed(e, i % 3, 1000 + i) for i, e in enumerate(events)]
    values = event_values(consumed)
    assert values is not None and len(values) == len(events)
    text, rows = scratch
    clickhouse.raw_insert(text, EVENT_COLUMNS, as_text(values), fmt=TEXT_FORMAT, settings=TEXT_SETTINGS)
    clickhouse.insert(rows, event_rows(consumed), column_names=EVENT_COLUMNS)
    got, expected = read_back(clickhouse, text), read_back(clickhouse, rows)
    assert got.count(b"\n") == len(events) + 1
    assert got == expected
    # NULLs stay NULLs (toString keeps them NULL): feedback scores and revenue.
    nulls = clickhouse.query(f"SELECT countIf(revenue IS NULL), countIf(nps IS NULL), countIf(csat IS NULL) "
                             f"FROM {text}").result_rows[0]
    assert nulls == (sum(e.revenue is None for e in events), sum(e.feedback is None or e.feedback.nps is None
                     for e in events), sum(e.feedback is None or e.feedback.csat is None for e in events))
    assert nulls[0] > 0 and nulls[1] > 0
    # The properties column holds orjson's text of the object, byte for byte.
    stored = dict(clickhouse.query(f"SELECT kafka_offset, properties FROM {text}").result_rows)
    assert all(stored[1000 + i] == orjson.dumps(e.properties).decode() for i, e in enumerate(events))


@pytest.mark.parametrize("fields", [{"occurred_at": "1899-12-31T23:59:59Z"},
                                    {"occurred_at": "1900-01-01T00:30:00+01:00"},
                                    {"occurred_at": "2299-12-31T23:59:59Z"}, {"received_at": "2300-01-01T00:00:00Z"}])
def test_values_text_cannot_carry_go_columnar(fields):
    plain = recorded(1)
    assert event_values([Consumed(plain, 0, 1)]) is not None
    assert event_values([Consumed(plain, 0, 1), Consumed(recorded(2, **fields), 0, 2)]) is None


@pytest.mark.parametrize("big", [False, True], ids=["text", "columnar"])
def test_sink_writes_batches_once_even_when_repeated(clickhouse, big):
    start = datetime(2009, 4, 1, tzinfo=UTC)
    prefix = f"fmtsink{int(big)}-"
    events = [recorded(i, customer_id=f"{prefix}{i % 4}", event_id=f"{prefix}{i}",
                       occurred_at=(start + timedelta(seconds=i)).isoformat(), revenue=1.25 * i, currency="EUR")
              for i in range(40)]
    if big:  # one event the text form cannot carry: the batches go the columnar way
        events[30] = recorded(30, customer_id=f"{prefix}2", event_id=f"{prefix}30",
                              occurred_at="1899-12-31T23:59:59Z", revenue=2e13, currency="EUR")
    consumed = [Consumed(e, 0, i) for i, e in enumerate(events)]
    sink = ClickHouseSink(clickhouse, max_backoff_s=1)

    async def write() -> None:
        await sink.write_events(consumed[:25])
        await sink.write_events(consumed, maybe_written=True)  # a replayed batch: the first 25 are left out

    asyncio.run(write())
    rows = clickhouse.query("SELECT count(), uniqExact(event_id), sum(revenue) FROM events "
                            "WHERE customer_id LIKE {p:String}", parameters={"p": prefix + "%"}).result_rows[0]
    assert rows[:2] == (40, 40)
    assert float(rows[2]) == sum(e.revenue for e in events)
