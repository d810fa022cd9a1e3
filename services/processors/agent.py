"""Journey agent: decode a batch, update journey state once per customer, write, then ack."""
from __future__ import annotations

import logging
from collections import defaultdict

import orjson
from pydantic import ValidationError

from schemas.events import RecordedEvent
from services.common.clickhouse import connect_migrated
from services.processors import alerts
from services.processors.app import app, dead_letters, journeys, settings, touchpoints
from services.processors.changelog import ChangelogWriter
from services.processors.journey import BatchCount, JourneyState
from services.processors.metrics import DEAD_LETTERED
from services.processors.sink import ClickHouseSink, Consumed

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


def decode(value: bytes) -> RecordedEvent:
    return RecordedEvent.model_validate_json(value)


async def dead_letter(event, kind: str, reason: str) -> None:
    msg = event.message
    record = {
        "reason": reason,
        "topic": msg.topic, "partition": msg.partition, "offset": msg.offset,
        "key": (msg.key or b"").decode(errors="replace"),
        "value": (msg.value or b"").decode(errors="replace"),
    }
    await dead_letters.send(key=msg.key, value=orjson.dumps(record))
    DEAD_LETTERED.labels(kind).inc()
    log.warning("dead-lettered %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, reason)


async def process(batch) -> None:
    by_customer: dict[str, list[Consumed]] = defaultdict(list)
    for event in batch:
        try:
            decoded = decode(event.message.value)
        except ValidationError as exc:
            await dead_letter(event, "invalid_event", "invalid event: " + "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors()))
            continue
        except Exception as exc:  # undecodable bytes must not stop the partition
            await dead_letter(event, "undecodable", f"undecodable record: {exc}")
            continue
        by_customer[decoded.customer_id].append(
            Consumed(decoded, event.message.partition, event.message.offset))

    maybe_written = False
    for event in batch:
        partition, offset = event.message.partition, event.message.offset
        if partition not in _next_offset or _next_offset[partition] != offset:
            maybe_written = True
        _next_offset[partition] = offset + 1

    counting = BatchCount()
    for customer_id, items in by_customer.items():
        counting.add(customer_id, JourneyState.loads(journeys.get(customer_id.encode())), items)
    if counting.unsure:  # customers with long histories: ClickHouse knows their older events
        counting.settle(await sink().repeats(counting.unsure_records()))
    fresh = counting.fresh
    # ClickHouse first, table second, ack last: a crash in between replays the batch, and the
    # offsets in the table keep a replayed event from counting twice (journey.py).
    await sink().write(fresh, counting.changed, maybe_written)
    await alerts.publish(fresh)  # before the table update: a replayed batch alerts again
    # A customer's table key lives in the partition of their events (see app.py).
    await _changelog.write([(by_customer[customer_id][-1].partition, customer_id.encode(), state.dumps())
                            for customer_id, state in counting.changed.items()])


@app.agent(touchpoints, concurrency=1)
async def build_journeys(stream):
    async for batch in stream.take_events(settings.batch_size, within=settings.batch_within_s):
        await process(batch)
