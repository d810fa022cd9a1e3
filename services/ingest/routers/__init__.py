"""Ingest's HTTP routes, one module per group, mounted by create_app in this order (the order of
the OpenAPI document's paths)."""
from services.ingest.routers import events, health, identify
from services.ingest.segment import routes as segment

ROUTERS = [events.router, segment.router, identify.router, health.router]
