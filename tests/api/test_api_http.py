"""Auth, request validation, health and the app wiring."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.api.settings import ApiSettings
from tests.api.conftest import OTHER_TOKEN, TOKEN

FUNNEL = "/v1/funnels/stages?start=2026-11-01T00:00:00Z&end=2026-12-01T00:00:00Z"
JOURNEY = "/v1/customers/c1/journey"


@pytest.fixture(scope="module")
def anonymous(api) -> TestClient:
    """The same app without the default Authorization header."""
    return TestClient(api.app)


# --- auth -------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [FUNNEL, JOURNEY])
def test_missing_token_is_401_with_challenge(anonymous, path):
    response = anonymous.get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "detail" in response.json()


@pytest.mark.parametrize("path", [FUNNEL, JOURNEY])
@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer ", f"Basic {TOKEN}", TOKEN, "Bearer dev-read-token"],
)
def test_wrong_token_is_401(anonymous, path, authorization):
    response = anonymous.get(path, headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_every_configured_token_works(anonymous, events):
    for token in (TOKEN, OTHER_TOKEN):
        response = anonymous.get(FUNNEL, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text


def test_auth_comes_before_validation(anonymous):
    response = anonymous.get("/v1/funnels/stages?start=nonsense")
    assert response.status_code == 401


def test_healthz_and_docs_need_no_token(anonymous):
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    assert anonymous.get("/docs").status_code == 200
    assert anonymous.get("/openapi.json").status_code == 200


# --- validation -------------------------------------------------------------------------------

def error_fields(response) -> set[str]:
    assert response.status_code == 422, response.text
    return {tuple(e["loc"])[-1] for e in response.json()["detail"]}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("start=2026-12-01T00:00:00Z&end=2026-11-01T00:00:00Z", "end"),  # end before start
        ("start=2026-12-01T00:00:00Z&end=2026-12-01T00:00:00Z", "end"),  # empty range
        ("start=2026-12-01T01:00:00%2B01:00&end=2026-12-01T00:00:00Z", "end"),  # same instant
        ("end=2026-12-01T00:00:00Z", "start"),  # missing
        ("start=2026-11-01T00:00:00Z", "end"),  # missing
        ("start=2026-11-01T00:00:00&end=2026-12-01T00:00:00Z", "start"),  # no offset
        ("start=2026-11-01&end=2026-12-01T00:00:00Z", "start"),  # date only
        ("start=1700000000&end=2026-12-01T00:00:00Z", "start"),  # unix time
        ("start=2026-11-01T00:00:00Z&end=tomorrow", "end"),
        ("start=0001-01-01T00:00:00%2B00:01&end=2026-12-01T00:00:00Z", "start"),  # before year 1 in UTC: was a 500
        ("start=2026-11-01T00:00:00Z&end=9999-12-31T23:59:59-00:01", "end"),  # after 9999 in UTC
        ("start=2026-11-01T00:00:00Z&end=2026-12-01T00:00:00Z&channel=fax", "channel"),
        ("start=2026-11-01T00:00:00Z&end=2026-12-01T00:00:00Z&channel=", "channel"),
        ("start=2026-11-01T00:00:00Z&end=2026-12-01T00:00:00Z&window_seconds=0", "window_seconds"),
        ("start=2026-11-01T00:00:00Z&end=2026-12-01T00:00:00Z&window_seconds=-5", "window_seconds"),
        ("start=2026-11-01T00:00:00Z&end=2026-12-01T00:00:00Z&window_seconds=31536001", "window_seconds"),
        ("start=2026-11-01T00:00:00Z&end=2026-12-01T00:00:00Z&window_seconds=1.5", "window_seconds"),
        ("start=2026-11-01T00:00:00Z&end=2026-12-01T00:00:00Z&window_seconds=week", "window_seconds"),
        ("start=2026-11-01T00:00:00Z&end=2026-12-01T00:00:00Z&window=60", "window"),  # unknown parameter
    ],
)
def test_invalid_funnel_query_is_422_naming_the_field(api, query, field):
    response = api.get(f"/v1/funnels/stages?{query}")
    assert error_fields(response) == {field}
    assert all(e["loc"][0] == "query" for e in response.json()["detail"])


def test_body_that_is_not_utf8_is_a_documented_400(api):
    response = api.post("/v1/funnels", content=b'{"steps": "\xff"}', headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    for path, operations in api.get("/openapi.json").json()["paths"].items():
        for method, operation in operations.items():
            if path.startswith("/v1/"):
                assert {"400", "401", "503"} <= set(operation["responses"]), (method, path)


def test_end_before_start_message(api):
    response = api.get("/v1/funnels/stages?start=2026-12-01T00:00:00Z&end=2026-11-01T00:00:00Z")
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", "end"]
    assert "after start" in error["msg"]


@pytest.mark.parametrize("window", [1, 31536000])
def test_window_limits_are_accepted(api, events, window):
    assert api.get(f"{FUNNEL}&window_seconds={window}").status_code == 200


def test_every_channel_is_accepted(api, events):
    from schemas.events import CHANNELS

    for channel in CHANNELS:
        response = api.get(f"{FUNNEL}&channel={channel}")
        assert response.status_code == 200, response.text
        assert response.json()["channel"] == channel


def test_customer_id_too_long_is_422(api):
    assert error_fields(api.get(f"/v1/customers/{'x' * 257}/journey")) == {"customer_id"}


# --- health and wiring ------------------------------------------------------------------------

def test_readyz_503_when_clickhouse_is_unreachable_while_alive():
    def unreachable():
        raise ConnectionRefusedError("no ClickHouse here")

    app = create_app(ApiSettings(read_tokens=TOKEN), client_factory=unreachable)
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:  # starts anyway
        assert client.get("/healthz").json() == {"status": "ok"}  # liveness: the process answers
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable",
                                   "checks": {"clickhouse": "unavailable", "query_slots": "ok"},
                                   "queries": {"running": 0, "waiting": 0, "slots": 4}}
        response = client.get(FUNNEL)
        assert response.status_code == 503
        assert response.json() == {"detail": "ClickHouse unavailable"}


def test_client_created_in_lifespan_and_closed_at_shutdown(chdb_path, chdb):
    from tests.api.conftest import chdb_client

    made = []

    def factory():
        made.append(chdb_client(chdb_path, chdb.database))
        return made[-1]

    app = create_app(ApiSettings(read_tokens=TOKEN), client_factory=factory)
    assert made == []
    with TestClient(app) as client:
        assert len(made) == 1
        assert client.get("/readyz").status_code == 200
        assert client.get("/readyz").status_code == 200
        assert len(made) == 1  # one client for the app's lifetime


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("READ_TOKENS", " a-token ,b-token,, ")
    monkeypatch.setenv("API_PORT", "9001")
    monkeypatch.setenv("CLICKHOUSE_DATABASE", "elsewhere")
    settings = ApiSettings()
    assert settings.read_token_list == ("a-token", "b-token")
    assert settings.api_port == 9001
    assert settings.api_host == "127.0.0.1"
    assert settings.clickhouse_database == "elsewhere"
    monkeypatch.setenv("READ_TOKENS", " , ")
    with pytest.raises(ValueError, match="READ_TOKENS"):
        ApiSettings()


def test_module_level_app_is_built_lazily(monkeypatch):
    import services.api.app as module

    monkeypatch.setattr(module, "_app", None)
    monkeypatch.setenv("READ_TOKENS", "from-env")
    app = module.app
    assert app is module.app
    assert app.state.settings.read_token_list == ("from-env",)


def test_openapi_documents_examples_and_bearer_auth(api):
    spec = api.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert schemas["StageFunnelResponse"]["examples"]
    assert schemas["JourneyResponse"]["examples"]
    assert any("HTTPBearer" in s for s in spec["components"]["securitySchemes"])
    funnel = spec["paths"]["/v1/funnels/stages"]["get"]
    assert {p["name"] for p in funnel["parameters"]} == {"start", "end", "window_seconds", "channel"}
    assert "security" in funnel


def test_clickhouse_query_error_is_500_without_details(chdb_path, chdb):
    from tests.api.conftest import chdb_client

    chdb.command("CREATE DATABASE IF NOT EXISTS api_unmigrated")  # no events table in it
    try:
        factory = lambda: chdb_client(chdb_path, "api_unmigrated")  # noqa: E731
        app = create_app(ApiSettings(read_tokens=TOKEN), client_factory=factory)
        with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            response = client.get(FUNNEL)
            assert response.status_code == 500
            assert response.json() == {"detail": "Query failed"}
            assert client.get("/readyz").status_code == 200
    finally:
        chdb.command("DROP DATABASE IF EXISTS api_unmigrated")
