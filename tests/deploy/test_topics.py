"""The topic plan documents how the processors scale: every topic has a key and its readers, the
partition count is TOPIC_PARTITIONS, and the plan prints as a table (python -m deploy.topics --plan)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from services.common.settings import KafkaSettings
from services.common.topics import partition_count, plan_table, topic_plan

ROOT = Path(__file__).resolve().parents[2]


def test_every_topic_is_keyed_and_partitioned_for_scaling():
    settings = KafkaSettings(topic_partitions=12, topic_replication=3)
    plan = topic_plan(settings)
    assert {spec.name for spec in plan} == {settings.topic_touchpoints, settings.topic_dead_letter,
                                            settings.topic_feedback_status, settings.topic_identities,
                                            settings.topic_alerts, "journeyline-processors-journeys-changelog"}
    assert all(spec.key and spec.consumers for spec in plan)
    assert all((spec.partitions, spec.replication) == (12, 3) for spec in plan)
    # Replication 3: an acknowledged write is on two brokers at least.
    assert all(spec.config["min.insync.replicas"] == "2" for spec in plan)
    touchpoints = next(spec for spec in plan if spec.name == settings.topic_touchpoints)
    assert touchpoints.key.startswith("customer_id") and "anon:" in touchpoints.key
    assert "scale out to 12 workers" in plan_table(settings)


def test_plan_prints_without_a_broker():
    done = subprocess.run([sys.executable, "-m", "deploy.topics", "--plan"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "TOPIC_PARTITIONS": "24"})
    assert done.returncode == 0, done.stderr
    assert "journeyline.touchpoints.v1" in done.stdout and "scale out to 24 workers" in done.stdout


def test_durability_settings_follow_the_replication():
    assert KafkaSettings(topic_replication=1).min_insync_replicas == 1
    assert KafkaSettings(topic_replication=3).min_insync_replicas == 2
    assert KafkaSettings(topic_replication=5).min_insync_replicas == 2
    assert KafkaSettings(topic_replication=3, topic_min_insync_replicas=3).min_insync_replicas == 3
    policies = {spec.name: spec.config["cleanup.policy"] for spec in topic_plan(KafkaSettings())}
    assert policies.pop("journeyline-processors-journeys-changelog") == "compact"
    # Identity links keep their first link per anonymous id: compaction would keep the last instead.
    assert set(policies.values()) == {"delete"}


def test_the_broker_holds_the_plan(stack):
    """The topics ingest created up front carry the plan's settings on the real broker."""
    settings = KafkaSettings(kafka_bootstrap_servers=stack.bootstrap_servers, topic_partitions=3)
    admin = KafkaAdminClient(bootstrap_servers=stack.bootstrap_servers.split(","))
    try:
        plan = {spec.name: spec for spec in topic_plan(settings)}
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name) for name in plan])
        for name, spec in plan.items():
            have = described["topic"][name]
            assert {key: have[key]["value"] for key in spec.config} == spec.config, name
        assert {name: partition_count(admin, name) for name in plan} == {name: 3 for name in plan}
    finally:
        admin.close()

