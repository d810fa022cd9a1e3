"""The service processes' collector settings (services/common/gc_tuning.py), in a fresh interpreter
so that this test process keeps CPython's defaults."""
from __future__ import annotations

import subprocess
import sys

from services.common.gc_tuning import GEN0_THRESHOLD

PROBE = """
import gc
from services.common.gc_tuning import tune_for_service
before = gc.get_threshold()
tune_for_service()
after = gc.get_threshold()
print(before[0], after[0], before[1:] == after[1:], gc.get_freeze_count() > 1000)
"""


def test_young_threshold_raised_and_startup_objects_frozen():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["700", str(GEN0_THRESHOLD), "True", "True"]
