"""Fuzzing both OpenAPI specs with schemathesis, on the real broker and ClickHouse of the session stack.

Every operation of each spec is fuzzed, so routes added later are fuzzed too. With a valid key (so the
handlers are reached), valid and invalid inputs: no 5xx, never 401/403, and answers keep to the declared
status codes, content types, headers and response schemas; schemathesis also re-sends accepted requests
without the key and with a wrong one (ignored_auth). Then without a key and with generated wrong ones:
always 401, never a 5xx. Examples are bounded and derandomized, so a run is repeatable and about a minute.

Isolation: the apps run in-process (ASGI) on the stack's broker and ClickHouse but publish to fuzz-only
topics that no processor consumes, so fuzzed events and status changes never reach the tables other
tests count. Reads and key lookups go to the shared ClickHouse.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from schemathesis import GenerationMode, checks
from schemathesis.config import HealthCheck
from schemathesis.python import asgi

from deploy.local_stack import LocalStack
from services.api.app import create_app as create_api
from services.api.settings import ApiSettings
from services.ingest.app import create_app as create_ingest
from services.ingest.settings import IngestSettings
from tests.conftest import READ_TOKEN, WRITE_KEY

MAX_EXAMPLES = 15  # fuzzing phase, per operation; coverage adds the boundary cases of each schema
# Valid input may still be refused for rules a schema cannot state (end after start, a known cursor).
WITH_KEY_CHECKS = {"excluded_checks": [checks.positive_data_acceptance]}


def on_stack(settings_class, stack: LocalStack, **values):
    """Settings on the stack's broker and ClickHouse with every topic, including ones added later,
    renamed to a fuzz-only topic."""
    topics = {name: f"journeyline.fuzz.{name.removeprefix('topic_')}" for name, field in
              settings_class.model_fields.items() if name.startswith("topic_") and field.annotation is str}
    return settings_class(kafka_bootstrap_servers=stack.bootstrap_servers, clickhouse_url=stack.clickhouse_url,
                          clickhouse_password=stack.clickhouse_password,
                          topic_partitions=1, **topics, **values)


class StackApp:
    """The ASGI app under test, known once the session stack is up (its ports are chosen at start)."""

    def __init__(self) -> None:
        self.target = None

    async def __call__(self, scope, receive, send) -> None:
        await self.target(scope, receive, send)


def spec(app, target: StackApp, *, with_key: bool) -> schemathesis.BaseSchema:
    # The spec is read at collection, from an app built only for it; requests go to `target`.
    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.app = target
    # Generation time depends on the machine's load; the other health checks are deterministic here.
    schema.config.update(suppress_health_check=[HealthCheck.too_slow])
    if with_key:
        schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True,
                                        with_security_parameters=False)
        # Negative boundary cases only: they answer 422 at once, where positive ones each run a query.
        schema.config.phases.coverage.generation.update(modes=[GenerationMode.NEGATIVE])
    else:
        # Valid requests with generated (wrong) credentials: only the key may decide the answer.
        schema.config.generation.update(max_examples=5, deterministic=True, modes=[GenerationMode.POSITIVE])
        schema.config.phases.coverage.enabled = False
    return schema


INGEST, API = StackApp(), StackApp()
ingest_spec = spec(create_ingest(IngestSettings()), INGEST, with_key=True)
api_spec = spec(create_api(ApiSettings()), API, with_key=True)
ingest_spec_no_key = spec(create_ingest(IngestSettings()), INGEST, with_key=False)
api_spec_no_key = spec(create_api(ApiSettings()), API, with_key=False)


@pytest.fixture(scope="module", autouse=True)
def apps(stack: LocalStack) -> Iterator[None]:
    INGEST.target = create_ingest(on_stack(IngestSettings, stack, write_keys=WRITE_KEY))
    API.target = create_api(on_stack(ApiSettings, stack, read_tokens=READ_TOKEN))
    yield
    asgi.shutdown_lifespans()  # schemathesis keeps each app's lifespan (producers, clients) until here


def call_with_key(case, key: str) -> None:
    response = case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, **WITH_KEY_CHECKS)
    assert response.status_code not in (401, 403), response.text


def call_without_key(case) -> None:
    secured = bool(case.operation.definition.raw.get("security"))
    attempts = [dict(case.headers or {})]  # a generated bearer token: not a key
    attempts.append({k: v for k, v in attempts[0].items() if k.lower() != "authorization"})
    for headers in attempts:
        case.headers = headers
        response = case.call()
        case.validate_response(response, checks=[checks.not_a_server_error])
        if secured:
            assert response.status_code == 401, (headers, response.status_code, response.text)


@ingest_spec.parametrize()
def test_fuzz_ingest_with_write_key(case):
    call_with_key(case, WRITE_KEY)


@api_spec.parametrize()
def test_fuzz_api_with_read_token(case):
    call_with_key(case, READ_TOKEN)


@ingest_spec_no_key.parametrize()
def test_fuzz_ingest_without_write_key(case):
    call_without_key(case)


@api_spec_no_key.parametrize()
def test_fuzz_api_without_read_token(case):
    call_without_key(case)
