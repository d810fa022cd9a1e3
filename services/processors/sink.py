"""Retried writes of a batch to ClickHouse: raw events first, then projections.

Events go as JSON text made by one orjson call and parsed by ClickHouse in C++: Python rows and
clickhouse-connect's serialisation of them cost several times more of the processors' CPU.
The text form stores the same values as the columnar rows (tests/processors/test_sink_format.py),
except where ClickHouse's text parsing refuses or clamps a value that the columnar path stores raw
(times outside DateTime64's years 1900-2299): a batch holding such an event goes the columnar way,
as before. (Revenue beyond Decimal(18, 4) is refused at ingest: schemas/events.py.)
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

import orjson
from clickhouse_connect.driver.client import Client

from schemas.events import STAGES, RecordedEvent
from services.processors.identity import IdentitySink, event_links
from services.processors.journey import JourneyState
from services.processors.metrics import BATCH_EVENTS, EVENTS_WRITTEN, WRITE_SECONDS
from services.processors.retry import write_until_taken

log = logging.getLogger("journeyline.sink")

EVENT_COLUMNS = (
    "event_id", "customer_id", "anonymous_id", "stage", "channel", "touchpoint", "event", "occurred_at",
    "received_at", "properties", "revenue", "currency", "nps", "csat", "ces", "rating",
    "comment", "source", "kafka_partition", "kafka_offset",
)
# ClickHouse's best-effort parser reads orjson's RFC 3339 times (any offset; microseconds truncated
# to milliseconds, as clickhouse-connect does).
TEXT_FORMAT = "JSONCompactEachRow"
TEXT_SETTINGS = {"date_time_input_format": "best_effort"}
JOURNEY_COLUMNS = ("customer_id", "current_stage", "first_seen_at", "last_seen_at", "events", "version")
STAGE_COLUMNS = ("customer_id", "stage", "first_at", "last_at", "events", "version")


@dataclass(frozen=True)
class Consumed:
    """A decoded event and where it was read from."""

    event: RecordedEvent
    partition: int
    offset: int


def _utc_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def event_rows(consumed: Sequence[Consumed]) -> list[list]:
    rows = []
    for item in consumed:
        e, fb = item.event, item.event.feedback
        rows.append([
            e.event_id, e.customer_id, e.anonymous_id or "", e.stage.value, e.channel.value, e.touchpoint, e.event,
            e.occurred_at.astimezone(timezone.utc), e.received_at.astimezone(timezone.utc),
            orjson.dumps(e.properties).decode(),
            None if e.revenue is None else Decimal(str(e.revenue)),
            e.currency or "",
            fb and fb.nps, fb and fb.csat, fb and fb.ces, fb and fb.rating, (fb and fb.comment) or "",
            e.source, item.partition, item.offset,
        ])
    return rows


def event_values(consumed: Sequence[Consumed]) -> list[list] | None:
    """The EVENT_COLUMNS of each event as JSON values (see `as_text`); None when an event needs the
    columnar path: a time is out of what ClickHouse's text parsing takes as is."""
    dumps = orjson.dumps
    rows = []
    for item in consumed:
        e, fb = item.event, item.event.feedback
        if not (1900 < e.occurred_at.year < 2299 and 1900 < e.received_at.year < 2299):
            return None
        rows.append([
            e.event_id, e.customer_id, e.anonymous_id or "", e.stage.value, e.channel.value, e.touchpoint, e.event,
            e.occurred_at, e.received_at, dumps(e.properties).decode(),
            None if e.revenue is None else str(e.revenue),  # the float's repr, as Decimal(str(revenue)) reads it
            e.currency or "",
            None if fb is None else fb.nps, None if fb is None else fb.csat, None if fb is None else fb.ces,
            None if fb is None else fb.rating, (fb is not None and fb.comment) or "",
            e.source, item.partition, item.offset,
        ])
    return rows


def as_text(values: Sequence[list]) -> bytes:
    """TEXT_FORMAT rows, comma-separated, in one orjson call."""
    return orjson.dumps(values)[1:-1]


def journey_rows(states: dict[str, JourneyState], version: int) -> tuple[list[list], list[list]]:
    journeys, stages = [], []
    for customer_id, state in states.items():
        journeys.append([
            customer_id, state.current_stage, _utc_ms(state.first_seen_ms), _utc_ms(state.last_seen_ms),
            state.events, version,
        ])
        for index, (first, last, count) in sorted(state.stages.items()):
            stages.append([customer_id, STAGES[index], _utc_ms(first), _utc_ms(last), count, version])
    return journeys, stages


class ClickHouseSink:
    def __init__(self, client: Client, max_backoff_s: float = 10.0):
        self._client = client
        self._max_backoff_s = max_backoff_s
        self._links = IdentitySink(client, max_backoff_s)
        self.batches = 0

    async def write(
        self, consumed: Sequence[Consumed], states: dict[str, JourneyState], maybe_written: bool = False
    ) -> None:
        """Write until ClickHouse takes it: the caller acks the batch only after this returns.

        `maybe_written`: some of these events may already be in ClickHouse (a batch replayed
        after a crash); those are left out. A retry after a failed insert checks the same way.
        """
        if not consumed and not states:
            return
        started = time.perf_counter()
        keys = [(item.event.customer_id, item.event.event_id) for item in consumed]
        values = event_values(consumed)
        events, text = (values, True) if values is not None else (event_rows(consumed), False)
        journeys, stages = journey_rows(states, time.time_ns())
        links = self._links.new(event_links(consumed))
        written = await write_until_taken(
            lambda attempt: self._insert(keys, events, text, journeys, stages, maybe_written or attempt > 0),
            f"{len(events)} events", self._max_backoff_s)
        if links:
            await self._links.write(links)
        self.batches += 1
        EVENTS_WRITTEN.inc(written)
        BATCH_EVENTS.observe(len(events))
        WRITE_SECONDS.observe(time.perf_counter() - started)

    async def repeats(self, records: Sequence[Consumed]) -> set[tuple[str, str]]:
        """(customer_id, event_id) of the records whose event `events` holds from another Kafka
        position: copies of an event counted before (see services/processors/journey.py)."""
        return await write_until_taken(lambda _: self._repeats(records), f"the check of {len(records)} events",
                                       self._max_backoff_s)

    def _repeats(self, records: Sequence[Consumed]) -> set[tuple[str, str]]:
        where = {(r.event.customer_id, r.event.event_id): (r.partition, r.offset) for r in records}
        result = self._client.query(
            "SELECT DISTINCT customer_id, event_id, kafka_partition, kafka_offset FROM events "
            "WHERE customer_id IN {customers:Array(String)} AND event_id IN {ids:Array(String)}",
            parameters={"customers": sorted({c for c, _ in where}), "ids": [e for _, e in where]},
        )
        return {(c, e) for c, e, partition, offset in result.result_rows
                if (c, e) in where and where[(c, e)] != (partition, offset)}

    def _insert(self, keys: list[tuple[str, str]], events: list[list], text: bool, journeys: list[list],
                stages: list[list], maybe_written: bool) -> int:
        """Returns the events inserted. `events`: event_values (text) or event_rows, one per key."""
        if events and maybe_written:
            present = self._present(keys)
            events = [event for key, event in zip(keys, events, strict=True) if key not in present]
            if present:
                log.info("left out %d events already in ClickHouse", len(present))
        if events and text:
            self._client.raw_insert("events", EVENT_COLUMNS, as_text(events), fmt=TEXT_FORMAT, settings=TEXT_SETTINGS)
        elif events:
            self._client.insert("events", events, column_names=EVENT_COLUMNS)
        if journeys:
            self._client.insert("journeys", journeys, column_names=JOURNEY_COLUMNS)
            self._client.insert("journey_stages", stages, column_names=STAGE_COLUMNS)
        return len(events)

    def _present(self, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
        # customer_id leads the sorting key, so this reads only those customers' granules.
        result = self._client.query(
            "SELECT DISTINCT customer_id, event_id FROM events "
            "WHERE customer_id IN {customers:Array(String)} AND event_id IN {ids:Array(String)}",
            parameters={"customers": sorted({c for c, _ in keys}), "ids": [e for _, e in keys]},
        )
        return {(c, e) for c, e in result.result_rows}
