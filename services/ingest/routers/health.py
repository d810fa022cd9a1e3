"""Operations: /healthz (liveness: the process answers), /readyz (the broker answers; and the key
store, when there are no WRITE_KEYS) and /metrics (Prometheus, services/ingest/metrics.py)."""
from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from services.common.metrics import metrics_response
from services.ingest.deps import Keys, Metrics, Producer

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: the broker (and key store) answer",
            responses={503: {"description": "A dependency does not answer"}})
async def readyz(producer: Producer, write_keys: Keys) -> JSONResponse:
    """The broker is needed for everything. The key store (ClickHouse) is needed only when no
    WRITE_KEYS are configured: with them, ingest still accepts their events while it is down."""
    checks = {"broker": await producer.ready(), "key_store": await run_in_threadpool(write_keys.store_answers)}
    ready = checks["broker"] and (checks["key_store"] or bool(write_keys.env))
    body = {"status": "ready" if ready else "unavailable",
            "checks": {name: "ok" if ok else "unavailable" for name, ok in checks.items()}}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def prometheus_metrics(metrics: Metrics):
    return metrics_response(metrics.registry)
