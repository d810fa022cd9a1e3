"""A table's changed keys written to its changelog as record batches, then set in the table.

`table[key] = value` sends one changelog record through Faust's per-key path (a FutureMessage, the
producer buffer, aiokafka's `send()`): much Python work per changed customer and batch (bench/notes.md,
Pipeline). Here one batch per partition goes out with aiokafka's batch API on Faust's
own producer (services/common/compat/faust_transport.py, `aiokafka_producer`).

Recovery is unchanged: the records are the ones Faust writes (raw key, raw value, no headers) in
the partition Faust's `use_partitioner` picks for the key, which is the partition the key's events
come from (ingest keys them with the same partitioner), and Faust restores the table by reading the
changelog as before. The table is set only once the broker has acknowledged every record
(acks=all), so a batch is never acked on state the changelog does not hold; a failed send is
retried (the same records again: the last value of a key wins).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from faust.types import TP

from services.common.compat.faust_transport import aiokafka_producer

log = logging.getLogger("journeyline.changelog")

Change = tuple[int, bytes, bytes]  # (partition, key, value)


class ChangelogWriter:
    def __init__(self, table, max_backoff_s: float = 10.0) -> None:
        self.table = table
        self.max_backoff_s = max_backoff_s

    async def write(self, changes: Sequence[Change]) -> None:
        """Returns once the broker has acknowledged every change and the table holds them."""
        if not changes:
            return
        topic = self.table.changelog_topic.get_topic_name()
        backoff = 0.2
        while True:
            try:
                last = await self._send(topic, changes)
                break
            except Exception as exc:  # broker trouble: the batch waits, nothing is acked meanwhile
                log.warning("writing %d changes to %s failed (%s); retrying in %.1fs", len(changes), topic,
                            exc or type(exc).__name__, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
        store = self.table.data
        for partition, offset in last.items():  # what a persistent store keeps (no-op in memory)
            store.set_persisted_offset(TP(topic, partition), offset)
        self.table.raw_update({key: value for _, key, value in changes})

    async def _send(self, topic: str, changes: Sequence[Change]) -> dict[int, int]:
        """Sends the changes; returns the offset of the last record per partition."""
        producer = aiokafka_producer(self.table.app)
        by_partition: dict[int, list[Change]] = {}
        for change in changes:
            by_partition.setdefault(change[0], []).append(change)
        sent: list[tuple[int, int, asyncio.Future]] = []  # (partition, records, acked)
        for partition, mine in by_partition.items():
            builder, records = producer.create_batch(), 0
            for _, key, value in mine:
                if builder.append(timestamp=None, key=key, value=value) is None:
                    sent.append((partition, records, await producer.send_batch(builder, topic, partition=partition)))
                    builder, records = producer.create_batch(), 0
                    if builder.append(timestamp=None, key=key, value=value) is None:
                        raise ValueError(f"a change of {len(value)} bytes does not fit in a batch")
                records += 1
            sent.append((partition, records, await producer.send_batch(builder, topic, partition=partition)))
        acks = await asyncio.gather(*(acked for _, _, acked in sent))
        return {partition: ack.offset + records - 1 for (partition, records, _), ack in zip(sent, acks, strict=True)}
