"""Identity agent: identify calls from journeyline.identities.v1 into `identities` (identities_sink.py)."""
from __future__ import annotations

import functools
import logging

from pydantic import ValidationError

from schemas.identity import RecordedIdentify
from services.common.clickhouse import connect_migrated
from services.common.compat.faust_take import take_events
from services.processors.app import app, settings
from services.processors.identities_sink import IdentitySink, identify_link

log = logging.getLogger("journeyline.identity")

identities = app.topic(
    settings.topic_identities,
    key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
    partitions=settings.topic_partitions,
)


@functools.cache  # one per process, created at start-up (migrates the schema)
def sink() -> IdentitySink:
    return IdentitySink(connect_migrated(settings), settings.sink_max_backoff_s)


async def process(batch) -> None:
    links = []
    for event in batch:
        msg = event.message
        try:
            links.append(identify_link(RecordedIdentify.model_validate_json(msg.value)))
        except (ValidationError, ValueError) as exc:
            # Only ingest writes this topic, with the same model: a bad record is a bug to see in
            # the log, and must not stop the partition.
            log.error("skipped invalid identify %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, exc)
    await sink().write(links)


@app.agent(identities, concurrency=1)
async def record_identities(stream):
    async for batch in take_events(stream, settings.batch_size, settings.batch_within_s):
        await process(batch)
