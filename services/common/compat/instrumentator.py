"""prometheus-fastapi-instrumentator's middleware, naming each (method, path) once.

Its middleware matches every request against all routes again to name its handler, a large share
of its time per request. Routes do not change once the app serves, so `RouteCachingMiddleware`
overrides the private `_get_handler` to look a name up once per (method, path, root path); at most
CACHED names are kept (the API's paths carry ids). Listed in the package docstring.
"""
from __future__ import annotations

from prometheus_fastapi_instrumentator.middleware import PrometheusInstrumentatorMiddleware
from starlette.applications import Starlette
from starlette.requests import Request


class RouteCachingMiddleware(PrometheusInstrumentatorMiddleware):
    CACHED = 4096

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._handlers: dict[tuple[str, str, str], tuple[str, bool]] = {}

    def _get_handler(self, request: Request) -> tuple[str, bool]:
        scope = request.scope
        key = (scope["method"], scope["path"], scope.get("root_path", ""))
        found = self._handlers.get(key)
        if found is None:
            found = super()._get_handler(request)
            if len(self._handlers) >= self.CACHED:
                self._handlers.clear()
            self._handlers[key] = found
        return found


def cache_route_names(app: Starlette) -> None:
    """Swap the instrumentator's middleware on `app` (added, not yet built) for the one above."""
    for middleware in app.user_middleware:
        if middleware.cls is PrometheusInstrumentatorMiddleware:
            middleware.cls = RouteCachingMiddleware
