"""Identity links into `identities`: identify calls, and events that carry both ids.

Rows go to `identities` (migration 0005_identity.sql); after new links the IDENTITY_DICTIONARIES
(`identity_links`, and `identity_person_keys` of migration 0008) are reloaded, so the API resolves
them at once rather than within their LIFETIME (5 s; the embedded engine does not always honour it).
A reload re-reads every link, so it runs in the background, at most once per RELOAD_EVERY_S per
process, and once more after the last new links.
Delivery is at-least-once: a repeated link is the same row (ReplacingMergeTree on all of it), and
resolution takes each anonymous id's earliest link, so copies change nothing.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

import orjson
from clickhouse_connect.driver.client import Client

from schemas.events import ANONYMOUS_PREFIX
from schemas.identity import RecordedIdentify
from services.processors.metrics import IDENTITY_LINKS_WRITTEN
from services.processors.retry import write_until_taken

log = logging.getLogger("journeyline.identity")

IDENTITY_COLUMNS = ("anonymous_id", "customer_id", "traits", "source", "received_at")
Link = tuple[str, str, str, str, datetime]  # a row of IDENTITY_COLUMNS
# Both resolve anonymous keys from `identities`: person_events.customer_id and .person_key.
IDENTITY_DICTIONARIES = ("identity_links", "identity_person_keys")


def identify_link(record: RecordedIdentify) -> Link:
    return (record.anonymous_id, record.customer_id, orjson.dumps(record.traits).decode(), record.source,
            record.received_at.astimezone(timezone.utc))


def event_links(consumed: Iterable) -> list[Link]:
    """Links implied by events that name both the customer and the anonymous id."""
    return [(e.anonymous_id, e.customer_id, "{}", e.source, e.received_at.astimezone(timezone.utc))
            for e in (item.event for item in consumed)
            if e.anonymous_id is not None and not e.customer_id.startswith(ANONYMOUS_PREFIX)]


class IdentitySink:
    # Links written recently by this process: a signed-in visitor's every event repeats one link.
    _REMEMBERED = 100_000
    RELOAD_EVERY_S = 1.0

    def __init__(self, client: Client, max_backoff_s: float = 10.0) -> None:
        self._client = client
        self._max_backoff_s = max_backoff_s
        self._written: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._reloaded_at = float("-inf")
        self._stale = False  # links written since the last reload started
        self._reloader: asyncio.Task | None = None

    def new(self, links: Sequence[Link]) -> list[Link]:
        """The links not written by this process yet (identify calls always count: traits)."""
        fresh, seen = [], set()
        for link in links:
            pair = (link[0], link[1])
            if pair not in self._written and pair not in seen:
                seen.add(pair)
                fresh.append(link)
        return fresh

    async def write(self, links: Sequence[Link]) -> None:
        if not links:
            return
        await write_until_taken(lambda _: self._insert(links), f"{len(links)} identity links", self._max_backoff_s)
        IDENTITY_LINKS_WRITTEN.inc(len(links))
        for anonymous_id, customer_id, *_ in links:
            self._written[(anonymous_id, customer_id)] = None
        while len(self._written) > self._REMEMBERED:
            self._written.popitem(last=False)
        self._stale = True
        if self._reloader is None or self._reloader.done():
            self._reloader = asyncio.create_task(self._reload_while_stale())

    async def _reload_while_stale(self) -> None:
        while self._stale:
            wait = self._reloaded_at + self.RELOAD_EVERY_S - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._stale = False
            self._reloaded_at = time.monotonic()
            if not await asyncio.to_thread(self.reload):
                self._stale = True  # ClickHouse unreachable: try again after the interval

    def _insert(self, links: Sequence[Link]) -> None:
        self._client.insert("identities", [list(link) for link in links], column_names=IDENTITY_COLUMNS)

    def reload(self) -> bool:
        try:
            for name in IDENTITY_DICTIONARIES:
                self._client.command(f"SYSTEM RELOAD DICTIONARY {name}")
            return True
        except Exception as exc:  # any ClickHouse or network failure: the caller retries
            log.warning("could not reload the identity dictionaries (%s); retrying", exc)
            return False
