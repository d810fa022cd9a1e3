"""`python -m deploy.kafka`: Apache Kafka in the foreground until SIGTERM or Ctrl-C.

    python -m deploy.kafka --data-dir var/dev/kafka                  # one node on 127.0.0.1:9092
    python -m deploy.kafka --data-dir D --cluster 9092:9093,9094:9095,9096:9097          # three nodes
    python -m deploy.kafka --data-dir D --cluster 9092:9093,9094:9095,9096:9097 --node 2  # one of them
    python -m deploy.kafka --resolve                                 # fetch the jars (pom.xml) and exit

Storage is formatted on first start and kept; a node started again carries on with its data.
Every JVM is stopped cleanly (controlled shutdown) on SIGTERM or SIGINT; the launcher exits once
they have, with the first non-zero exit code of a node that died by itself.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from deploy.kafka import Cluster, KafkaUnavailable, answers, ensure_libs, prepare


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m deploy.kafka", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("JOURNEYLINE_KAFKA_DATA", "var/dev/kafka"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("JOURNEYLINE_KAFKA_PORT", 9092)))
    parser.add_argument("--controller-port", type=int, default=None, help="default: --port + 1")
    parser.add_argument("--cluster", help="BROKER_PORT:CONTROLLER_PORT of each node, comma-separated")
    parser.add_argument("--node", type=int, help="run only this node of --cluster (1-based)")
    parser.add_argument("--heap", default=os.environ.get("KAFKA_HEAP", "512m"), help="-Xmx of each JVM")
    parser.add_argument("--ready-timeout", type=float, default=120.0)
    parser.add_argument("--resolve", action="store_true", help="resolve the jars and exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    try:
        ensure_libs()
        if args.resolve:
            return 0
        if args.cluster:
            cluster = Cluster.parse(Path(args.data_dir), args.cluster)
        else:
            cluster = Cluster.single(Path(args.data_dir), args.port, args.controller_port or args.port + 1)
        nodes = [cluster.node(args.node)] if args.node else list(cluster.nodes)
        argvs = {node: prepare(cluster, node, args.heap) for node in nodes}
    except (KafkaUnavailable, ValueError, StopIteration) as exc:
        print(f"error: {exc or 'no such node'}", file=sys.stderr)
        return 2
    stopping = False

    def _stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    # The JVMs share this process group: a SIGKILL of the group (the tests) takes them along.
    running = {node: subprocess.Popen(argv, stdin=subprocess.DEVNULL) for node, argv in argvs.items()}
    code = _wait_ready(cluster, running, args.ready_timeout, lambda: stopping)
    while code is None and not stopping:
        time.sleep(0.2)
        code = next((p.returncode for p in running.values() if p.poll() not in (None, 0)), None)
    for process in running.values():
        if process.poll() is None:
            process.terminate()
    for node, process in running.items():
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            print(f"node {node.node_id} did not stop in 60 s; killing it", file=sys.stderr, flush=True)
            process.kill()
            process.wait()
    return code or 0


def _wait_ready(cluster: Cluster, running: dict, timeout_s: float, stopping) -> int | None:
    deadline = time.monotonic() + timeout_s
    pending = set(running)
    while pending and not stopping():
        for node in list(pending):
            if running[node].poll() is not None:
                print(f"node {node.node_id} exited with {running[node].returncode}", file=sys.stderr, flush=True)
                return running[node].returncode or 1
            if answers(node.address, node.node_id):
                pending.discard(node)
                print(f"kafka node {node.node_id} ready on {node.address}", flush=True)
        if time.monotonic() > deadline:
            print(f"kafka not ready in {timeout_s:.0f} s", file=sys.stderr, flush=True)
            return 1
        time.sleep(0.3)
    return None


if __name__ == "__main__":
    sys.exit(main())
