"""`journeyline dlq list|replay`: look at and replay the dead-letter topic.

    journeyline dlq list [--limit N] [--json]
        The dead letters (newest N with --limit), oldest first: DLQ partition and offset, the
        source record's partition@offset (#index: the event's position in an event record), key,
        why it was refused, a value excerpt, and whether a replay run has examined it yet
        (pending). --json prints full records as a JSON array.

    journeyline dlq replay [--dry-run] [--json]
        Validates each pending dead letter again as the processor does (RecordedEvent) and
        re-publishes the ones that now validate to the touchpoint topic, one record per event
        (a single-event record, which the processors read beside event records), keyed by customer_id;
        lists the ones still invalid with their reasons. Progress is kept as the offsets of the
        consumer group "journeyline-dlq-replay", so no dead letter is replayed twice across
        runs. --dry-run reports what would happen and changes nothing. Exit status 0 either way.

Reads KAFKA_BOOTSTRAP_SERVERS, TOPIC_TOUCHPOINTS and TOPIC_DEAD_LETTER from the environment.
"""
from __future__ import annotations

import argparse
import sys

EXCERPT = 80


def register(subparsers: argparse._SubParsersAction) -> None:
    dlq = subparsers.add_parser("dlq", help="list or replay dead-lettered touchpoint records")
    commands = dlq.add_subparsers(dest="dlq_command", required=True, metavar="{list,replay}")
    listing = commands.add_parser("list", help="print the dead letters as a table")
    listing.add_argument("--limit", type=_positive, default=None, help="only the newest N")
    listing.add_argument("--json", action="store_true", help="print full records as JSON")
    listing.set_defaults(run=_list)
    replay = commands.add_parser("replay", help="re-publish dead letters that validate now")
    replay.add_argument("--dry-run", action="store_true", help="report only; publish and commit nothing")
    replay.add_argument("--json", action="store_true", help="print the report as JSON")
    replay.set_defaults(run=_replay)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _excerpt(text: str, width: int = EXCERPT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _kafka(call):
    from kafka.errors import KafkaError

    from services.common.settings import KafkaSettings

    settings = KafkaSettings()
    try:
        return call(settings)
    except KafkaError as exc:
        raise RuntimeError(f"Kafka at {settings.kafka_bootstrap_servers}: {exc}") from None


def _print_json(data) -> None:
    import orjson

    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def _list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from services.processors.dead_letters import list_dead_letters

    letters = _kafka(lambda settings: list_dead_letters(settings, args.limit))
    if args.json:
        _print_json([d.as_dict() for d in letters])
        return 0
    table = Table(title=f"{len(letters)} dead letters (pending: not yet examined by `dlq replay`)",
                  title_justify="left")
    table.add_column("partition", justify="right", no_wrap=True)
    table.add_column("offset", justify="right", no_wrap=True)
    table.add_column("source", no_wrap=True)
    table.add_column("key", overflow="fold")
    table.add_column("reason", ratio=3, overflow="fold")
    table.add_column("value", ratio=2, overflow="fold")
    table.add_column("pending", no_wrap=True)
    for d in letters:
        source = "?" if d.source_partition is None else f"{d.source_partition}@{d.source_offset}"
        if d.source_index is not None:  # an event of an event record: its position in the record
            source += f"#{d.source_index}"
        table.add_row(str(d.partition), str(d.offset), source, d.key, d.reason,
                      _excerpt(d.value), "yes" if d.pending else "no")
    Console().print(table)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from services.processors.dead_letters import replay_dead_letters

    report = _kafka(lambda settings: replay_dead_letters(settings, args.dry_run))
    if args.json:
        _print_json(report.as_dict())
        return 0
    console = Console()
    verb = "would re-publish" if report.dry_run else "re-published"
    console.print(f"{verb} {len(report.replayed)} dead letters; {len(report.invalid)} still invalid")
    for title, rows in (("replayed", [(d, f"event_id {e}") for d, e in report.replayed]),
                        ("still invalid", report.invalid)):
        if not rows:
            continue
        table = Table(title=title, title_justify="left")
        for name in ("partition", "offset", "key", "detail"):
            table.add_column(name, justify="right" if name in ("partition", "offset") else "left")
        for d, detail in rows:
            table.add_row(str(d.partition), str(d.offset), d.key, detail)
        console.print(table)
    return 0
