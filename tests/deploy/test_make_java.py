"""`make java` (run by make up/test/bench before Kafka's jars are resolved) installs a JRE 17+ and
Maven with apt-get exactly when a fresh machine lacks them: on a PATH holding only fakes."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL = "install -y -qq default-jre-headless maven"


def _fake(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)


def make_java(tmp_path: Path, java_version: str | None, mvn: bool) -> list[str]:
    """Run `make java` with only the given java/mvn on PATH; the apt-get calls it made."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "apt-get.calls"
    bin_dir.mkdir()
    os.symlink(shutil.which("grep"), bin_dir / "grep")
    _fake(bin_dir, "apt-get", f'echo "$*" >> {calls}')
    if java_version is not None:  # java -version prints to stderr, as the real one does
        _fake(bin_dir, "java", f"echo 'openjdk version \"{java_version}\" 2025-04-15' >&2")
    if mvn:
        _fake(bin_dir, "mvn", "exit 0")
    done = subprocess.run([shutil.which("make"), "--no-print-directory", "-C", str(ROOT), "java"],
                          env={"PATH": str(bin_dir), "HOME": str(tmp_path)}, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return calls.read_text().splitlines() if calls.exists() else []


@pytest.mark.parametrize(("java_version", "mvn"), [(None, False), (None, True), ("11.0.22", True),
                                                   ("1.8.0_392", True), ("17.0.15", False)])
def test_a_machine_without_java_17_or_maven_gets_them_from_apt(tmp_path, java_version, mvn):
    calls = make_java(tmp_path, java_version, mvn)
    assert calls[0] == "update -qq"
    assert calls[1].endswith(INSTALL)


@pytest.mark.parametrize("java_version", ["17.0.15", "21.0.5", "25"])
def test_a_machine_with_java_17_and_maven_installs_nothing(tmp_path, java_version):
    assert make_java(tmp_path, java_version, mvn=True) == []
