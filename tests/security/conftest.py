"""Helpers for the security tests: the `journeyline keys` CLI run as a real process against the
session stack's ClickHouse."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.local_stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]


def run_cli(stack: LocalStack, *args: str, clickhouse_url: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **stack.clickhouse_env(), **({"CLICKHOUSE_URL": clickhouse_url} if clickhouse_url else {})}
    return subprocess.run([sys.executable, "-m", "services.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="session")
def keys_cli(stack: LocalStack):
    def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
        return run_cli(stack, "keys", *args, **kwargs)

    return run


@pytest.fixture(scope="session")
def create_key(keys_cli):
    """create_key(kind, source) -> the JSON object `keys create --json` prints (with the secret)."""
    def create(kind: str, source: str = "") -> dict:
        args = ["create", "--kind", kind, "--json"] + (["--source", source] if source else [])
        done = keys_cli(*args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    return create
