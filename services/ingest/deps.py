"""Request dependencies of the ingest routes, taken from `request.app.state` (set by create_app).

Routes declare them as typed parameters (`caller: WriteKey`, `producer: Producer`). POST /v1/events,
the hot route, calls the plain functions instead: FastAPI's dependency resolution was a third of
the framework's time per request there.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasic, HTTPBasicCredentials, HTTPBearer

from services.ingest.auth import Caller, WriteKeys
from services.ingest.metrics import IngestMetrics
from services.ingest.producer import EventProducer
from services.ingest.rate_limit import RateLimiter
from services.ingest.segment.rules import Rules
from services.ingest.settings import IngestSettings

bearer = HTTPBearer(auto_error=False)
basic = HTTPBasic(auto_error=False)  # Segment SDKs: the write key is the user name


def get_settings(request: Request) -> IngestSettings:
    return request.app.state.settings


def get_producer(request: Request) -> EventProducer:
    return request.app.state.producer


def get_metrics(request: Request) -> IngestMetrics:
    return request.app.state.metrics


def get_limiter(request: Request) -> RateLimiter:
    return request.app.state.limiter


def get_write_keys(request: Request) -> WriteKeys:
    return request.app.state.write_keys


def get_segment_rules(request: Request) -> Rules:
    return request.app.state.segment_rules


async def write_key_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    user: Annotated[HTTPBasicCredentials | None, Depends(basic)],
) -> Caller:
    """The caller of a valid write key (Bearer, or HTTP Basic user name); else 401 (or 503 when
    the key store cannot be asked)."""
    secret = credentials.credentials if credentials is not None else (user.username if user else "")
    return await get_write_keys(request).caller(secret)


async def request_caller(request: Request) -> Caller:
    """write_key_caller without FastAPI's dependency resolution: the same security objects, called
    in the same order."""
    return await write_key_caller(request, await bearer(request), await basic(request))


Settings = Annotated[IngestSettings, Depends(get_settings)]
Producer = Annotated[EventProducer, Depends(get_producer)]
Metrics = Annotated[IngestMetrics, Depends(get_metrics)]
Limiter = Annotated[RateLimiter, Depends(get_limiter)]
SegmentRules = Annotated[Rules, Depends(get_segment_rules)]
Keys = Annotated[WriteKeys, Depends(get_write_keys)]
WriteKey = Annotated[Caller, Depends(write_key_caller)]
