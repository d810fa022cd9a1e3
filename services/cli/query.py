"""`journeyline query funnel`: a funnel from the query API, printed as a table.

    journeyline query funnel [--start T] [--end T] [--channel C] [--window 30d]
    journeyline query funnel --step event=product_viewed --step stage=purchase,name=Bought [--order strict]

Without --step it is the stage funnel (GET /v1/funnels/stages); with two or more, a custom funnel
(POST /v1/funnels). The API URL and read token come from --api-url / --token, else
$JOURNEYLINE_API_URL / $JOURNEYLINE_READ_TOKEN, else the local stack's defaults.

Exit codes: 0 printed; 1 no answer (API unreachable, token refused, server error); 2 invalid
request (bad option, or the API's 422 naming the field).
"""
from __future__ import annotations

import argparse
import json
import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

DEFAULT_API_URL = "http://127.0.0.1:8000"
DEFAULT_READ_TOKEN = "dev-read-token"
STEP_KEYS = ("name", "stage", "event", "channel", "touchpoint")
_WINDOW = re.compile(r"(\d+)([smhd]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class UsageError(ValueError):
    """A bad option value: exit code 2."""


def register(subparsers: argparse._SubParsersAction) -> None:
    query = subparsers.add_parser("query", help="ask the query API and print the answer as a table")
    kinds = query.add_subparsers(dest="kind", required=True, metavar="QUERY")
    funnel = kinds.add_parser(
        "funnel", help="the stage funnel, or a custom funnel with --step",
        description="Customers reaching each step. Without --step: the six journey stages "
                    "(GET /v1/funnels/stages); with two or more --step: a custom funnel (POST /v1/funnels).")
    funnel.add_argument("--start", help="inclusive start of step 1: a date (UTC midnight) or RFC 3339 time; "
                        "default 30 days before --end")
    funnel.add_argument("--end", help="exclusive end of step 1; default now")
    funnel.add_argument("--window", default="30d", help="conversion window: seconds, or with s/m/h/d (default 30d)")
    funnel.add_argument("--channel", help="stage funnel: count only events of this channel")
    funnel.add_argument("--step", action="append", default=[], metavar="KEY=VALUE[,KEY=VALUE...]",
                        help="a custom funnel step; keys: name, stage, event, channel, touchpoint, "
                        "properties.<key> (a number or true/false compares as JSON; quote it as \"12\" for a "
                        "string). Repeat for each step, in order")
    funnel.add_argument("--order", choices=["ordered", "strict", "any"], default="ordered",
                        help="custom funnel step order (default ordered)")
    funnel.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")
    funnel.add_argument("--api-url", default=os.environ.get("JOURNEYLINE_API_URL") or DEFAULT_API_URL,
                        help="query API base URL (env JOURNEYLINE_API_URL)")
    funnel.add_argument("--token", default=os.environ.get("JOURNEYLINE_READ_TOKEN") or DEFAULT_READ_TOKEN,
                        help="read token (env JOURNEYLINE_READ_TOKEN)")
    funnel.set_defaults(run=_funnel)


def _time(value: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise UsageError(f"{option}: {value!r} is not a date or an RFC 3339 time, e.g. 2026-11-01 or "
                         "2026-11-01T08:00:00Z") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def window_seconds(value: str) -> int:
    match = _WINDOW.fullmatch(value.strip().lower())
    if not match:
        raise UsageError(f"--window: {value!r} is not a duration such as 3600, 12h or 30d")
    return int(match[1]) * _UNIT_SECONDS[match[2]]


def parse_step(text: str) -> dict[str, Any]:
    """`stage=purchase,name=Bought` -> {"stage": "purchase", "name": "Bought"}."""
    step: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not value:
            raise UsageError(f"--step {text!r}: expected KEY=VALUE pairs separated by commas")
        if key.startswith("properties.") and len(key) > len("properties."):
            step.setdefault("properties", {})[key[len("properties."):]] = _property_value(value)
        elif key in STEP_KEYS:
            step[key] = value
        else:
            raise UsageError(f"--step {text!r}: unknown key {key!r}; use {', '.join(STEP_KEYS)} or properties.<key>")
    if not step:
        raise UsageError("--step needs at least one KEY=VALUE")
    return step


def _property_value(value: str) -> Any:
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    return parsed if isinstance(parsed, (bool, int, float, str)) else value


def _request(args: argparse.Namespace) -> tuple[str, str, dict[str, Any]]:
    """(method, path, params or body) of the API call the options ask for."""
    end = _time(args.end, "--end") if args.end else datetime.now(UTC).replace(microsecond=0)
    start = _time(args.start, "--start") if args.start else end - timedelta(days=30)
    if end <= start:
        raise UsageError("--end must be after --start")
    scope = {"start": _rfc3339(start), "end": _rfc3339(end), "window_seconds": window_seconds(args.window)}
    if not args.step:
        if args.order != "ordered":
            raise UsageError("--order applies to a custom funnel (two or more --step)")
        return "GET", "/v1/funnels/stages", {**scope, **({"channel": args.channel} if args.channel else {})}
    if len(args.step) < 2:
        raise UsageError("a custom funnel needs at least two --step options")
    if args.channel:
        raise UsageError("--channel filters the stage funnel; in a custom funnel put channel=... in a --step")
    return "POST", "/v1/funnels", {**scope, "steps": [parse_step(s) for s in args.step], "order": args.order}


def _funnel(args: argparse.Namespace) -> int:
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        method, path, payload = _request(args)
    except UsageError as exc:
        err.print(f"journeyline query funnel: {exc}", markup=False)
        return 2
    url = args.api_url.rstrip("/") + path
    try:
        with httpx.Client(headers={"Authorization": f"Bearer {args.token}"}, timeout=60) as client:
            response = (client.get(url, params=payload) if method == "GET" else client.post(url, json=payload))
    except httpx.HTTPError as exc:
        err.print(f"journeyline query funnel: cannot reach the API at {args.api_url}: {exc}", markup=False)
        return 1
    if response.status_code != 200:
        message, code = _api_error(response)
        err.print(f"journeyline query funnel: {message}", markup=False)
        return code
    body = response.json()
    out = Console(highlight=False, soft_wrap=True)
    if args.json:
        out.print_json(data=body)
        return 0
    title, table = _table(body, payload, custom=method == "POST")
    out.print(title, markup=False)
    out.print(table)
    return 0


def _api_error(response: httpx.Response) -> tuple[str, int]:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = response.text.strip()[:300]
    if response.status_code == 422 and isinstance(detail, list):
        fields = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', [])[1:]) or 'request'}: {e.get('msg')}"
                           for e in detail if isinstance(e, dict))
        return f"the API refused the request (422): {fields}", 2
    if response.status_code in (401, 403):
        return (f"the API refused the read token ({response.status_code}: {detail}); pass --token or set "
                "JOURNEYLINE_READ_TOKEN"), 1
    return f"the API answered {response.status_code}: {detail}", 2 if response.status_code < 500 else 1


def duration(seconds: float | None) -> str:
    """86400.5 -> '1d 0h 0m', 95 -> '1m 35s', None -> '-'."""
    if seconds is None:
        return "-"
    whole = int(round(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def percent(ratio: float) -> str:
    return f"{100 * ratio:.1f}%"


def _table(body: dict[str, Any], asked: dict[str, Any], custom: bool) -> tuple[str, Table]:
    scope = f"step 1 in [{asked['start']}, {asked['end']}), window {duration(asked['window_seconds'])}"
    if custom:
        title = f"Funnel ({asked['order']}), {scope}"
        steps = [(s["name"], s) for s in body["steps"]]
    else:
        title = f"Stage funnel, {scope}, {body.get('channel') or 'all channels'}"
        steps = [(s["stage"], s) for s in body["stages"]]
    table = Table()
    table.add_column("Step")
    for name in ("Customers", "From first", "From previous", "Median from previous"):
        table.add_column(name, justify="right")
    for name, step in steps:
        table.add_row(name, f"{step['customers']:,}", percent(step["conversion_from_first"]),
                      percent(step["conversion_from_previous"]), duration(step["median_seconds_from_previous"]))
    return title, table
