"""Journey agent: decode a batch, update journey state once per customer, write, then ack."""
from __future__ import annotations

import logging
import time
from collections import defaultdict

import orjson

from schemas.records import Refused, approx_events, decode
from services.common.clickhouse import connect_migrated
from services.common.compat.faust_take import take_events
from services.processors import alerts
from services.processors.app import app, dead_letters, journeys, settings, touchpoints
from services.processors.changelog import ChangelogWriter
from services.processors.events_sink import ClickHouseSink, Consumed, RefusedEvent
from services.processors.journey_state import BatchCount, JourneyState
from services.processors.metrics import DEAD_LETTERED, REFUSED_BY_CLICKHOUSE, WRITE_SECONDS

log = logging.getLogger("journeyline.agent")
_sink: ClickHouseSink | None = None
_changelog = ChangelogWriter(journeys, settings.sink_max_backoff_s)
# partition -> the offset after the last one this process wrote. A batch that does not start
# there (first batch after start-up or a rebalance) may repeat events already in ClickHouse.
_next_offset: dict[int, int] = {}


def sink() -> ClickHouseSink:
    global _sink
    if _sink is None:
        _sink = ClickHouseSink(connect_migrated(settings), settings.sink_max_backoff_s)
    return _sink


async def events_of(event) -> list[Consumed]:
    """The events of a record (an event record or a single event, schemas/records.py), each with
    where it was read; events of one record share its offset. A refused event is dead-lettered on
    its own and left out: the others go on."""
    msg = event.message
    consumed = []
    for item in decode(msg.value):
        if isinstance(item, Refused):
            await dead_letter(event, item)
        else:
            consumed.append(Consumed(item, msg.partition, msg.offset))
    return consumed


async def dead_letter(event, refused: Refused) -> None:
    msg = event.message
    key = msg.key if refused.index is None else _customer_id(refused.value) or msg.key
    record = {
        "reason": refused.reason,
        "topic": msg.topic, "partition": msg.partition, "offset": msg.offset,
        **({} if refused.index is None else {"index": refused.index}),
        "key": (key or b"").decode(errors="replace"),
        "value": (refused.value or b"").decode(errors="replace"),
    }
    await dead_letters.send(key=key, value=orjson.dumps(record))
    DEAD_LETTERED.labels(refused.kind).inc()
    where = "" if refused.index is None else f" event {refused.index}"
    log.warning("dead-lettered %s[%d]@%d%s: %s", msg.topic, msg.partition, msg.offset, where, refused.reason)


def _customer_id(value: bytes) -> bytes | None:
    # An event of an event record is dead-lettered under its own customer's key, when it has one.
    try:
        customer_id = orjson.loads(value).get("customer_id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return customer_id.encode() if isinstance(customer_id, str) and customer_id else None


async def process(batch) -> None:
    by_customer: dict[str, list[Consumed]] = defaultdict(list)
    for event in batch:
        for item in await events_of(event):
            by_customer[item.event.customer_id].append(item)

    maybe_written = False
    for event in batch:
        partition, offset = event.message.partition, event.message.offset
        if partition not in _next_offset or _next_offset[partition] != offset:
            maybe_written = True
        _next_offset[partition] = offset + 1

    started = time.perf_counter()
    counting = await count(by_customer)
    # ClickHouse first, table second, ack last: a crash in between replays the batch, and the
    # offsets in the table keep a replayed event from counting twice (journey_state.py).
    refused = await sink().write_events(counting.fresh, maybe_written)
    if refused:  # count again without them (any copy): a journey never counts an event `events` lacks
        await dead_letter_refused(refused)
        left_out = {_key(r.consumed) for r in refused}
        counting = await count({customer_id: [item for item in items if _key(item) not in left_out]
                                for customer_id, items in by_customer.items()})
    await sink().write_projections(counting.fresh, counting.changed)
    WRITE_SECONDS.observe(time.perf_counter() - started)
    await alerts.publish(counting.fresh)  # before the table update: a replayed batch alerts again
    # A customer's table key lives in the partition of their events (see app.py).
    await _changelog.write([(by_customer[customer_id][-1].partition, customer_id.encode(), state.dumps())
                            for customer_id, state in counting.changed.items()])


async def count(by_customer: dict[str, list[Consumed]]) -> BatchCount:
    """The batch counted against the table's states (left unchanged: the changelog writes them)."""
    counting = BatchCount()
    for customer_id, items in by_customer.items():
        counting.add(customer_id, JourneyState.loads(journeys.get(customer_id.encode())), items)
    if counting.unsure:  # customers with long histories: ClickHouse knows their older events
        counting.settle(await sink().repeats(counting.unsure_records()))
    return counting


def _key(item: Consumed) -> tuple[str, str]:
    return item.event.customer_id, item.event.event_id


async def dead_letter_refused(refused: list[RefusedEvent]) -> None:
    """Events ClickHouse refused, each on its own under its customer's key; `journeyline dlq
    replay` sends them again once the cause is fixed."""
    for item in refused:
        event = item.consumed.event
        record = {
            "reason": f"ClickHouse refused the event: {item.reason}",
            "topic": settings.topic_touchpoints, "partition": item.consumed.partition,
            "offset": item.consumed.offset, "customer_id": event.customer_id, "event_id": event.event_id,
            "key": event.customer_id, "value": event.model_dump_json(),
        }
        await dead_letters.send(key=event.customer_id.encode(), value=orjson.dumps(record))
        DEAD_LETTERED.labels(REFUSED_BY_CLICKHOUSE).inc()


def _weight(event) -> int:
    return approx_events(event.message.value)


@app.agent(touchpoints, concurrency=1)
async def build_journeys(stream):
    # A batch closes at about BATCH_SIZE events, however many records hold them.
    async for batch in take_events(stream, settings.batch_size, settings.batch_within_s, _weight):
        await process(batch)
