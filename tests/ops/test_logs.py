"""The services log JSON lines (LOG_FORMAT=json, the default) to the session stack's log files."""
from __future__ import annotations

import json
import logging

import pytest

from services.common.logging import setup_logging
from services.common.settings import LoggingSettings
from tests.conftest import wait_for


@pytest.mark.parametrize("service", ["ingest", "api", "processors"])
def test_every_line_is_a_json_record(stack, service):
    # Faust answers /readyz (what the stack waits on) a moment before it logs "Ready".
    wait_for(lambda: "Ready" in stack.log_path("processors").read_text(), 30, "the processors' Ready line")
    lines = [line for line in stack.log_path(service).read_text().splitlines() if line.strip()]
    assert lines
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line in {service}.log: {line[:300]}")
    for record in records:
        assert {"time", "level", "logger", "message", "service"} <= set(record), record
        assert record["service"] == service
    if service == "processors":
        assert any(r["logger"] == "faust.worker" and r["message"] == "[^Worker]: Ready" for r in records)
    else:
        assert any(r["logger"] == "uvicorn.access" and "GET /readyz" in r["message"] for r in records)


def test_json_fields_exceptions_and_text_format(capsys):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging("ingest", LoggingSettings(log_format="json", log_level="warning"))
        log = logging.getLogger("journeyline.test")
        log.info("below the level")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed %s", "here", extra={"batch": 3})
        [line] = capsys.readouterr().out.splitlines()
        record = json.loads(line)
        assert record["message"] == "failed here" and record["level"] == "ERROR" and record["batch"] == 3
        assert "ValueError: boom" in record["exc_info"]

        setup_logging("api", LoggingSettings(log_format="text"))
        log.warning("plain")
        assert capsys.readouterr().out.rstrip().endswith(" api WARNING journeyline.test plain")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.captureWarnings(False)
