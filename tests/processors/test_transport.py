"""The transport fixes (services/common/compat/faust_transport.py) against a real broker and aiokafka.

1. Faust's fetch call waits with Faust's live set of active partitions; a rebalance empties that
   set; aiokafka then reads the empty set as "every partition" and hands over (and moves past)
   records of partitions Faust did not ask for, which Faust drops. Here the set is emptied while
   the call waits and a record arrives for the partition that was asked for.
2. Records drained before a seek of their partition are not delivered after it.
3. Stream partitions resumed at the end of a recovery are fetched only once the flow is resumed,
   after Faust has emptied the streams' queues.
4. A stream partition the group never committed is seeked to its beginning.
"""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from types import SimpleNamespace

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP
from kafka.admin import KafkaAdminClient, NewTopic
from mode.utils.queues import FlowControlEvent, FlowControlQueue

from deploy.local_stack import LocalStack, Ports
from services.common.compat.faust_transport import Consumer, ConsumerThread, Records, Transport
from services.processors.app import app


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    stack = LocalStack(tmp_path_factory.mktemp("transport"), Ports.free())
    try:
        stack.start("kafka")
        yield stack.bootstrap_servers
    finally:
        stack.stop()


def thread_of(cls):
    # Only the fetch and seek methods are exercised: they need the Faust consumer's flow flag and
    # read offsets and the request timeout, not a running thread.
    thread = cls.__new__(cls)
    thread.consumer = SimpleNamespace(flow_active=True, _read_offset={},
                                      _is_changelog_tp=lambda tp: tp.topic.endswith("-changelog"))
    thread.app = SimpleNamespace(conf=SimpleNamespace(broker_request_timeout=10.0))
    thread.seek_epochs = Counter()
    return thread


async def fetch_while_a_rebalance_empties_the_set(bootstrap: str, topic: str, thread) -> tuple[dict, int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 2, 1)])
    admin.close()
    asked, other = TopicPartition(topic, 0), TopicPartition(topic, 1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100)
    await producer.start()
    await consumer.start()
    try:
        for i in range(5):
            await producer.send_and_wait(topic, b"changelog-%d" % i, partition=other.partition)
        consumer.assign([asked, other])
        await consumer.seek_to_beginning(asked, other)
        deadline = time.monotonic() + 10
        while other not in consumer._fetcher._records:  # prefetched, as Faust's paused partitions are
            assert time.monotonic() < deadline, "records of the other partition never prefetched"
            await asyncio.sleep(0.05)
        active = {asked}  # Faust's live set, shared with the waiting call
        call = asyncio.ensure_future(thread._fetch_records(consumer, active, timeout=5.0))
        await asyncio.sleep(0.3)
        active.clear()  # the rebalance pauses every partition
        await producer.send_and_wait(topic, b"stream", partition=asked.partition)  # wakes the call
        records = await call
        return {tp.partition: len(batch) for tp, batch in records.items()}, await consumer.position(other)
    finally:
        await consumer.stop()
        await producer.stop()


@pytest.mark.server
def test_faust_alone_hands_over_partitions_it_was_not_asked_for(broker):
    # The bug this module's fix is for, shown on the library's own class.
    got, position = asyncio.run(fetch_while_a_rebalance_empties_the_set(
        broker, "transport-race-faust", thread_of(AIOKafkaConsumerThread)))
    assert got.get(1) == 5 and position == 5


@pytest.mark.server
def test_fixed_thread_returns_only_what_was_asked_for(broker):
    got, position = asyncio.run(fetch_while_a_rebalance_empties_the_set(
        broker, "transport-race-fixed", thread_of(ConsumerThread)))
    assert got == {0: 1}
    assert position == 0, "the other partition's records stay to be read"


def test_an_empty_set_fetches_nothing():
    class Unused:
        @property
        def _fetcher(self):
            raise AssertionError("must not reach aiokafka")

    assert asyncio.run(thread_of(ConsumerThread)._fetch_records(Unused(), set(), timeout=1.0)) == {}


def test_the_processors_app_runs_on_the_fixed_transport():
    assert isinstance(app.transport, Transport)
    assert app.transport.Consumer is Consumer


async def drained_then_seeked(bootstrap: str, topic: str):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 2, 1)])
    admin.close()
    tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100)
    await producer.start()
    await consumer.start()
    try:
        for tp in tps:
            for i in range(3):
                await producer.send_and_wait(topic, b"r%d" % i, partition=tp.partition)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        thread = thread_of(ConsumerThread)
        records = {}
        deadline = time.monotonic() + 10
        while sum(len(v) for v in records.values()) < 6:
            assert time.monotonic() < deadline, records
            batch = await thread._fetch_records(consumer, set(tps), timeout=1.0)
            assert set(batch.epochs) == set(batch) and set(batch.epochs.values()) == {0}
            records.update(batch)
        await thread._seek_wait(consumer, {tps[1]: 0})  # e.g. a recovery seeking back
        return thread, tps, await consumer.position(tps[1])
    finally:
        await consumer.stop()
        await producer.stop()


@pytest.mark.server
def test_a_seek_is_counted_for_its_partition_only(broker):
    thread, (first, second), position = asyncio.run(drained_then_seeked(broker, "transport-seek-count"))
    assert position == 0
    assert thread.seek_epochs == Counter({second: 1})


class FakeConsumer:
    """What Consumer.getmany reads from self, around one fetched batch."""

    def __init__(self, records, active, seek_epochs) -> None:
        self.records, self.active = records, active
        self.app = SimpleNamespace(consumer_generation_id=1,
                                   monitor=SimpleNamespace(track_tp_end_offset=lambda tp, hw: None))
        self.should_stop, self.flow_active = False, True
        self.scheduler = app.conf.ConsumerScheduler()
        self._thread = SimpleNamespace(seek_epochs=seek_epochs)
        self._buffered_partitions = set()

    async def _wait_next_records(self, timeout):
        return self.records, self.active

    def highwater(self, tp):
        return 0

    def _to_message(self, tp, record):
        return record


def test_records_fetched_before_a_seek_of_their_partition_are_not_delivered():
    stream, changelog = TopicPartition("stream", 0), TopicPartition("changelog", 0)
    batch = Records({stream: ["s-1406", "s-1407"], changelog: ["c-3"]})
    batch.epochs = {stream: 0, changelog: 0}
    # The stream partition was seeked back to its committed offset after this batch was drained.
    fake = FakeConsumer(batch, {stream, changelog}, Counter({stream: 1}))

    async def delivered():
        return [message async for _, message in Consumer.getmany(fake, timeout=1.0)]

    assert asyncio.run(delivered()) == ["c-3"]
    fake._thread.seek_epochs = Counter({stream: 1, changelog: 0})
    batch.epochs = {stream: 1, changelog: 0}
    assert sorted(asyncio.run(delivered())) == ["c-3", "s-1406", "s-1407"]


def test_faust_empties_the_streams_queues_when_its_flow_resumes():
    # What fix 3 is for: a record delivered between the end of a recovery's seek and the flow's
    # resume is in a stream's queue, and the resume throws it away.
    async def left_in_queue():
        flow = FlowControlEvent()
        queue = FlowControlQueue(flow_control=flow, clear_on_resume=True)
        flow.resume()
        queue.put_nowait("touchpoints[0]@7")
        flow.resume()  # Recovery.on_recovery_completed, after perform_seek
        return queue.qsize()

    assert asyncio.run(left_in_queue()) == 0


class PartitionsOnly(Consumer):
    """The consumer's partition bookkeeping, without a broker."""

    def __init__(self, assigned: set[TP]) -> None:  # Faust's own needs an app and a transport
        self._active_partitions, self._paused_partitions, self.assigned = set(), set(), assigned
        self.flow_active, self.can_resume_flow, self.suspend_flow = False, asyncio.Event(), asyncio.Event()

    def assignment(self) -> set[TP]:
        return self.assigned

    def _is_changelog_tp(self, tp: TP) -> bool:
        return tp.topic.endswith("-changelog")


def test_stream_partitions_are_fetched_only_once_the_flow_resumes():
    stream, changelog = TP("journeyline.touchpoints.v1", 0), TP("journeys-changelog", 0)
    consumer = PartitionsOnly({stream, changelog})
    consumer.pause_partitions({stream, changelog})  # as an assignment does
    consumer.resume_partitions({changelog})  # a recovery reading the changelog
    assert consumer._active_partitions == {changelog}
    consumer.pause_partitions({changelog})
    consumer.resume_partitions({stream})  # the recovery is over: then perform_seek, then the flow
    assert consumer._active_partitions == set(), "nothing of the stream is fetched before the queues are emptied"
    assert stream in consumer._paused_partitions
    consumer.resume_flow()
    assert consumer._active_partitions == {stream} and consumer._paused_partitions == {changelog}
    assert consumer.flow_active


def test_a_partition_revoked_meanwhile_is_not_resumed():
    kept, revoked = TP("journeyline.touchpoints.v1", 0), TP("journeyline.touchpoints.v1", 1)
    consumer = PartitionsOnly({kept, revoked})
    consumer.resume_partitions({kept, revoked})
    consumer.assigned = {kept}
    consumer.resume_flow()
    assert consumer._active_partitions == {kept}


async def seek_with_and_without_commits(bootstrap: str, topic: str):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 2, 1), NewTopic(f"{topic}-changelog", 1, 1)])
    admin.close()
    committed, never = TopicPartition(topic, 0), TopicPartition(topic, 1)
    changelog = TopicPartition(f"{topic}-changelog", 0)
    tps = [committed, never, changelog]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=f"{topic}-group", enable_auto_commit=False)
    await producer.start()
    await consumer.start()
    try:
        for tp in tps:
            for i in range(3):
                await producer.send_and_wait(tp.topic, b"r%d" % i, partition=tp.partition)
        consumer.assign(tps)
        await consumer.commit({committed: 2})
        await consumer.seek_to_end(*tps)
        thread = thread_of(ConsumerThread)
        offsets = await thread._seek_to_committed_counted(consumer)
        positions = {tp: await consumer.position(tp) for tp in tps}
        return offsets, positions, thread.seek_epochs, tps
    finally:
        await consumer.stop()
        await producer.stop()


@pytest.mark.server
def test_a_stream_partition_never_committed_is_read_from_its_beginning(broker):
    offsets, positions, epochs, (committed, never, changelog) = asyncio.run(
        seek_with_and_without_commits(broker, "transport-never-committed"))
    assert offsets == {committed: 2, never: None, changelog: None}  # what Faust records as committed
    assert positions == {committed: 2, never: 0, changelog: 3}
    assert epochs == Counter({committed: 1, never: 1})
