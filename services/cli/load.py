"""`journeyline load FILE` and `journeyline load --demo`: post events to ingest with a progress bar,
then a summary of what was accepted and refused (the loader itself: services/client).

    journeyline load FILE.jsonl           # one event JSON per line; "-" = stdin
    journeyline load FILE.csv             # one event per row, see services/client/sources.py
    journeyline load --demo --customers 300 [--seed 7] [--until DATE]   # as `journeyline demo`

``--url`` and ``--write-key`` default to $INGEST_URL and $JOURNEYLINE_WRITE_KEY, else
http://127.0.0.1:8080 and dev-write-key. How responses are handled: :mod:`services.client.loader`.

Exit codes: 0 all accepted, 1 stopped early (auth, service unavailable, unreadable input),
2 usage error, 3 finished with refused events.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

from rich.console import Console
from rich.markup import escape

from schemas.events import MAX_BATCH_EVENTS
from services.client.loader import LoadError, LoadSummary, Refusal, Unreachable, events_url, load_events
from services.client.sources import CsvEvents, JsonLines, open_events

__all__ = ["add_demo_options", "add_target_options", "main", "register", "run"]

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_WRITE_KEY = "dev-write-key"
DESCRIPTION = "Post touchpoint events to the Journeyline ingest service, with a progress bar."


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("load", help="post a JSON Lines or CSV file of events (or the demo) to ingest",
                                   description=DESCRIPTION)
    configure(parser)
    parser.set_defaults(run=run)


def main(argv: list[str] | None = None) -> int:
    """`journeyline load` on its own, e.g. main(["events.jsonl", "--no-progress"])."""
    parser = argparse.ArgumentParser(prog="journeyline load", description=DESCRIPTION)
    configure(parser)
    return run(parser.parse_args(argv))


def configure(parser: argparse.ArgumentParser) -> None:
    """The options of `journeyline load`."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", metavar="FILE", help="JSON Lines file, one event per line "
                        "('-' reads stdin), or a .csv file with a header row of event fields")
    source.add_argument("--demo", action="store_true",
                        help="generate the demo businesses' events and send them (as journeyline demo)")
    add_demo_options(parser.add_argument_group("demo data (with --demo)"))
    add_target_options(parser)


def add_demo_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """What demo data to generate: shared by `journeyline demo` and `journeyline load --demo`."""
    parser.add_argument("--customers", type=_count, default=300, metavar="N",
                        help="customers to generate (default 300)")
    parser.add_argument("--seed", type=int, default=7, metavar="S",
                        help="random seed; the same seed gives the same events (default 7)")
    parser.add_argument("--until", type=until, metavar="DATE",
                        help="the events cover the 90 days before this date or RFC 3339 time (default: now)")


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """Where and how to send: shared by `journeyline demo` and `journeyline load`."""
    parser.add_argument("--url", default=os.environ.get("INGEST_URL") or DEFAULT_URL,
                        help=f"ingest base URL (env INGEST_URL, default {DEFAULT_URL})")
    parser.add_argument("--write-key", metavar="KEY",
                        default=os.environ.get("JOURNEYLINE_WRITE_KEY") or DEFAULT_WRITE_KEY,
                        help=f"write key (env JOURNEYLINE_WRITE_KEY, default {DEFAULT_WRITE_KEY})")
    parser.add_argument("--batch-size", type=_batch_size, default=500, metavar="N",
                        help=f"events per request, 1..{MAX_BATCH_EVENTS} (default 500)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def until(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date or an RFC 3339 time, e.g. 2026-11-01") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _count(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number >= 0")
    return int(value)


def _batch_size(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_BATCH_EVENTS:
        raise argparse.ArgumentTypeError(f"{value!r} is not between 1 and {MAX_BATCH_EVENTS}")
    return int(value)


def run(args: argparse.Namespace) -> int:
    """Load the demo (``args.demo``) or ``args.file``; print the summary; the exit code."""
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    lines: JsonLines | CsvEvents | None = None
    handle: IO[str] | None = None
    try:
        if args.demo:
            events, label, total = _demo_events(args)
        else:
            try:
                lines, handle, total = open_events(args.file)
            except OSError as exc:
                err.print(f"[red]error:[/] cannot read {escape(args.file)}: {escape(str(exc.strerror or exc))}")
                return 1
            events, label = lines, escape(args.file)
        err.print(f"Loading {label} into {events_url(args.url)}")
        summary, stopped = _load(events, args, total)
    except KeyboardInterrupt:
        err.print("[red]interrupted[/]")
        return 130
    finally:
        if handle is not None and handle is not sys.stdin:
            handle.close()
    if lines is not None:
        summary.refused = _by_line(summary.refused, lines.line_of)
    if stopped is None or summary.sent or summary.refused:  # else the one line below says it all
        _print_summary(out, summary, args.url)
    if stopped is not None:
        hint = " (is the stack up? `make up` starts it; --url or $INGEST_URL name another)"
        err.print(f"[red]stopped:[/] {escape(str(stopped))}{hint if isinstance(stopped, Unreachable) else ''}")
        return 1
    return 3 if summary.refused else 0


def _demo_events(args: argparse.Namespace) -> tuple[list[dict[str, Any]], str, int]:
    from services.demo import generate  # only the demo needs it

    events = generate(customers=args.customers, seed=args.seed, now=args.until)
    return events, f"{len(events):,} demo events for {args.customers} customers (seed {args.seed})", len(events)


def _load(events: Iterable[Any], args: argparse.Namespace, total: int | None) -> tuple[LoadSummary, LoadError | None]:
    """The summary, and the error that stopped the load early if one did."""
    try:
        summary = load_events(events, args.url, args.write_key, batch_size=args.batch_size,
                              progress=not args.no_progress, total=total)
    except LoadError as exc:
        return exc.summary, exc
    return summary, None


def _by_line(refused: list[Refusal], line_of: list[int]) -> list[Refusal]:
    """Refusals without an event_id (named by input index) named by their line instead."""
    return [Refusal(f"line {line_of[r.event]}", r.reason) if isinstance(r.event, int) and r.event < len(line_of)
            else r for r in refused]


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
