"""Detractor alerts: which events alert and what an alert holds; the webhook against a real local
HTTP server (answers, errors, silence); and a stack of this file's own with ALERT_NPS_MAX=4 and
ALERT_WEBHOOK_URL set, fed through ingest, its alerts read from the topic with kafka-python."""
from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import clickhouse_connect
import httpx
import pytest
from kafka import KafkaConsumer, TopicPartition

from deploy.local_stack import LocalStack, Ports
from schemas.events import RecordedEvent
from services.common.settings import KafkaSettings
from services.processors.alerts import Webhook, alert_record, detractors
from services.processors.events_sink import Consumed
from tests.conftest import READ_TOKEN, WRITE_KEY, wait_for

UTC = timezone.utc
T0 = datetime(2015, 6, 1, 12, 0, tzinfo=UTC)


def recorded(event_id: str, feedback: dict | None, customer: str = "fb-loop-alert-unit") -> Consumed:
    event = RecordedEvent(event_id=event_id, customer_id=customer, stage="use", channel="store",
                          touchpoint="store_7", event="visit", occurred_at=T0, received_at=T0 + timedelta(seconds=1),
                          feedback=feedback, source="pos")
    return Consumed(event, 0, 0)


def test_detractors_are_nps_at_or_under_the_threshold():
    batch = [recorded("a", {"nps": 6}), recorded("b", {"nps": 7}), recorded("c", {"nps": 0, "comment": "awful"}),
             recorded("d", None), recorded("e", {"csat": 1}), recorded("f", {"comment": "hmm"}),
             recorded("g", {"nps": 10})]
    assert [e.event_id for e in detractors(batch, 6)] == ["a", "c"]
    assert [e.event_id for e in detractors(batch, 0)] == ["c"]
    assert [e.event_id for e in detractors(batch, 10)] == ["a", "b", "c", "g"]


def test_alert_record():
    event = recorded("pos-1", {"nps": 2, "comment": "cold"}).event
    assert alert_record(event, 6, T0 + timedelta(seconds=3)) == {
        "alert_id": "pos-1", "kind": "detractor", "event_id": "pos-1", "customer_id": "fb-loop-alert-unit",
        "occurred_at": "2015-06-01T12:00:00.000Z", "stage": "use", "channel": "store", "touchpoint": "store_7",
        "event": "visit", "nps": 2, "comment": "cold", "threshold": 6, "source": "pos",
        "alerted_at": "2015-06-01T12:00:03.000Z",
    }


class Receiver:
    """A tiny webhook receiver: http.server in a thread; `status` and `delay_s` shape its answers."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.status, self.delay_s = 204, 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(receiver.delay_s)
                receiver.bodies.append({"content_type": self.headers["Content-Type"], **json.loads(body)})
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_webhook_gets_each_alert_and_failures_are_not_fatal(receiver, caplog):
    records = [alert_record(recorded(f"w{n}", {"nps": n}).event, 6, T0) for n in range(1, 5)]

    async def scenario() -> tuple[int, int, int, float]:
        hook = Webhook(receiver.url, timeout_s=0.5)
        hook.post_soon(records[:1])
        await hook.drain()
        receiver.status = 500
        hook.post_soon(records[1:2])
        await hook.drain()
        receiver.status, receiver.delay_s = 204, 2.0  # slower than the timeout
        started = time.monotonic()
        hook.post_soon(records[2:3])
        queued_s = time.monotonic() - started
        await hook.drain()
        unreachable = Webhook("http://127.0.0.1:9/nothing", timeout_s=0.5)
        unreachable.post_soon(records[3:])
        await unreachable.close()
        await hook.close()
        return hook.sent, hook.failed, unreachable.failed, queued_s

    sent, failed, unreachable_failed, queued_s = asyncio.run(scenario())
    assert (sent, failed, unreachable_failed) == (1, 2, 1)
    assert queued_s < 0.1, "posting happens in the background: the stream is never held up"
    assert [b["event_id"] for b in receiver.bodies[:2]] == ["w1", "w2"]
    assert receiver.bodies[0] == {"content_type": "application/json", **records[0]}
    for n in (2, 3, 4):
        assert f"alert webhook POST for w{n} failed" in caplog.text


def read_alerts(bootstrap: str, event_ids: set[str], timeout_s: float) -> dict[str, tuple[bytes, dict, float]]:
    """Alerts for `event_ids` on the alerts topic: event_id -> (key, record, monotonic time read)."""
    topic = KafkaSettings().topic_alerts
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=500)
    found: dict[str, tuple[bytes, dict, float]] = {}
    try:
        wait_for(lambda: bool(consumer.partitions_for_topic(topic)), 30, "alerts topic")
        consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)])
        consumer.seek_to_beginning()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not event_ids <= found.keys():
            for records in consumer.poll(timeout_ms=200).values():
                for r in records:
                    alert = json.loads(r.value)
                    if alert["event_id"] in event_ids:
                        found.setdefault(alert["event_id"], (r.key, alert, time.monotonic()))
    finally:
        consumer.close()
    return found


@pytest.fixture(scope="module")
def alert_stack(tmp_path_factory) -> Iterator[tuple[LocalStack, Receiver]]:
    receiver = Receiver()
    stack = LocalStack(
        tmp_path_factory.mktemp("alerts"), Ports.free(), write_key=WRITE_KEY, read_token=READ_TOKEN,
        extra_env={"TOPIC_PARTITIONS": "2", "BATCH_WITHIN_S": "0.2", "ALERT_NPS_MAX": "4",
                   "ALERT_WEBHOOK_URL": receiver.url, "ALERT_WEBHOOK_TIMEOUT_S": "2"},
    )
    try:
        stack.start("kafka", "clickhouse", "ingest", "processors")
        yield stack, receiver
    finally:
        stack.stop()
        receiver.close()


def post(stack: LocalStack, events: list[dict]) -> None:
    response = httpx.post(f"{stack.ingest_url}/v1/events", json={"events": events},
                          headers={"Authorization": f"Bearer {WRITE_KEY}"}, timeout=30)
    assert response.status_code == 202, response.text


def event(n: int, nps: int | None, customer: str = "fb-loop-alert-a") -> dict:
    return {"event_id": f"fb-loop-alert-{n}", "customer_id": customer, "stage": "use", "channel": "store",
            "touchpoint": "store_7", "event": "visit", "occurred_at": f"2015-06-01T12:00:0{n}Z",
            **({"feedback": {"nps": nps, "comment": f"visit {n}"}} if nps is not None else {})}


@pytest.mark.server
def test_alerts_reach_the_topic_and_the_webhook_within_seconds(alert_stack):
    stack, receiver = alert_stack
    ch = clickhouse_connect.get_client(host="127.0.0.1", port=stack.ports.clickhouse, database="journeyline",
                                       autogenerate_session_id=False, password=stack.clickhouse_password)
    post(stack, [event(0, None)])  # warm-up: the processors own their partitions once it is written
    wait_for(lambda: ch.query("SELECT count() FROM events WHERE event_id = 'fb-loop-alert-0'").result_rows[0][0],
             timeout_s=90, what="warm-up event")
    posted = time.monotonic()
    post(stack, [event(1, 4), event(2, 5), event(3, 0, "fb-loop-alert-b"), event(4, 9)])
    found = read_alerts(stack.bootstrap_servers, {"fb-loop-alert-1", "fb-loop-alert-3"}, timeout_s=15)
    assert found.keys() == {"fb-loop-alert-1", "fb-loop-alert-3"}
    assert max(t for _, _, t in found.values()) - posted < 10, "alerts within a few seconds"
    key, alert, _ = found["fb-loop-alert-3"]
    assert key == b"fb-loop-alert-b"
    assert (alert["nps"], alert["threshold"], alert["comment"], alert["touchpoint"]) == (0, 4, "visit 3", "store_7")
    wait_for(lambda: len(receiver.bodies) >= 2, timeout_s=10, what="webhook posts")

    # Re-sent events are not new: no second alert (a crash replay could make one: at-least-once).
    post(stack, [event(1, 4), event(5, 2)])
    assert read_alerts(stack.bootstrap_servers, {"fb-loop-alert-5"}, timeout_s=15).keys() == {"fb-loop-alert-5"}
    wait_for(lambda: len(receiver.bodies) >= 3, timeout_s=10, what="webhook post")
    time.sleep(1.0)
    assert sorted(b["event_id"] for b in receiver.bodies) == ["fb-loop-alert-1", "fb-loop-alert-3", "fb-loop-alert-5"]
    everything = read_alerts(stack.bootstrap_servers, {f"fb-loop-alert-{n}" for n in range(6)}, timeout_s=3)
    assert sorted(everything) == ["fb-loop-alert-1", "fb-loop-alert-3", "fb-loop-alert-5"]
    ch.close()
