"""`journeyline demo --customers N`: generate the demo businesses' events (services/demo) and load them
into a running stack through ingest; the same as `journeyline load --demo` (services/cli/load.py).

The events cover the 90 days before --until (default: now). Exit codes as `journeyline load`:
0 all accepted, 1 stopped (ingest unreachable, write key refused), 2 usage error, 3 some refused.
"""
from __future__ import annotations

import argparse

from services.cli.load import add_demo_options, add_target_options, run


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser("demo", help="generate demo customers' journeys and load them into the stack",
                                 description="Generate the demo businesses' customer journeys (Café Lina, a café; "
                                             "Studio Mira, a salon; Northwind Goods, an online shop; Helix Mobile, "
                                             "a mobile operator) and post them to ingest.")
    add_demo_options(demo)
    add_target_options(demo)
    demo.set_defaults(run=run, demo=True, file=None)
