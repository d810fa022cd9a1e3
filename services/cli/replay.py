"""`journeyline replay [--buckets N]`: rebuild the projections from the event log.

Rebuilds `journeys` and `journey_stages` (services/processors/replay.py PROJECTIONS) into fresh
tables from the raw `events` log, bucket by bucket with a progress bar, then swaps them in with
one EXCHANGE TABLES and drops the old ones. Safe while the processors run. Reads CLICKHOUSE_URL,
CLICKHOUSE_USER, CLICKHOUSE_PASSWORD and CLICKHOUSE_DATABASE from the environment.

    journeyline replay                # bucket count from the log size (~500k events a bucket)
    journeyline replay --buckets 32   # fewer events per INSERT ... SELECT: less memory
"""
from __future__ import annotations

import argparse
import logging


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "replay", help="rebuild the journey projections from the raw event log and swap them in")
    parser.add_argument("--buckets", type=_positive, default=None,
                        help="customer-hash buckets, one INSERT ... SELECT each (default: from the log size)")
    parser.set_defaults(run=_run)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _run(args: argparse.Namespace) -> int:
    from clickhouse_connect.driver.exceptions import ClickHouseError
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from services.common.clickhouse import connect_migrated
    from services.common.settings import ClickHouseSettings
    from services.processors.feedback_status_sink import rebuild_current_status
    from services.processors.replay import PROJECTIONS, replay

    logging.getLogger("clickhouse_connect").setLevel(logging.CRITICAL)  # errors become one message below
    console = Console(stderr=True)
    settings = ClickHouseSettings()
    names = ", ".join(p.table for p in PROJECTIONS)
    try:
        client = connect_migrated(settings)
        try:
            with Progress(TextColumn("[bold]rebuilding {task.description}"), BarColumn(),
                          MofNCompleteColumn(), TextColumn("buckets"), TimeElapsedColumn(),
                          console=console, transient=False) as bar:
                task = bar.add_task(names, total=None)
                result = replay(client, args.buckets,
                                progress=lambda done, total: bar.update(task, completed=done, total=total))
            statuses = rebuild_current_status(client)
        finally:
            client.close()
    except ClickHouseError as exc:
        raise RuntimeError(f"ClickHouse at {settings.clickhouse_url}: {exc}") from None

    rows = ", ".join(f"{table} {count} rows" for table, count in result.rows.items())
    print(f"replayed {result.events} events in {result.buckets} buckets in {result.seconds:.1f}s: {rows}; "
          f"{result.caught_up_customers} customers caught up after the swap; "
          f"feedback_status rebuilt for {statuses} items")
    return 0
