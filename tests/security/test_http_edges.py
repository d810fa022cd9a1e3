"""HTTP edge cases of ingest and the API as real processes: authentication before the body, body
bounds (413), header and body read deadlines (408), non-finite numbers (422 naming the field), and
customer ids holding `/` (reachable on every customer route)."""
from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from deploy.local_stack import LocalStack, Ports, free_port
from tests.conftest import READ_TOKEN, WRITE_KEY, wait_for

HEADER_TIMEOUT_S = 2
BODY_TIMEOUT_S = 2


@pytest.fixture(scope="module")
def edge(stack: LocalStack, tmp_path_factory) -> Iterator[LocalStack]:
    """A second ingest and API on the session stack's broker and ClickHouse, with short deadlines."""
    ports = Ports(stack.ports.kafka, stack.ports.clickhouse, free_port(), free_port(), free_port())
    edge = LocalStack(tmp_path_factory.mktemp("edge"), ports, write_key=WRITE_KEY, read_token=READ_TOKEN,
                      supervised=(), extra_env={**stack.extra_env, **stack.clickhouse_env(),
                                                "HTTP_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
                                                "HTTP_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S)})
    edge.start("ingest", "api")
    yield edge
    edge.stop()


def _connect(url: str) -> socket.socket:
    port = int(url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=HEADER_TIMEOUT_S + BODY_TIMEOUT_S + 5)
    return sock


def _response(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
        if b"\r\n\r\n" in data and (b"408" in data.split(b"\r\n", 1)[0] or len(data) > 100):
            break
    return data


def _status(data: bytes) -> int:
    return int(data.split(b" ", 2)[1])


HEADS = {"api": "POST /v1/funnels HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n",
         "ingest": "POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"}


@pytest.mark.parametrize("service", ["api", "ingest"])
def test_huge_body_without_a_key_is_refused_before_it_is_read(edge, service):
    # Only the headers are sent: a server that waits for the body before authenticating times out.
    url = edge.api_url if service == "api" else edge.ingest_url
    with _connect(url) as sock:
        started = time.monotonic()
        sock.sendall((HEADS[service] + "Content-Length: 31457280\r\n\r\n").encode())
        data = _response(sock)
    assert _status(data) == 401, data[:300]
    assert time.monotonic() - started < BODY_TIMEOUT_S


def test_api_bounds_the_body_after_the_token(edge):
    declared = httpx.post(f"{edge.api_url}/v1/funnels", content=b"x" * (300 * 1024),
                          headers={"Authorization": f"Bearer {READ_TOKEN}", "Content-Type": "application/json"})
    assert declared.status_code == 413, declared.text
    assert str(256 * 1024) in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:  # chunked: no Content-Length to refuse up front
        for _ in range(40):
            yield b" " * 8192

    streamed = httpx.post(f"{edge.api_url}/v1/funnels", content=chunks(),
                          headers={"Authorization": f"Bearer {READ_TOKEN}", "Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert httpx.post(f"{edge.api_url}/v1/funnels", content=b"x" * (300 * 1024)).status_code == 401


@pytest.mark.parametrize("service", ["api", "ingest"])
def test_headers_trickling_in_get_408(edge, service):
    url = edge.api_url if service == "api" else edge.ingest_url
    with _connect(url) as sock:
        started = time.monotonic()
        sock.settimeout(0.5)
        data = b""
        for byte in HEADS[service].encode() * 4:  # 1 byte every 0.25 s, never finishing the headers
            try:
                sock.send(bytes([byte]))
            except OSError:
                break
            try:
                data += sock.recv(4096)
                if data:
                    break
            except TimeoutError:
                pass
            time.sleep(0.25)
            if time.monotonic() - started > HEADER_TIMEOUT_S + 5:
                break
    elapsed = time.monotonic() - started
    assert data.startswith(b"HTTP/1.1 408"), data
    assert HEADER_TIMEOUT_S - 0.5 < elapsed < HEADER_TIMEOUT_S + 3


@pytest.mark.parametrize("service", ["api", "ingest"])
def test_idle_connection_is_closed(edge, service):
    url = edge.api_url if service == "api" else edge.ingest_url
    with _connect(url) as sock:
        started = time.monotonic()
        data = _response(sock)
    assert data.startswith(b"HTTP/1.1 408"), data
    assert time.monotonic() - started < HEADER_TIMEOUT_S + 3


@pytest.mark.parametrize("service", ["api", "ingest"])
def test_body_trickling_in_gets_408(edge, service):
    url = edge.api_url if service == "api" else edge.ingest_url
    key = READ_TOKEN if service == "api" else WRITE_KEY
    with _connect(url) as sock:
        sock.sendall((HEADS[service] + f"Authorization: Bearer {key}\r\nContent-Length: 1000\r\n\r\n").encode())
        started = time.monotonic()
        sock.settimeout(0.3)
        data = b""
        while not data and time.monotonic() - started < BODY_TIMEOUT_S + 5:
            try:
                sock.send(b" ")
                data = sock.recv(4096)
            except TimeoutError:
                pass
            except OSError:
                break
        sock.settimeout(2)
        while b"did not arrive" not in data and (chunk := sock.recv(4096)):
            data += chunk
    assert data.startswith(b"HTTP/1.1 408"), data
    assert b"did not arrive" in data
    assert time.monotonic() - started < BODY_TIMEOUT_S + 3


EVENT = {"event_id": "edge-nan-1", "customer_id": "edge-nan", "stage": "purchase", "channel": "pos",
         "touchpoint": "till", "event": "order_completed", "occurred_at": "2019-06-01T10:00:00Z"}


def _event_json(field: str, value: str) -> str:
    extra = {"revenue": f'"revenue": {value}, "currency": "EUR"', "nps": f'"feedback": {{"nps": {value}}}',
             "properties": f'"properties": {{"basket": {{"total": {value}}}}}'}[field]
    head = ", ".join(f'"{k}": "{v}"' for k, v in EVENT.items())
    return '{"events": [{' + head + ", " + extra + "}]}"


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400"])
@pytest.mark.parametrize("field", ["revenue", "nps", "properties"])
def test_non_finite_numbers_in_events_are_422_naming_the_field(ingest, field, value):
    response = ingest.post("/v1/events", content=_event_json(field, value),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"][:4] == ["body", "events", 0, field if field != "nps" else "feedback"]
    if field == "properties":
        assert "properties.basket.total must be a finite number" in error["msg"]


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1e400"])
def test_non_finite_identify_traits_are_422(ingest, value):
    response = ingest.post("/v1/identify", content='{"anonymous_id": "edge-a", "customer_id": "edge-c", '
                           f'"traits": {{"score": {value}}}}}', headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "traits"]
    assert "traits.score must be a finite number" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_funnel_property_filter_is_422(api, value):
    body = ('{"start": "2019-01-01T00:00:00Z", "end": "2019-02-01T00:00:00Z", "steps": ['
            f'{{"stage": "awareness", "properties": {{"total": {value}}}}}, {{"stage": "purchase"}}]}}')
    response = api.post("/v1/funnels", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][:4] == ["body", "steps", 0, "properties"]


def test_customer_ids_with_slashes_are_reachable(ingest, api):
    customer = "shop/eu/cust-7"
    events = [dict(EVENT, event_id=f"edge-slash-{i}", customer_id=customer, stage=stage, revenue=5.0,
                   currency="EUR", properties={"item": "mug"}) for i, stage in enumerate(["awareness", "purchase"])]
    assert ingest.post("/v1/events", json={"events": events}).status_code == 202
    path = f"/v1/customers/{quote(customer, safe='')}"
    wait_for(lambda: api.get(f"{path}/journey").status_code == 200, what="the slashed customer's journey")
    journey = api.get(f"{path}/journey").json()
    assert journey["customer_id"] == customer and len(journey["events"]) == 2
    for tail in ("value", "profile", "recommendations"):
        response = api.get(f"{path}/{tail}")
        assert response.status_code == 200, (tail, response.text)
    assert api.get("/v1/customers/shop/eu/nobody/journey").status_code == 404
