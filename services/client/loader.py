"""Post touchpoint events to the ingest service in batches, with a progress bar.

:func:`load_events` does the work; the command line (`journeyline load`: a JSON Lines or CSV
file, or the demo) is :mod:`services.cli.load`.

Behaviour per response of ``POST {url}/v1/events``:

- 202: the batch is delivered (``{"accepted": n}``).
- 422: the server refuses the whole batch when one event is invalid. The invalid events
  are located from the detail locs ``["body", "events", i, ...]`` and reported as
  refused with their reasons; the batch's other events are sent again without them.
  A 422 that names no event is narrowed down by splitting the batch.
- 413: the batch is split in halves; a single event that is too large is refused.
- 503 / 429 / other 5xx and connection errors: retried with backoff, honouring
  Retry-After, for a bounded number of attempts; then the load stops (:class:`LoadError`;
  :class:`Unreachable` when the last attempt found no service at all).
  Resending after a lost response is safe: event_id is the service's idempotency key.
- 401 / 403: the load stops at once with a clear message (:class:`AuthError`).
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import httpx
import orjson
from rich.console import Console

from schemas.events import MAX_BATCH_EVENTS
from services.client.progress import progress_bar

__all__ = ["AuthError", "LoadError", "LoadSummary", "Refusal", "Unparsable", "Unreachable", "events_url",
           "load_events"]

EVENTS_PATH = "/v1/events"

EventRef = int | str


class Refusal(NamedTuple):
    """A refused event: its event_id when it has one, else its 0-based index in the input."""

    event: EventRef
    reason: str


@dataclass
class LoadSummary:
    """What a load did.

    ``sent``: events the service answered for, accepted or refused (each counted once,
    however many requests it took); ``accepted``: the sum of the service's
    ``{"accepted": n}``; ``refused``: events refused by the service or unreadable
    locally, with reasons; ``elapsed``: seconds; ``requests``: HTTP requests made,
    retries included.
    """

    sent: int = 0
    accepted: int = 0
    refused: list[Refusal] = field(default_factory=list)
    elapsed: float = 0.0
    requests: int = 0
    retries: int = 0


class LoadError(RuntimeError):
    """The load stopped before the end; ``summary`` tells what was delivered until then."""

    def __init__(self, message: str, summary: LoadSummary) -> None:
        super().__init__(message)
        self.summary = summary


class AuthError(LoadError):
    """The service refused the write key (401/403)."""


class Unreachable(LoadError):
    """No answer from the service (connection errors) until the last attempt."""


class Unparsable(NamedTuple):
    """An input item that is not an event at all (e.g. a line of invalid JSON)."""

    reason: str


class _Item(NamedTuple):
    ref: EventRef
    body: bytes  # the event as JSON


def load_events(
    events: Iterable[dict[str, Any]],
    ingest_url: str,
    write_key: str,
    batch_size: int = 500,
    progress: bool = True,
    *,
    total: int | None = None,
    max_attempts: int = 6,
    max_retry_wait: float = 60.0,
    backoff: float = 0.5,
    timeout: float = 30.0,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
    console: Console | None = None,
) -> LoadSummary:
    """Send ``events`` to ``POST {ingest_url}/v1/events`` in batches of ``batch_size``.

    Streams the iterable (a generator is fine). Refused events do not stop the load;
    401/403 raise :class:`AuthError`, and a service still unavailable after
    ``max_attempts`` attempts per request raises :class:`LoadError`, both carrying the
    summary so far. ``total`` sizes the progress bar when ``events`` has no ``len()``.
    """
    if not 1 <= batch_size <= MAX_BATCH_EVENTS:
        raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_EVENTS}")
    if max_attempts < 1:
        raise ValueError("max_attempts must be >= 1")
    if total is None:
        try:
            total = len(events)  # type: ignore[arg-type]
        except TypeError:
            total = None

    summary = LoadSummary()
    started = time.monotonic()
    own_client = client is None
    if client is None:
        client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
    poster = _Poster(
        client,
        events_url(ingest_url),
        write_key,
        summary,
        max_attempts=max_attempts,
        max_retry_wait=max_retry_wait,
        backoff=backoff,
        sleep=sleep,
    )
    bar = progress_bar(console, enabled=progress)
    task = bar.add_task("events", total=total)

    def done(count: int) -> None:
        bar.advance(task, count)

    try:
        with bar:
            for batch in _batches(_encode(events, summary, done), batch_size):
                poster.deliver(batch, done=done)
    finally:
        summary.elapsed = time.monotonic() - started
        if own_client:
            client.close()
    return summary


def events_url(ingest_url: str) -> str:
    """``http://host:port`` (or a URL already ending in /v1/events) to the events endpoint."""
    url = ingest_url.rstrip("/")
    return url if url.endswith(EVENTS_PATH) else url + EVENTS_PATH


# --------------------------------------------------------------------------------------
# Delivery


def _encode(events: Iterable[Any], summary: LoadSummary, done: Callable[[int], None]) -> Iterator[_Item]:
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            reason = event.reason if isinstance(event, Unparsable) else f"not a JSON object ({type(event).__name__})"
            summary.refused.append(Refusal(index, reason))
            done(1)
            continue
        ref = _ref(event, index)
        try:
            body = orjson.dumps(event)
        except (TypeError, orjson.JSONEncodeError) as exc:
            summary.refused.append(Refusal(ref, f"not JSON-serialisable: {exc}"))
            done(1)
            continue
        yield _Item(ref, body)


def _ref(event: dict[str, Any], index: int) -> EventRef:
    event_id = event.get("event_id")
    return event_id if isinstance(event_id, str) and event_id else index


def _batches(items: Iterable[_Item], size: int) -> Iterator[list[_Item]]:
    batch: list[_Item] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class _Poster:
    """Posts batches to ``url`` and keeps ``summary`` up to date."""

    client: httpx.Client
    url: str
    write_key: str
    summary: LoadSummary
    max_attempts: int
    max_retry_wait: float
    backoff: float
    sleep: Callable[[float], None]
    _jitter: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.headers = {
            "Authorization": f"Bearer {self.write_key}",
            "Content-Type": "application/json",
            "User-Agent": "journeyline-loader/1",
        }

    def deliver(self, batch: list[_Item], done: Callable[[int], None]) -> None:
        """Deliver a batch; invalid events are refused and the rest sent again."""
        pending = [batch]
        while pending:
            items = pending.pop()
            response = self._post(items)
            status = response.status_code
            if 200 <= status < 300:
                self.summary.sent += len(items)
                self.summary.accepted += _accepted_count(response, len(items))
                done(len(items))
            elif status == 422 and (bad := _invalid_events(response, len(items))):
                self._refuse([(items[i], bad[i]) for i in sorted(bad)], done)
                rest = [item for i, item in enumerate(items) if i not in bad]
                if rest:
                    pending.append(rest)
            elif status in (413, 422) and len(items) > 1:  # too large, or a 422 naming no event: halve
                half = len(items) // 2
                pending += [items[half:], items[:half]]
            elif status == 422:
                self._refuse([(items[0], _detail_text(response))], done)
            elif status == 413:
                size = len(items[0].body)
                reason = f"too large for the service ({size} bytes as JSON): {_detail_text(response)}"
                self._refuse([(items[0], reason)], done)
            elif status in (401, 403):
                raise AuthError(
                    f"the ingest service refused the write key ({status} {response.reason_phrase}) "
                    f"at {self.url}: check --write-key or $JOURNEYLINE_WRITE_KEY",
                    self.summary,
                )
            else:
                raise LoadError(
                    f"unexpected response {status} {response.reason_phrase} from {self.url}: {_detail_text(response)}",
                    self.summary,
                )

    def _refuse(self, refused: list[tuple[_Item, str]], done: Callable[[int], None]) -> None:
        """Events the service answered for by refusing them, with the reasons."""
        self.summary.sent += len(refused)
        self.summary.refused.extend(Refusal(item.ref, reason) for item, reason in refused)
        done(len(refused))

    def _post(self, items: list[_Item]) -> httpx.Response:
        """POST with retries for 503/429/5xx and connection errors; returns any other response."""
        body = b'{"events":[' + b",".join(item.body for item in items) + b"]}"
        problem, error = "", LoadError
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1:
                self.summary.retries += 1
            self.summary.requests += 1
            wait: float
            try:
                response = self.client.post(self.url, content=body, headers=self.headers)
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                raise LoadError(f"bad ingest URL {self.url!r}: {exc}", self.summary) from None
            except httpx.TransportError as exc:
                problem, error = f"cannot reach {self.url}: {type(exc).__name__}: {exc}".rstrip(": "), Unreachable
                wait = self._backoff(attempt)
            else:
                if response.status_code not in (429, 500, 502, 503, 504):
                    return response
                status = f"{response.status_code} {response.reason_phrase}"
                problem, error = f"{status} from {self.url}: {_detail_text(response)}", LoadError
                retry_after = _retry_after(response.headers.get("retry-after"))
                wait = self._backoff(attempt) if retry_after is None else retry_after
            if attempt == self.max_attempts:
                break
            self.sleep(min(wait, self.max_retry_wait))
        raise error(f"gave up after {self.max_attempts} attempts: {problem}", self.summary)

    def _backoff(self, attempt: int) -> float:
        base = self.backoff * 2 ** (attempt - 1)
        return min(self.max_retry_wait, base * (0.5 + self._jitter.random()))


def _body_field(response: httpx.Response, key: str, default: Any = None) -> Any:
    """``key`` of the JSON object in the response body; ``default`` when there is none."""
    try:
        return response.json().get(key, default)
    except (ValueError, AttributeError):
        return default


def _accepted_count(response: httpx.Response, default: int) -> int:
    accepted = _body_field(response, "accepted")
    return accepted if isinstance(accepted, int) else default


def _invalid_events(response: httpx.Response, count: int) -> dict[int, str]:
    """{index in batch: reason} from FastAPI's 422 detail:
    ``[{"loc": ["body", "events", i, ...], "msg": ...}, ...]``."""
    detail = _body_field(response, "detail")
    if not isinstance(detail, list):
        return {}
    reasons: dict[int, list[str]] = {}
    for error in detail:
        if not isinstance(error, dict):
            continue
        loc = error.get("loc") or []
        if (
            len(loc) >= 3
            and loc[0] == "body"
            and loc[1] == "events"
            and isinstance(loc[2], int)
            and 0 <= loc[2] < count
        ):
            where = ".".join(str(part) for part in loc[3:]) or "event"
            reasons.setdefault(loc[2], []).append(f"{where}: {error.get('msg', 'invalid')}")
    return {i: "; ".join(messages) for i, messages in reasons.items()}


def _detail_text(response: httpx.Response, limit: int = 300) -> str:
    detail = _body_field(response, "detail", response.text)
    if isinstance(detail, list):
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', []))}: {e.get('msg')}" if isinstance(e, dict) else str(e)
            for e in detail
        )
    text = str(detail).strip() or "(no detail)"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
