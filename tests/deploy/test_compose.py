"""The production compose file must stay valid (docker-compose validates it offline)."""
import os
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_validates():
    tool = shutil.which("docker-compose")
    assert tool, "docker-compose is missing: `make install` installs it (apt-get install docker-compose)"
    env = {**os.environ, "WRITE_KEYS": "k=website", "READ_TOKENS": "t"}
    result = subprocess.run([tool, "-f", str(ROOT / "docker-compose.yml"), "config"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert {"kafka", "clickhouse", "ingest", "processors", "api"} <= set(config["services"])
    assert config["services"]["kafka"]["image"].startswith("apache/kafka")
    assert config["services"]["clickhouse"]["image"].startswith("clickhouse/clickhouse-server")
    for name in ("ingest", "processors", "api"):
        env = config["services"][name]["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["CLICKHOUSE_URL"] == "http://clickhouse:8123"


def test_compose_refuses_missing_keys():
    tool = shutil.which("docker-compose")
    assert tool
    env = {k: v for k, v in os.environ.items() if k not in ("WRITE_KEYS", "READ_TOKENS")}
    result = subprocess.run([tool, "-f", str(ROOT / "docker-compose.yml"), "config"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode != 0 and "WRITE_KEYS" in result.stderr
