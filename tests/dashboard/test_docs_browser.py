"""/docs (Swagger UI) and /redoc (ReDoc) of both services in headless Chromium with every request to
another host refused: the pages render from the assets the services serve themselves
(services/common/docs_assets.py), not from a CDN. Screenshots are kept in tests/artifacts/."""
from __future__ import annotations

import shutil
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, sync_playwright

from tests.dashboard.test_dashboard_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

SERVICES = {"api": "Journeyline query API", "ingest": "Journeyline ingest"}


def render(page: Page, url: str, ready: str) -> str:
    page.goto(url)
    page.wait_for_selector(ready, timeout=30_000)
    return page.text_content(ready) or ""


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_docs_and_redoc_render_offline(stack, service):
    assert shutil.which(CHROMIUM), "chromium is missing: `make install` installs it (apt-get install chromium)"
    base = getattr(stack, f"{service}_url")
    origin = urlsplit(base).netloc
    refused: list[str] = []
    errors: list[str] = []

    def same_host_only(route: Route) -> None:
        if urlsplit(route.request.url).netloc == origin:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route("**/*", same_host_only)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

            assert SERVICES[service] in render(page, f"{base}/docs", ".swagger-ui .info .title")
            page.wait_for_selector(".swagger-ui .opblock")  # the operations, from /openapi.json
            assert page.locator(".swagger-ui .opblock").count() >= 3
            page.screenshot(path=str(ARTIFACTS / f"{service}-docs.png"))

            assert SERVICES[service] in render(page, f"{base}/redoc", ".api-info h1")
            page.wait_for_selector("[role=menuitem]")  # ReDoc's side menu of operations
            assert page.locator("[role=menuitem]").count() >= 3
            assert "/healthz" in (page.text_content(".api-content") or "")
            page.screenshot(path=str(ARTIFACTS / f"{service}-redoc.png"))
        finally:
            browser.close()
    assert refused == [], refused
    # The page's CSP keeps ReDoc's vendor logo from loading: the one error allowed.
    assert [e for e in errors if "cdn.redoc.ly/redoc/logo-mini.svg" not in e] == [], errors
