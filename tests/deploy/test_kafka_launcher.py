"""The Kafka launcher's own contract (deploy/kafka): node configs, clear errors for bad input, and
the readiness probe. Starting, stopping and killing real brokers is in tests/faults/."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from deploy.kafka import Cluster, answers, prepare
from deploy.local_stack import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_a_cluster_of_three_replicates_every_write_twice(tmp_path):
    cluster = Cluster.parse(tmp_path, "9092:9093,9094:9095,9096:9097")
    assert (cluster.replication, cluster.min_insync) == (3, 2)
    config = dict(line.split("=", 1) for line in cluster.config(cluster.node(2)).splitlines()
                  if line and not line.startswith("#"))
    assert config["node.id"] == "2"
    assert config["controller.quorum.voters"] == "1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097"
    assert config["listeners"] == "PLAINTEXT://127.0.0.1:9094,CONTROLLER://127.0.0.1:9095"
    assert config["log.dirs"] == str(tmp_path / "node-2" / "log")
    assert (config["min.insync.replicas"], config["offsets.topic.replication.factor"]) == ("2", "3")
    assert config["auto.create.topics.enable"] == "false"
    single = Cluster.single(tmp_path)
    assert (single.replication, single.min_insync, single.bootstrap_servers) == (1, 1, "127.0.0.1:9092")


def test_nodes_of_one_data_directory_share_one_cluster_id(tmp_path):
    first = Cluster.single(tmp_path).cluster_id()
    assert len(first) == 22 and Cluster.single(tmp_path).cluster_id() == first


def test_no_cluster_id_starts_with_a_dash(tmp_path):
    # A base64url id starts with "-" once in 64; the storage tool would read it as an option.
    ids = [Cluster.single(tmp_path / str(i)).cluster_id() for i in range(640)]
    assert not [i for i in ids if i.startswith("-")]
    assert len(set(ids)) == len(ids)


@pytest.mark.server  # runs Kafka's storage tool (a JVM)
def test_storage_of_an_id_starting_with_a_dash_is_formatted(tmp_path):
    """A data directory whose cluster.id came from an older launcher still formats."""
    cluster = Cluster.single(tmp_path)
    (tmp_path / "cluster.id").write_text("-Vh2x3Qk0TIKvD3ZyL2kmw")
    prepare(cluster, cluster.nodes[0], "256m")
    meta = (cluster.node_dir(cluster.nodes[0]) / "log" / "meta.properties").read_text()
    assert "cluster.id=-Vh2x3Qk0TIKvD3ZyL2kmw" in meta


@pytest.mark.parametrize("spec", ["9092", "9092:x"])
def test_the_launcher_refuses_a_bad_node_list_with_its_reason(spec):
    done = subprocess.run([sys.executable, "-m", "deploy.kafka", "--data-dir", "/tmp/unused", "--cluster", spec],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"error: bad node {spec!r}: expected BROKER_PORT:CONTROLLER_PORT" in done.stderr


def test_empty_entries_are_skipped_but_a_port_alone_is_not():
    assert Cluster.parse(Path("/tmp"), "9092:9093,").spec == "9092:9093"
    with pytest.raises(ValueError, match="bad node '9094'"):
        Cluster.parse(Path("/tmp"), "9092:9093,,9094")


def test_nothing_listening_is_not_ready():
    t0 = time.monotonic()
    assert answers(f"127.0.0.1:{free_port()}", timeout_s=1.0) is False
    assert time.monotonic() - t0 < 10
