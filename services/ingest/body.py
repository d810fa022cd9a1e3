"""Request bodies read by hand, not by FastAPI: at most max_body_bytes (413), and validated with
the request's "now" (schemas/events.py validation_context) into FastAPI's own 422 shape."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from schemas.events import validation_context

BodyModel = TypeVar("BodyModel", bound=BaseModel)


class PayloadTooLarge(Exception):
    pass


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge()
    return bytes(body)


def json_or_none(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def parse(model: type[BodyModel], body: bytes, max_future: timedelta) -> BodyModel:
    try:
        return model.model_validate_json(body, context=validation_context(max_future))
    except ValidationError as exc:
        # FastAPI's own 422 shape, with loc rooted at the body.
        errors = exc.errors(include_url=False)
        for error in errors:
            error["loc"] = ("body", *error["loc"])
            if error["type"] == "json_invalid":
                error["input"] = body[:200].decode(errors="replace")
        raise RequestValidationError(errors) from None
