"""Realistic touchpoint events for the ingest and pipeline figures: request bodies for
POST /v1/events and the records ingest puts on the topic, all with unique event_ids."""
from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import orjson

from schemas.events import STAGES

BATCH = 100
SESSION = 4
_START_S = int(datetime(2026, 6, 1, tzinfo=timezone.utc).timestamp())
# (channel, touchpoint, event) per stage, as a shop with stores, an app and a website sees them.
_TOUCHES = [
    [("social", "instagram_ad", "ad_clicked"), ("web", "web_home", "page_viewed"),
     ("email", "newsletter", "newsletter_opened")],
    [("web", "web_product", "product_viewed"), ("app", "app_product", "product_viewed"),
     ("web", "web_cart", "added_to_cart")],
    [("web", "web_checkout", "order_completed"), ("pos", "store_12_pos", "pos_sale"),
     ("app", "app_checkout", "order_completed")],
    [("app", "app_home", "app_opened"), ("web", "web_tracking", "delivery_received")],
    [("email", "reorder_mail", "reorder_reminder_opened"), ("pos", "store_7_pos", "repeat_order")],
    [("web", "web_reviews", "review_posted"), ("social", "referral_link", "referral_sent")],
]
EVENT_NAMES = sorted({name for touches in _TOUCHES for _, _, name in touches})
_ITEMS = ["flat white", "oat latte", "merino beanie", "canvas tote", "enamel mug", "rain jacket"]


@functools.cache
def _day(day: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(days=day)).strftime("%Y-%m-%d")


def event(run: str, n: int, customers: int = 50_000) -> dict:
    """Event n of a run. Events come in visits of SESSION events by one customer (a web session, a
    store visit), visits go round the customers, and a customer's stage climbs with their visits."""
    visit, k = divmod(n, SESSION)
    customer, round_ = visit % customers, visit // customers
    step = round_ * 2 + k // 2
    stage = min(step % 8, 5) if customer % 3 else min(step % 3, 2)
    channel, touchpoint, name = _TOUCHES[stage][(customer + round_) % len(_TOUCHES[stage])]
    at = _START_S + customer * 37 + round_ * 3600 + k * 45
    e = {
        "event_id": f"{run}-{n}",
        "customer_id": f"{run}-cust-{customer:06d}",
        "stage": STAGES[stage],
        "channel": channel,
        "touchpoint": touchpoint,
        "event": name,
        "occurred_at": f"{_day(at // 86400)}T{at % 86400 // 3600:02d}:{at % 3600 // 60:02d}:{at % 60:02d}"
                       f".{n % 1000:03d}Z",
        "properties": {"item": _ITEMS[n % len(_ITEMS)], "campaign": "autumn", "basket_size": 1 + n % 4},
    }
    if stage == 2:
        e["revenue"] = round(3.5 + (n % 500) / 10, 2)
        e["currency"] = "EUR"
    if stage == 5 and n % 2:
        e["feedback"] = {"nps": 7 + n % 4, "comment": "Lovely staff, quick service."}
    return e


class Renderer:
    """Events of one run, cheap to render: all but event_id comes from a pool of `pool` pre-rendered
    events (default: one visit of every customer), so every event_id stays unique."""

    def __init__(self, run: str, customers: int = 50_000, pool: int | None = None,
                 received_at: str = "2026-06-01T00:00:00.000Z", source: str = "bench"):
        self._events: list[bytes] = []
        self._records: list[tuple[bytes, bytes]] = []
        for n in range(pool or SESSION * customers):
            e = event(run, n, customers)
            del e["event_id"]
            self._events.append(b'",' + orjson.dumps(e)[1:])
            e["received_at"], e["source"] = received_at, source
            self._records.append((e["customer_id"].encode(), b'",' + orjson.dumps(e)[1:]))
        self._head = b'{"event_id":"' + run.encode() + b"-"

    def body(self, index: int, size: int = BATCH) -> bytes:
        """Request body `index`: events index * size .. (index + 1) * size."""
        head, events, pool = self._head, self._events, len(self._events)
        first = index * size
        return (b'{"events":[' + b",".join(head + str(n).encode() + events[n % pool]
                                           for n in range(first, first + size)) + b"]}")

    def records(self, first: int, count: int) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) of events as ingest puts them on the topic (RecordedEvent JSON)."""
        head, records, pool = self._head, self._records, len(self._records)
        for n in range(first, first + count):
            key, rest = records[n % pool]
            yield key, head + str(n).encode() + rest


class Bodies:
    """A sequence of request bodies rendered on demand."""

    def __init__(self, renderer: Renderer, count: int = 10**9):
        self.renderer, self.count = renderer, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> bytes:
        return self.renderer.body(index)
