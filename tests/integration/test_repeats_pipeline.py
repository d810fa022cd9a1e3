"""A client sending an event again, long after: counted once, written once, through the real stack.

The journey state keeps only the keys of a customer's last RECENT_KEYS events
(services/processors/journey_state.py); beyond that ClickHouse tells a repeat from a new event.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from services.processors.journey_state import RECENT_KEYS
from tests.conftest import wait_for

T0 = datetime(2007, 3, 1, tzinfo=timezone.utc)
LONG, SHORT = "rep-cust-long", "rep-cust-short"


def event(customer: str, n: int, stage: str = "use", minutes: int | None = None) -> dict:
    at = T0 + timedelta(minutes=n if minutes is None else minutes)
    return {"event_id": f"{customer}-{n}", "customer_id": customer, "stage": stage, "channel": "app",
            "touchpoint": "rep_app", "event": "opened", "occurred_at": at.isoformat().replace("+00:00", "Z")}


def counts(clickhouse, customer: str) -> tuple[int, int, int]:
    """(journeys.events, events FINAL rows, physical rows) of a customer."""
    p = {"c": customer}
    journey = clickhouse.query("SELECT events FROM journeys FINAL WHERE customer_id = {c:String}", parameters=p)
    final = clickhouse.query("SELECT count() FROM events FINAL WHERE customer_id = {c:String}", parameters=p)
    physical = clickhouse.query("SELECT count() FROM events WHERE customer_id = {c:String}", parameters=p)
    events = journey.result_rows[0][0] if journey.result_rows else 0
    return events, final.result_rows[0][0], physical.result_rows[0][0]


def test_repeats_long_after_count_once(ingest, clickhouse):
    first = [event(LONG, n) for n in range(RECENT_KEYS + 44)] + [event(SHORT, n) for n in range(3)]
    for i in range(0, len(first), 100):
        assert ingest.post("/v1/events", json={"events": first[i:i + 100]}).status_code == 202
    wait_for(lambda: counts(clickhouse, LONG)[0] == RECENT_KEYS + 44 and counts(clickhouse, SHORT)[0] == 3,
             what="first events counted")

    # Again: the oldest events (their keys long dropped from the state), one altered; a recent one;
    # the short customer's first; then one new event each, which shows the batch was processed.
    again = [event(LONG, 0), {**event(LONG, 1), "stage": "advocacy", "occurred_at": "2007-06-01T00:00:00Z"},
             event(LONG, RECENT_KEYS + 40), event(SHORT, 0), event(SHORT, 0),
             event(LONG, 10_000, "purchase"), event(SHORT, 10_000, "purchase")]
    assert ingest.post("/v1/events", json={"events": again}).status_code == 202
    wait_for(lambda: counts(clickhouse, LONG) == (RECENT_KEYS + 45,) * 3 and counts(clickhouse, SHORT) == (4,) * 3,
             what="the new events counted, the repeats not")
    # The altered copy changed nothing: its stage and time are not in the journey.
    stages = clickhouse.query("SELECT toString(stage), events, last_at FROM journey_stages FINAL "
                              "WHERE customer_id = {c:String} ORDER BY stage", parameters={"c": LONG}).result_rows
    assert [(s, n) for s, n, _ in stages] == [("purchase", 1), ("use", RECENT_KEYS + 44)]
    assert stages[1][2] == (T0 + timedelta(minutes=RECENT_KEYS + 43)).replace(tzinfo=None)
