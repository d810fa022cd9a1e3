"""`journeyline dlq list|replay` on the real stack.

Two records the processor dead-letters itself (bytes that are not JSON; an event without the
ingest stamp `received_at`), and a valid event put on the dead-letter topic by hand, as if the
processor had refused it under a rule since relaxed. Customers "dlq2-*", events in 2017.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from services.cli.__main__ import main
from services.common.settings import KafkaSettings
from services.processors import dead_letters as dead_letters_module
from services.processors.dead_letters import list_dead_letters
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = KafkaSettings()  # topic names only; the broker address comes from the stack
UNSTAMPED = {"event_id": "dlq2-u-1", "customer_id": "dlq2-unstamped", "stage": "use", "channel": "app",
             "touchpoint": "dlq_test", "event": "opened", "occurred_at": "2017-03-04T05:06:07.000Z"}
VALID = {"event_id": "dlq2-v-1", "customer_id": "dlq2-valid", "stage": "purchase", "channel": "pos",
         "touchpoint": "dlq_test", "event": "paid", "occurred_at": "2017-03-04T06:00:00.000Z",
         "received_at": "2017-03-04T06:00:01.000Z", "source": "pos", "revenue": 3.5, "currency": "EUR"}
KEYS = {"dlq2-broken", "dlq2-unstamped", "dlq2-valid"}


@pytest.fixture(scope="module")
def dead_letters(stack):
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap_servers, acks="all")
    try:
        producer.send(SETTINGS.topic_touchpoints, key=b"dlq2-broken", value=b"{\"event_id\": oops")
        producer.send(SETTINGS.topic_touchpoints, key=b"dlq2-unstamped", value=orjson.dumps(UNSTAMPED))
        envelope = {"reason": "refused by an old rule", "topic": SETTINGS.topic_touchpoints, "partition": 0,
                    "offset": 0, "key": "dlq2-valid", "value": orjson.dumps(VALID).decode()}
        producer.send(SETTINGS.topic_dead_letter, key=b"dlq2-valid", value=orjson.dumps(envelope))
        producer.flush(timeout=30)
    finally:
        producer.close()
    settings = KafkaSettings(kafka_bootstrap_servers=stack.bootstrap_servers)
    wait_for(lambda: KEYS <= {d.key for d in list_dead_letters(settings)}, what="the three dead letters")


@pytest.fixture
def cli(stack, monkeypatch, capsys):
    """Run `journeyline ...` in-process against the stack; returns (exit code, stdout)."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", stack.bootstrap_servers)
    monkeypatch.setenv("COLUMNS", "240")  # rich tables: room for whole reasons

    def run(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main(list(argv))
        return code, capsys.readouterr().out

    return run


def mine(records: list[dict]) -> dict[str, dict]:
    return {r["key"]: r for r in records if r["key"] in KEYS}


def keyed_on_touchpoints(stack, key: bytes) -> int:
    """Records with this key on the touchpoint topic, read end to end."""
    consumer = KafkaConsumer(bootstrap_servers=stack.bootstrap_servers, enable_auto_commit=False)
    try:
        parts = [TopicPartition(SETTINGS.topic_touchpoints, p)
                 for p in consumer.partitions_for_topic(SETTINGS.topic_touchpoints)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end, found = consumer.end_offsets(parts), 0
        while any(consumer.position(tp) < end[tp] for tp in parts):
            for messages in consumer.poll(timeout_ms=500).values():
                found += sum(1 for m in messages if m.key == key)
        return found
    finally:
        consumer.close()


def valid_rows(clickhouse) -> int:
    # Physical rows, not FINAL: a second copy would show here.
    return clickhouse.query("SELECT count() FROM events WHERE customer_id = 'dlq2-valid'").result_rows[0][0]


def test_list_shows_dead_letters_with_reasons(stack, dead_letters, cli):
    done = subprocess.run([sys.executable, "-m", "services.cli", "dlq", "list", "--json"], env=stack.env(),
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    letters = mine(orjson.loads(done.stdout))
    assert set(letters) == KEYS and all(d["pending"] for d in letters.values())
    assert "Invalid JSON" in letters["dlq2-broken"]["reason"]
    assert letters["dlq2-unstamped"]["reason"] == "invalid event: received_at: Field required"
    assert letters["dlq2-unstamped"]["source_topic"] == SETTINGS.topic_touchpoints
    assert orjson.loads(letters["dlq2-unstamped"]["value"]) == UNSTAMPED

    code, table = cli("dlq", "list", "--limit", "50")
    assert code == 0
    assert "dlq2-broken" in table and "received_at: Field required" in table and "refused by an old rule" in table
    code, out = cli("dlq", "list", "--limit", "1", "--json")
    assert code == 0 and len(orjson.loads(out)) == 1


def test_replay_republishes_valid_dead_letters_once(stack, dead_letters, cli, clickhouse):
    code, out = cli("dlq", "replay", "--dry-run")
    assert code == 0 and "would re-publish" in out
    assert "dlq2-valid" in out and "event_id dlq2-v-1" in out and "received_at: Field required" in out
    time.sleep(1.5)  # what a real replay would have published would be processed by now
    assert valid_rows(clickhouse) == 0 and keyed_on_touchpoints(stack, b"dlq2-valid") == 0
    code, out = cli("dlq", "list", "--json")
    assert all(d["pending"] for d in mine(orjson.loads(out)).values())  # the dry run committed nothing

    code, out = cli("dlq", "replay", "--json")
    report = orjson.loads(out)
    assert code == 0 and not report["dry_run"]
    assert [(d["key"], d["event_id"]) for d in report["replayed"] if d["key"] in KEYS] == [("dlq2-valid", "dlq2-v-1")]
    invalid = mine(report["invalid"])
    assert set(invalid) == {"dlq2-broken", "dlq2-unstamped"}
    assert invalid["dlq2-unstamped"]["error"] == "received_at: Field required"
    assert "Invalid JSON" in invalid["dlq2-broken"]["error"]
    wait_for(lambda: valid_rows(clickhouse) == 1, what="the replayed event in ClickHouse")

    code, out = cli("dlq", "replay", "--json")
    again = orjson.loads(out)
    assert code == 0 and not mine(again["replayed"]) and not mine(again["invalid"])
    code, out = cli("dlq", "list", "--json")
    assert not any(d["pending"] for d in mine(orjson.loads(out)).values())
    assert keyed_on_touchpoints(stack, b"dlq2-valid") == 1
    time.sleep(1.0)
    assert valid_rows(clickhouse) == 1
    assert clickhouse.query("SELECT current_stage, events FROM journeys FINAL WHERE customer_id = 'dlq2-valid'"
                            ).result_rows == [("purchase", 1)]


def test_unreachable_broker_is_a_message(monkeypatch, capsys):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setattr(dead_letters_module, "CONNECT_TIMEOUT_S", 1.0)
    assert main(["dlq", "list"]) == 1
    assert capsys.readouterr().err.startswith("journeyline dlq: Kafka at 127.0.0.1:1")
