"""The Kafka topic plan, created up front with kafka-python's admin client.

Topics are never left to broker auto-creation: partition counts decide how far the
processors scale out, and a customer's events must keep one partition for good.

Scaling out (README "Scaling out"): a partition is the unit of processor parallelism. The
processors form one consumer group; Kafka gives each partition to exactly one worker, so up to
TOPIC_PARTITIONS workers share the load and any more stand by. Each topic is keyed so that what
must stay in order shares a partition: a customer's touchpoints (its identity key: customer_id,
or anon:<anonymous_id> before sign-in; ingest writes event records of one partition's events
with no key and the partition set by that key, schemas/records.py), one anonymous id's links, one feedback item's status
changes. Adding a worker is starting another process (a unique PROCESSOR_INSTANCE_ID); the group
rebalances and the journey table's changelog partitions move with their source partitions.
Adding partitions later would move keys between partitions (and their journey state), so
ensure_topics refuses a count that differs: choose TOPIC_PARTITIONS for the largest worker
count you expect (a multiple of the likely worker counts, e.g. 12 or 24).

The services create what is missing on start; `python -m deploy.topics` does it by hand
(`--plan` prints the plan: partitions, keys, consumers).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from services.common.settings import KafkaSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication: int
    config: dict[str, str]
    key: str = ""  # what the records are keyed by: all records of one key share a partition, in order
    consumers: str = ""  # who reads it; a consumer group scales up to `partitions` members


WEEK_MS = str(7 * 24 * 3600 * 1000)


def topic_plan(settings: KafkaSettings) -> list[TopicSpec]:
    # Every topic: an acknowledged write (acks=all) is on min.insync.replicas brokers, and no
    # out-of-sync replica may become leader and drop what was acknowledged.
    durable = {"min.insync.replicas": str(settings.min_insync_replicas), "unclean.leader.election.enable": "false"}

    def spec(name: str, config: dict[str, str], key: str, consumers: str) -> TopicSpec:
        return TopicSpec(name, settings.topic_partitions, settings.topic_replication, {**config, **durable},
                         key=key, consumers=consumers)

    forever = {"retention.ms": "-1", "cleanup.policy": "delete"}
    return [
        # Event records (schemas/records.py): many events of one partition per record, no key; ingest picks
        # the partition of each event's identity key (Kafka's default partitioner), so a customer's events
        # share one partition. Single-event records keyed by the identity key are read too.
        # ClickHouse keeps the durable log, Kafka a week of it for replay after outages.
        spec(settings.topic_touchpoints, {"retention.ms": WEEK_MS, "cleanup.policy": "delete"},
             key="customer_id (the identity key: anon:<anonymous_id> before sign-in) picks the partition; "
                 "event records carry no key",
             consumers="processors: journey agent (group PROCESSOR_APP_ID)"),
        # The journeys table's changelog (Faust restores the table from it): one record per customer
        # that matters, the last, so compacted. Created here so that it has the settings below
        # (Faust would declare it on first start otherwise). Partitioned like the touchpoints.
        spec(settings.topic_journeys_changelog, {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"},
             key="customer_id", consumers="processors: journeys table recovery"),
        # Refused records are kept until someone replays or discards them.
        spec(settings.topic_dead_letter, forever,
             key="the refused record's own key (an event of an event record: its customer_id)",
             consumers="journeyline dlq list / replay (operators)"),
        # Keyed by the feedback item's event_id, so one item's changes stay in order. Kept for
        # good: it is the log of record of status changes (ClickHouse history is its copy).
        spec(settings.topic_feedback_status, forever, key="event_id of the feedback item",
             consumers="processors: feedback agent"),
        # Identity links (POST /v1/identify), keyed by anonymous_id so one id's links stay in order.
        # Kept for good and not compacted: an anonymous id stays with its first customer, and
        # compaction would keep a later, conflicting link instead.
        spec(settings.topic_identities, forever, key="anonymous_id", consumers="processors: identity agent"),
        # Detractor alerts, keyed by customer_id; consumers act within minutes, a week is plenty.
        spec(settings.topic_alerts, {"retention.ms": WEEK_MS, "cleanup.policy": "delete"}, key="customer_id",
             consumers="your alerting consumers"),
    ]


def ensure_topics(settings: KafkaSettings, timeout_s: float = 30.0) -> list[str]:
    """Create missing topics; returns the names created. Waits for the broker up to timeout_s."""
    admin = _admin(settings, timeout_s)
    try:
        existing = set(admin.list_topics())
        wanted = [t for t in topic_plan(settings) if t.name not in existing]
        created = []
        for spec in wanted:
            try:
                admin.create_topics(
                    [NewTopic(spec.name, spec.partitions, spec.replication, topic_configs=spec.config)]
                )
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass
        have = partition_count(admin, settings.topic_touchpoints)
        if have != settings.topic_partitions:
            # Changing the count would move customers between partitions; say so, don't "fix" it.
            raise PartitionMismatch(
                f"topic {settings.topic_touchpoints} has {have} partitions but TOPIC_PARTITIONS is "
                f"{settings.topic_partitions}; set TOPIC_PARTITIONS={have} (journey state is "
                "partitioned like the topic)"
            )
        return created
    finally:
        admin.close()


class PartitionMismatch(RuntimeError):
    pass


def partition_count(admin: KafkaAdminClient, topic: str) -> int:
    return len(admin.describe_topics([topic])[0]["partitions"])


def _admin(settings: KafkaSettings, timeout_s: float) -> KafkaAdminClient:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return KafkaAdminClient(
                bootstrap_servers=settings.kafka_bootstrap_servers.split(","),
                client_id="journeyline-topics",
                request_timeout_ms=10_000,
            )
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def plan_table(settings: KafkaSettings) -> str:
    """The plan as text: one line per topic with its partitions, replication, key and consumers."""
    lines = [f"{'topic':40} {'partitions':>10} {'replicas':>8}  key / consumers / settings"]
    for spec in topic_plan(settings):
        lines.append(f"{spec.name:40} {spec.partitions:>10} {spec.replication:>8}  {spec.key}")
        lines.append(f"{'':62}read by {spec.consumers}")
        lines.append(f"{'':62}" + ", ".join(f"{k}={v}" for k, v in sorted(spec.config.items())))
    lines.append(f"processors scale out to {settings.topic_partitions} workers (TOPIC_PARTITIONS); more stand by")
    return "\n".join(lines)

