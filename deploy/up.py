"""`make up`: the whole stack on this machine with embedded defaults and a demo data load."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from deploy.local_stack import LocalStack, Ports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="journeyline up", description=__doc__)
    parser.add_argument("--data-dir", default=os.environ.get("JOURNEYLINE_DATA_DIR", "var/dev"),
                        help="where the stack keeps its data and logs (env JOURNEYLINE_DATA_DIR, default var/dev)")
    parser.add_argument("--customers", type=int, default=int(os.environ.get("DEMO_CUSTOMERS", 300)),
                        help="demo customers to load (env DEMO_CUSTOMERS, default 300)")
    parser.add_argument("--no-demo", action="store_true", help="start without loading demo data")
    args = parser.parse_args(argv)

    stack = LocalStack(
        Path(args.data_dir).resolve(),
        Ports.from_env(),
        write_key=os.environ.get("JOURNEYLINE_WRITE_KEY", "dev-write-key"),
        read_token=os.environ.get("JOURNEYLINE_READ_TOKEN", "dev-read-token"),
        kafka_heap=os.environ.get("KAFKA_HEAP", "512m"),
    )
    stopping = False

    def _stop(signum, frame):
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    try:
        for name in (*stack.kafka_names, "clickhouse", "ingest", "processors", "api"):
            print(f"starting {name} ...", flush=True)
            stack.start(name)
        if not args.no_demo:
            from services.client.loader import load_events
            from services.demo import generate

            summary = load_events(generate(customers=args.customers), stack.ingest_url, stack.write_key)
            print(f"demo data: {summary.accepted} events accepted, {len(summary.refused)} refused")
        print(
            "\nJourneyline is up.\n"
            f"  ingest      {stack.ingest_url}   (POST /v1/events, write key: {stack.write_key})\n"
            f"  query API   {stack.api_url}   (docs: {stack.api_url}/docs, read token: {stack.read_token})\n"
            f"  dashboard   {stack.api_url}/dashboard#token={stack.read_token}\n"
            f"  ClickHouse  {stack.clickhouse_url}   (user default, password in {stack.root / 'clickhouse.password'}; "
            f"BI tools: user bi, "
            f"password {os.environ.get('BI_PASSWORD', 'bi-dev-password')}, database journeyline)\n"
            f"  Kafka       {stack.bootstrap_servers}\n"
            f"  logs        {stack.root / 'logs'}\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )
        while True:
            for name, component in stack.components.items():
                if name not in stack.supervised and component.process.poll() is not None:
                    print(f"{name} exited with {component.process.returncode}; see {stack.log_path(name)}")
                    return 1
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
        return 0
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
        print("stopped.")


if __name__ == "__main__":
    sys.exit(main())
