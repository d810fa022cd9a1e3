"""What every test shares: the write key and read token of the session stack, `wait_for`, and the
tiers. Markers, set here from what a test uses (`make test-fast` runs the fast tier):

* `stack`: needs the session stack (tests/stack_fixtures.py: started only when a test asks for it);
* `server`: starts real server processes of its own (embedded ClickHouse, Kafka brokers);
* `browser`: drives Chromium;
* `faults`: kills and restarts components.

The fast tier is everything else: pure tests and the in-process ClickHouse (chDB) tests. With
TEST_TIER=fast (`make test-fast`) property tests draw a tenth of their examples (`examples()`)."""
from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest

WRITE_KEY = "test-write-key"
READ_TOKEN = "test-read-token"
pytest_plugins = ("tests.stack_fixtures",)  # registered once, so the session has one stack
FAST_TIER = os.environ.get("TEST_TIER") == "fast"


def examples(count: int) -> int:
    """A property test's max_examples: all of them in `make test`, a tenth in the daily fast tier."""
    return max(5, count // 10) if FAST_TIER else count


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.stack)
        if item.path.parent.name == "faults":
            item.add_marker(pytest.mark.faults)


def wait_for(check: Callable[[], bool], timeout_s: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.2)
