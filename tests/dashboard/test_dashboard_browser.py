"""The /dashboard page in headless Chromium (Debian's, driven by Playwright) on the session stack:
known data goes in through ingest (2014, customers prefixed "dash-"), the page loads with the
read token from the URL fragment, and every chart's data, the funnel table and the headline
figures are checked against numbers designed by hand and against the API's own answers; then
the channel filter and the date range change them. A screenshot is kept in tests/artifacts/."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.conftest import READ_TOKEN, wait_for

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling out, refused on a closed network.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
MINE = "customer_id LIKE 'dash-%'"
STAGE_BLUE = (0x54, 0x70, 0xC6)  # the first stage colour in dashboard.js


def event(n: int, customer: str, stage: str, channel: str, occurred_at: str, **feedback: int) -> dict:
    e = {"event_id": f"dash-ev-{n:02d}", "customer_id": f"dash-{customer}", "stage": stage, "channel": channel,
         "touchpoint": f"{channel}_{stage}", "event": f"{stage}_event", "occurred_at": occurred_at}
    return {**e, "feedback": feedback} if feedback else e


EVENTS = [
    event(1, "a", "awareness", "web", "2014-03-03T09:00:00Z"),
    event(2, "a", "consideration", "web", "2014-03-04T09:00:00Z"),
    event(3, "a", "purchase", "app", "2014-03-05T09:00:00Z", csat=5),
    event(4, "a", "use", "app", "2014-03-06T09:00:00Z", nps=10),
    event(5, "a", "purchase", "app", "2014-03-12T09:00:00Z"),  # a repeat purchase the week after
    event(6, "b", "awareness", "web", "2014-03-03T10:00:00Z"),
    event(7, "b", "consideration", "web", "2014-03-05T10:00:00Z"),
    event(8, "b", "purchase", "web", "2014-03-10T10:00:00Z", nps=3, csat=2),
    event(9, "c", "awareness", "app", "2014-03-11T10:00:00Z"),
    event(10, "c", "consideration", "app", "2014-03-12T10:00:00Z", nps=9, csat=4),
    event(11, "d", "awareness", "web", "2014-03-18T10:00:00Z", nps=7),
    event(12, "e", "awareness", "app", "2014-03-20T10:00:00Z"),
    event(13, "e", "purchase", "app", "2014-03-21T10:00:00Z", nps=6),
    event(14, "e", "purchase", "app", "2014-03-28T10:00:00Z", csat=1),
]

MARCH = {"from": "2014-03-03", "to": "2014-03-30"}  # To is inclusive on the page: end = 03-31T00:00Z
MIDDLE = {"from": "2014-03-10", "to": "2014-03-23"}


def api_numbers(api, dates: dict[str, str], channel: str = "") -> dict[str, Any]:
    """What the page should show, from the API directly (same calls a script would make)."""
    end = {"2014-03-30": "2014-03-31", "2014-03-23": "2014-03-24"}[dates["to"]]
    params: dict[str, Any] = {"start": f"{dates['from']}T00:00:00Z", "end": f"{end}T00:00:00Z"}
    if channel:
        params["channel"] = channel

    def get(path: str, **extra: Any) -> dict[str, Any]:
        response = api.get(path, params={**params, **extra})
        assert response.status_code == 200, response.text
        return response.json()

    funnel = get("/v1/funnels/stages")["stages"]
    nps, csat = get("/v1/metrics/nps", interval="week"), get("/v1/metrics/csat", interval="week")
    cohorts = get("/v1/retention", interval="week", periods=8)["cohorts"]
    return {
        "funnel": [s["customers"] for s in funnel],
        "conversion": [f"{100 * s['conversion_from_first']:.1f}%" for s in funnel],
        "links": sorted((f"from:{t['from']}", f"to:{t['to']}", t["transitions"])
                        for t in get("/v1/transitions", level="stage")["transitions"]),
        "dates": [p["interval_start"][:10] for p in nps["series"]],
        "nps": [p["score"] for p in nps["series"]],
        "csat": [p["score"] for p in csat["series"]],
        "nps_total": nps["score"],
        "heat": [[i, row, rate] for row, c in enumerate(cohorts) for i, rate in enumerate(c["retention_rate"])],
        "cohorts": [(c["cohort_start"][:10], c["customers"]) for c in cohorts],
    }


SHOWN = """() => {
  const option = (id) => echarts.getInstanceByDom(document.getElementById(id)).getOption();
  const f = option("funnel-chart"), s = option("sankey-chart"), n = option("scores-chart"),
        r = option("retention-chart");
  const text = (id) => document.getElementById(id).textContent;
  return {
    funnel: f.series[0].data, dropoff: f.series[1].data,
    links: s.series[0].links.map((l) => [l.source, l.target, l.value]),
    dates: n.xAxis[0].data, nps: n.series[0].data, csat: n.series[1].data,
    heat: r.series[0].data.map((d) => d.value), cohorts: r.yAxis[0].data,
    table: [...document.querySelectorAll("#funnel-table tbody tr")]
      .map((tr) => [...tr.cells].map((c) => c.textContent)),
    kpis: [text("kpi-entered"), text("kpi-purchase"), text("kpi-nps"), text("kpi-csat")],
  };
}"""

# The colour drawn at the middle of the first funnel bar: proof the canvas was painted with that data.
FIRST_BAR_PIXEL = """() => {
  const el = document.getElementById("funnel-chart"), chart = echarts.getInstanceByDom(el);
  const value = chart.getOption().series[0].data[0];
  const [x, y] = chart.convertToPixel({seriesIndex: 0}, [0, value / 2]);
  const canvas = el.querySelector("canvas"), ratio = canvas.width / canvas.clientWidth;
  return [...canvas.getContext("2d").getImageData(Math.round(x * ratio), Math.round(y * ratio), 1, 1).data];
}"""


def shown(page: Page) -> dict[str, Any]:
    got = page.evaluate(SHOWN)
    got["links"] = sorted(tuple(link) for link in got["links"])
    return got


def apply_and_wait(page: Page, action) -> None:
    before = int(page.evaluate("document.body.dataset.generation || '0'"))
    action()
    # Selectors, not wait_for_function: the page's CSP forbids the eval that polling would need.
    page.wait_for_selector(f'body[data-state="ready"]:not([data-generation="{before}"])')


def assert_page_matches(got: dict[str, Any], expected: dict[str, Any]) -> None:
    assert got["funnel"] == expected["funnel"]
    assert got["dropoff"] == [0] + [a - b for a, b in zip(expected["funnel"], expected["funnel"][1:], strict=False)]
    assert [row[1] for row in got["table"]] == [str(n) for n in expected["funnel"]]
    assert [row[2] for row in got["table"]] == expected["conversion"]
    assert got["links"] == expected["links"]
    assert (got["dates"], got["nps"], got["csat"]) == (expected["dates"], expected["nps"], expected["csat"])
    assert got["heat"] == expected["heat"]
    assert got["cohorts"] == [f"{start} · {n}" for start, n in expected["cohorts"]]


@pytest.fixture(scope="module")
def dash_data(ingest, clickhouse):
    response = ingest.post("/v1/events", json={"events": EVENTS})
    assert response.status_code == 202, response.text
    count = f"SELECT uniqExact(event_id) FROM events WHERE {MINE}"
    wait_for(lambda: clickhouse.query(count).result_rows[0][0] >= len(EVENTS), timeout_s=60, what="dash- events")


def test_dashboard_renders_the_apis_numbers_and_follows_the_filters(stack, api, dash_data):
    assert shutil.which(CHROMIUM), "chromium is missing: `make install` installs it (apt-get install chromium)"
    march, march_app, middle = api_numbers(api, MARCH), api_numbers(api, MARCH, "app"), api_numbers(api, MIDDLE)
    # The designed data, worked out by hand: the API agrees, so the page is checked against known truths.
    assert march["funnel"] == [5, 3, 2, 1, 0, 0] and march_app["funnel"] == [2, 1, 0, 0, 0, 0]
    assert middle["funnel"] == [3, 1, 0, 0, 0, 0]
    assert march["links"] == [("from:(start)", "to:awareness", 5), ("from:awareness", "to:consideration", 3),
                              ("from:awareness", "to:purchase", 1), ("from:consideration", "to:purchase", 2),
                              ("from:purchase", "to:use", 1), ("from:use", "to:purchase", 1)]
    assert march["dates"] == ["2014-03-03", "2014-03-10", "2014-03-17", "2014-03-24"]
    assert (march["nps"], march["csat"], march["nps_total"]) == ([100.0, 0.0, -50.0, None],
                                                                 [100.0, 50.0, None, 0.0], 0.0)
    assert march_app["nps_total"] == 33.3
    assert march["cohorts"] == [("2014-03-03", 1), ("2014-03-10", 1), ("2014-03-17", 1), ("2014-03-24", 0)]
    assert march["heat"][:8] == [[i, 0, 1.0 if i < 2 else 0.0] for i in range(8)]

    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            url = f"{stack.api_url}/dashboard?from={MARCH['from']}&to={MARCH['to']}&interval=week"
            page.goto(f"{url}#token={READ_TOKEN}")
            page.wait_for_selector('body[data-state="ready"]')
            # The token left the address bar for this tab's storage.
            assert "token" not in page.url
            assert page.evaluate("sessionStorage.getItem('journeyline.readToken')") == READ_TOKEN

            got = shown(page)
            assert_page_matches(got, march)
            assert got["table"][2] == ["Purchase", "2", "40.0%", "66.7%", "1 (33.3%)", "3d 0h"]
            assert got["kpis"] == ["5", "40.0%", "0.0", "50.0%"]
            # Bars grow in for about a second: wait until the first one is painted in its colour.
            wait_for(lambda: all(abs(a - b) <= 8 for a, b in zip(page.evaluate(FIRST_BAR_PIXEL)[:3], STAGE_BLUE,
                                                                  strict=True)),
                     timeout_s=10, what="the first funnel bar painted")
            page.wait_for_timeout(500)  # the other charts' entry animations, for the screenshot
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            print(f"screenshot: {ARTIFACTS / 'dashboard.png'}")

            # Channel filter: only app events.
            apply_and_wait(page, lambda: (page.select_option("#channel", "app"), page.click("#apply")))
            got = shown(page)
            assert_page_matches(got, march_app)
            assert got["funnel"] != march["funnel"] and got["kpis"][2] == "33.3"
            assert "channel=app" in page.url

            # Date range: two middle weeks, all channels again.
            def middle_weeks() -> None:
                page.select_option("#channel", "")
                page.fill("#from", MIDDLE["from"])
                page.fill("#to", MIDDLE["to"])
                page.click("#apply")

            apply_and_wait(page, middle_weeks)
            got = shown(page)
            assert_page_matches(got, middle)
            assert got["funnel"] == [3, 1, 0, 0, 0, 0] and got["dates"] == ["2014-03-10", "2014-03-17"]

            assert errors == [], errors  # no script error, no CSP refusal, no failed request

            # A refused token brings the token form back; the right one shows the data again.
            page.evaluate("sessionStorage.setItem('journeyline.readToken', 'not-a-token')")
            page.click("#apply")
            page.wait_for_selector('body[data-state="token"]')
            assert page.is_visible("#token-error") and "refused" in page.text_content("#token-error")
            assert not page.is_visible("#board")
            apply_and_wait(page, lambda: (page.fill("#token", READ_TOKEN), page.click("#token-form button")))
            assert shown(page)["funnel"] == middle["funnel"]
        finally:
            browser.close()
    assert errors and all("401" in e for e in errors), errors  # the refused token's calls only
