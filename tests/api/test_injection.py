"""SQL-injection strings in every parameter of every GET route under /v1, found from the app's own
OpenAPI document (so routes added later are covered too), against the real engine (chDB).

Each string goes into one parameter at a time, the others holding valid values. Whatever the
route answers must not be a 5xx; a 422 must name the parameter; and afterwards the database must
hold the same tables and the events table the same rows.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import pytest

from tests.api.conftest import make_event

INJECTIONS = [
    "' OR 1=1 --",
    "x'); DROP TABLE events; --",
    "\\' union select * from system.tables --",
    "1; DROP TABLE events",
    "`events`",
    "{customer_id:String}",
    "客户 🙂 \u202e ünïcödé",
    "\x00' OR ''='",
    "%27%20OR%201%3D1",
    "a" * 10_000,
    "' || (SELECT count() FROM events) || '",
]
UTC = timezone.utc


def _schema(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The parameter's own schema: $ref resolved, the first non-null branch of anyOf."""
    if "anyOf" in schema:
        schema = next(s for s in schema["anyOf"] if s.get("type") != "null")
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _valid(spec: dict[str, Any], param: dict[str, Any]) -> str:
    schema = _schema(spec, param["schema"])
    if param["name"] == "start":
        return "2026-11-01T00:00:00Z"
    if param["name"] == "end":
        return "2026-12-01T00:00:00Z"
    if schema.get("examples"):
        return str(schema["examples"][0])
    if "default" in schema:
        return str(schema["default"])
    if schema.get("enum"):
        return str(schema["enum"][0])
    if schema.get("format") == "date-time":
        return "2026-11-15T00:00:00Z"
    if schema.get("type") == "integer":
        return str(schema.get("minimum", 1))
    return "c1"


def _get_routes(spec: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    return [(path, ops["get"].get("parameters", [])) for path, ops in sorted(spec["paths"].items())
            if path.startswith("/v1/") and "get" in ops]


def _call(api, spec, path: str, params: list[dict[str, Any]], target: str, value: str):
    query, url = {}, path
    for param in params:
        text = value if param["name"] == target else _valid(spec, param)
        if param["in"] == "path":
            url = url.replace("{" + param["name"] + "}", quote(text, safe=""))
        elif param["in"] == "query" and (param.get("required") or param["name"] == target):
            query[param["name"]] = text
    return api.get(url, params=query)


def _state(chdb) -> tuple[list[str], int]:
    tables = [row[0] for row in chdb.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name").result_rows]
    return tables, chdb.query("SELECT count() FROM events").result_rows[0][0]


@pytest.fixture(scope="module")
def seeded(chdb):
    from tests.api.conftest import EventWriter

    writer = EventWriter(chdb)
    writer.truncate()
    at = datetime(2026, 11, 10, 12, tzinfo=UTC)
    writer.insert([make_event("c1", "awareness", at), make_event("c1", "purchase", at, revenue=12.5, currency="EUR"),
                   make_event("cust-0042", "consideration", at), make_event("c2", "use", at)])
    return _state(chdb)


def test_routes_and_parameters_are_found(api):
    routes = _get_routes(api.get("/openapi.json").json())
    names = {(path, p["name"], p["in"]) for path, params in routes for p in params}
    assert len(routes) >= 3
    assert ("/v1/customers/{customer_id}/journey", "customer_id", "path") in names
    assert ("/v1/funnels/stages", "start", "query") in names


def test_injection_strings_in_every_get_parameter(api, chdb, seeded):
    spec = api.get("/openapi.json").json()
    tried, failures = 0, []
    for path, params in _get_routes(spec):
        baseline = _call(api, spec, path, params, "", "")
        assert baseline.status_code in (200, 404), f"{path} with valid values: {baseline.status_code} {baseline.text}"
        for param in params:
            for value in INJECTIONS:
                response = _call(api, spec, path, params, param["name"], value)
                tried += 1
                label = f"{path} {param['in']}:{param['name']}={value[:40]!r}"
                if response.status_code >= 500:
                    failures.append(f"{label}: {response.status_code} {response.text[:200]}")
                elif response.status_code == 422 and param["name"] not in response.text:
                    failures.append(f"{label}: 422 not naming the parameter: {response.text[:200]}")
                elif response.status_code not in (200, 400, 404, 422):
                    failures.append(f"{label}: unexpected {response.status_code}")
                elif re.search(r"DB::Exception|Traceback", response.text):
                    failures.append(f"{label}: internal detail leaked: {response.text[:200]}")
    assert tried >= 10 * len(INJECTIONS)
    assert not failures, "\n".join(failures)
    assert _state(chdb) == seeded  # same tables, same number of events
    assert "events" in seeded[0] and seeded[1] == 4
