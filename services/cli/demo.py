"""`journeyline demo --customers N`: generate the demo businesses' events and load them into a
running stack through ingest (services/ingest/demo, services/ingest/loader.py).

The events cover the 90 days before --until (default: now). Exit codes as `journeyline load`:
0 all accepted, 1 stopped (ingest unreachable, write key refused), 2 usage error, 3 some refused.
"""
from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime

from services.ingest.loader import MAX_BATCH_EVENTS


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser("demo", help="generate demo customers' journeys and load them into the stack",
                                 description="Generate the demo businesses' customer journeys (a cafe, a salon, "
                                             "an online shop, a mobile brand) and post them to ingest.")
    demo.add_argument("--customers", type=_count, default=300, help="customers to generate (default 300)")
    demo.add_argument("--seed", type=int, default=7, help="random seed; the same seed gives the same events")
    demo.add_argument("--until", type=until, help="the events cover the 90 days before this date or RFC 3339 time "
                      "(default: now)")
    demo.add_argument("--url", default=os.environ.get("INGEST_URL"), help="ingest base URL (env INGEST_URL)")
    demo.add_argument("--write-key", default=os.environ.get("JOURNEYLINE_WRITE_KEY"),
                      help="write key (env JOURNEYLINE_WRITE_KEY)")
    demo.add_argument("--batch-size", type=_batch_size, default=500, help=f"events per request, 1..{MAX_BATCH_EVENTS}")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.set_defaults(run=_demo)


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


def _demo(args: argparse.Namespace) -> int:
    from services.ingest.load_cli import main as load

    # The loader's own command line does the loading and the report; only the source differs.
    argv = ["--demo", "--customers", str(args.customers), "--seed", str(args.seed),
            "--batch-size", str(args.batch_size)]
    for option, value in (("--url", args.url), ("--write-key", args.write_key)):
        if value:
            argv += [option, value]
    if args.until:
        argv += ["--now", args.until.isoformat()]
    if args.no_progress:
        argv.append("--no-progress")
    return load(argv)
