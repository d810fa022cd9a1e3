"""`python -m bench` (`make bench`): every figure beside its reference, one line each, then bench/results.md.

    python -m bench [--only ingest,pipeline,queries] [--quick] [--no-profile] [--keep]

--quick shrinks every size (for trying the harness; its results.md is not the real one).
"""
from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from pathlib import Path

from bench import ingest, pipeline, queries
from bench.profile import py_spy
from bench.report import RESULTS, Report, dump_logs

SECTIONS = ("ingest", "pipeline", "queries")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections to run")
    parser.add_argument("--quick", action="store_true", help="small sizes, to try the harness")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profiles")
    parser.add_argument("--keep", action="store_true", help="keep the stacks' directories and logs")
    parser.add_argument("--out", type=Path, default=None, help=f"results file (default {RESULTS}, or none "
                        "with --quick)")
    args = parser.parse_args()
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    logging.basicConfig(level=logging.WARNING)

    report = Report()
    root = Path(tempfile.mkdtemp(prefix="journeyline-bench-"))
    profile = not args.no_profile and py_spy() is not None
    try:
        if "ingest" in sections or "pipeline" in sections:
            stack = ingest.stack(root / "pipeline")
            try:
                if "ingest" in sections:
                    ingest.run(report, stack, seconds=5 if args.quick else 20, clients=16,
                                             profile=profile)
                if "pipeline" in sections:
                    pipeline.run(report, stack, seconds=20 if args.quick else 180,
                                 fresh_seconds=10 if args.quick else 60,
                                 storm_window_s=8 if args.quick else 30, profile=profile)
            except Exception:
                dump_logs(stack)
                raise
            finally:
                stack.stop()
        if "queries" in sections:
            customers = 20_000 if args.quick else 1_000_000
            queries.run(report, root / "queries", customers=customers, per_customer=10, rounds=3 if args.quick else 7)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
        out = args.out or (None if args.quick else RESULTS)
        if out is not None:
            report.write(out)
            print(f"wrote {out} ({time.monotonic() - report.started:.0f} s in all)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
