"""The whole path for real: HTTP -> Kafka -> Faust -> ClickHouse -> query API."""
from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import orjson
from kafka import KafkaConsumer, KafkaProducer

from schemas.events import STAGES
from tests.conftest import wait_for

T0 = datetime(2026, 10, 1, tzinfo=timezone.utc)
WINDOW = 7 * 24 * 3600


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def make_events(seed: int = 11, customers: int = 160) -> list[dict]:
    rng = random.Random(seed)
    events = []
    for c in range(customers):
        cid = f"e2e-cust-{c:04d}"
        depth = rng.randint(1, 6)
        t = T0 + timedelta(hours=rng.randint(0, 24 * 40))
        for k in range(depth):
            for _ in range(rng.randint(1, 2)):
                # Steps of hours to days: some paths leave the 7-day window; ties on purpose.
                t = t + timedelta(minutes=rng.choice([0, 0, 30, 600, 3000, 6000]))
                events.append({
                    "event_id": f"e2e-{c}-{len(events)}", "customer_id": cid, "stage": STAGES[k],
                    "channel": rng.choice(["web", "app", "pos", "store"]), "touchpoint": "e2e_site",
                    "event": f"{STAGES[k]}_event", "occurred_at": iso(t),
                    "properties": {"n": len(events)},
                    **({"revenue": 12.5, "currency": "EUR"} if STAGES[k] == "purchase" else {}),
                    **({"feedback": {"nps": rng.randint(0, 10), "comment": "ok"}} if k == 5 else {}),
                })
        # A late POS sync: an earlier stage event arriving after the later ones.
        if depth >= 3 and rng.random() < 0.3:
            events.append({**events[-1], "event_id": f"e2e-{c}-late", "stage": "awareness",
                           "occurred_at": iso(t - timedelta(days=2)), "event": "late_sync"})
    return events


def reached(levels_events: list[tuple[datetime, int]], start, end, window) -> int:
    """Deepest stage step any path reaches (independent of the API's SQL)."""
    best = 0
    for t1, s1 in levels_events:
        if s1 != 0 or not (start <= t1 < end):
            continue
        level, prev = 1, t1
        for k in range(1, 6):
            nxt = [t for t, s in levels_events if s == k and prev <= t <= t1 + timedelta(seconds=window)]
            if not nxt:
                break
            prev, level = min(nxt), k + 1
        best = max(best, level)
    return best


def test_end_to_end(stack, ingest, api, clickhouse):
    events = make_events()
    rng = random.Random(5)
    duplicates = rng.sample(events, 150)
    shuffled = events + duplicates
    rng.shuffle(shuffled)  # out-of-order arrival, duplicates across and within batches
    for i in range(0, len(shuffled), 200):
        response = ingest.post("/v1/events", json={"events": shuffled[i:i + 200]})
        assert response.status_code == 202, response.text
    assert len(shuffled) >= 1000

    unique = {e["event_id"]: e for e in events}
    mine = "customer_id LIKE 'e2e-cust-%'"  # the stack is shared with other test files
    wait_for(lambda: clickhouse.query(f"SELECT count() FROM events FINAL WHERE {mine}").result_rows[0][0]
             >= len(unique), what="all events in ClickHouse")
    assert clickhouse.query(f"SELECT count(), uniqExact(event_id) FROM events FINAL WHERE {mine}").result_rows[0] == (
        len(unique), len(unique))

    by_customer: dict[str, list[dict]] = defaultdict(list)
    for e in unique.values():
        by_customer[e["customer_id"]].append(e)

    # Projection: one journey per customer with the right counts, nothing doubled.
    wait_for(lambda: clickhouse.query(f"SELECT count() FROM journeys FINAL WHERE {mine}").result_rows[0][0]
             == len(by_customer), what="journey projection")
    projected = dict(clickhouse.query(f"SELECT customer_id, events FROM journeys FINAL WHERE {mine}").result_rows)
    assert projected == {c: len(v) for c, v in by_customer.items()}

    # Stage funnel over the API equals the independent computation.
    start, end = T0, T0 + timedelta(days=30)
    expected = [0] * 6
    for evs in by_customer.values():
        pairs = [(datetime.fromisoformat(e["occurred_at"]), STAGES.index(e["stage"])) for e in evs]
        for k in range(reached(pairs, start, end, WINDOW)):
            expected[k] += 1
    response = api.get("/v1/funnels/stages",
                       params={"start": iso(start), "end": iso(end), "window_seconds": WINDOW})
    assert response.status_code == 200, response.text
    steps = response.json()["stages"]
    assert [s["stage"] for s in steps] == list(STAGES)
    assert [s["customers"] for s in steps] == expected
    assert expected[0] > expected[-1] > 0
    assert steps[1]["conversion_from_previous"] == round(expected[1] / expected[0], 4) or abs(
        steps[1]["conversion_from_previous"] - expected[1] / expected[0]) < 1e-6

    # One customer's journey: every unique event once, in time order, stages summarised.
    cid = max(by_customer, key=lambda c: len(by_customer[c]))
    journey = api.get(f"/v1/customers/{cid}/journey").json()
    theirs = sorted(by_customer[cid], key=lambda e: (e["occurred_at"], STAGES.index(e["stage"]), e["event_id"]))
    assert [e["event_id"] for e in journey["events"]] == [e["event_id"] for e in theirs]
    latest = max(theirs, key=lambda e: (datetime.fromisoformat(e["occurred_at"]), STAGES.index(e["stage"])))
    assert journey["current_stage"] == latest["stage"]
    counts = defaultdict(int)
    for e in theirs:
        counts[e["stage"]] += 1
    assert {s["stage"]: s["events"] for s in journey["stages"]} == counts
    assert api.get("/v1/customers/nobody-here/journey").status_code == 404


def test_unprocessable_record_goes_to_dead_letter_and_agent_keeps_going(stack, ingest, clickhouse):
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap_servers, acks="all")
    producer.send("journeyline.touchpoints.v1", key=b"dlq-cust", value=b'{"event_id": "broken"').get(10)
    producer.send("journeyline.touchpoints.v1", key=b"dlq-cust",
                  value=orjson.dumps({"event_id": "x", "customer_id": "dlq-cust", "stage": "nope"})).get(10)
    producer.close()
    after = {"event_id": "after-dlq", "customer_id": "dlq-cust", "stage": "awareness", "channel": "web",
             "touchpoint": "t", "event": "e", "occurred_at": "2026-11-01T00:00:00Z"}
    assert ingest.post("/v1/events", json={"events": [after]}).status_code == 202

    consumer = KafkaConsumer("journeyline.touchpoints.dlq", bootstrap_servers=stack.bootstrap_servers,
                             auto_offset_reset="earliest", consumer_timeout_ms=1000)
    found: list[dict] = []

    def dead_letters_arrived() -> bool:
        found.extend(orjson.loads(r.value) for r in consumer)
        return len([f for f in found if f["key"] == "dlq-cust"]) >= 2

    wait_for(dead_letters_arrived, what="dead letters")
    consumer.close()
    reasons = [f["reason"] for f in found if f["key"] == "dlq-cust"]
    assert any("undecodable" in r or "json" in r.lower() for r in reasons)
    assert any("stage" in r for r in reasons)
    wait_for(lambda: clickhouse.query(
        "SELECT count() FROM events WHERE event_id = {id:String}", parameters={"id": "after-dlq"}
    ).result_rows[0][0] == 1, what="event after the dead letters")
