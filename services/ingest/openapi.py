"""The OpenAPI of the bodies ingest parses by hand (services/ingest/body.py): FastAPI does not see
their models, so the routes point at them (`json_body`) and `publish_body_models` adds them to the
document's components."""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from schemas.events import EventBatch
from schemas.identity import Identify

BODY_MODELS = (EventBatch, Identify)


def json_body(model: str) -> dict[str, Any]:
    """openapi_extra of a route whose body is `model`, parsed by hand."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}}}}


def publish_body_models(app: FastAPI) -> None:
    original_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original_openapi()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in BODY_MODELS:
                defs = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(defs.pop("$defs", {}))
                components[model.__name__] = defs
        return app.openapi_schema

    app.openapi = openapi
