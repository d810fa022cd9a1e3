"""Command line for the loader: send demo events or a JSON Lines file to the ingest service.

    python -m services.ingest.loader --demo --customers 300 [--now ISO] [--url URL] [--write-key KEY]
    python -m services.ingest.loader FILE.jsonl            # one event JSON per line; "-" = stdin
    python -m services.ingest.loader FILE.csv              # one event per row, see csv_events.py

``--url`` and ``--write-key`` default to $INGEST_URL and $JOURNEYLINE_WRITE_KEY, else
http://127.0.0.1:8080 and dev-write-key. How responses are handled: :mod:`services.ingest.loader`.

Exit codes: 0 all accepted, 1 stopped early (auth, service unavailable, unreadable input),
2 usage error, 3 finished with refused events.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import orjson
from rich.console import Console

from services.ingest.csv_events import CsvEvents
from services.ingest.loader import (
    MAX_BATCH_EVENTS,
    LoadError,
    LoadSummary,
    Refusal,
    Unparsable,
    events_url,
    load_events,
)

__all__ = ["main"]

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_WRITE_KEY = "dev-write-key"


class _JsonLines:
    """Events from a JSON Lines file, one item per non-blank line: unparsable lines come
    as :class:`Unparsable` (refused by the loader, not sent); ``line_of`` maps the
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
                yield Unparsable(f"invalid JSON: {exc}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.ingest.loader",
        description="Post touchpoint events to the Journeyline ingest service.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", help="JSON Lines file, one event per line ('-' reads stdin), "
                        "or a .csv file with a header row of event fields")
    source.add_argument("--demo", action="store_true", help="generate and send demo events")
    parser.add_argument("--customers", type=int, default=300, help="demo customers (default 300)")
    parser.add_argument("--seed", type=int, default=7, help="demo random seed (default 7)")
    parser.add_argument("--now", type=datetime.fromisoformat, default=None,
                        help="demo events cover the 90 days before this ISO time (default: now)")
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

    jsonl: _JsonLines | CsvEvents | None = None
    handle = None
    total: int | None = None
    try:
        if args.demo:
            from services.ingest.demo import generate

            demo = generate(customers=args.customers, seed=args.seed, now=args.now)
            events: Iterable[Any] = demo
            label = f"{len(demo):,} demo events for {args.customers} customers (seed {args.seed})"
        else:
            if args.file == "-":
                handle = sys.stdin
            else:
                try:
                    handle = open(args.file, encoding="utf-8", errors="replace", newline="")
                except OSError as exc:
                    err.print(f"[red]error:[/] cannot read {args.file}: {exc.strerror or exc}")
                    return 1
                total = sum(1 for line in handle if line.strip())
                handle.seek(0)
            if args.file.lower().endswith(".csv"):
                total = None if total is None else max(total - 1, 0)  # the header row
                jsonl = CsvEvents(handle)
            else:
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
