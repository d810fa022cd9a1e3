"""Apache Kafka for the local stack, the tests and the benchmarks: KRaft nodes run from Maven jars.

The jars of `org.apache.kafka:kafka_2.13` (pom.xml) are resolved once into var/kafka/libs (`make kafka`,
or the first start when Maven is installed) and used offline afterwards. A node's data directory is
formatted with Kafka's StorageTool on first start and kept; `python -m deploy.kafka` runs one node
or a cluster in the foreground (__main__.py).
"""
from __future__ import annotations

import base64
import logging
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from string import Template

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
LIBS = Path(os.environ.get("JOURNEYLINE_KAFKA_LIBS", ROOT / "var" / "kafka" / "libs"))
RESOLVED = LIBS / ".resolved"  # written last, so a half-copied folder is resolved again
# The official kafka-run-class.sh's JVM options, with the heap bounded for a shared machine.
JVM_FLAGS = ["-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
             "-XX:+ExplicitGCInvokesConcurrent", "-XX:MaxInlineLevel=15", "-Djava.awt.headless=true"]


class KafkaUnavailable(RuntimeError):
    """Java, Maven or the jars are missing, or a node did not come up."""


@dataclass(frozen=True)
class Node:
    node_id: int
    port: int  # clients and the other brokers
    controller_port: int  # the KRaft quorum
    host: str = "127.0.0.1"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Cluster:
    """One node (combined broker and controller), or several forming one KRaft quorum."""

    nodes: tuple[Node, ...]
    data_dir: Path

    @classmethod
    def single(cls, data_dir: Path, port: int = 9092, controller_port: int = 9093) -> Cluster:
        return cls((Node(1, port, controller_port),), Path(data_dir))

    @classmethod
    def parse(cls, data_dir: Path, spec: str) -> Cluster:
        """`9092:9093,9094:9095,...`: broker and controller port of node 1, 2, ..."""
        nodes = []
        for i, pair in enumerate(filter(None, spec.split(",")), start=1):
            port, sep, controller = pair.partition(":")
            if not (sep and port.isdigit() and controller.isdigit()):
                raise ValueError(f"bad node {pair!r}: expected BROKER_PORT:CONTROLLER_PORT")
            nodes.append(Node(i, int(port), int(controller)))
        if not nodes:
            raise ValueError("no nodes given")
        return cls(tuple(nodes), Path(data_dir))

    @property
    def spec(self) -> str:
        return ",".join(f"{n.port}:{n.controller_port}" for n in self.nodes)

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(n.address for n in self.nodes)

    @property
    def replication(self) -> int:
        return min(3, len(self.nodes))

    @property
    def min_insync(self) -> int:
        # Two copies of every acknowledged record once there are three; a single node has one.
        return max(1, min(2, self.replication - 1))

    def node(self, node_id: int) -> Node:
        return next(n for n in self.nodes if n.node_id == node_id)

    def node_dir(self, node: Node) -> Path:
        return self.data_dir if len(self.nodes) == 1 else self.data_dir / f"node-{node.node_id}"

    def config(self, node: Node) -> str:
        template = Template((HERE / "server.properties").read_text())
        return template.substitute(
            node_id=node.node_id, host=node.host, port=node.port, controller_port=node.controller_port,
            voters=",".join(f"{n.node_id}@{n.host}:{n.controller_port}" for n in self.nodes),
            log_dir=self.node_dir(node) / "log", replication=self.replication, min_insync=self.min_insync,
        )

    def cluster_id(self) -> str:
        """Made once per data directory and shared by its nodes (a node of another id refuses to join)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "cluster.id"
        new = "-"
        while new.startswith("-"):  # as Kafka's own Uuid.randomUuid: an id starting with - reads as an option
            new = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            for _ in range(50):  # another node's launcher is writing it
                if text := path.read_text().strip():
                    return text
                time.sleep(0.1)
            raise KafkaUnavailable(f"{path} is empty") from None
        with os.fdopen(fd, "w") as out:
            out.write(new)
        return new


def java() -> str:
    home = os.environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not found or not os.access(found, os.X_OK):
        raise KafkaUnavailable("java not found: install a JRE 17+ (make kafka installs Debian's default JRE)")
    return found


def ensure_libs() -> Path:
    """The broker's jars; resolved with Maven when missing or older than pom.xml."""
    pom = HERE / "pom.xml"
    if RESOLVED.exists() and RESOLVED.read_text() == pom.read_text():
        return LIBS
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaUnavailable(f"no Kafka jars in {LIBS} and no mvn to resolve them: run `make kafka`")
    shutil.rmtree(LIBS, ignore_errors=True)
    done = subprocess.run([mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
                           f"-DoutputDirectory={LIBS}", "-DincludeScope=runtime"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise KafkaUnavailable(f"mvn could not resolve {pom}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    RESOLVED.write_text(pom.read_text())
    return LIBS


def java_argv(main_class: str, *args: str, heap: str = "512m") -> list[str]:
    return [java(), f"-Xmx{heap}", *JVM_FLAGS,
            f"-Dlog4j2.configurationFile={HERE / 'log4j2.properties'}",
            "-cp", f"{ensure_libs()}/*", main_class, *args]


def prepare(cluster: Cluster, node: Node, heap: str) -> list[str]:
    """Writes the node's config, formats its storage on first start; returns the broker's argv."""
    node_dir = cluster.node_dir(node)
    node_dir.mkdir(parents=True, exist_ok=True)
    config = node_dir / "server.properties"
    config.write_text(cluster.config(node))
    if not (node_dir / "log" / "meta.properties").exists():
        done = subprocess.run(java_argv("kafka.tools.StorageTool", "format", "--ignore-formatted",
                                        f"--cluster-id={cluster.cluster_id()}", "-c", str(config), heap="128m"),
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise KafkaUnavailable(f"formatting {node_dir} failed:\n{done.stdout}{done.stderr}")
    return java_argv("kafka.Kafka", str(config), heap=heap)


def answers(address: str, node_id: int | None = None, brokers: int = 1, timeout_s: float = 3.0) -> bool:
    """The broker at address answers a metadata request listing `brokers` brokers (and node_id among them)."""
    from kafka.admin import KafkaAdminClient

    quiet = logging.getLogger("kafka")  # refused connections while a node starts are expected
    if quiet.level == logging.NOTSET:
        quiet.setLevel(logging.CRITICAL)
    admin = None
    try:
        admin = KafkaAdminClient(bootstrap_servers=[address], client_id="journeyline-kafka-ready",
                                 request_timeout_ms=int(timeout_s * 1000), bootstrap_timeout_ms=int(timeout_s * 1000))
        ids = {b["broker_id"] for b in admin.describe_cluster()["brokers"] if not b.get("is_fenced")}
    except Exception:  # noqa: BLE001 - not answering yet, whatever the client makes of it
        return False
    finally:
        if admin is not None:
            admin.close()
    return len(ids) >= brokers and (node_id is None or node_id in ids)
