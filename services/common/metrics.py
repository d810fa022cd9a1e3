"""Prometheus metrics shared by the HTTP services (prometheus-client).

Each app has its own registry (tests build several apps in one process). HTTP metrics are
labelled by route template (`/v1/customers/{customer_id}/journey`), never by the request's path,
so /metrics shows no customer id; paths no route matches count as "unmatched".
"""
from __future__ import annotations

import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The *_created series double every counter's output and no dashboard here reads them.
disable_created_metrics()

# Seconds: from cached key lookups (ms) to heavy insight queries (tens of seconds).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def new_registry() -> CollectorRegistry:
    """A registry with the process, platform and GC collectors the default one would have."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def metrics_response(registry: CollectorRegistry) -> Response:
    return Response(generate_latest(registry), media_type=None, headers={"Content-Type": CONTENT_TYPE_LATEST})


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "journeyline_http_requests", "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"], registry=registry)
        self.duration = Histogram(
            "journeyline_http_request_duration_seconds", "Time to answer an HTTP request, by method and route",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=registry)


class HttpMetricsMiddleware:
    """Pure ASGI middleware: counts and times every HTTP request (add it with `metrics=`)."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500  # 500 unless a response starts

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # The router stores the matched route in the scope it was given (this one).
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.duration.labels(method, route).observe(time.perf_counter() - started)
