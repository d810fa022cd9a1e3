"""Faust's aiokafka transport with two fixes for fetches that overlap a rebalance.

Faust's fetcher asks its consumer thread for records and the thread waits up to a second for
them; aiokafka's position moves past whatever the thread hands over. Records Faust then does
not deliver are skipped until something seeks back. Two ways this lost records here, both after
a broker restart (the group is joined again). Both are in Faust and aiokafka, not in a broker:
tests/processors/test_transport.py shows the first with Faust's own class on Apache Kafka.
The processors' app is `App` below (services/processors/app.py).

1. The call is given Faust's live set of active partitions, not a copy. A rebalance pauses every
   partition, emptying that set, and aiokafka reads an empty set as "all partitions": the waiting
   call hands over the changelog records a table recovery has just seeked back to, and Faust drops
   them because the changelog is not active yet. Recovery then waits forever ("No event received
   for active tp ... since recovery start"). Fix: fetch for a snapshot of the set taken when the
   call starts; an empty snapshot fetches nothing. Changelog partitions are never in a snapshot
   taken before their recovery started.
2. At the end of a rebalance Faust seeks the stream partitions back to their committed offsets
   and sets its read offsets to match. Records handed over before that seek (from the old, later
   position) but delivered after it look to Faust like a jump ahead: it records the offsets in
   between as a gap and then drops them as already read when they are fetched again. The committed
   offset stays behind them, so they are re-read only after the next restart. Fix: the thread
   counts the seeks of each partition (right after the seek, in its own loop), a batch carries the
   counts at which it was drained, and records of a partition seeked since are not delivered:
   that seek has already moved the position back to where they will be read again.
3. At the end of a recovery Faust resumes the stream partitions, seeks them to their committed
   offsets, and only then resumes its flow control, which empties every stream's queue. Records
   fetched in between were delivered (the position moved past them) and are thrown away unread:
   nothing reads them again before the next restart, and the committed offset stops at the first.
   Fix: stream partitions that are resumed wait until the consumer's flow is resumed, which Faust
   does right after emptying the queues (tables/recovery.py, both ways a recovery ends).
4. Seeking to committed offsets skips partitions that have none, so whatever was drained before
   the seek and then dropped (fix 2, or a partition paused by the rebalance) was not read again
   while a group had not committed yet. Fix: a stream partition without a committed offset is
   seeked to its beginning, where a consumer without one starts (auto_offset_reset=earliest).

Also here: the two reads of the transport's private state that the processors need,
`committed_offsets` (consumer lag, services/processors/web.py) and `aiokafka_producer` (record
batches to the journeys changelog, services/processors/changelog.py).
"""
from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP


class Records(dict):
    """A fetched batch and, per partition, the consumer thread's seek count when it was drained."""

    epochs: Mapping[TP, int] = {}


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.seek_epochs: Counter[TP] = Counter()

    def _seeked(self, partitions: Iterable[TP]) -> None:
        for tp in partitions:
            self.seek_epochs[tp] += 1

    async def _fetch_records(self, consumer: Any, active_partitions: Any, timeout: float | None = None,
                             max_records: int | None = None) -> Records:
        if active_partitions is not None:
            active_partitions = frozenset(active_partitions)
            if not active_partitions:
                return Records()
        records = Records(await super()._fetch_records(
            consumer, active_partitions, timeout=timeout, max_records=max_records))
        # No await since the drain: nothing could seek in between.
        records.epochs = {tp: self.seek_epochs[tp] for tp in records}
        return records

    async def seek_to_committed(self) -> Mapping[TP, int]:
        return await self.call_thread(self._seek_to_committed_counted, self._ensure_consumer())

    async def _seek_to_committed_counted(self, consumer: Any) -> Mapping[TP, int]:
        # aiokafka's seek_to_committed, with every committed offset read before the first seek, so
        # that no drain falls between a seek and its count; and fix 4.
        committed = {tp: await consumer.committed(tp) for tp in consumer.assignment()}
        seeked = [tp for tp, offset in committed.items() if offset and offset > 0]
        for tp in seeked:
            consumer.seek(tp, committed[tp])
        never = [tp for tp, offset in committed.items() if offset is None and not self.consumer._is_changelog_tp(tp)]
        for tp in never:
            consumer.seek(tp, 0)  # before the log start: aiokafka resets to the earliest offset
        self._seeked(seeked + never)
        return committed

    async def _seek_wait(self, consumer: Any, partitions: Mapping[TP, int]) -> None:
        # Faust's own, with the count taken right after the seeks, before waiting for positions.
        for tp, offset in partitions.items():
            consumer.seek(tp, offset)
            if offset > 0:
                self.consumer._read_offset[tp] = offset
            elif tp in self.consumer._read_offset:
                del self.consumer._read_offset[tp]
        self._seeked(partitions)
        await asyncio.wait_for(
            asyncio.gather(*[consumer.position(tp) for tp in partitions]),
            timeout=self.app.conf.broker_request_timeout,
        )

    def seek(self, partition: TP, offset: int) -> None:
        super().seek(partition, offset)
        self._seeked([partition])


class Consumer(faust_aiokafka.Consumer):
    _thread: ConsumerThread
    _resume_with_flow: frozenset[TP] = frozenset()

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def resume_partitions(self, tps: Iterable[TP]) -> None:
        # Fix 3: a stream partition waits for resume_flow; changelog partitions resume at once.
        tps = set(tps)
        streams = {tp for tp in tps if not self._is_changelog_tp(tp)}
        self._resume_with_flow = self._resume_with_flow | streams
        super().resume_partitions(tps - streams)

    def resume_flow(self) -> None:
        super().resume_flow()
        waiting, self._resume_with_flow = self._resume_with_flow, frozenset()
        if waiting:
            super().resume_partitions(waiting & set(self.assignment()))

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        self._resume_with_flow = frozenset()  # a recovery cut short by the next rebalance
        await super().on_partitions_revoked(revoked)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:
        # faust.transport.consumer.Consumer.getmany, plus the seek-count check (fix 2).
        records, active_partitions = await self._wait_next_records(timeout)
        generation_id = self.app.consumer_generation_id
        if records is None or self.should_stop:
            return
        epochs, seeks = getattr(records, "epochs", {}), self._thread.seek_epochs
        records_it = self.scheduler.iterate(records)
        if self.flow_active:
            for tp, record in records_it:
                if not self.flow_active or self.app.consumer_generation_id != generation_id:
                    break
                if tp in epochs and epochs[tp] != seeks[tp]:
                    continue  # fetched before a seek of its partition: read again from there
                if active_partitions is None or tp in active_partitions or tp in self._buffered_partitions:
                    self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                    yield tp, self._to_message(tp, record)
        else:
            try:
                await self.perform_seek()
            except Exception as exc:
                self.log.warning(f"exception performing seek when flow not active {exc}")


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer


class App(faust.App):
    """faust.App on the transport above (the broker URL's scheme is otherwise ignored)."""

    def _new_transport(self) -> Transport:
        return Transport(self.conf.broker_consumer, self)


def committed_offsets(consumer: Any) -> Mapping[TP, int | None]:
    """The offsets the Faust consumer committed, per partition (seeded from the group's at
    assignment); Faust has no public reader of them."""
    return getattr(consumer, "_committed_offset", {})


def aiokafka_producer(app: faust.App) -> Any:
    """The app's aiokafka producer (aiokafka.AIOKafkaProducer), for its batch API
    (`create_batch`, `send_batch`), which Faust's producer does not offer."""
    return app.producer._ensure_producer()
