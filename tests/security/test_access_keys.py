"""Write keys and read tokens from `journeyline keys`, on the real stack: stored hashed, used by
ingest and the API, revoked within a second, and what happens when ClickHouse is unreachable."""
from __future__ import annotations

import hashlib
import re
import time
import warnings

import httpx
import pytest

from deploy.local_stack import free_port
from services.common.access_keys import AccessKeyStore, hash_secret
from tests.conftest import READ_TOKEN, WRITE_KEY, wait_for

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PRIVATE_TOPIC = "journeyline.security-tests.v1"  # in-process ingest apps publish here, not to the pipeline
REVOCATION_BOUND_S = 1.0  # ACCESS_KEY_CACHE_S default: the longest a revoked key may still work


def event(event_id: str, **changes) -> dict:
    return {"event_id": event_id, "customer_id": "sec-cust-0001", "stage": "awareness", "channel": "web",
            "touchpoint": "landing", "event": "page_viewed", "occurred_at": "2019-03-01T10:00:00Z", **changes}


def post(url: str, key: str, *events: dict) -> httpx.Response:
    return httpx.post(f"{url}/v1/events", json={"events": list(events)},
                      headers={"Authorization": f"Bearer {key}"}, timeout=30)


def journey(stack, token: str) -> httpx.Response:
    return httpx.get(f"{stack.api_url}/v1/customers/sec-nobody/journey",
                     headers={"Authorization": f"Bearer {token}"}, timeout=30)


def stored(clickhouse, key_id: str) -> dict:
    result = clickhouse.query("SELECT * FROM access_keys FINAL WHERE key_id = {id:String}", parameters={"id": key_id})
    assert len(result.result_rows) == 1
    return dict(zip(result.column_names, result.result_rows[0], strict=True))


def test_create_prints_the_secret_once_and_stores_only_its_hash(keys_cli, clickhouse):
    done = keys_cli("create", "--kind", "write", "--source", "website")
    assert done.returncode == 0, done.stderr
    key_id = re.search(r"write key for source 'website': (key_[0-9a-f]{16})", done.stdout).group(1)
    secret = re.search(r"^(jl_w_[A-Za-z0-9_-]{43})$", done.stdout, re.M).group(1)

    row = stored(clickhouse, key_id)
    assert row["kind"] == "write" and row["source"] == "website" and row["revoked_at"] is None
    assert row["hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert row["prefix"] == secret[:12] and len(row["prefix"]) < len(secret) // 3
    every_value = repr(clickhouse.query("SELECT * FROM access_keys").result_rows)
    assert secret not in every_value and secret[12:] not in every_value

    listing = keys_cli("list")
    assert listing.returncode == 0, listing.stderr
    line = next(line for line in listing.stdout.splitlines() if key_id in line)
    assert line.split()[1:4] == ["write", "website", secret[:12] + "..."]
    assert secret not in listing.stdout
    listed = keys_cli("list", "--json")
    assert f'"key_id": "{key_id}"' in listed.stdout and secret not in listed.stdout


def test_store_write_key_stamps_its_source_and_stops_working_once_revoked(stack, create_key, keys_cli, clickhouse):
    key = create_key("write", "partner-site")
    response = post(stack.ingest_url, key["secret"], event("sec-store-key-1"))
    assert response.status_code == 202, response.text

    def landed() -> bool:
        rows = clickhouse.query("SELECT source FROM events WHERE event_id = 'sec-store-key-1'").result_rows
        return rows == [("partner-site",)]
    wait_for(landed, what="the event sent with a store key, stamped with its source")

    done = keys_cli("revoke", key["key_id"])
    assert done.returncode == 0 and "Revoked write key" in done.stdout, done.stderr
    revoked_at = time.monotonic()
    time.sleep(REVOCATION_BOUND_S + 0.05)
    response = post(stack.ingest_url, key["secret"], event("sec-store-key-2"))
    assert response.status_code == 401, response.text
    assert time.monotonic() - revoked_at < REVOCATION_BOUND_S + 5
    assert stored(clickhouse, key["key_id"])["revoked_at"] is not None
    assert post(stack.ingest_url, WRITE_KEY, event("sec-env-key-1")).status_code == 202  # env keys unaffected

    again = keys_cli("revoke", key["key_id"])
    assert again.returncode == 0 and "already revoked" in again.stdout
    listing = keys_cli("list").stdout
    line = next(line for line in listing.splitlines() if key["key_id"] in line)
    assert line.rstrip().endswith("UTC") and line.count("UTC") == 2  # created and revoked


def test_store_read_token_on_the_api_and_kinds_do_not_mix(stack, create_key, keys_cli):
    read, write = create_key("read"), create_key("write", "kiosk")
    assert journey(stack, read["secret"]).status_code == 404  # authenticated; the customer has no events
    assert journey(stack, READ_TOKEN).status_code == 404
    assert journey(stack, write["secret"]).status_code == 401
    secret = read["secret"]
    tampered = secret[:-1] + ("B" if secret.endswith("A") else "A")  # always a different token
    assert journey(stack, tampered).status_code == 401
    assert post(stack.ingest_url, read["secret"], event("sec-kinds-1")).status_code == 401

    assert keys_cli("revoke", read["key_id"]).returncode == 0
    time.sleep(REVOCATION_BOUND_S + 0.05)
    response = journey(stack, read["secret"])
    assert response.status_code == 401 and response.json() == {"detail": "Invalid bearer token"}
    assert journey(stack, READ_TOKEN).status_code == 404


def test_cli_errors_are_messages(stack, keys_cli):
    cases = [
        (("revoke", "key_0000000000000000"), "no key with id 'key_0000000000000000'"),
        (("create", "--kind", "write"), "write keys need --source"),
        (("create", "--kind", "write", "--source", "bad source!"), "source must be"),
        (("create", "--kind", "read", "--source", "website"), "read tokens have no source"),
    ]
    for args, message in cases:
        done = keys_cli(*args)
        assert done.returncode == 1 and message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    down = keys_cli("list", clickhouse_url=f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 1 and "Traceback" not in down.stderr
    assert down.stderr.startswith("journeyline keys: ClickHouse at http://127.0.0.1:") and "refused" in down.stderr


def test_clickhouse_unreachable_env_keys_work_store_keys_get_503(stack, create_key):
    from services.ingest.app import create_app
    from services.ingest.settings import IngestSettings

    key = create_key("write", "pos")
    settings = dict(kafka_bootstrap_servers=stack.bootstrap_servers, topic_touchpoints=PRIVATE_TOPIC,
                    topic_partitions=1, write_keys="boot-key=bootstrap")
    down = IngestSettings(**settings, clickhouse_url=f"http://127.0.0.1:{free_port()}")
    with TestClient(create_app(down)) as client:
        def send(secret: str):
            return client.post("/v1/events", json={"events": [event("sec-down-1")]},
                               headers={"Authorization": f"Bearer {secret}"})
        assert send("boot-key").status_code == 202
        response = send(key["secret"])
        assert response.status_code == 503 and int(response.headers["retry-after"]) > 0
        assert "key store" in response.json()["detail"]
        assert send("not-a-key").status_code == 401  # not shaped like a store key: no lookup needed
    up = IngestSettings(**settings, clickhouse_url=stack.clickhouse_url, clickhouse_password=stack.clickhouse_password)
    with TestClient(create_app(up)) as client:
        response = client.post("/v1/events", json={"events": [event("sec-up-1")]},
                               headers={"Authorization": f"Bearer {key['secret']}"})
        assert response.status_code == 202, response.text


def test_api_with_clickhouse_unreachable(create_key):
    from services.api.app import create_app
    from services.api.settings import ApiSettings

    token = create_key("read")["secret"]
    app = create_app(ApiSettings(read_tokens="boot-token", clickhouse_url=f"http://127.0.0.1:{free_port()}"))
    with TestClient(app) as client:
        def get(secret: str):
            return client.get("/v1/customers/c1/journey", headers={"Authorization": f"Bearer {secret}"})
        response = get(token)
        assert response.status_code == 503 and int(response.headers["retry-after"]) > 0
        assert get("jl_r_" + "A" * 43).status_code == 503  # store-shaped: cannot tell without the store
        assert get("boot-token").json() == {"detail": "ClickHouse unavailable"}  # past auth, then the query
        assert get("garbage").status_code == 401


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lookup_cache_bounds_revocation_delay(clickhouse):
    clock = Clock()
    service = AccessKeyStore(lambda: clickhouse, cache_ttl_s=1.0, clock=clock)
    uncached = AccessKeyStore(lambda: clickhouse, cache_ttl_s=0)
    operator = AccessKeyStore(lambda: clickhouse)

    new = operator.create("read")
    assert service.lookup("jl_r_" + "B" * 43, "read") is None
    assert service.lookup(new.secret, "read").key_id == new.key.key_id  # a new key works at once
    assert service.lookup(new.secret, "write") is None
    revoked, now = operator.revoke(new.key.key_id)
    assert now and revoked.revoked_at is not None
    assert uncached.lookup(new.secret, "read") is None
    clock.now += 0.99
    assert service.lookup(new.secret, "read").key_id == new.key.key_id  # cached: the documented bound
    clock.now += 0.02
    assert service.lookup(new.secret, "read") is None
    assert operator.revoke(new.key.key_id)[1] is False
    assert stored(clickhouse, new.key.key_id)["hash"] == hash_secret(new.secret)
    with pytest.raises(ValueError):
        AccessKeyStore(lambda: clickhouse, cache_ttl_s=5)
