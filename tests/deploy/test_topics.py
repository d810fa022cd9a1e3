"""The topic plan documents how the processors scale: every topic has a key and its readers, the
partition count is TOPIC_PARTITIONS, and the plan prints as a table (python -m deploy.topics --plan)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from deploy.topics import plan_table, topic_plan
from services.common.settings import KafkaSettings

ROOT = Path(__file__).resolve().parents[2]


def test_every_topic_is_keyed_and_partitioned_for_scaling():
    settings = KafkaSettings(topic_partitions=12, topic_replication=3)
    plan = topic_plan(settings)
    assert {spec.name for spec in plan} == {settings.topic_touchpoints, settings.topic_dead_letter,
                                            settings.topic_feedback_status, settings.topic_identities,
                                            settings.topic_alerts}
    assert all(spec.key and spec.consumers for spec in plan)
    assert all((spec.partitions, spec.replication) == (12, 3) for spec in plan)
    touchpoints = next(spec for spec in plan if spec.name == settings.topic_touchpoints)
    assert touchpoints.key.startswith("customer_id") and "anon:" in touchpoints.key
    assert "scale out to 12 workers" in plan_table(settings)


def test_plan_prints_without_a_broker():
    done = subprocess.run([sys.executable, "-m", "deploy.topics", "--plan"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "TOPIC_PARTITIONS": "24"})
    assert done.returncode == 0, done.stderr
    assert "journeyline.touchpoints.v1" in done.stdout and "scale out to 24 workers" in done.stdout
