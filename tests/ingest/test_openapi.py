"""Ingest's OpenAPI document is the committed snapshot, byte for byte: a refactoring of the routes
keeps it, and a change of the API shows in review as a diff of tests/ingest/openapi.json.

After an intended change: `.venv/bin/python -m tests.ingest.test_openapi` rewrites the snapshot.
"""
from __future__ import annotations

import json
from pathlib import Path

from services.ingest.app import create_app
from services.ingest.settings import IngestSettings

SNAPSHOT = Path(__file__).with_name("openapi.json")


def render() -> str:
    # Building the app connects to nothing: the broker and ClickHouse are reached on first use.
    return json.dumps(create_app(IngestSettings()).openapi(), indent=2, ensure_ascii=False) + "\n"


def test_openapi_matches_the_snapshot():
    assert render() == SNAPSHOT.read_text(), "ingest's OpenAPI changed: run `python -m tests.ingest.test_openapi`"


if __name__ == "__main__":
    SNAPSHOT.write_text(render())
    print(f"wrote {SNAPSHOT}")
