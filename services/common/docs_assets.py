"""/docs (Swagger UI) and /redoc (ReDoc) with their scripts and styles served by the service itself,
so both pages work offline: FastAPI's own pages load them from a CDN. The files come from the
pinned fastapi-offline package (pyproject.toml), which ships Swagger UI's and ReDoc's bundles."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs-assets"
# Same origin only: ReDoc's side menu would still load its vendor's logo from a CDN.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'")
# Found without importing the package: it has only the files and a FastAPI factory we do not use.
ASSETS_DIR = Path(importlib.util.find_spec("fastapi_offline").origin).parent / "static"  # type: ignore[union-attr]


def install_docs(app: FastAPI) -> None:
    """Replace the app's /docs and /redoc pages (at app.docs_url and app.redoc_url) with pages that
    load their assets from ASSETS_URL on the same service. The OpenAPI document is unchanged."""
    pages = {app.docs_url, app.redoc_url} - {None}
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in pages]
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    title, openapi_url = app.title, app.openapi_url or "/openapi.json"

    def url(request: Request, path: str) -> str:
        return request.scope.get("root_path", "") + path

    if app.docs_url:
        @app.get(app.docs_url, include_in_schema=False)
        async def swagger_ui(request: Request) -> HTMLResponse:
            page = get_swagger_ui_html(
                openapi_url=url(request, openapi_url), title=f"{title} - Swagger UI",
                swagger_js_url=url(request, f"{ASSETS_URL}/swagger-ui-bundle.js"),
                swagger_css_url=url(request, f"{ASSETS_URL}/swagger-ui.css"),
                swagger_favicon_url=url(request, f"{ASSETS_URL}/favicon.png"),
                oauth2_redirect_url=app.swagger_ui_oauth2_redirect_url,
                swagger_ui_parameters=app.swagger_ui_parameters)
            page.headers["Content-Security-Policy"] = CSP
            return page

    if app.redoc_url:
        @app.get(app.redoc_url, include_in_schema=False)
        async def redoc(request: Request) -> HTMLResponse:
            page = get_redoc_html(
                openapi_url=url(request, openapi_url), title=f"{title} - ReDoc",
                redoc_js_url=url(request, f"{ASSETS_URL}/redoc.standalone.js"),
                redoc_favicon_url=url(request, f"{ASSETS_URL}/favicon.png"), with_google_fonts=False)
            page.headers["Content-Security-Policy"] = CSP
            return page
