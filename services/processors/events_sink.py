"""The journey agent's writes to `events`, then to the projections `journeys` and `journey_stages`
(and the identity links events carry, identities_sink.py), each retried until ClickHouse takes it.

Events ClickHouse refuses for what they hold (retry.PERMANENT_CODES) are found by splitting the
batch in halves until the refused ones stand alone; the others are written and the refused ones
returned, for the agent to dead-letter and to count the batch again without them, so a journey
never counts an event that `events` lacks. The events insert lifts ClickHouse's limit of 100
partitions (months) per insert block: a batch of imported history may span decades.

Events go as JSON text made by one orjson call and parsed by ClickHouse in C++: Python rows and
clickhouse-connect's serialisation of them cost much more of the processors' CPU.
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
from services.processors.identities_sink import IdentitySink, event_links
from services.processors.journey_state import JourneyState
from services.processors.metrics import BATCH_EVENTS, EVENTS_WRITTEN
from services.processors.retry import Refusal, write_until_taken

log = logging.getLogger("journeyline.sink")

EVENT_COLUMNS = (
    "event_id", "customer_id", "anonymous_id", "stage", "channel", "touchpoint", "event", "occurred_at",
    "received_at", "properties", "revenue", "currency", "nps", "csat", "ces", "rating",
    "comment", "source", "kafka_partition", "kafka_offset",
)
# ClickHouse's best-effort parser reads orjson's RFC 3339 times (any offset; microseconds truncated
# to milliseconds, as clickhouse-connect does).
TEXT_FORMAT = "JSONCompactEachRow"
EVENT_SETTINGS = {"max_partitions_per_insert_block": 0}
TEXT_SETTINGS = {"date_time_input_format": "best_effort", **EVENT_SETTINGS}
JOURNEY_COLUMNS = ("customer_id", "current_stage", "first_seen_at", "last_seen_at", "events", "version")
STAGE_COLUMNS = ("customer_id", "stage", "first_at", "last_at", "events", "version")


@dataclass(frozen=True)
class Consumed:
    """A decoded event and where it was read from."""

    event: RecordedEvent
    partition: int
    offset: int


@dataclass(frozen=True)
class RefusedEvent:
    """An event ClickHouse will not store, and its reason (ClickHouse's message)."""

    consumed: Consumed
    code: int
    reason: str


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

    async def write_events(self, consumed: Sequence[Consumed], maybe_written: bool = False) -> list[RefusedEvent]:
        """Write until ClickHouse takes them; returns the events it refused for good (module doc).

        `maybe_written`: some of these events may already be in ClickHouse (a batch replayed
        after a crash); those are left out. A retry after a failed insert checks the same way.
        """
        refused: list[RefusedEvent] = []
        parts, written = [(list(consumed), maybe_written)], 0
        while parts:
            part, maybe = parts.pop()
            try:
                written += await write_until_taken(
                    lambda attempt, part=part, maybe=maybe: self._insert_events(part, maybe or attempt > 0),
                    f"{len(part)} events", self._max_backoff_s, refusals=True)
            except Refusal as refusal:
                if len(part) == 1:
                    refused.append(RefusedEvent(part[0], refusal.code, refusal.message))
                    log.error("ClickHouse refused event %r of %r: %s", part[0].event.event_id,
                              part[0].event.customer_id, refusal.message)
                else:  # a part written before the refusal may be partly there: check again
                    half = len(part) // 2
                    parts += [(part[half:], True), (part[:half], True)]
        if consumed:
            EVENTS_WRITTEN.inc(written)
            BATCH_EVENTS.observe(len(consumed))
        return refused

    async def write_projections(self, counted: Sequence[Consumed], states: dict[str, JourneyState]) -> None:
        """The journeys and stages of `states`, and the identity links of the `counted` events."""
        journeys, stages = journey_rows(states, time.time_ns())
        links = self._links.new(event_links(counted))
        if journeys:
            await write_until_taken(lambda _: self._insert_projections(journeys, stages),
                                    f"{len(journeys)} journeys", self._max_backoff_s)
        if links:
            await self._links.write(links)
        self.batches += 1

    async def repeats(self, records: Sequence[Consumed]) -> set[tuple[str, str]]:
        """(customer_id, event_id) of the records whose event `events` holds from another Kafka
        position: copies of an event counted before (see services/processors/journey_state.py)."""
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

    def _insert_events(self, consumed: list[Consumed], maybe_written: bool) -> int:
        """Returns the events inserted."""
        if consumed and maybe_written:
            present = self.present([(item.event.customer_id, item.event.event_id) for item in consumed])
            consumed = [item for item in consumed if (item.event.customer_id, item.event.event_id) not in present]
            if present:
                log.info("left out %d events already in ClickHouse", len(present))
        if not consumed:
            return 0
        values = event_values(consumed)
        if values is not None:
            self._client.raw_insert("events", EVENT_COLUMNS, as_text(values), fmt=TEXT_FORMAT, settings=TEXT_SETTINGS)
        else:
            self._client.insert("events", event_rows(consumed), column_names=EVENT_COLUMNS, settings=EVENT_SETTINGS)
        return len(consumed)

    def _insert_projections(self, journeys: list[list], stages: list[list]) -> None:
        self._client.insert("journeys", journeys, column_names=JOURNEY_COLUMNS)
        self._client.insert("journey_stages", stages, column_names=STAGE_COLUMNS)

    def present(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        return present_keys(self._client, keys)


def present_keys(client: Client, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """The (customer_id, event_id) of `keys` that `events` holds."""
    if not keys:
        return set()
    # customer_id leads the sorting key, so this reads only those customers' granules.
    result = client.query(
        "SELECT DISTINCT customer_id, event_id FROM events "
        "WHERE customer_id IN {customers:Array(String)} AND event_id IN {ids:Array(String)}",
        parameters={"customers": sorted({c for c, _ in keys}), "ids": [e for _, e in keys]},
    )
    return {(c, e) for c, e in result.result_rows} & set(keys)
