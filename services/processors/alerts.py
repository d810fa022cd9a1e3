"""Detractor alerts: an event with NPS <= ALERT_NPS_MAX (default 6) raises an alert within seconds.

The touchpoint agent calls `publish(fresh)` right after a batch's ClickHouse write and before
the journey table update and the ack (services/processors/journey_agent.py). So:

* The topic journeyline.alerts.v1 (keyed by customer_id, JSON, see `alert_record`) is
  AT-LEAST-ONCE: publish() returns only when the broker has acknowledged every alert (acks=all)
  and retries until it has; a crash before the ack replays the batch and alerts again.
  Consumers must dedupe on event_id (one alert per event_id; alert_id is that event_id).
  Only events counted for the first time alert: a re-sent event (same customer, event_id)
  does not.
* The webhook (ALERT_WEBHOOK_URL, optional) gets each alert POSTed as the same JSON, in the
  background with a short timeout: best effort. A failure is logged, not retried, and never
  holds up the stream; at most WEBHOOK_MAX_PENDING posts wait, more are dropped (logged).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import httpx
import orjson

from schemas.events import RecordedEvent
from services.processors.events_sink import Consumed

log = logging.getLogger("journeyline.alerts")

ALERT_KIND = "detractor"
WEBHOOK_CONCURRENCY = 4
WEBHOOK_MAX_PENDING = 1000
MAX_PUBLISH_BACKOFF_S = 10.0


def detractors(consumed: Sequence[Consumed], nps_max: int) -> list[RecordedEvent]:
    """The events with an NPS at or under nps_max, in batch order."""
    return [c.event for c in consumed
            if c.event.feedback is not None and c.event.feedback.nps is not None
            and c.event.feedback.nps <= nps_max]


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert_record(event: RecordedEvent, nps_max: int, alerted_at: datetime) -> dict[str, Any]:
    fb = event.feedback
    return {
        "alert_id": event.event_id,  # one alert per event: the consumer's dedupe key
        "kind": ALERT_KIND,
        "event_id": event.event_id,
        "customer_id": event.customer_id,
        "occurred_at": _iso(event.occurred_at),
        "stage": event.stage.value,
        "channel": event.channel.value,
        "touchpoint": event.touchpoint,
        "event": event.event,
        "nps": fb.nps if fb else None,
        "comment": fb.comment if fb else None,
        "threshold": nps_max,
        "source": event.source,
        "alerted_at": _iso(alerted_at),
    }


class Webhook:
    """POSTs alerts to one URL in the background; never raises into the caller."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self._client = httpx.AsyncClient(timeout=timeout_s, headers={"User-Agent": "journeyline-alerts"})
        self._slots = asyncio.Semaphore(WEBHOOK_CONCURRENCY)
        self._pending: set[asyncio.Task] = set()
        self.sent = 0
        self.failed = 0

    def post_soon(self, records: Sequence[dict[str, Any]]) -> None:
        for record in records:
            if len(self._pending) >= WEBHOOK_MAX_PENDING:
                self.failed += 1
                log.warning("alert webhook backlog full; alert for %s not posted", record["event_id"])
                continue
            task = asyncio.get_running_loop().create_task(self._post(record))
            self._pending.add(task)  # keep a reference until done
            task.add_done_callback(self._pending.discard)

    async def _post(self, record: dict[str, Any]) -> None:
        async with self._slots:
            try:
                response = await self._client.post(
                    self.url, content=orjson.dumps(record), headers={"Content-Type": "application/json"})
                response.raise_for_status()
                self.sent += 1
            except Exception as exc:  # any network or HTTP error: log, go on
                self.failed += 1
                log.warning("alert webhook POST for %s failed: %s", record["event_id"], exc or type(exc).__name__)

    async def drain(self) -> None:
        """Wait for the posts under way (tests, shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def close(self) -> None:
        await self.drain()
        await self._client.aclose()


class Alerts:
    """Publishes alerts for a batch: `send(key, value)` returns an awaitable delivery (the Faust
    topic's send in production)."""

    def __init__(self, send, nps_max: int, webhook: Webhook | None = None) -> None:
        self._send = send
        self.nps_max = nps_max
        self.webhook = webhook

    async def publish(self, fresh: Sequence[Consumed]) -> int:
        """Alert on the detractors among `fresh`; returns once the broker acknowledged them."""
        events = detractors(fresh, self.nps_max)
        if not events:
            return 0
        now = datetime.now(timezone.utc)
        records = [alert_record(e, self.nps_max, now) for e in events]
        backoff = 0.2
        while True:
            try:
                deliveries = [await self._send(key=e.customer_id.encode(), value=orjson.dumps(r))
                              for e, r in zip(events, records, strict=True)]
                await asyncio.gather(*deliveries)
                break
            except Exception as exc:  # broker trouble: the batch waits, nothing is acked meanwhile
                log.warning("publishing %d alerts failed (%s); retrying in %.1fs", len(records), exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_PUBLISH_BACKOFF_S)
        if self.webhook is not None:
            self.webhook.post_soon(records)
        return len(records)


_alerts: Alerts | None = None


def alerts() -> Alerts:
    global _alerts
    if _alerts is None:
        from services.processors.app import app, settings

        topic = app.topic(
            settings.topic_alerts,
            key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
            partitions=settings.topic_partitions,
        )
        url = (settings.alert_webhook_url or "").strip()
        webhook = Webhook(url, settings.alert_webhook_timeout_s) if url else None
        _alerts = Alerts(topic.send, settings.alert_nps_max, webhook)
    return _alerts


async def publish(fresh: Sequence[Consumed]) -> int:
    """The agent's hook: alerts for the detractors among the batch's newly counted events."""
    return await alerts().publish(fresh)
