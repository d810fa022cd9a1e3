"""The analysts' dashboard page: GET /dashboard and its assets, public and free of data.

The page is a shell (HTML, script, style, the charting library): it holds no numbers, so it
needs no token to load. Its script takes the read token from the URL fragment (`#token=...`,
which browsers never send to a server) or asks for it, keeps it in sessionStorage, and calls
the /v1 insights with `Authorization: Bearer <token>` like any other client.

The charting library (Apache ECharts) is an npm package pinned in package-lock.json;
`make install` copies its bundle into services/api/dashboard/vendor/ (git-ignored).
"""
from __future__ import annotations

import html
import logging
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

from schemas.events import CHANNELS

log = logging.getLogger(__name__)

PAGE_DIR = Path(__file__).resolve().parent.parent / "dashboard"
VENDOR_DIR = PAGE_DIR / "vendor"
ECHARTS = VENDOR_DIR / "echarts.min.js"

# Every asset the page may load, by name: nothing else under the directory is served.
ASSETS: dict[str, tuple[Path, str]] = {
    "dashboard.js": (PAGE_DIR / "dashboard.js", "text/javascript"),
    "dashboard.css": (PAGE_DIR / "dashboard.css", "text/css"),
    "echarts.min.js": (ECHARTS, "text/javascript"),
}

# Same-origin scripts and data only; ECharts sets inline styles on its tooltip elements.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def _page() -> str:
    options = "".join(f'<option value="{html.escape(c)}">{html.escape(c.replace("_", " "))}</option>'
                      for c in CHANNELS)
    return (PAGE_DIR / "index.html").read_text().replace("{{channel_options}}", options)


PAGE = _page()


def warn_if_not_vendored() -> None:
    """Called at start-up (not import), so the warning goes through the service's log format."""
    if not ECHARTS.exists():
        log.warning("%s is missing: the dashboard cannot draw charts until `make install` vendors ECharts", ECHARTS)

router = APIRouter(tags=["dashboard"], include_in_schema=False)


# async: served on the event loop, never behind queries holding the worker threads.
@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard() -> HTMLResponse:
    return HTMLResponse(PAGE, headers=SECURITY_HEADERS)


@router.get("/dashboard/assets/{name}")
async def asset(name: str) -> FileResponse:
    path, media_type = ASSETS.get(name, (None, ""))
    if path is None:
        raise HTTPException(404, detail=f"No dashboard asset named {name!r}")
    if not path.exists():
        raise HTTPException(404, detail=f"{name} is not installed on this server: run `make install`")
    return FileResponse(path, media_type=media_type, headers=SECURITY_HEADERS)
