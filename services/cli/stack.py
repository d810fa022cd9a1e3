"""`journeyline up`: the local stack with a demo data load, the same as `make up`.

The stack runner lives in deploy/ (deploy/up.py), which services never import: `up` runs it as its
own program and passes every option through, so its options are deploy.up's own
(`journeyline up --help` prints them, as `python -m deploy.up --help` does)."""
from __future__ import annotations

import argparse
import os
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    # add_help=False: --help goes through to deploy.up, which owns the options.
    up = subparsers.add_parser("up", add_help=False,
                               help="run the whole stack locally with a demo data load (same as make up; "
                                    "options: journeyline up --help, i.e. python -m deploy.up --help)")
    up.set_defaults(run=_up, pass_through=True)


def _up(args: argparse.Namespace) -> int:
    os.execv(sys.executable, [sys.executable, "-m", "deploy.up", *args.rest])
    return 0  # not reached
