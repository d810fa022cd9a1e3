"""Event records (schemas/records.py) on the real stack: ingest -> topic -> processors -> ClickHouse
exactly once; an invalid event inside an event record dead-lettered alone while the others go on; a
single-event record still processed; `journeyline dlq list|replay` with both shapes.

Customers "rec7-*", events in 2007 (this file's share of the session stack).
"""
from __future__ import annotations

import time

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer

from schemas.records import encode
from services.cli.__main__ import main
from services.common.partitioner import partition_for
from services.common.settings import KafkaSettings
from tests.conftest import wait_for
from tests.topic import TOUCHPOINTS, end_offsets, read_events

DLQ = KafkaSettings().topic_dead_letter


def touchpoint(event_id: str, customer_id: str, **changes) -> dict:
    return {"event_id": event_id, "customer_id": customer_id, "stage": "consideration", "channel": "web",
            "touchpoint": "records_test", "event": "viewed", "occurred_at": "2007-06-01T10:00:00Z", **changes}


def recorded(event_id: str, customer_id: str, **changes) -> dict:
    return {**touchpoint(event_id, customer_id), "received_at": "2007-06-01T10:00:01Z", "source": "records",
            **changes}


def rows(clickhouse, prefix: str) -> list[tuple]:
    # Physical rows, not FINAL: a second copy would show here.
    return clickhouse.query(
        "SELECT event_id, kafka_partition, kafka_offset FROM events WHERE startsWith(customer_id, {p:String}) "
        "ORDER BY event_id", parameters={"p": prefix}).result_rows


def partition_of(stack, key: bytes) -> int:
    return partition_for(key, sorted(tp.partition for tp in end_offsets(stack.bootstrap_servers)))


def dead_letters_of(stack, key: str) -> list[dict]:
    consumer = KafkaConsumer(DLQ, bootstrap_servers=stack.bootstrap_servers, auto_offset_reset="earliest",
                             consumer_timeout_ms=1500, enable_auto_commit=False)
    try:
        return [orjson.loads(r.value) for r in consumer if r.key == key.encode()]
    finally:
        consumer.close()


def test_ingest_writes_event_records_the_processors_count_once(stack, ingest, clickhouse):
    batch = [touchpoint(f"rec7-a-{i:02d}", f"rec7-a-cust-{i % 12}") for i in range(60)]
    since = end_offsets(stack.bootstrap_servers)
    assert ingest.post("/v1/events", json={"events": batch}).status_code == 202
    added = [e for e in read_events(stack.bootstrap_servers, since=since) if e.key.startswith(b"rec7-a-")]
    assert sorted(orjson.loads(e.value)["event_id"] for e in added) == [e["event_id"] for e in batch]
    records = {(e.partition, e.offset) for e in added}
    assert len(records) <= len(since) and all(e.record_key is None for e in added)  # one per partition at most
    assert ingest.post("/v1/events", json={"events": batch}).status_code == 202  # a client's retry

    wait_for(lambda: len(rows(clickhouse, "rec7-a-")) >= 60, what="the batch in ClickHouse")
    time.sleep(1.5)  # the retry's records processed too
    landed = rows(clickhouse, "rec7-a-")
    assert [r[0] for r in landed] == [e["event_id"] for e in batch]  # each once
    by_id = {orjson.loads(e.value)["event_id"]: (e.partition, e.offset) for e in added}
    assert all(by_id[event_id] == (partition, offset) for event_id, partition, offset in landed)
    journeys = clickhouse.query("SELECT customer_id, events FROM journeys FINAL WHERE startsWith(customer_id, "
                                "'rec7-a-')").result_rows
    assert sorted(journeys) == sorted((f"rec7-a-cust-{c}", 5) for c in range(12))


@pytest.fixture(scope="module")
def mixed_records(stack):
    """An event record with an invalid event in the middle, then a single-event record, straight to the topic."""
    customer = "rec7-b-cust"
    partition = partition_of(stack, customer.encode())
    events = [recorded("rec7-b-0", customer), recorded("rec7-b-1", customer, stage="browsing"),
              recorded("rec7-b-2", customer, stage="purchase")]
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap_servers, acks="all")
    try:
        record = producer.send(TOUCHPOINTS, value=encode([orjson.dumps(e) for e in events]),
                               partition=partition).get(timeout=30)
        single = producer.send(TOUCHPOINTS, key=customer.encode(),
                               value=orjson.dumps(recorded("rec7-b-3", customer, stage="use"))).get(timeout=30)
    finally:
        producer.close()
    return customer, partition, record.offset, single.offset, events[1]


def test_invalid_event_in_an_event_record_is_dead_lettered_alone(stack, clickhouse, mixed_records):
    customer, partition, offset, single_offset, invalid = mixed_records
    wait_for(lambda: len(rows(clickhouse, "rec7-b-")) == 3, what="the valid events in ClickHouse")
    assert rows(clickhouse, "rec7-b-") == [("rec7-b-0", partition, offset), ("rec7-b-2", partition, offset),
                                           ("rec7-b-3", partition, single_offset)]
    wait_for(lambda: dead_letters_of(stack, customer), what="the dead letter")
    [letter] = dead_letters_of(stack, customer)
    assert letter["reason"].startswith("invalid event: stage: Input should be")
    assert (letter["topic"], letter["partition"], letter["offset"], letter["index"]) == (
        TOUCHPOINTS, partition, offset, 1)
    assert letter["key"] == customer and orjson.loads(letter["value"]) == invalid  # the event alone
    assert clickhouse.query("SELECT current_stage, events FROM journeys FINAL WHERE customer_id = {c:String}",
                            parameters={"c": customer}).result_rows == [("use", 3)]


@pytest.fixture
def cli(stack, monkeypatch, capsys):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", stack.bootstrap_servers)
    monkeypatch.setenv("COLUMNS", "240")

    def run(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main(list(argv))
        return code, capsys.readouterr().out

    return run


def test_dlq_lists_and_replays_both_shapes(stack, clickhouse, mixed_records, cli):
    customer, partition, offset, _, _ = mixed_records
    wait_for(lambda: dead_letters_of(stack, customer), what="the processor's dead letter")
    # A whole event record refused under a rule since relaxed, put back by hand: two events now valid, one not.
    whole = [recorded("rec7-c-0", "rec7-c-cust-0"), recorded("rec7-c-1", "rec7-c-cust-1"),
             recorded("rec7-c-2", "rec7-c-cust-0", channel="fax")]
    envelope = {"reason": "refused by an old rule", "topic": TOUCHPOINTS, "partition": 0, "offset": 0,
                "key": "", "value": encode([orjson.dumps(e) for e in whole]).decode()}
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap_servers, acks="all")
    try:
        producer.send(DLQ, key=b"rec7-c-record", value=orjson.dumps(envelope)).get(timeout=30)
    finally:
        producer.close()

    code, out = cli("dlq", "list", "--json")
    letters = {d["key"]: d for d in orjson.loads(out) if d["key"] in (customer, "rec7-c-record")}
    assert code == 0 and set(letters) == {customer, "rec7-c-record"}
    assert (letters[customer]["source_partition"], letters[customer]["source_offset"],
            letters[customer]["source_index"]) == (partition, offset, 1)
    assert letters["rec7-c-record"]["source_index"] is None
    code, table = cli("dlq", "list")
    assert f"{partition}@{offset}#1" in table

    code, out = cli("dlq", "replay", "--json")
    report = orjson.loads(out)
    replayed = sorted(d["event_id"] for d in report["replayed"] if d["key"] in letters)
    invalid = sorted((d["key"], d["error"]) for d in report["invalid"] if d["key"] in letters)
    assert code == 0 and replayed == ["rec7-c-0", "rec7-c-1"]
    assert [k for k, _ in invalid] == [customer, "rec7-c-record"]
    assert invalid[0][1].startswith("stage: Input should be") and invalid[1][1].startswith("event 2: channel:")
    wait_for(lambda: len(rows(clickhouse, "rec7-c-")) == 2, what="the replayed events in ClickHouse")
    time.sleep(1.0)
    assert [r[0] for r in rows(clickhouse, "rec7-c-")] == ["rec7-c-0", "rec7-c-1"]
