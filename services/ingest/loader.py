"""Post touchpoint events to the ingest service in batches, with a progress bar.

    python -m services.ingest.loader --demo --customers 300 [--url URL] [--write-key KEY]
    python -m services.ingest.loader FILE.jsonl            # one event JSON per line; "-" = stdin

``--url`` and ``--write-key`` default to $INGEST_URL and $JOURNEYLINE_WRITE_KEY, else
http://127.0.0.1:8080 and dev-write-key.

Behaviour per response of ``POST {url}/v1/events``:

- 202: the batch is delivered (``{"accepted": n}``).
- 422: the server refuses the whole batch when one event is invalid. The invalid events
  are located from the detail locs ``["body", "events", i, ...]`` and reported as
  refused with their reasons; the batch's other events are sent again without them.
  A 422 that names no event is narrowed down by splitting the batch.
- 413: the batch is split in halves; a single event that is too large is refused.
- 503 / 429 / other 5xx and connection errors: retried with backoff, honouring
  Retry-After, for a bounded number of attempts; then the load stops (:class:`LoadError`).
  Resending after a lost response is safe: event_id is the service's idempotency key.
- 401 / 403: the load stops at once with a clear message (:class:`AuthError`).

Exit codes of the CLI: 0 all accepted, 1 stopped early (auth, service unavailable,
unreadable input), 2 usage error, 3 finished with refused events.
"""

from __future__ import annotations

import argparse
import email.utils
import os
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import httpx
import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

__all__ = ["AuthError", "LoadError", "LoadSummary", "Refusal", "load_events", "main"]

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_WRITE_KEY = "dev-write-key"
MAX_BATCH_EVENTS = 1000
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


class _Unparsable(NamedTuple):
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
    bar = _progress_bar(console, enabled=progress)
    task = bar.add_task("events", total=total)
    try:
        with bar:
            for batch in _batches(_encode(events, summary, poster.on_done(bar, task)), batch_size):
                poster.deliver(batch, done=poster.on_done(bar, task))
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
            reason = (
                event.reason
                if isinstance(event, _Unparsable)
                else f"not a JSON object ({type(event).__name__})"
            )
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


class _Poster:
    def __init__(
        self,
        client: httpx.Client,
        url: str,
        write_key: str,
        summary: LoadSummary,
        *,
        max_attempts: int,
        max_retry_wait: float,
        backoff: float,
        sleep: Callable[[float], None],
    ) -> None:
        self.client = client
        self.url = url
        self.headers = {
            "Authorization": f"Bearer {write_key}",
            "Content-Type": "application/json",
            "User-Agent": "journeyline-loader/1",
        }
        self.summary = summary
        self.max_attempts = max_attempts
        self.max_retry_wait = max_retry_wait
        self.backoff = backoff
        self.sleep = sleep
        self._jitter = random.Random()

    @staticmethod
    def on_done(bar: Progress, task: Any) -> Callable[[int], None]:
        return lambda n: bar.advance(task, n)

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
            elif status == 422:
                bad = _invalid_events(response, len(items))
                if bad:
                    self.summary.sent += len(bad)
                    for i in sorted(bad):
                        self.summary.refused.append(Refusal(items[i].ref, bad[i]))
                    done(len(bad))
                    rest = [item for i, item in enumerate(items) if i not in bad]
                    if rest:
                        pending.append(rest)
                elif len(items) > 1:  # the detail names no event: narrow it down
                    half = len(items) // 2
                    pending += [items[half:], items[:half]]
                else:
                    self.summary.sent += 1
                    self.summary.refused.append(Refusal(items[0].ref, _detail_text(response)))
                    done(1)
            elif status == 413:
                if len(items) > 1:
                    half = len(items) // 2
                    pending += [items[half:], items[:half]]
                else:
                    size = len(items[0].body)
                    reason = f"too large for the service ({size} bytes as JSON): {_detail_text(response)}"
                    self.summary.sent += 1
                    self.summary.refused.append(Refusal(items[0].ref, reason))
                    done(1)
            elif status in (401, 403):
                raise AuthError(
                    f"the ingest service refused the write key ({status} {response.reason_phrase}) "
                    f"at {self.url}: check --write-key or $JOURNEYLINE_WRITE_KEY",
                    self.summary,
                )
            else:
                raise LoadError(
                    f"unexpected response {status} {response.reason_phrase} from {self.url}: "
                    f"{_detail_text(response)}",
                    self.summary,
                )

    def _post(self, items: list[_Item]) -> httpx.Response:
        """POST with retries for 503/429/5xx and connection errors; returns any other response."""
        body = b'{"events":[' + b",".join(item.body for item in items) + b"]}"
        problem = ""
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
                problem = f"cannot reach {self.url}: {type(exc).__name__}: {exc}".rstrip(": ")
                wait = self._backoff(attempt)
            else:
                if response.status_code not in (429, 500, 502, 503, 504):
                    return response
                status = f"{response.status_code} {response.reason_phrase}"
                problem = f"{status} from {self.url}: {_detail_text(response)}"
                retry_after = _retry_after(response.headers.get("retry-after"))
                wait = self._backoff(attempt) if retry_after is None else retry_after
            if attempt == self.max_attempts:
                break
            self.sleep(min(wait, self.max_retry_wait))
        raise LoadError(f"gave up after {self.max_attempts} attempts: {problem}", self.summary)

    def _backoff(self, attempt: int) -> float:
        base = self.backoff * 2 ** (attempt - 1)
        return min(self.max_retry_wait, base * (0.5 + self._jitter.random()))


def _accepted_count(response: httpx.Response, default: int) -> int:
    try:
        accepted = response.json().get("accepted")
    except (ValueError, AttributeError):
        return default
    return accepted if isinstance(accepted, int) else default


def _invalid_events(response: httpx.Response, count: int) -> dict[int, str]:
    """{index in batch: reason} from FastAPI's 422 detail:
    ``[{"loc": ["body", "events", i, ...], "msg": ...}, ...]``."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return {}
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
    try:
        detail: Any = response.json().get("detail", response.text)
    except (ValueError, AttributeError):
        detail = response.text
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


# --------------------------------------------------------------------------------------
# Progress


class _RateColumn(ProgressColumn):
    """Events per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            elapsed = task.elapsed or 0.0
            speed = task.completed / elapsed if elapsed > 0 else None
        return Text("– events/s" if speed is None else f"{speed:,.0f} events/s", style="progress.data.speed")


def _progress_bar(console: Console | None, *, enabled: bool) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        disable=not enabled,
        transient=False,
    )


# --------------------------------------------------------------------------------------
# CLI


class _JsonLines:
    """Events from a JSON Lines file, one item per non-blank line: unparsable lines come
    as :class:`_Unparsable` (refused by the loader, not sent); ``line_of`` maps the
    loader's input index back to the line number."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines = lines
        self.line_of: list[int] = []

    def __iter__(self) -> Iterator[Any]:
        for number, line in enumerate(self.lines, start=1):
            if not line.strip():
                continue
            self.line_of.append(number)
            try:
                yield orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield _Unparsable(f"invalid JSON: {exc}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.ingest.loader",
        description="Post touchpoint events to the Journeyline ingest service.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", help="JSON Lines file, one event per line ('-' reads stdin)")
    source.add_argument("--demo", action="store_true", help="generate and send demo events")
    parser.add_argument("--customers", type=int, default=300, help="demo customers (default 300)")
    parser.add_argument("--seed", type=int, default=7, help="demo random seed (default 7)")
    parser.add_argument(
        "--url", default=os.environ.get("INGEST_URL") or DEFAULT_URL, help="ingest base URL (env INGEST_URL)"
    )
    parser.add_argument(
        "--write-key",
        default=os.environ.get("JOURNEYLINE_WRITE_KEY") or DEFAULT_WRITE_KEY,
        help="write key (env JOURNEYLINE_WRITE_KEY)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=500, help=f"events per request, 1..{MAX_BATCH_EVENTS} (default 500)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not 1 <= args.batch_size <= MAX_BATCH_EVENTS:
        parser.error(f"--batch-size must be between 1 and {MAX_BATCH_EVENTS}")
    if args.customers < 0:
        parser.error("--customers must be >= 0")
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)

    jsonl: _JsonLines | None = None
    handle = None
    total: int | None = None
    try:
        if args.demo:
            from services.ingest.demo_data import generate

            demo = generate(customers=args.customers, seed=args.seed)
            events: Iterable[Any] = demo
            label = f"{len(demo):,} demo events for {args.customers} customers (seed {args.seed})"
        else:
            if args.file == "-":
                handle = sys.stdin
            else:
                try:
                    handle = open(args.file, encoding="utf-8", errors="replace")
                except OSError as exc:
                    err.print(f"[red]error:[/] cannot read {args.file}: {exc.strerror or exc}")
                    return 1
                total = sum(1 for line in handle if line.strip())
                handle.seek(0)
            jsonl = _JsonLines(handle)
            events = jsonl
            label = args.file
        err.print(f"Loading {label} into {events_url(args.url)}")
        try:
            summary = load_events(
                events,
                args.url,
                args.write_key,
                batch_size=args.batch_size,
                progress=not args.no_progress,
                total=total,
            )
            stopped: LoadError | None = None
        except LoadError as exc:
            summary, stopped = exc.summary, exc
    except KeyboardInterrupt:
        err.print("[red]interrupted[/]")
        return 130
    finally:
        if handle is not None and handle is not sys.stdin:
            handle.close()

    if jsonl is not None:  # name refusals without an event_id by their line
        summary.refused = [
            Refusal(f"line {jsonl.line_of[r.event]}", r.reason)
            if isinstance(r.event, int) and r.event < len(jsonl.line_of)
            else r
            for r in summary.refused
        ]
    _print_summary(out, summary, args.url)
    if stopped is not None:
        err.print(f"[red]stopped:[/] {stopped}")
        return 1
    return 3 if summary.refused else 0


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else many or one + 's'}"


def _print_summary(console: Console, summary: LoadSummary, url: str, show: int = 20) -> None:
    rate = summary.accepted / summary.elapsed if summary.elapsed > 0 else 0.0
    console.print(
        f"[green]{summary.accepted:,} accepted[/], "
        f"[{'red' if summary.refused else 'green'}]{len(summary.refused):,} refused[/]: "
        f"{_plural(summary.sent, 'event')} sent to {events_url(url)} "
        f"in {_plural(summary.requests, 'request')} ({_plural(summary.retries, 'retry', 'retries')}) "
        f"in {summary.elapsed:.1f} s ({rate:,.0f} events/s)"
    )
    for refusal in summary.refused[:show]:
        console.print(f"  refused {refusal.event}: {refusal.reason}", markup=False)
    if len(summary.refused) > show:
        console.print(f"  … and {len(summary.refused) - show:,} more refused")


if __name__ == "__main__":
    sys.exit(main())
