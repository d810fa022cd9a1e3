"""Faults of a 3-broker Apache Kafka cluster (KRaft, replication 3, min.insync.replicas 2, acks=all),
with the real ingest, two processor workers, ClickHouse and API, clients posting throughout.

After each fault every event that got a 202 is in ClickHouse `events` exactly once, in the journeys
and in the stage funnel (assert_exactly_once); clients only ever see 202 or 503 + Retry-After
(Poster fails on anything else).
"""
from __future__ import annotations

import signal
import time

import clickhouse_connect
import pytest
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from deploy.local_stack import LocalStack, Ports
from services.common.settings import KafkaSettings
from tests.conftest import READ_TOKEN, WRITE_KEY, wait_for
from tests.faults.test_delivery_faults import Poster, assert_exactly_once, make_events


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    stack = LocalStack(
        tmp_path_factory.mktemp("cluster"), Ports.free(), write_key=WRITE_KEY, read_token=READ_TOKEN,
        brokers=3, kafka_heap="384m", workers=2,
        extra_env={"TOPIC_PARTITIONS": "4", "BATCH_WITHIN_S": "0.2", "BATCH_SIZE": "200",
                   "SINK_MAX_BACKOFF_S": "2", "PRODUCE_TIMEOUT_S": "3", "KAFKA_REQUEST_TIMEOUT_MS": "2000",
                   "RECOVERY_STALL_S": "30"},
    )
    try:
        stack.start(timeout_s=180)
        yield stack
    finally:
        stack.stop()


def touchpoint_leaders(stack: LocalStack) -> list[int] | None:
    """Leader of each touchpoint partition as a running broker sees it (-1: none); None if none answered."""
    for name, node in zip(stack.kafka_names, stack.kafka.nodes, strict=True):
        if stack.components[name].process.poll() is not None:
            continue
        try:
            admin = KafkaAdminClient(bootstrap_servers=[node.address], request_timeout_ms=5000)
        except KafkaError:
            continue
        try:
            partitions = admin.describe_topics([KafkaSettings().topic_touchpoints])[0]["partitions"]
            return [p["leader_id"] for p in partitions]
        except KafkaError:
            continue
        finally:
            admin.close()
    return None


def landed(stack: LocalStack, prefix: str) -> int:
    ch = clickhouse_connect.get_client(host="127.0.0.1", port=stack.ports.clickhouse, database="journeyline",
                                       autogenerate_session_id=False, password=stack.clickhouse_password)
    try:
        return ch.query("SELECT uniqExact(event_id) FROM events WHERE customer_id LIKE {p:String}",
                        parameters={"p": f"{prefix}-cust-%"}).result_rows[0][0]
    finally:
        ch.close()


def test_the_cluster_is_replicated(cluster):
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers.split(","))
    try:
        partitions = admin.describe_topics([KafkaSettings().topic_touchpoints])[0]["partitions"]
        assert len(partitions) == 4
        assert all(len(p["replica_nodes"]) == 3 and len(p["isr_nodes"]) == 3 for p in partitions)
        config = admin.describe_configs([_topic(KafkaSettings().topic_touchpoints)])["topic"]
        assert config[KafkaSettings().topic_touchpoints]["min.insync.replicas"]["value"] == "2"
    finally:
        admin.close()


def _topic(name: str):
    from kafka.admin import ConfigResource, ConfigResourceType

    return ConfigResource(ConfigResourceType.TOPIC, name)


def test_touchpoint_leader_killed_for_20_seconds(cluster):
    events = make_events("cl", customers=120, per_customer=10, seed=11)
    leaders = touchpoint_leaders(cluster)
    victim = max(set(leaders), key=leaders.count)  # the broker leading the most touchpoint partitions
    poster = Poster(cluster.ingest_url, events + events[:200], batch=50, pause_s=0.2)
    poster.start()
    wait_for(lambda: poster.statuses.count(202) >= 5, timeout_s=30, what="first batches accepted")
    cluster.kill(f"kafka-{victim}", signal.SIGKILL)
    down = time.monotonic()
    # The controller fences the dead broker and moves its leaderships to the in-sync replicas.
    wait_for(lambda: victim not in (touchpoint_leaders(cluster) or [victim]), timeout_s=20, what="leaders moved")
    time.sleep(max(0.0, 20 - (time.monotonic() - down)))
    assert poster.error is None
    cluster.start(f"kafka-{victim}", timeout_s=120)
    poster.join(240)
    assert poster.error is None and not poster.is_alive()
    assert set(poster.statuses) <= {202, 503}
    assert all(v.isdigit() and int(v) > 0 for v in poster.retry_after)
    assert_exactly_once(cluster, events, "cl")


def test_two_of_three_brokers_down_then_back(cluster):
    events = make_events("cq", customers=80, per_customer=10, seed=12)
    first, second = events[:400], events[400:]
    Poster(cluster.ingest_url, first).run()
    cluster.kill("kafka-2", signal.SIGKILL)
    cluster.kill("kafka-3", signal.SIGKILL)
    # One broker alone cannot hold two copies of a write: ingest refuses with 503 + Retry-After.
    poster = Poster(cluster.ingest_url, second + first[:100], batch=50, pause_s=0.2)
    poster.start()
    wait_for(lambda: poster.statuses.count(503) >= 3, timeout_s=60, what="503 while two brokers are down")
    assert 202 not in poster.statuses, "nothing may be acknowledged with one copy"
    cluster.start("kafka-2", "kafka-3", timeout_s=120)
    poster.join(240)
    assert poster.error is None and not poster.is_alive()
    assert poster.statuses[-1] == 202 and poster.retry_after
    assert_exactly_once(cluster, events, "cq")


def test_one_of_two_workers_killed_and_restarted(cluster):
    events = make_events("cw", customers=160, per_customer=10, seed=13)
    first, second = events[:1000], events[1000:]
    poster = Poster(cluster.ingest_url, first, batch=50, pause_s=0.1)
    poster.start()
    wait_for(lambda: poster.statuses.count(202) >= 5, timeout_s=30, what="first batches accepted")
    cluster.kill("processors-2", signal.SIGKILL)
    poster.join(120)
    assert poster.error is None and set(poster.statuses) == {202}
    # Only the surviving worker can land these: it has taken the dead one's partitions and state.
    wait_for(lambda: landed(cluster, "cw") == len({e["event_id"] for e in first}), timeout_s=120,
             what="the survivor processing every partition")
    assert cluster.components["processors"].process.poll() is None
    cluster.start("processors-2", timeout_s=120)  # the group rebalances again
    Poster(cluster.ingest_url, second + first[:200], batch=50, pause_s=0.05).run()
    assert_exactly_once(cluster, events, "cw")
