"""Operations routes: /healthz (liveness), /readyz (ClickHouse answers, a query slot is free) and
/metrics (Prometheus: request count by route and status, latency by route; no token, no customer data)."""
from __future__ import annotations

import logging

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry

from services.api.deps import ClickHouseHolder
from services.api.load import QueryGate
from services.common.metrics import metrics_response

log = logging.getLogger(__name__)
READY = {"status": "ready", "checks": {"clickhouse": "ok", "query_slots": "ok"},
         "queries": {"running": 1, "waiting": 0, "slots": 4}}
UNAVAILABLE = {"status": "saturated", "checks": {"clickhouse": "ok", "query_slots": "saturated"},
               "queries": {"running": 4, "waiting": 9, "slots": 4}}
READY_TIMEOUT_S = 2.0


def _select_one(holder: ClickHouseHolder) -> None:
    holder.get().query("SELECT 1", settings={"max_execution_time": READY_TIMEOUT_S})


def health_router(registry: CollectorRegistry) -> APIRouter:
    """The operations routes, /metrics reading `registry`."""
    router = APIRouter()

    @router.get("/healthz", tags=["health"], summary="Liveness: the process answers",
                responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}})
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        tags=["health"],
        summary="Readiness: ClickHouse answers and a query slot is free",
        responses={
            200: {"content": {"application/json": {"example": READY}}},
            503: {"content": {"application/json": {"example": UNAVAILABLE}}},
        },
    )
    async def readyz(request: Request) -> JSONResponse:
        gate: QueryGate = request.app.state.query_gate
        queries = {"running": gate.running, "waiting": gate.waiting, "slots": gate.total}
        saturated = gate.running >= gate.total
        clickhouse = "unavailable"
        with anyio.move_on_after(READY_TIMEOUT_S):
            try:
                await anyio.to_thread.run_sync(_select_one, request.app.state.clickhouse, abandon_on_cancel=True)
                clickhouse = "ok"
            except Exception as exc:
                log.warning("readyz: ClickHouse check failed: %s", exc)
        ready = clickhouse == "ok" and not saturated
        body = {"status": "ready" if ready else "saturated" if clickhouse == "ok" else "unavailable",
                "checks": {"clickhouse": clickhouse, "query_slots": "saturated" if saturated else "ok"},
                "queries": queries}
        return JSONResponse(body, status_code=200 if ready else status.HTTP_503_SERVICE_UNAVAILABLE)

    @router.get("/metrics", tags=["health"], summary="Prometheus metrics", include_in_schema=False)
    async def prometheus_metrics():
        return metrics_response(registry)

    return router
