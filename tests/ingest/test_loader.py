"""The loader against a small real HTTP server: a FastAPI app served by uvicorn in a thread."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

import pytest
import uvicorn
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from rich.console import Console

from schemas.events import EventBatch
from services.cli.load import main
from services.client.loader import AuthError, LoadError, LoadSummary, load_events
from services.demo import generate

WRITE_KEY = "test-write-key"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


class Recorder:
    """What the test server received, and how it should misbehave."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.received: Counter[str] = Counter()  # event_id -> times accepted
        self.statuses: list[int] = []
        self.unavailable = 0  # answer 503 this many times
        self.retry_after = "0"
        self.max_events: int | None = None  # 413 above this many events
        self.poison: set[str] = set()  # 422 naming no event when one of these is in the batch


def make_app(rec: Recorder) -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def record_status(request: Request, call_next):
        response = await call_next(request)
        rec.statuses.append(response.status_code)
        return response

    def gate(authorization: Annotated[str | None, Header()] = None) -> None:
        if authorization != f"Bearer {WRITE_KEY}":
            raise HTTPException(401, "a valid write key is required", headers={"WWW-Authenticate": "Bearer"})
        if rec.unavailable > 0:
            rec.unavailable -= 1
            raise HTTPException(
                503, "the event broker is unavailable", headers={"Retry-After": rec.retry_after}
            )

    @app.post("/v1/events", status_code=202, dependencies=[Depends(gate)])
    def post_events(batch: EventBatch) -> dict:
        if rec.max_events is not None and len(batch.events) > rec.max_events:
            raise HTTPException(413, "request body is too large")
        if any(e.event_id in rec.poison for e in batch.events):
            raise RequestValidationError(
                [{"type": "value_error", "loc": ("body",), "msg": "batch refused", "input": None}]
            )
        for event in batch.events:
            rec.received[event.event_id] += 1
        return {"accepted": len(batch.events)}

    return app


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serve(app: FastAPI, sock: socket.socket) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "test server did not start"
        time.sleep(0.01)
    host, port = sock.getsockname()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def fake_server() -> Iterator[tuple[str, Recorder]]:
    rec = Recorder()
    with serve(make_app(rec), _free_socket()) as url:
        yield url, rec


@pytest.fixture
def fake_ingest(fake_server) -> tuple[str, Recorder]:
    url, rec = fake_server
    rec.reset()
    return url, rec


@pytest.fixture(scope="module")
def demo() -> list[dict]:
    return generate(customers=50, seed=11, now=NOW)


def _load(events, url, **kwargs) -> LoadSummary:
    kwargs.setdefault("progress", False)
    return load_events(events, url, kwargs.pop("write_key", WRITE_KEY), **kwargs)


def test_delivers_everything_once_in_batches(fake_ingest, demo):
    url, rec = fake_ingest
    assert len(demo) >= 300
    summary = _load(demo, url, batch_size=100)
    assert summary.sent == summary.accepted == len(demo)
    assert summary.refused == []
    assert summary.elapsed > 0
    assert rec.received == Counter(e["event_id"] for e in demo)
    assert rec.statuses == [202] * -(-len(demo) // 100)
    assert summary.requests == len(rec.statuses) and summary.retries == 0


def test_invalid_events_are_refused_and_the_rest_delivered_once(fake_ingest, demo):
    url, rec = fake_ingest
    events = [dict(e) for e in demo[:250]]
    events[3]["stage"] = "shopping"
    events[150].pop("customer_id", None)
    events[150].pop("anonymous_id", None)
    events[151]["occurred_at"] = "2026-11-20T08:14:03"  # no offset
    del events[160]["event_id"]
    bad_ids = {events[3]["event_id"], events[150]["event_id"], events[151]["event_id"]}

    summary = _load(events, url, batch_size=100)

    refused = dict(summary.refused)
    assert set(refused) == bad_ids | {160}  # event_id when there is one, else the input index
    assert "stage" in refused[events[3]["event_id"]]
    assert "customer_id or anonymous_id is required" in refused[events[150]["event_id"]]
    assert "occurred_at" in refused[events[151]["event_id"]]
    assert "event_id" in refused[160]
    assert summary.sent == 250
    assert summary.accepted == 246
    # every valid event exactly once, none of the refused ones
    assert rec.received == Counter(
        e["event_id"] for e in events if e.get("event_id") and e["event_id"] not in bad_ids
    )
    # batches 1 and 2 were refused whole, then resent without their invalid events
    assert rec.statuses == [422, 202, 422, 202, 202]


def test_a_422_naming_no_event_is_narrowed_down(fake_ingest, demo):
    url, rec = fake_ingest
    events = demo[:64]
    rec.poison = {events[37]["event_id"]}
    summary = _load(events, url, batch_size=64)
    assert [r.event for r in summary.refused] == [events[37]["event_id"]]
    assert "batch refused" in summary.refused[0].reason
    assert summary.accepted == 63
    assert rec.received == Counter(e["event_id"] for i, e in enumerate(events) if i != 37)


def test_retries_503_honouring_retry_after(fake_ingest, demo):
    url, rec = fake_ingest
    rec.unavailable, rec.retry_after = 2, "7"
    waits: list[float] = []
    summary = _load(demo[:120], url, batch_size=100, sleep=waits.append)
    assert waits == [7.0, 7.0]
    assert summary.accepted == 120 and summary.retries == 2
    assert rec.statuses == [503, 503, 202, 202]
    assert rec.received == Counter(e["event_id"] for e in demo[:120])


def test_retry_after_really_waits(fake_ingest, demo):
    url, rec = fake_ingest
    rec.unavailable, rec.retry_after = 1, "1"
    started = time.monotonic()
    summary = _load(demo[:10], url)
    assert time.monotonic() - started >= 0.95
    assert summary.accepted == 10 and rec.statuses == [503, 202]


def test_gives_up_after_bounded_attempts(fake_ingest, demo):
    url, rec = fake_ingest
    rec.unavailable, rec.retry_after = 100, "2"
    waits: list[float] = []
    with pytest.raises(LoadError) as caught:
        _load(demo[:10], url, max_attempts=3, sleep=waits.append)
    assert "503" in str(caught.value) and "3 attempts" in str(caught.value)
    assert waits == [2.0, 2.0]
    assert rec.statuses == [503, 503, 503]
    assert caught.value.summary.accepted == 0 and not rec.received


def test_connection_errors_are_retried_with_backoff(demo):
    rec = Recorder()
    sock = _free_socket()  # bound, not listening yet: connections are refused
    host, port = sock.getsockname()
    waits: list[float] = []
    with contextmanager_stack() as stack:

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            if len(waits) == 2:  # the service comes up during the second wait
                stack.enter(serve(make_app(rec), sock))

        summary = _load(demo[:50], f"http://{host}:{port}", backoff=0.1, sleep=sleep)
    # exponential backoff with jitter: 0.1 s then 0.2 s, each times 0.5..1.5
    assert len(waits) == 2 and 0.05 <= waits[0] <= 0.15 and 0.1 <= waits[1] <= 0.3
    assert summary.accepted == 50 and summary.retries == 2
    assert rec.received == Counter(e["event_id"] for e in demo[:50])


def test_unreachable_service_stops(demo):
    sock = _free_socket()
    host, port = sock.getsockname()
    with pytest.raises(LoadError) as caught:
        _load(demo[:5], f"http://{host}:{port}", max_attempts=2, sleep=lambda s: None)
    assert "cannot reach" in str(caught.value)
    sock.close()


def test_401_stops_with_a_clear_error(fake_ingest, demo):
    url, rec = fake_ingest
    with pytest.raises(AuthError) as caught:
        _load(demo[:300], url, write_key="wrong", batch_size=100)
    message = str(caught.value)
    assert "401" in message and "write key" in message and "JOURNEYLINE_WRITE_KEY" in message
    assert rec.statuses == [401]  # no further batches
    assert not rec.received
    assert caught.value.summary.accepted == 0


def test_413_splits_the_batch(fake_ingest, demo):
    url, rec = fake_ingest
    rec.max_events = 30
    summary = _load(demo[:100], url, batch_size=100)
    assert summary.accepted == 100 and summary.refused == []
    assert rec.received == Counter(e["event_id"] for e in demo[:100])
    assert 413 in rec.statuses


def test_streams_a_generator_with_a_progress_bar(fake_ingest, demo):
    url, rec = fake_ingest
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    summary = _load((e for e in demo[:80]), url, batch_size=25, progress=True, console=console)
    assert summary.accepted == 80
    assert "events/s" in out.getvalue()
    assert rec.statuses == [202] * 4


def test_cli_jsonl_reports_bad_lines(fake_ingest, demo, tmp_path, capsys):
    url, rec = fake_ingest
    invalid = dict(demo[2], channel="fax")
    lines = [
        json.dumps(demo[0]),
        "{not json",
        json.dumps(demo[1]),
        "",
        "[1, 2]",
        json.dumps(invalid),
        json.dumps({k: v for k, v in demo[3].items() if k != "event_id"}),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    code = main([str(path), "--url", url, "--write-key", WRITE_KEY, "--no-progress"])
    out = capsys.readouterr().out
    assert code == 3
    assert rec.received == Counter([demo[0]["event_id"], demo[1]["event_id"]])
    assert "2 accepted" in out and "4 refused" in out
    assert "line 2: invalid JSON" in out
    assert "line 5: not a JSON object" in out
    assert f"{invalid['event_id']}: channel" in out
    assert "line 7: event_id" in out


def test_cli_demo_with_env_defaults(fake_ingest, monkeypatch, capsys):
    url, rec = fake_ingest
    monkeypatch.setenv("INGEST_URL", url)
    monkeypatch.setenv("JOURNEYLINE_WRITE_KEY", WRITE_KEY)
    assert main(["--demo", "--customers", "12", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert rec.received and set(rec.received.values()) == {1}
    assert f"{sum(rec.received.values())} accepted" in out and "0 refused" in out


def test_cli_wrong_key_and_missing_file(fake_ingest, tmp_path, capsys):
    url, rec = fake_ingest
    assert main(["--demo", "--customers", "5", "--url", url, "--write-key", "nope", "--no-progress"]) == 1
    assert "write key" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.jsonl"), "--url", url]) == 1
    assert "cannot read" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([])


class contextmanager_stack:
    """Enter context managers from inside a callback; exit them all at the end."""

    def __init__(self) -> None:
        self._managers: list = []

    def enter(self, manager) -> None:
        manager.__enter__()
        self._managers.append(manager)

    def __enter__(self) -> contextmanager_stack:
        return self

    def __exit__(self, *exc) -> None:
        while self._managers:
            self._managers.pop().__exit__(None, None, None)
