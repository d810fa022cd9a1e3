"""Write keys and read tokens kept in ClickHouse (`access_keys`, migration 0002).

A secret is `jl_w_` (write) or `jl_r_` (read) followed by 32 random bytes, base64url. It is shown
once, at creation; the table keeps only its SHA-256 (hex) and its first characters for display.
A plain SHA-256 is enough for 256-bit random secrets: a slow password hash guards guessable ones.

Lookups go to ClickHouse by hash on every request, behind a tiny in-process cache whose entries
(found, absent or revoked) live at most `cache_ttl_s` (<= 1 s): so a revocation, made by another
process through `journeyline keys revoke`, takes effect in every service within that time. A new
key works at once, since its hash was never looked up before. Revoking inserts a newer version of
the key's row; reads use FINAL, so the newest version wins before any merge.
"""
from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from clickhouse_connect.driver.client import Client

TABLE = "access_keys"
KINDS = ("write", "read")
MARKERS = {"write": "jl_w_", "read": "jl_r_"}
SECRET_BYTES = 32
PREFIX_CHARS = 12  # marker + 7 random characters: enough to tell keys apart, 42 of 256 bits
_SECRET = re.compile(r"jl_[wr]_[A-Za-z0-9_-]{43}\Z")
_SOURCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}\Z")
_COLUMNS = "key_id, kind, source, prefix, created_at, revoked_at"


class KeyStoreUnavailable(Exception):
    """ClickHouse could not answer a lookup: the caller answers 503, not 401."""


class KeyNotFound(ValueError):
    pass


@dataclass(frozen=True)
class AccessKey:
    key_id: str
    kind: str
    source: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class NewKey:
    key: AccessKey
    secret: str  # shown once, never stored


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like(secret: str, kind: str) -> bool:
    """Whether `secret` could be a stored key of this kind: anything else is refused unlooked-up."""
    return secret.startswith(MARKERS[kind]) and _SECRET.match(secret) is not None


def validate_source(source: str) -> str:
    if not _SOURCE.match(source):
        raise ValueError(f"source must be 1-128 characters of letters, digits and _ . : - (starting with a letter "
                         f"or digit), got {source!r}")
    return source


class AccessKeyStore:
    """create / list / revoke for operators, lookup for the services. `client` returns the
    ClickHouse client to use (it may raise when ClickHouse is down)."""

    def __init__(self, client: Callable[[], Client], cache_ttl_s: float = 1.0, max_cached: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 <= cache_ttl_s <= 1:
            raise ValueError("cache_ttl_s must be between 0 and 1 second")
        self._client, self._ttl, self._max, self._clock = client, cache_ttl_s, max_cached, clock
        self._cache: dict[str, tuple[float, AccessKey | None]] = {}
        self._lock = threading.Lock()

    # ---- operators ----------------------------------------------------------------------------

    def create(self, kind: str, source: str = "") -> NewKey:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if kind == "write":
            validate_source(source)
        elif source:
            raise ValueError("read tokens have no source; --source is for write keys")
        secret = MARKERS[kind] + secrets.token_urlsafe(SECRET_BYTES)
        key = AccessKey("key_" + secrets.token_hex(8), kind, source, secret[:PREFIX_CHARS],
                        datetime.now(timezone.utc), None)
        self._insert(key, hash_secret(secret), time.time_ns())
        return NewKey(key, secret)

    def list(self) -> list[AccessKey]:
        rows = self._client().query(f"SELECT {_COLUMNS} FROM {TABLE} FINAL ORDER BY created_at, key_id").result_rows
        return [_key(row) for row in rows]

    def revoke(self, key_id: str) -> tuple[AccessKey, bool]:
        """(the key, whether this call revoked it); KeyNotFound for an unknown id."""
        rows = self._client().query(
            f"SELECT {_COLUMNS}, hash, version FROM {TABLE} FINAL WHERE key_id = {{key_id:String}}",
            parameters={"key_id": key_id},
        ).result_rows
        if not rows:
            raise KeyNotFound(f"no key with id {key_id!r}; `journeyline keys list` shows the ids")
        key = _key(rows[0][:6])
        if not key.active:
            return key, False
        revoked = replace(key, revoked_at=datetime.now(timezone.utc))
        self._insert(revoked, rows[0][6], max(time.time_ns(), rows[0][7] + 1))
        return revoked, True

    def _insert(self, key: AccessKey, hashed: str, version: int) -> None:
        row = [key.key_id, key.kind, key.source, hashed, key.prefix, key.created_at, key.revoked_at, version]
        self._client().insert(TABLE, [row], column_names=["key_id", "kind", "source", "hash", "prefix",
                                                          "created_at", "revoked_at", "version"])

    # ---- services -----------------------------------------------------------------------------

    def lookup(self, secret: str, kind: str) -> AccessKey | None:
        """The active key of this kind with this secret, or None. Raises KeyStoreUnavailable."""
        if not looks_like(secret, kind):
            return None
        hashed = hash_secret(secret)
        now = self._clock()
        with self._lock:
            cached = self._cache.get(hashed)
        if cached is not None and cached[0] > now:
            key = cached[1]
        else:
            key = self._fetch(hashed)
            if self._ttl > 0:
                self._remember(hashed, now + self._ttl, key)
        return key if key is not None and key.active and key.kind == kind else None

    def _fetch(self, hashed: str) -> AccessKey | None:
        try:
            rows = self._client().query(
                f"SELECT {_COLUMNS} FROM {TABLE} FINAL WHERE hash = {{hash:String}} LIMIT 1",
                parameters={"hash": hashed},
            ).result_rows
        except Exception as exc:  # connection refused, timeouts, table missing: all "cannot tell"
            raise KeyStoreUnavailable(str(exc)) from exc
        return _key(rows[0]) if rows else None

    def _remember(self, hashed: str, expires: float, key: AccessKey | None) -> None:
        with self._lock:
            if len(self._cache) >= self._max:
                now = self._clock()
                for stale in [h for h, (t, _) in self._cache.items() if t <= now]:
                    del self._cache[stale]
                while len(self._cache) >= self._max:  # still full: drop the oldest entries
                    del self._cache[next(iter(self._cache))]
            self._cache[hashed] = (expires, key)


def _key(row) -> AccessKey:
    key_id, kind, source, prefix, created_at, revoked_at = row
    return AccessKey(key_id, kind, source, prefix, _utc(created_at), _utc(revoked_at) if revoked_at else None)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def lazy_client(factory: Callable[[], Client]) -> tuple[Callable[[], Client], Callable[[], None]]:
    """(get, close) for a client made on first need and kept; a failed attempt is retried next time."""
    lock, holder = threading.Lock(), []

    def get() -> Client:
        with lock:
            if not holder:
                holder.append(factory())
            return holder[0]

    def close() -> None:
        with lock:
            while holder:
                holder.pop().close()

    return get, close
