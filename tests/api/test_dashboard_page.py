"""The dashboard's page shell and assets: public, data-free, locked down by CSP, and only the
listed assets are served. (Its charts and numbers: tests/dashboard, in a browser.)"""
from __future__ import annotations

import pytest

from schemas.events import CHANNELS
from services.api.routers.dashboard import ECHARTS


@pytest.fixture
def anonymous(api):
    """The in-process app without the suite's Authorization header: what a browser's first load sends."""
    saved = api.headers.pop("Authorization")
    yield api
    api.headers["Authorization"] = saved


def test_page_loads_without_a_token_and_holds_no_data(anonymous):
    response = anonymous.get("/dashboard")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["referrer-policy"] == "no-referrer"
    page = response.text
    assert "{{" not in page
    assert all(f'<option value="{c}">' in page for c in CHANNELS)
    # No inline script: the page is the shell, the data comes from /v1 with the token.
    assert "<script>" not in page and "/dashboard/assets/echarts.min.js" in page
    assert anonymous.get("/v1/funnels/stages", params={"start": "2014-01-01T00:00:00Z",
                                                       "end": "2014-02-01T00:00:00Z"}).status_code == 401


@pytest.mark.parametrize(("name", "media_type", "text"), [
    ("dashboard.js", "text/javascript", "Authorization: `Bearer ${token()}`"),
    ("dashboard.css", "text/css", ".kpi"),
])
def test_assets_are_served(anonymous, name, media_type, text):
    response = anonymous.get(f"/dashboard/assets/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    assert text in response.text


def test_the_charting_library_is_vendored_and_served(anonymous):
    assert ECHARTS.exists(), "ECharts is not vendored: `make install` copies it from node_modules"
    response = anonymous.get("/dashboard/assets/echarts.min.js")
    assert response.status_code == 200 and len(response.content) > 500_000
    assert response.headers["content-type"].startswith("text/javascript")


@pytest.mark.parametrize("name", ["index.html", "..%2Fdashboard.py", "LICENSE", "nope.js"])
def test_only_listed_assets_are_served(anonymous, name):
    response = anonymous.get(f"/dashboard/assets/{name}")
    assert response.status_code == 404


def test_the_page_is_not_in_the_api_description(api):
    assert not any(path.startswith("/dashboard") for path in api.get("/openapi.json").json()["paths"])
