"""The whole stack as local processes: Apache Kafka, embedded ClickHouse, ingest, processors, API.

`make up` and the integration tests both start it from here. Each component is a real
process in its own session, so a test can SIGKILL one and start it again. Kafka is one KRaft
node ("kafka"), or with brokers=3 a cluster of three ("kafka-1".."kafka-3", deploy/kafka).
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from deploy.kafka import Cluster, Node, answers
from schemas.clickhouse.bi import BI_USER, BI_VIEWS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Ports:
    kafka: int = 9092
    clickhouse: int = 8123
    ingest: int = 8080
    api: int = 8000
    processors_web: int = 6066
    kafka_controller: int = 9093

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port(), free_port(), free_port(), free_port())

    @classmethod
    def from_env(cls) -> Ports:
        env = os.environ
        return cls(
            int(env.get("JOURNEYLINE_KAFKA_PORT", 9092)),
            int(env.get("JOURNEYLINE_CLICKHOUSE_PORT", 8123)),
            int(env.get("INGEST_PORT", 8080)),
            int(env.get("API_PORT", 8000)),
            int(env.get("PROCESSORS_WEB_PORT", 6066)),
            int(env.get("JOURNEYLINE_KAFKA_CONTROLLER_PORT", int(env.get("JOURNEYLINE_KAFKA_PORT", 9092)) + 1)),
        )


@dataclass
class Component:
    name: str
    argv: list[str]
    ready: Callable[[], bool]
    process: subprocess.Popen | None = None
    env: dict[str, str] = field(default_factory=dict)  # on top of the stack's


@dataclass
class LocalStack:
    root: Path
    ports: Ports = field(default_factory=Ports)
    write_key: str = "dev-write-key"
    read_token: str = "dev-read-token"
    brokers: int = 1  # Kafka nodes: 1, or a cluster (3: replication 3, min.insync.replicas 2)
    kafka_heap: str = "512m"  # -Xmx of each Kafka JVM
    workers: int = 1  # processor workers in one group: "processors", "processors-2", ...
    extra_env: dict[str, str] = field(default_factory=dict)
    components: dict[str, Component] = field(default_factory=dict)
    # Restarted when they exit on their own, as an orchestrator would: the processors end
    # themselves when their table recovery is stuck (services/processors/watchdog.py).
    supervised: tuple[str, ...] = ("processors",)
    restarts: dict[str, int] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _stopping: set[str] = field(default_factory=set, repr=False)
    _supervisor: threading.Thread | None = field(default=None, repr=False)
    _closed: bool = field(default=False, repr=False)
    _more_kafka_ports: list[tuple[int, int]] = field(default_factory=list, repr=False)
    _worker_web_ports: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        # Node 1 uses ports.kafka / kafka_controller; the others get free ports of their own.
        self._more_kafka_ports = [(free_port(), free_port()) for _ in range(self.brokers - 1)]
        self._worker_web_ports = [self.ports.processors_web, *(free_port() for _ in range(self.workers - 1))]

    @property
    def kafka(self) -> Cluster:
        ports = [(self.ports.kafka, self.ports.kafka_controller), *self._more_kafka_ports]
        nodes = tuple(Node(i, port, controller) for i, (port, controller) in enumerate(ports, start=1))
        return Cluster(nodes, self.root / "kafka")

    @property
    def kafka_names(self) -> tuple[str, ...]:
        return ("kafka",) if self.brokers == 1 else tuple(f"kafka-{i}" for i in range(1, self.brokers + 1))

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.ingest}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.api}"

    @property
    def processors_url(self) -> str:
        """Faust's web server: /metrics, /healthz, /readyz."""
        return f"http://127.0.0.1:{self.ports.processors_web}"

    @property
    def clickhouse_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.clickhouse}"

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka.bootstrap_servers

    @property
    def clickhouse_password(self) -> str:
        """The services' ClickHouse password: CLICKHOUSE_PASSWORD when set, else one generated on
        first use and kept in the data folder (clickhouse.password, owner-only)."""
        given = self.extra_env.get("CLICKHOUSE_PASSWORD") or os.environ.get("CLICKHOUSE_PASSWORD")
        if given:
            return given
        path = self.root / "clickhouse.password"
        if not path.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(24) + "\n")
        return path.read_text().strip()

    def clickhouse_env(self) -> dict[str, str]:
        """What a process needs to reach this stack's ClickHouse as the services do."""
        return {"CLICKHOUSE_URL": self.clickhouse_url, "CLICKHOUSE_PASSWORD": self.clickhouse_password}

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            **self.clickhouse_env(),
            "INGEST_PORT": str(self.ports.ingest),
            "API_PORT": str(self.ports.api),
            "WRITE_KEYS": self.write_key,
            "READ_TOKENS": self.read_token,
            "PROCESSOR_DATA_DIR": str(self.root / "processors"),
            "WEB_PORT": str(self.ports.processors_web),
            "PYTHONUNBUFFERED": "1",
        })
        if self.brokers > 1:
            env["TOPIC_REPLICATION"] = str(self.kafka.replication)
        env.update(self.extra_env)
        return env

    def _definitions(self) -> dict[str, Component]:
        p, py, env = self.ports, sys.executable, self.env()
        return {
            **self._kafka_definitions(),
            "clickhouse": Component(
                "clickhouse",
                [py, "-m", "deploy.embedded_clickhouse", "--path", str(self.root / "clickhouse"),
                 "--host", "127.0.0.1", "--port", str(p.clickhouse),
                 # The services' user, and BI's: read-only, the documented views only (schemas/clickhouse/bi.py).
                 "--user", f"{env.get('CLICKHOUSE_USER', 'default')}:{env['CLICKHOUSE_PASSWORD']}",
                 "--user", f"{BI_USER}:{env.get('BI_PASSWORD', 'bi-dev-password')}:readonly:views="
                 + ",".join(f"{env.get('CLICKHOUSE_DATABASE', 'journeyline')}.{view}" for view in BI_VIEWS)],
                lambda: _http_ok(f"{self.clickhouse_url}/ping"),
            ),
            "ingest": Component("ingest", [py, "-m", "services.ingest.app"],
                                lambda: _http_ok(f"{self.ingest_url}/readyz")),
            **self._worker_definitions(),
            "api": Component("api", [py, "-m", "services.api.app"],
                             lambda: _http_ok(f"{self.api_url}/readyz")),
        }

    def _kafka_definitions(self) -> dict[str, Component]:
        cluster, py = self.kafka, sys.executable
        definitions = {}
        for name, node in zip(self.kafka_names, cluster.nodes, strict=True):
            argv = [py, "-m", "deploy.kafka", "--data-dir", str(cluster.data_dir), "--cluster", cluster.spec,
                    "--heap", self.kafka_heap]
            if self.brokers > 1:
                argv += ["--node", str(node.node_id)]
            # Ready once the node answers and lists itself as an unfenced broker.
            definitions[name] = Component(name, argv, lambda node=node: answers(node.address, node.node_id, 1, 1.0))
        return definitions

    def _worker_definitions(self) -> dict[str, Component]:
        definitions = {}
        for i, port in enumerate(self._worker_web_ports, start=1):
            name = "processors" if i == 1 else f"processors-{i}"
            # Faust serves /readyz once table recovery is done and the agents run.
            ready = lambda port=port: _http_ok(f"http://127.0.0.1:{port}/readyz")  # noqa: E731
            env = {} if self.workers == 1 else {
                # Static membership ids are unique per worker; the default (the host name) is not here.
                "PROCESSOR_INSTANCE_ID": f"processor-{i}", "WEB_PORT": str(port),
                "PROCESSOR_DATA_DIR": str(self.root / name)}
            definitions[name] = Component(name, [sys.executable, "-m", "services.processors"], ready, env=env)
        return definitions

    @property
    def worker_names(self) -> tuple[str, ...]:
        return ("processors", *(f"processors-{i}" for i in range(2, self.workers + 1)))

    def log_path(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    def start(self, *names: str, timeout_s: float = 90.0) -> None:
        """Start the named components (all, in dependency order, when none named) and wait."""
        definitions = self._definitions()
        names = names or tuple(definitions)
        pending: list[Component] = []
        for i, name in enumerate(names):
            with self._lock:
                component = definitions[name]
                self.components[name] = component
                self._stopping.discard(name)
                self.log_path(name).parent.mkdir(parents=True, exist_ok=True)
                with open(self.log_path(name), "ab") as log:
                    component.process = subprocess.Popen(
                        component.argv, env={**self.env(), **component.env}, stdout=log, stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL, start_new_session=True,
                        cwd=Path(__file__).resolve().parent.parent,
                    )
                pending.append(component)
                # Kafka nodes start together: a cluster's first node waits for a quorum of controllers.
                if name in self.kafka_names and i + 1 < len(names) and names[i + 1] in self.kafka_names:
                    continue
                for waiting in pending:
                    self._wait(waiting, timeout_s)
                pending.clear()
        self._closed = False
        if self.supervised and (self._supervisor is None or not self._supervisor.is_alive()):
            self._supervisor = threading.Thread(target=self._supervise, name="stack-supervisor", daemon=True)
            self._supervisor.start()

    def _supervise(self) -> None:
        while not self._closed:
            time.sleep(0.5)
            for name in self.supervised:
                with self._lock:
                    component = self.components.get(name)
                    if (component is None or component.process is None or name in self._stopping
                            or component.process.poll() is None):
                        continue
                    self.restarts[name] = self.restarts.get(name, 0) + 1
                    with open(self.log_path(name), "ab") as log:
                        log.write(f"[local stack] {name} exited with {component.process.returncode}; "
                                  f"restarting\n".encode())
                    try:
                        self.start(name)
                    except RuntimeError:
                        pass  # exited again at once: the next round retries

    def _wait(self, component: Component, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not component.ready():
            code = component.process.poll()
            if code is not None:
                raise RuntimeError(f"{component.name} exited with {code}; see {self.log_path(component.name)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{component.name} not ready in {timeout_s}s; see {self.log_path(component.name)}")
            time.sleep(0.1)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        with self._lock:
            self._stopping.add(name)
            component = self.components[name]
            if component.process and component.process.poll() is None:
                os.killpg(component.process.pid, sig)
                component.process.wait(timeout=30)

    def stop(self, *names: str, timeout_s: float = 15.0) -> None:
        """Stop components in reverse start order: SIGTERM, then SIGKILL after timeout_s."""
        if not names:
            self._closed = True
        for name in reversed(names or tuple(self.components)):
            with self._lock:
                self._stopping.add(name)
                component = self.components.get(name)
                if component is None or component.process is None or component.process.poll() is not None:
                    continue
                os.killpg(component.process.pid, signal.SIGTERM)
                try:
                    component.process.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    self.kill(name)

    def wipe(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
