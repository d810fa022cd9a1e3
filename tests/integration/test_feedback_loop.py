"""Closing the loop through the real stack: feedback posted through ingest becomes items in the
API; a status change goes API -> Kafka (journeyline.feedback-status.v1) -> processors ->
ClickHouse and shows in the list, the history and the summary; detractors raise alerts on
journeyline.alerts.v1. This file's customers are "fb-loop-*" and its events are dated 2015."""
from __future__ import annotations

import json
import statistics
import time
from datetime import datetime, timezone

from kafka import KafkaConsumer, TopicPartition

from services.common.settings import KafkaSettings
from tests.conftest import wait_for
from tests.processors.test_alerts import read_alerts

UTC = timezone.utc
TOUCHPOINT = "fb_loop_counter"
YEAR = {"start": "2015-01-01T00:00:00Z", "end": "2016-01-01T00:00:00Z"}


def ev(n: int, customer: str, occurred_at: str, feedback: dict | None) -> dict:
    return {"event_id": f"fb-loop-ev-{n}", "customer_id": f"fb-loop-{customer}", "stage": "use",
            "channel": "store", "touchpoint": TOUCHPOINT, "event": "visit", "occurred_at": occurred_at,
            **({"feedback": feedback} if feedback is not None else {})}


EVENTS = [
    ev(1, "ann", "2015-09-01T10:00:00Z", {"nps": 2, "comment": "Waited 40 minutes"}),  # detractor
    ev(2, "ann", "2015-09-03T10:00:00Z", {"csat": 1}),  # low CSAT
    ev(3, "bob", "2015-09-02T10:00:00Z", {"nps": 9, "comment": "Great barista"}),  # comment only
    ev(4, "bob", "2015-09-04T10:00:00Z", {"nps": 8}),  # not an item
    ev(5, "cy", "2015-09-05T10:00:00.250Z", {"nps": 6, "ces": 2}),  # detractor, low CES
    ev(6, "cy", "2015-09-06T10:00:00Z", None),  # no feedback
]
ITEMS = ["fb-loop-ev-5", "fb-loop-ev-2", "fb-loop-ev-3", "fb-loop-ev-1"]  # newest first


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def items(api, **params) -> list[dict]:
    response = api.get("/v1/feedback", params={"touchpoint": TOUCHPOINT, **YEAR, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def status_records(bootstrap: str, event_id: str, count: int, timeout_s: float = 15) -> list:
    topic = KafkaSettings().topic_feedback_status
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    found = []
    try:
        wait_for(lambda: bool(consumer.partitions_for_topic(topic)), 30, "status topic")
        consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)])
        consumer.seek_to_beginning()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and len(found) < count:
            for records in consumer.poll(timeout_ms=200).values():
                found.extend(r for r in records if json.loads(r.value)["event_id"] == event_id)
    finally:
        consumer.close()
    return found


def test_feedback_loop(stack, ingest, api, clickhouse):
    posted = time.monotonic()
    for batch in (EVENTS, EVENTS[:2]):  # the second batch re-sends two events: still one item each
        response = ingest.post("/v1/events", json={"events": batch})
        assert response.status_code == 202, response.text

    # Detractors (NPS <= 6) alert on the topic within seconds; the rest do not.
    alerts = read_alerts(stack.bootstrap_servers, {"fb-loop-ev-1", "fb-loop-ev-5"}, timeout_s=30)
    assert sorted(alerts) == ["fb-loop-ev-1", "fb-loop-ev-5"]
    assert max(t for _, _, t in alerts.values()) - posted < 15
    # The batch's other events were processed with these: none of them alerted.
    everything = read_alerts(stack.bootstrap_servers, {f"fb-loop-ev-{n}" for n in range(1, 7)}, timeout_s=2)
    assert sorted(everything) == ["fb-loop-ev-1", "fb-loop-ev-5"]
    assert alerts["fb-loop-ev-1"][0] == b"fb-loop-ann" and alerts["fb-loop-ev-1"][1]["nps"] == 2

    wait_for(lambda: [i["event_id"] for i in items(api)] == ITEMS, timeout_s=60, what="feedback items")
    listed = items(api)
    assert [(i["status"], i["history_length"], i["status_changed_at"]) for i in listed] == [("open", 0, None)] * 4
    assert listed[0]["scores"] == {"nps": 6, "csat": None, "ces": 2, "rating": None}
    assert listed[0]["occurred_at"] == "2015-09-05T10:00:00.250Z" and listed[0]["comment"] is None
    assert [i["event_id"] for i in items(api, q="waited")] == ["fb-loop-ev-1"]
    assert [i["event_id"] for i in items(api, max_score=6)] == ["fb-loop-ev-5", "fb-loop-ev-1"]
    first = api.get("/v1/feedback", params={"touchpoint": TOUCHPOINT, **YEAR, "limit": 3}).json()
    second = api.get("/v1/feedback", params={"touchpoint": TOUCHPOINT, **YEAR, "limit": 3,
                                             "cursor": first["next_cursor"]}).json()
    assert [i["event_id"] for i in first["items"] + second["items"]] == ITEMS and second["next_cursor"] is None

    # Not a feedback item: 404 and nothing published.
    assert api.post("/v1/feedback/fb-loop-ev-4/status", json={"status": "resolved"}).status_code == 404

    # Close the loop on ann's detractor: acknowledge, then resolve.
    for status, note in (("acknowledged", "Called Ann"), ("resolved", "Voucher sent")):
        response = api.post("/v1/feedback/fb-loop-ev-1/status", json={"status": status, "note": note})
        assert response.status_code == 202, response.text
        assert response.json() == {"accepted": True}
    response = api.post("/v1/feedback/fb-loop-ev-3/status", json={"status": "acknowledged"})
    assert response.status_code == 202, response.text

    records = status_records(stack.bootstrap_servers, "fb-loop-ev-1", 2)
    assert [r.key for r in records] == [b"fb-loop-ev-1"] * 2
    assert [(json.loads(r.value)["status"], json.loads(r.value)["note"], json.loads(r.value)["who"],
             json.loads(r.value)["customer_id"]) for r in records] == [
        ("acknowledged", "Called Ann", "api", "fb-loop-ann"), ("resolved", "Voucher sent", "api", "fb-loop-ann")]

    def reflected() -> bool:
        by_id = {i["event_id"]: i for i in items(api)}
        return (by_id["fb-loop-ev-1"]["status"], by_id["fb-loop-ev-1"]["history_length"],
                by_id["fb-loop-ev-3"]["status"]) == ("resolved", 2, "acknowledged")

    wait_for(reflected, timeout_s=60, what="status changes in the API")
    ann = {i["event_id"]: i for i in items(api)}["fb-loop-ev-1"]
    assert ann["status_note"] == "Voucher sent"
    history = api.get("/v1/feedback/fb-loop-ev-1/history").json()
    assert history["status"] == "resolved" and history["customer_id"] == "fb-loop-ann"
    assert [(c["status"], c["note"], c["who"]) for c in history["changes"]] == [
        ("acknowledged", "Called Ann", "api"), ("resolved", "Voucher sent", "api")]
    assert ann["status_changed_at"] == history["changes"][1]["changed_at"]
    assert [i["event_id"] for i in items(api, status="open")] == ["fb-loop-ev-5", "fb-loop-ev-2"]
    assert [i["event_id"] for i in items(api, status="resolved")] == ["fb-loop-ev-1"]

    # The figures, from the history the API returned: medians of (first change - occurred_at).
    bob = api.get("/v1/feedback/fb-loop-ev-3/history").json()["changes"]
    to_ack = [(ms(history["changes"][0]["changed_at"]) - ms(EVENTS[0]["occurred_at"])) / 1000,
              (ms(bob[0]["changed_at"]) - ms(EVENTS[2]["occurred_at"])) / 1000]
    to_resolve = (ms(history["changes"][1]["changed_at"]) - ms(EVENTS[0]["occurred_at"])) / 1000
    summary = api.get("/v1/feedback/summary", params={"start": "2015-09-01T00:00:00Z",
                                                      "end": "2015-09-08T00:00:00Z"}).json()
    assert summary["items"] == 4 and (summary["open"], summary["acknowledged"], summary["resolved"]) == (2, 1, 1)
    assert summary["acknowledged_items"] == 2 and summary["resolved_items"] == 1
    assert summary["median_time_to_acknowledge_s"] == statistics.median(to_ack)
    assert summary["median_time_to_resolve_s"] == to_resolve
    assert {"touchpoint": TOUCHPOINT, "open_items": 2} in summary["open_by_touchpoint"]

    # Repeat issues as of mid-September 2015: ann has two low scores (bob's comment does not count).
    repeat = api.get("/v1/customers/repeat-issues",
                     params={"as_of": "2015-09-15T00:00:00Z", "days": 30, "min_items": 2}).json()
    mine = [c for c in repeat["customers"] if c["customer_id"].startswith("fb-loop-")]
    assert [(c["customer_id"], c["items"], [i["event_id"] for i in c["feedback"]]) for c in mine] == [
        ("fb-loop-ann", 2, ["fb-loop-ev-2", "fb-loop-ev-1"])]
    assert clickhouse.query("SELECT count() FROM feedback_status_history WHERE event_id LIKE 'fb-loop-%'"
                            ).result_rows[0][0] == 3
