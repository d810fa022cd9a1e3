"""The broker's own ceilings, measured with Kafka's ProducerPerformance and ConsumerPerformance from the
same jars as the broker (deploy/kafka), on the bench's broker, beside the project's figures."""
from __future__ import annotations

import os
import re
import subprocess

from deploy.kafka import java_argv

TOOL_HEAP = "256m"


def ensure_topic(bootstrap: str, name: str, partitions: int) -> None:
    """A topic of the bench's own (the broker creates none on first use)."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()


def _run(main_class: str, *args: str, timeout_s: float = 300) -> str:
    done = subprocess.run(java_argv(main_class, *args, heap=TOOL_HEAP), capture_output=True, text=True,
                          timeout=timeout_s, env={**os.environ, "KAFKA_LOG_LEVEL": "WARN"})
    if done.returncode != 0:
        raise RuntimeError(f"{main_class} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def produce(bootstrap: str, topic: str, records: int, record_bytes: int, linger_ms: int, batch_bytes: int) -> dict:
    """records/s, MB/s and latency of the Java producer, acks=all, as fast as it goes."""
    out = _run("org.apache.kafka.tools.ProducerPerformance", "--topic", topic, "--num-records", str(records),
               "--record-size", str(record_bytes), "--throughput", "-1", "--producer-props",
               f"bootstrap.servers={bootstrap}", "acks=all", f"linger.ms={linger_ms}", f"batch.size={batch_bytes}")
    # The summary: "N records sent, R records/sec (M MB/sec), A ms avg latency, X ms max latency, ..."
    line = [ln for ln in out.splitlines() if "records sent" in ln][-1]
    rate, mb, avg = re.search(r"([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency", line).groups()
    p99 = re.search(r"([\d.]+) ms 99th", line).group(1)
    return {"records_s": float(rate), "mb_s": float(mb), "avg_ms": float(avg), "p99_ms": float(p99)}


def consume(bootstrap: str, topic: str, records: int) -> dict:
    """records/s, MB/s and MB (MiB) of the Java consumer reading `records` from the start of the topic."""
    out = _run("org.apache.kafka.tools.ConsumerPerformance", "--bootstrap-server", bootstrap, "--topic", topic,
               "--num-records", str(records), "--timeout", "60000")
    lines = out.splitlines()
    at = max(i for i, ln in enumerate(lines) if ln.startswith("start.time"))  # the CSV header, then one row
    header = lines[at]
    rows = [ln for ln in lines[at + 1:] if ln.count(",") == header.count(",")]
    if not rows:
        raise RuntimeError(f"ConsumerPerformance gave no figures:\n{out[-2000:]}")
    values = rows[0]
    row = dict(zip([h.strip() for h in header.split(",")], [v.strip() for v in values.split(",")], strict=True))
    # The fetch.* rates leave out the JVM's start and the group join, which the overall ones include.
    return {"records_s": float(row["fetch.nMsg.sec"]), "mb_s": float(row["fetch.MB.sec"]),
            "mb": float(row["data.consumed.in.MB"])}
