"""Storm clients in a process of their own (so their threads do not slow the test's own posting):
`python -m tests.faults.storm_clients URL SECONDS CLIENTS` posts heavy funnels until SECONDS have
passed and prints one JSON list of [status, seconds] answers."""
from __future__ import annotations

import json
import sys
import threading
import time

import httpx

from tests.load import HEAVY_FUNNEL, TOKENS


def main(url: str, seconds: float, clients: int) -> None:
    until, answers, lock = time.monotonic() + seconds, [], threading.Lock()

    def run(token: str) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
            while time.monotonic() < until:
                started = time.monotonic()
                try:
                    status: int | str = c.post("/v1/funnels", json=HEAVY_FUNNEL).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                with lock:
                    answers.append((status, time.monotonic() - started))
                if status in (429, 503):
                    time.sleep(0.2)

    threads = [threading.Thread(target=run, args=(TOKENS[i % len(TOKENS)],)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(answers))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))
