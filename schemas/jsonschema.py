"""Write the JSON Schema of the event format, generated from the pydantic models.

Run `make schema` after changing schemas/events.py or schemas/records.py; a test fails while the file is stale.
"""
from __future__ import annotations

import json
from pathlib import Path

from schemas.events import SCHEMA_VERSION, EventBatch, TouchpointEvent
from schemas.identity import Identify
from schemas.records import EventRecord

SCHEMA_FILES = {
    Path(__file__).parent / f"touchpoint_event.v{SCHEMA_VERSION}.schema.json": TouchpointEvent,
    Path(__file__).parent / f"event_batch.v{SCHEMA_VERSION}.schema.json": EventBatch,
    Path(__file__).parent / f"identify.v{SCHEMA_VERSION}.schema.json": Identify,
    # The touchpoint topic's value (schemas/records.py).
    Path(__file__).parent / f"event_record.v{SCHEMA_VERSION}.schema.json": EventRecord,
}


def render(model) -> str:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **model.model_json_schema()}
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"


def main() -> None:
    for path, model in SCHEMA_FILES.items():
        path.write_text(render(model))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
