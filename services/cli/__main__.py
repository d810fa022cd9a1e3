"""`journeyline <command> ...`: each command module registers its own subcommands."""
from __future__ import annotations

import argparse
import sys

from services.cli import check, demo, dlq, keys, load, query, replay, stack

# Each module has register(subparsers): adds its parser with set_defaults(run=callable); a command
# run as another program (`up`) sets pass_through=True and gets the options it does not know as args.rest.
COMMAND_MODULES = [stack, load, demo, query, replay, check, dlq, keys]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="journeyline", description="Journeyline operations")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers)
    args, rest = parser.parse_known_args(argv)
    if getattr(args, "pass_through", False):
        args.rest = rest
    elif rest:  # with the command's own usage line
        subparsers.choices[args.command].error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (OSError, RuntimeError, ValueError) as exc:
        # Operators get a message, not a traceback.
        print(f"journeyline {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
