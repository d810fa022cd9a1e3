"""Prometheus metrics shared by the HTTP services (prometheus-client, and
prometheus-fastapi-instrumentator for the HTTP request metrics).

Each app has its own registry (tests build several apps in one process). Requests are labelled
by route template (`handler="/v1/customers/{customer_id:path}/journey"`), never by the request's
path, so /metrics shows no customer id; paths no route matches count as handler="none".
"""
from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator import metrics as http_metrics
from starlette.applications import Starlette
from starlette.responses import Response

from services.common.compat.instrumentator import cache_route_names

# The *_created series double every counter's output and no dashboard here reads them.
disable_created_metrics()

NAMESPACE = "journeyline"
# Seconds: from cached key lookups (ms) to heavy insight queries (tens of seconds).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def new_registry() -> CollectorRegistry:
    """A registry with the process, platform and GC collectors the default one would have."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def instrument_http(app: Starlette, registry: CollectorRegistry) -> None:
    """journeyline_http_requests_total{handler, method, status} and
    journeyline_http_request_duration_seconds{handler, method}, for every request to `app`."""
    (Instrumentator(should_group_status_codes=False, registry=registry)
     .add(http_metrics.requests(metric_namespace=NAMESPACE, registry=registry))
     .add(http_metrics.latency(metric_namespace=NAMESPACE, should_include_status=False, buckets=LATENCY_BUCKETS,
                               registry=registry))
     .instrument(app))
    cache_route_names(app)


def metrics_response(registry: CollectorRegistry) -> Response:
    return Response(generate_latest(registry), media_type=None, headers={"Content-Type": CONTENT_TYPE_LATEST})
