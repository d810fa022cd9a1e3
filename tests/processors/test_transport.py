"""The consumer-thread fix (services/processors/transport.py) against a real broker and aiokafka.

The race it closes: Faust's fetch call waits with Faust's live set of active partitions; a
rebalance empties that set; aiokafka then reads the empty set as "every partition" and hands over
(and moves past) records of partitions Faust did not ask for, which Faust drops. Here the set is
emptied while the call waits and a record arrives for the partition that was asked for.
"""
from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from kafka.admin import KafkaAdminClient, NewTopic

from deploy.local_stack import LocalStack, Ports
from services.processors.app import app
from services.processors.transport import Consumer, ConsumerThread, Transport


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    stack = LocalStack(tmp_path_factory.mktemp("transport"), Ports.free())
    try:
        stack.start("kafka")
        yield stack.bootstrap_servers
    finally:
        stack.stop()


def thread_of(cls):
    # Only _fetch_records is exercised: it needs the Faust consumer's flow flag, nothing else.
    thread = cls.__new__(cls)
    thread.consumer = type("FaustConsumer", (), {"flow_active": True})()
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


def test_faust_alone_hands_over_partitions_it_was_not_asked_for(broker):
    # The bug this module's fix is for, shown on the library's own class.
    got, position = asyncio.run(fetch_while_a_rebalance_empties_the_set(
        broker, "transport-race-faust", thread_of(AIOKafkaConsumerThread)))
    assert got.get(1) == 5 and position == 5


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
