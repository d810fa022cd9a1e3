"""Anonymous events and POST /v1/identify over HTTP against the real broker."""
from __future__ import annotations

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from tests.topic import TOUCHPOINTS, read_events

IDENTITIES = "journeyline.identities.v1"


def event(i: int, **changes) -> dict:
    base = {
        "event_id": f"identify-test-{i}", "stage": "awareness", "channel": "social",
        "touchpoint": "instagram_story", "event": "story_viewed", "occurred_at": "2013-05-04T18:00:00Z",
    }
    return {**base, **changes}


def events(stack, key: bytes) -> list:
    return [e for e in read_events(stack.bootstrap_servers, TOUCHPOINTS) if e.key == key]


def records(stack, topic: str, key: bytes) -> list:
    consumer = KafkaConsumer(bootstrap_servers=stack.bootstrap_servers, auto_offset_reset="earliest",
                             consumer_timeout_ms=2000, enable_auto_commit=False)
    consumer.subscribe([topic])
    found = [r for r in consumer if r.key == key]
    consumer.close()
    return found


@pytest.fixture()
def end_of(stack):
    consumer = KafkaConsumer(bootstrap_servers=stack.bootstrap_servers)

    def end(topic: str) -> int:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return sum(consumer.end_offsets(partitions).values())

    yield end
    consumer.close()


def test_event_with_only_an_anonymous_id_is_keyed_by_it(ingest, stack):
    response = ingest.post("/v1/events", json={"events": [event(1, anonymous_id="phone-51c2")]})
    assert response.status_code == 202, response.text
    [record] = events(stack, b"anon:phone-51c2")
    value = orjson.loads(record.value)
    assert value["customer_id"] == "anon:phone-51c2" and value["anonymous_id"] == "phone-51c2"


def test_event_with_both_ids_is_keyed_by_the_customer(ingest, stack):
    body = {"events": [event(2, customer_id="salon-ida", anonymous_id="phone-77aa")]}
    assert ingest.post("/v1/events", json=body).status_code == 202
    [record] = events(stack, b"salon-ida")
    assert orjson.loads(record.value)["anonymous_id"] == "phone-77aa"


@pytest.mark.parametrize("changes, loc, words", [
    ({}, ["body", "events", 0], "customer_id or anonymous_id is required"),
    ({"customer_id": "anon:someone"}, ["body", "events", 0, "customer_id"], "reserved"),
    ({"anonymous_id": ""}, ["body", "events", 0, "anonymous_id"], "at least 1"),
])
def test_who_the_event_is_about_is_checked(ingest, end_of, changes, loc, words):
    before = end_of(TOUCHPOINTS)
    response = ingest.post("/v1/events", json={"events": [event(3, **changes)]})
    assert response.status_code == 422, response.text
    [detail] = response.json()["detail"]
    assert detail["loc"] == loc and words in detail["msg"]
    assert end_of(TOUCHPOINTS) == before


def test_identify_is_published_keyed_by_anonymous_id(ingest, stack, end_of):
    before = end_of(IDENTITIES)
    body = {"anonymous_id": "web-1d0c", "customer_id": "cafe-ana", "traits": {"favourite": "flat white"}}
    response = ingest.post("/v1/identify", json=body)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 1}
    assert end_of(IDENTITIES) == before + 1
    [record] = records(stack, IDENTITIES, b"web-1d0c")
    value = orjson.loads(record.value)
    assert {k: value[k] for k in body} == body
    assert value["source"] == "default" and value["received_at"].endswith("Z")


@pytest.mark.parametrize("body, loc", [
    ({"customer_id": "cafe-ana"}, ["body", "anonymous_id"]),
    ({"anonymous_id": "web-1"}, ["body", "customer_id"]),
    ({"anonymous_id": "web-1", "customer_id": "anon:web-2"}, ["body", "customer_id"]),
    ({"anonymous_id": "web-1", "customer_id": "c", "traits": {"x": "y" * 40_000}}, ["body", "traits"]),
    ({"anonymous_id": "web-1", "customer_id": "c", "traits": ["vip"]}, ["body", "traits"]),
    ({"anonymous_id": "web-1", "customer_id": "c", "email": "a@b.example"}, ["body", "email"]),
])
def test_identify_refusals_name_the_field(ingest, end_of, body, loc):
    before = end_of(IDENTITIES)
    response = ingest.post("/v1/identify", json=body)
    assert response.status_code == 422, response.text
    assert loc in [d["loc"] for d in response.json()["detail"]]
    assert end_of(IDENTITIES) == before


def test_identify_needs_a_write_key(stack, ingest):
    response = ingest.post("/v1/identify", json={"anonymous_id": "a", "customer_id": "c"},
                           headers={"Authorization": "Bearer not-a-key"})
    assert response.status_code == 401


def test_a_segment_shaped_identify_on_the_same_path_is_told_apart_by_its_fields(ingest, stack):
    body = {"userId": "cafe-ben", "anonymousId": "app-3c9d", "traits": {"name": "Ben"}, "type": "identify"}
    response = ingest.post("/v1/identify", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "accepted": 1, "dead_lettered": 0}
    [record] = records(stack, IDENTITIES, b"app-3c9d")
    value = orjson.loads(record.value)
    assert (value["anonymous_id"], value["customer_id"], value["traits"]) == ("app-3c9d", "cafe-ben", {"name": "Ben"})


def test_traits_that_cannot_be_stored_are_refused(ingest):
    body = {"anonymous_id": "web-1", "customer_id": "c", "traits": {"visits": -(2**63) - 1}}
    response = ingest.post("/v1/identify", json=body)
    assert response.status_code == 422
    assert ["body", "traits"] in [d["loc"] for d in response.json()["detail"]]
