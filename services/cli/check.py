"""`journeyline check`: is every event ingest accepted in ClickHouse? (services/processors/check.py)

    journeyline check [--since TIME] [--until TIME] [--partition P] [--from-offset N] [--to-offset N]
                      [--wait SECONDS] [--repair] [--json]

Reads the touchpoint topic (the whole of what Kafka keeps, or the records accepted between --since
and --until, or the offsets between --from-offset and --to-offset of every partition or of
--partition) and accounts for each event: stored in `events`, dead-lettered, pending (not yet
processed) or missing. TIME is RFC 3339 (`2026-12-07T10:00:00Z`) or an age (`90s`, `30m`, `2h`, `7d`).
--wait re-checks until nothing is pending or the seconds pass. --repair writes the missing events
to `events` and rebuilds the projections (`journeyline replay`).

Exit status: 0 when nothing is missing, 1 when events are missing (each listed), 3 when --wait ran
out with events still pending. Reads the processors' settings (KAFKA_BOOTSTRAP_SERVERS, TOPIC_*,
PROCESSOR_APP_ID, CLICKHOUSE_*) from the environment.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import datetime, timedelta, timezone

SHOWN = 20  # missing events listed in the text report
_AGE = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("check", help="compare what ingest accepted (Kafka) with what ClickHouse holds")
    parser.add_argument("--since", type=_time, help="records accepted at or after TIME (RFC 3339 or an age: 2h)")
    parser.add_argument("--until", type=_time, help="records accepted before TIME")
    parser.add_argument("--partition", type=_non_negative, help="only this partition")
    parser.add_argument("--from-offset", type=_non_negative, help="first offset (every partition read)")
    parser.add_argument("--to-offset", type=_non_negative, help="offset to stop before")
    parser.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                        help="check again until nothing is pending, up to SECONDS")
    parser.add_argument("--repair", action="store_true",
                        help="write missing events to ClickHouse and rebuild the projections")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(run=_run)


def _time(text: str) -> datetime:
    age = _AGE.fullmatch(text.strip())
    if age:
        return datetime.now(timezone.utc) - timedelta(**{_UNITS[age[2]]: int(age[1])})
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither RFC 3339 nor an age like 30m, 2h, 7d") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs an offset or Z")
    return moment


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _run(args: argparse.Namespace) -> int:
    import logging

    from clickhouse_connect.driver.exceptions import ClickHouseError
    from kafka.errors import KafkaError

    from services.common.clickhouse import connect_migrated
    from services.processors.check import Span, check
    from services.processors.settings import ProcessorSettings

    logging.getLogger("clickhouse_connect").setLevel(logging.CRITICAL)
    settings = ProcessorSettings()
    span = Span(args.since, args.until, args.from_offset, args.to_offset, args.partition)
    try:
        client = connect_migrated(settings)
        try:
            deadline = time.monotonic() + args.wait
            report = check(settings, client, span)
            while report.ok and report.pending and time.monotonic() < deadline:
                time.sleep(1.0)
                report = check(settings, client, span)
            repaired = _repair(client, report) if args.repair and report.missing else None
        finally:
            client.close()
    except KafkaError as exc:
        raise RuntimeError(f"Kafka at {settings.kafka_bootstrap_servers}: {exc}") from None
    except ClickHouseError as exc:
        raise RuntimeError(f"ClickHouse at {settings.clickhouse_url}: {exc}") from None
    _print(report, repaired, args.json)
    if report.missing or report.undecodable:
        return 0 if repaired is not None and not repaired["refused"] and not report.undecodable else 1
    return 3 if args.wait and report.pending else 0


def _repair(client, report) -> dict:
    from services.processors.check import missing_dict, repair
    from services.processors.replay import replay

    refused = repair(client, report.missing)
    result = replay(client)
    return {"written": len(report.missing) - len(refused), "replayed_events": result.events,
            "refused": [{**missing_dict(r.consumed), "reason": r.reason} for r in refused]}


def _print(report, repaired: dict | None, as_json: bool) -> None:
    import orjson

    if as_json:
        data = {**report.as_dict(), **({"repair": repaired} if repaired is not None else {})}
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    ranges = " ".join(f"{p}:{a}-{b}" for p, (a, b) in sorted(report.ranges.items()))
    print(f"touchpoint records read: {report.records} (partition:offsets {ranges or 'none'})")
    print(f"events: {report.events} read, {report.unique} unique")
    print(f"  stored in ClickHouse: {report.stored}")
    print(f"  dead-lettered:        {report.dead_lettered} (journeyline dlq list)")
    print(f"  pending:              {report.pending} (not processed yet)")
    print(f"  missing:              {len(report.missing)}")
    for item in report.missing[:SHOWN]:
        e = item.event
        print(f"    {item.partition}@{item.offset} customer {e.customer_id!r} event {e.event_id!r} "
              f"occurred {e.occurred_at.isoformat()} accepted {e.received_at.isoformat()}")
    if len(report.missing) > SHOWN:
        print(f"    ... and {len(report.missing) - SHOWN} more (--json lists all)")
    for partition, offset, why in report.undecodable:
        print(f"  record {partition}@{offset} neither decodes nor was dead-lettered: {why}")
    if repaired is not None:
        print(f"repair: wrote {repaired['written']} events, rebuilt the projections from "
              f"{repaired['replayed_events']} events; ClickHouse refused {len(repaired['refused'])}")
        for item in repaired["refused"]:
            print(f"    {item['customer_id']!r} {item['event_id']!r}: {item['reason']}")
