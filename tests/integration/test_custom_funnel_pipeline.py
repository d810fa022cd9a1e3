"""Custom funnels for real: HTTP ingest -> Kafka -> processors -> ClickHouse -> POST /v1/funnels.

A designed set of customers (prefix fun-, times in 2021, this file's year on the shared stack),
each with the level it should reach stated next to its events; posted in batches with a
duplicate and an event posted after later ones. The API's answers are checked against those
levels and against the reference implementation.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.api import funnel_reference as ref
from tests.conftest import wait_for

T0 = datetime(2021, 5, 3, 9, 0, tzinfo=timezone.utc)
RANGE = {"start": "2021-05-01T00:00:00Z", "end": "2021-06-01T00:00:00Z"}
STEPS = [{"event": "view"}, {"event": "cart"}, {"stage": "purchase", "channel": "pos", "name": "POS purchase"}]
DAY = 86400
EXCLUSION = [{"filter": {"event": "cart_emptied"}, "from_step": 2, "to_step": 3}]


def ev(cid: str, n: int, event: str, minutes: float, stage: str = "consideration", channel: str = "web") -> dict:
    return {"event_id": f"fun-{cid}-{n}", "customer_id": f"fun-{cid}", "stage": stage, "channel": channel,
            "touchpoint": "shop", "event": event, "properties": {"n": n},
            "occurred_at": (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")}


def buy(cid: str, n: int, minutes: float) -> dict:
    return ev(cid, n, "order", minutes, stage="purchase", channel="pos")


# (events, ordered level, strict level, level with EXCLUSION)
CUSTOMERS = {
    "01": ([ev("01", 0, "view", 0), ev("01", 1, "cart", 5), buy("01", 2, 30)], 3, 3, 3),
    "02": ([ev("02", 0, "view", 0, channel="app"), ev("02", 1, "cart", 5)], 2, 2, 2),
    "03": ([ev("03", 0, "view", 0)], 1, 1, 1),
    "04": ([ev("04", 0, "view", 0), buy("04", 1, 30)], 1, 1, 1),  # no cart
    "05": ([ev("05", 0, "cart", 0), ev("05", 1, "view", 5), buy("05", 2, 30)], 1, 1, 1),  # cart before view
    "06": ([ev("06", 0, "view", 0), ev("06", 1, "cart", 5), buy("06", 2, 2 * 24 * 60)], 2, 2, 2),  # too late
    "07": ([ev("07", 0, "view", 60), ev("07", 1, "cart", 60), buy("07", 2, 60)], 3, 3, 3),  # one millisecond
    "08": ([ev("08", 0, "view", 0, channel="app"), ev("08", 1, "noise", 1), ev("08", 2, "cart", 2)], 2, 1, 2),
    "09": ([ev("09", 0, "view", 0), ev("09", 1, "cart", 1), ev("09", 2, "cart_emptied", 2), buy("09", 3, 3)],
           3, 2, 2),
    "10": ([ev("10", 0, "view", -3 * 24 * 60), ev("10", 1, "cart", 0), buy("10", 2, 5)], 1, 1, 1),
    "11": ([ev("11", 0, "view", 0, channel="app"), ev("11", 1, "cart", 10), buy("11", 2, 20)], 3, 3, 3),
}
# fun-10's view is on 30 April: before the range, so fun-10 never enters the funnel.
OUT_OF_RANGE = {"10"}


def post(ingest, events: list[dict]) -> None:
    for i in range(0, len(events), 1000):
        response = ingest.post("/v1/events", json={"events": events[i:i + 1000]})
        assert response.status_code == 202, response.text


def expected_counts(position: int) -> list[int]:
    levels = [c[position] for cid, c in CUSTOMERS.items() if cid not in OUT_OF_RANGE]
    return [sum(1 for lv in levels if lv >= k) for k in (1, 2, 3)]


def run(api, **extra) -> dict:
    response = api.post("/v1/funnels", json={"steps": STEPS, **RANGE, "window_seconds": DAY, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def test_custom_funnel_through_the_pipeline(ingest, api, clickhouse):
    events = [e for evs, *_ in CUSTOMERS.values() for e in evs]
    late = CUSTOMERS["11"][0][:2]  # fun-11's view and cart reach ingest after its purchase
    first = [e for e in events if e not in late]
    post(ingest, first + [first[0]])  # and fun-01's view twice
    post(ingest, late + [first[1]])
    unique = len({e["event_id"] for e in events})
    wait_for(lambda: clickhouse.query(
        "SELECT uniqExact(event_id) FROM events WHERE customer_id LIKE {p:String}", parameters={"p": "fun-%"}
    ).result_rows[0][0] == unique, what="fun- events in ClickHouse")

    ordered = run(api)
    assert [s["customers"] for s in ordered["steps"]] == expected_counts(1) == [10, 7, 4]
    assert [s["name"] for s in ordered["steps"]] == ["event=view", "event=cart", "POS purchase"]
    assert [s["customers"] for s in run(api, order="strict")["steps"]] == expected_counts(2)
    assert [s["customers"] for s in run(api, exclusions=EXCLUSION)["steps"]] == expected_counts(3)

    rows = [{**e, "occurred_ms": int(datetime.fromisoformat(e["occurred_at"]).timestamp() * 1000)} for e in events]
    query = {"steps": STEPS, "order": "ordered", "exclusions": [], "window_ms": DAY * 1000,
             "start_ms": int(datetime(2021, 5, 1, tzinfo=timezone.utc).timestamp() * 1000),
             "end_ms": int(datetime(2021, 6, 1, tzinfo=timezone.utc).timestamp() * 1000), "breakdown": "channel"}
    paths = ref.customer_paths(rows, query)
    names = [s["name"] for s in ordered["steps"]]
    def per_value(breakdown: list[dict]) -> list[tuple]:
        return [(b["value"], [s["customers"] for s in b["steps"]]) for b in breakdown]

    by_channel = per_value(run(api, breakdown="channel")["breakdown"])
    assert by_channel == per_value(ref.breakdown_view(paths, names)) == [("web", [7, 4, 3]), ("app", [3, 3, 1])]

    ttc = run(api, view="time_to_convert")
    assert ttc["converted"] == 4 and ttc["median_seconds"] == (180 + 1200) / 2  # 1800, 0, 180 and 1200 s

    dropped, cursor = [], None
    while True:
        body = {"steps": STEPS, **RANGE, "window_seconds": DAY, "step": 2, "status": "dropped", "limit": 2}
        page = api.post("/v1/funnels/customers", json={**body, **({"cursor": cursor} if cursor else {})}).json()
        dropped += [c["customer_id"] for c in page["customers"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert dropped == [f"fun-{cid}" for cid, c in CUSTOMERS.items() if c[1] == 2 and cid not in OUT_OF_RANGE]
