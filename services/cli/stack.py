"""`journeyline up` and `journeyline load`: the local stack and loading events over HTTP
(`journeyline demo` is the documented way to load demo data; `load --demo` does the same)."""
from __future__ import annotations

import argparse
import os
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    up = subparsers.add_parser("up", help="run the whole stack locally with a demo data load (same as make up)")
    up.add_argument("rest", nargs=argparse.REMAINDER, help="options of deploy.up, e.g. --customers 500")
    up.set_defaults(run=_up)
    load = subparsers.add_parser("load", help="post a JSON Lines file of events to ingest")
    load.add_argument("rest", nargs=argparse.REMAINDER, help="FILE.jsonl [--url URL] [--write-key KEY] ('-': stdin)")
    load.set_defaults(run=_load)


def _up(args: argparse.Namespace) -> int:
    # The stack runner lives in deploy/, which services never import: it runs as its own program.
    os.execv(sys.executable, [sys.executable, "-m", "deploy.up", *args.rest])
    return 0  # not reached


def _load(args: argparse.Namespace) -> int:
    from services.ingest.load_cli import main

    return main(args.rest)
