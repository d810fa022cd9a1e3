"""Write keys: WRITE_KEYS (bootstrap/dev keys, in memory) or keys from `journeyline keys create`,
looked up in ClickHouse per request (services/common/access_keys.py).

With ClickHouse unreachable, env keys still work and store keys get 503 + Retry-After (not 401: the
key may well be valid).
"""
from __future__ import annotations

import hashlib
import hmac
from typing import NamedTuple

from fastapi.concurrency import run_in_threadpool

from services.common.access_keys import AccessKeyStore, KeyStoreUnavailable, lazy_client
from services.common.clickhouse import connect
from services.ingest.settings import IngestSettings


class Caller(NamedTuple):
    key_id: str  # rate-limit identity: the store's key_id, or env:<hash prefix> for WRITE_KEYS
    source: str


class Unauthorized(Exception):
    pass


class KeyStoreDown(Exception):
    pass


class WriteKeys:
    """The env keys, compared in constant time, then the key store."""

    def __init__(self, settings: IngestSettings) -> None:
        self.env = [(key.encode(), Caller("env:" + hashlib.sha256(key.encode()).hexdigest()[:12], source))
                    for key, source in settings.key_sources().items()]
        timeout = settings.clickhouse_timeout_s
        self.get_client, self.close = lazy_client(
            lambda: connect(settings, connect_timeout=timeout, send_receive_timeout=timeout, query_retries=0))
        self.store = AccessKeyStore(self.get_client, cache_ttl_s=settings.access_key_cache_s)

    async def caller(self, secret: str) -> Caller:
        if not secret:
            raise Unauthorized()
        given, found = secret.encode(), None
        for env_key, caller in self.env:  # every key compared, whatever matches first
            if hmac.compare_digest(given, env_key) and found is None:
                found = caller
        if found is None:
            # The ClickHouse lookup runs in a worker thread so that it never blocks the event loop;
            # env keys do not pay for the hand-over (it was a tenth of ingest's time).
            found = await run_in_threadpool(self._store_caller, secret)
        return found

    def _store_caller(self, secret: str) -> Caller:
        try:
            key = self.store.lookup(secret, "write")
        except KeyStoreUnavailable as exc:
            raise KeyStoreDown() from exc
        if key is None:
            raise Unauthorized()
        return Caller(key.key_id, key.source)

    def store_answers(self) -> bool:
        try:
            self.get_client().query("SELECT 1")
            return True
        except Exception:  # down, refused, timed out: not ready to check store keys
            return False
