"""POS systems sync hours later: a late event lands in its place in the journey and funnels."""
from datetime import datetime, timedelta, timezone

from tests.conftest import wait_for

T0 = datetime(2019, 5, 6, 8, 0, tzinfo=timezone.utc)  # this file's own year on the shared stack


def ev(cid, n, stage, minutes, channel="web"):
    return {"event_id": f"late-{cid}-{n}", "customer_id": f"late-{cid}", "stage": stage, "channel": channel,
            "touchpoint": "cafe_counter_pos" if channel == "pos" else "cafe_app", "event": f"{stage}_evt",
            "occurred_at": (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")}


def test_late_pos_sync_lands_in_place(ingest, api, clickhouse):
    on_time = [ev("a", 2, "purchase", 60, "app"), ev("a", 3, "use", 90, "app")]
    assert ingest.post("/v1/events", json={"events": on_time}).status_code == 202
    wait_for(lambda: clickhouse.query("SELECT count() FROM events WHERE customer_id = 'late-a'")
             .result_rows[0][0] == 2, what="on-time events")
    params = {"start": T0.isoformat(), "end": (T0 + timedelta(days=1)).isoformat()}
    before = api.get("/v1/funnels/stages", params=params).json()["stages"]
    assert before[0]["customers"] == 0  # no awareness yet: nobody enters the funnel

    # Hours later the till syncs the awareness and consideration visits that came first.
    late = [ev("a", 0, "awareness", 0, "pos"), ev("a", 1, "consideration", 30, "pos")]
    assert ingest.post("/v1/events", json={"events": late}).status_code == 202
    wait_for(lambda: clickhouse.query("SELECT count() FROM events WHERE customer_id = 'late-a'")
             .result_rows[0][0] == 4, what="late events")

    journey = api.get("/v1/customers/late-a/journey").json()
    assert [e["event_id"] for e in journey["events"]] == [f"late-a-{i}" for i in range(4)]
    assert journey["current_stage"] == "use"
    stages = api.get("/v1/funnels/stages", params=params).json()["stages"]
    assert [s["customers"] for s in stages] == [1, 1, 1, 1, 0, 0]
    assert stages[1]["median_seconds_from_previous"] == 1800
    wait_for(lambda: clickhouse.query(
        "SELECT current_stage, events FROM journeys FINAL WHERE customer_id = 'late-a'").result_rows
        == [("use", 4)], what="journey projection with late events")
