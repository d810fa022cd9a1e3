"""Faust's aiokafka transport with one fix: an in-flight fetch never widens to every partition.

Faust's fetcher asks its consumer thread for records of the partitions it wants
(`Consumer._active_partitions`), passing that set itself, not a copy, and the thread waits up to a
second for records. A rebalance meanwhile pauses every partition, emptying that set, and aiokafka's
`fetched_records` reads an empty set as "all partitions". If the table recovery has just seeked
the changelog back to the start, the waiting call then hands over the changelog records (aiokafka's
position moves to the end), and Faust drops them because the changelog is not active yet.
Recovery then waits forever for records it will never be sent: "No event received for active tp
... since recovery start". It needs a rebalance that completes while a fetch waits, which a broker
restart brings about (the group is joined again), on Apache Kafka as on the local stand-in.

The fix: the thread works on a snapshot of the set taken when the call starts, and an empty
snapshot fetches nothing. Records of a partition paused during the wait may still be handed over
and dropped, as before; for stream partitions that is harmless (they are seeked back to the
committed offset when the rebalance completes), and changelog partitions are never in a snapshot
taken before their recovery started.
"""
from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    async def _fetch_records(self, consumer: Any, active_partitions: Any, timeout: float | None = None,
                             max_records: int | None = None) -> Any:
        if active_partitions is not None:
            active_partitions = frozenset(active_partitions)
            if not active_partitions:
                return {}
        return await super()._fetch_records(consumer, active_partitions, timeout=timeout, max_records=max_records)


class Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer


class App(faust.App):
    """faust.App on the transport above (the broker URL's scheme is otherwise ignored)."""

    def _new_transport(self) -> Transport:
        return Transport(self.conf.broker_consumer, self)
