"""Ingest's record batching: the default partitioner's choice, the RecordedEvent bytes, and many
concurrent publishes against the real broker (all acknowledged, gathered into event records, each
customer in order)."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.events import CHANNELS, STAGES, RecordedEvent, TouchpointEvent
from services.common.partitioner import partition_for
from services.ingest.producer import EventProducer, event_json, record_tail
from services.ingest.settings import IngestSettings
from tests.conftest import examples
from tests.topic import TOUCHPOINTS as TOPIC
from tests.topic import TopicEvent, end_offsets, read_events


@settings(max_examples=examples(300), deadline=None)
@given(key=st.binary(min_size=1, max_size=300), count=st.integers(1, 64))
def test_partition_is_the_default_partitioners(key, count):
    from aiokafka.partitioner import DefaultPartitioner

    partitions = list(range(count))
    assert partition_for(key, partitions) == DefaultPartitioner()(key, partitions, partitions)


@settings(max_examples=examples(500), deadline=None)
@given(key=st.binary(max_size=64))
def test_murmur2_is_kafkas(key):
    from aiokafka.partitioner import murmur2 as kafkas

    from services.common.partitioner import murmur2

    assert murmur2(key) == kafkas(key)


@settings(max_examples=examples(200), deadline=None)
@given(keys=st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=30), count=st.integers(1, 64))
def test_key_partitions_are_the_default_partitioners(keys, count):
    from services.common.partitioner import KeyPartitions

    cache = KeyPartitions(set(range(count)))
    for key in keys * 2:  # the second time from the dict
        found = cache.get(key)
        assert (cache.add(key) if found is None else found) == partition_for(key.encode(), list(range(count)))


EVENTS = [
    {"event_id": "b-1", "customer_id": "c-1", "stage": "purchase", "channel": "pos", "touchpoint": "store_1_pos",
     "event": "order_completed", "occurred_at": "2014-03-01T10:00:00.5+01:00", "properties": {"item": "tea", "n": 2},
     "revenue": 4.2, "currency": "EUR", "feedback": {"nps": 3, "comment": "slow \"queue\" ünïcode"}},
    {"event_id": "b-2", "customer_id": "c-2", "stage": "awareness", "channel": "web", "touchpoint": "home",
     "event": "page_viewed", "occurred_at": "2014-03-01T10:00:00Z"},
    {"event_id": "b-3", "customer_id": "c-3", "anonymous_id": "device-9", "stage": "awareness", "channel": "app",
     "touchpoint": "app_home", "event": "app_opened", "occurred_at": "2014-03-01T10:00:00Z"},
]


def test_record_bytes_are_the_recorded_events():
    received_at = datetime(2014, 3, 1, 9, 0, 1, 123456, tzinfo=timezone.utc)
    for raw in EVENTS:
        event = TouchpointEvent.model_validate(raw)
        ours = event.model_dump_json(exclude_none=True).encode()[:-1] + record_tail(received_at, "pos \"1\"")
        theirs = RecordedEvent.model_construct(**event.__dict__, received_at=received_at, source="pos \"1\"")
        assert ours == theirs.model_dump_json(exclude_none=True).encode()
        assert RecordedEvent.model_validate_json(ours) == theirs


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12)
# Whole minutes: RFC 3339 has no seconds in offsets; for a Python datetime with a sub-minute offset
# orjson rounds the offset to the minute and pydantic truncates it.
_OFFSETS = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


@st.composite
def _event_inputs(draw, python: bool) -> dict:
    at = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                           timezones=st.just(timezone.utc) | _OFFSETS))
    values = _JSON
    if python:  # Python callers may hand over objects JSON has no type for
        values = _JSON | st.datetimes(timezones=st.none() | st.just(timezone.utc) | _OFFSETS) | st.dates() \
            | st.uuids() | st.floats()
    raw = {"event_id": draw(st.text(min_size=1, max_size=20)), "stage": draw(st.sampled_from(STAGES)),
           "channel": draw(st.sampled_from(CHANNELS)), "touchpoint": draw(st.text(min_size=1, max_size=10)),
           "event": draw(st.text(min_size=1, max_size=10)),
           "occurred_at": at if python and draw(st.booleans()) else at.isoformat().replace("+00:00", "Z"),
           "properties": draw(st.dictionaries(st.text(max_size=8), values, max_size=5))}
    ids = draw(st.sampled_from([("customer_id",), ("anonymous_id",), ("customer_id", "anonymous_id")]))
    for field in ids:
        raw[field] = draw(st.text(min_size=1, max_size=12).filter(lambda v: not v.startswith("anon:")))
    if draw(st.booleans()):
        raw["revenue"] = draw(st.floats(min_value=0, allow_infinity=False))
    if draw(st.booleans()):
        raw["currency"] = draw(st.sampled_from(["EUR", "usd", "JPY"]))
    if draw(st.booleans()):
        raw["feedback"] = draw(st.fixed_dictionaries({}, optional={
            "nps": st.integers(0, 10), "csat": st.integers(1, 5), "comment": st.text(max_size=10)}))
    return raw


@settings(max_examples=examples(400), deadline=None)
@given(raw=_event_inputs(python=False))
def test_event_json_is_pydantics(raw):
    """orjson's JSON of an event (producer.event_json) is model_dump_json(exclude_none=True)'s."""
    try:
        event = TouchpointEvent.model_validate_json(orjson.dumps(raw, option=orjson.OPT_NON_STR_KEYS))
    except ValidationError:
        return
    assert event_json(event) == event.model_dump_json(exclude_none=True).encode()


@settings(max_examples=examples(400), deadline=None)
@given(raw=_event_inputs(python=True))
def test_event_json_is_pydantics_for_python_input(raw):
    try:
        event = TouchpointEvent.model_validate(raw)
    except ValidationError:
        return
    assert event_json(event) == event.model_dump_json(exclude_none=True).encode()


def test_concurrent_publishes_all_acknowledged_in_order_per_customer(stack):
    settings = IngestSettings(kafka_bootstrap_servers=stack.bootstrap_servers, create_topics=False)

    def batch(b: int) -> list[TouchpointEvent]:
        return [TouchpointEvent.model_validate({
            **EVENTS[1], "event_id": f"batching-{b}-{i}", "customer_id": f"batching-cust-{i % 5}",
            "occurred_at": "2014-03-02T10:00:00Z"}) for i in range(50)]

    async def publish_all() -> list[int]:
        producer = EventProducer(settings)
        try:
            return await asyncio.gather(*(producer.publish(batch(b), "test") for b in range(40)))
        finally:
            await producer.stop()

    since = end_offsets(stack.bootstrap_servers)
    assert asyncio.run(publish_all()) == [50] * 40
    mine = [r for r in read_events(stack.bootstrap_servers, since=since) if r.key.startswith(b"batching-cust-")]
    assert len(mine) == 40 * 50
    # Event records: no key, every event in its own key's partition, many events per record.
    records = {(r.partition, r.offset) for r in mine}
    assert all(r.record_key is None for r in mine) and len(records) < len(mine) / 5
    parts = sorted(end_offsets(stack.bootstrap_servers))
    assert all(r.partition == partition_for(r.key, [tp.partition for tp in parts]) for r in mine)
    for c in range(5):
        records = [r for r in mine if r.key == f"batching-cust-{c}".encode()]
        assert len({r.partition for r in records}) == 1
        ids = [orjson.loads(r.value)["event_id"] for r in records]
        # within each request's batch, a customer's events keep their order
        for b in range(40):
            of_batch = [int(i.rsplit("-", 1)[1]) for i in ids if i.startswith(f"batching-{b}-")]
            assert of_batch == sorted(of_batch) and len(of_batch) == 10


@pytest.mark.parametrize("per_request", [1, 3, 13])
def test_event_records_close_at_their_caps_and_keep_order(stack, per_request):
    from aiokafka import AIOKafkaProducer

    from schemas.records import record_size
    from services.ingest.batching import PartitionBatcher

    received_at = datetime(2007, 5, 1, tzinfo=timezone.utc)
    values = []
    for i in range(60):  # every third event is big: the byte cap closes records too
        event = TouchpointEvent.model_validate({
            **EVENTS[1], "event_id": f"caps-{per_request}-{i}", "customer_id": "caps-cust",
            "occurred_at": "2007-05-01T10:00:00Z", "properties": {"pad": "x" * (700 if i % 3 == 0 else 10)}})
        values.append(event.model_dump_json(exclude_none=True).encode()[:-1] + record_tail(received_at, "test"))
    since = end_offsets(stack.bootstrap_servers)
    partition = partition_for(b"caps-cust", sorted(tp.partition for tp in since))

    async def publish() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap_servers, acks="all")
        await producer.start()
        try:
            batcher = PartitionBatcher(producer, TOPIC, aggregate=True, max_record_events=7, max_record_bytes=2000)
            # appended in one go: nothing is sent before the first await, so the caps alone cut records;
            # one event at a time, or as requests of 13 events do (a record may end inside a request)
            if per_request == 1:
                acked = [batcher.append(partition, None, value) for value in values]
            else:
                acked = [future for i in range(0, len(values), per_request)
                         for future in batcher.extend(partition, values[i:i + per_request])]
            await asyncio.gather(*acked)
        finally:
            await producer.stop()

    asyncio.run(publish())
    mine = [e for e in read_events(stack.bootstrap_servers, since=since) if e.key == b"caps-cust"]
    assert [orjson.loads(e.value)["event_id"] for e in mine] == [f"caps-{per_request}-{i}" for i in range(60)]
    records: dict[int, list[TopicEvent]] = {}
    for e in mine:
        records.setdefault(e.offset, []).append(e)
    assert len(records) >= 60 / 7
    for events in records.values():
        assert 1 <= len(events) <= 7
        assert len(events) == 1 or record_size(sum(len(e.value) for e in events), len(events)) <= 2000
    # Filled greedily, event by event, whatever the requests' sizes
    cut: list[list[bytes]] = [[]]
    for value in values:
        if cut[-1] and (len(cut[-1]) == 7 or record_size(sum(map(len, cut[-1])) + len(value), len(cut[-1]) + 1) > 2000):
            cut.append([])
        cut[-1].append(value)
    assert [len(records[offset]) for offset in sorted(records)] == [len(record) for record in cut]


def test_a_timed_out_request_leaves_the_others_records_alone():
    """Requests appended while a send is in flight share one event record: one of them timing out
    must not cancel the record the others wait for (each gets its own 503 at its own deadline)."""
    from services.ingest.producer import BrokerUnavailable

    class StuckBroker:  # the first send is never acknowledged, later ones at once
        def __init__(self):
            self.sends = 0

        async def partitions_for(self, topic):
            return {0}

        def create_batch(self):
            from aiokafka.producer.message_accumulator import BatchBuilder
            return BatchBuilder(512 * 1024, 0)

        async def send_batch(self, builder, topic, partition):
            self.sends += 1
            future = asyncio.get_running_loop().create_future()
            if self.sends > 1:
                future.set_result(None)
            return future

    class Lazy:
        def __init__(self):
            self.producer = StuckBroker()

        async def get(self):
            return self.producer

    events = [TouchpointEvent.model_validate({**EVENTS[1], "event_id": f"stuck-{i}"}) for i in range(3)]

    async def run() -> list:
        producer = EventProducer(IngestSettings(create_topics=False, produce_timeout_s=0.4))
        producer._producer = Lazy()
        first = asyncio.create_task(producer.publish(events[:1], "test"))  # its send never returns
        await asyncio.sleep(0.1)
        a = asyncio.create_task(producer.publish(events[1:2], "test"))  # both wait behind it, in one record
        await asyncio.sleep(0.2)
        b = asyncio.create_task(producer.publish(events[2:], "test"))
        loop = asyncio.get_running_loop()
        started = loop.time()
        outcomes = await asyncio.gather(first, a, b, return_exceptions=True)
        return [*outcomes, loop.time() - started]

    first, a, b, took = asyncio.run(run())
    assert all(isinstance(outcome, BrokerUnavailable) for outcome in (first, a, b)), (first, a, b)
    assert took >= 0.35  # b waited for its own deadline
