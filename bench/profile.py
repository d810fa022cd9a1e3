"""py-spy profiles of a service process during a measured window, summarised for results.md."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

_LINE = re.compile(r"^(.*) (\d+)$")
_FRAME = re.compile(r"^(.*?) \((.*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


class Profile:
    """`py-spy record` of one process for `seconds`, sampled without pausing it."""

    def __init__(self, pid: int, seconds: float, out: Path, rate: int = 67):
        self.out = out
        exe = py_spy()
        self.process = None
        if exe is None:
            return
        self.process = subprocess.Popen(
            [exe, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))), "--rate", str(rate),
             "--nonblocking", "--format", "raw", "--output", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def summary(self, title: str, top: int = 14) -> str | None:
        if self.process is None:
            return "py-spy not installed: no profile."
        try:
            _, err = self.process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return "py-spy did not finish."
        if not self.out.exists():
            return f"py-spy failed: {err.decode(errors='replace').strip()[-300:]}"
        return summarise(self.out.read_text(), title, top)


def _frame(raw: str) -> str:
    match = _FRAME.match(raw.strip())
    if not match:
        return raw.strip()
    func, path = match.groups()
    for marker in ("site-packages/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        path = path.split("/wt-bench/", 1)[-1].split("/main/", 1)[-1]
    return f"{func} ({path})"


def summarise(raw: str, title: str, top: int = 14) -> str:
    """Self and inclusive time of the hottest functions in py-spy's raw (collapsed stack) output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        stack, count = match[1], int(match[2])
        frames = [_frame(f) for f in stack.split(";")[1:]]  # the first is the thread
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for f in set(frames):
            inclusive[f] += count
    if not total:
        return f"{title}: no samples."
    rows = [f"{total} samples while busy ({title}).", "", "| self % | function | | inclusive % | function |",
            "|---:|---|---|---:|---|"]
    hot_incl = [(f, c) for f, c in inclusive.most_common() if c < total * 0.999][:top]
    for (f1, c1), (f2, c2) in zip(own.most_common(top), hot_incl, strict=False):
        rows.append(f"| {100 * c1 / total:.1f} | `{f1}` | | {100 * c2 / total:.1f} | `{f2}` |")
    return "\n".join(rows)
