"""Event records (the touchpoint topic's value): decoding both shapes, and an invalid event refused alone."""
from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import RecordedEvent
from schemas.records import (
    MAX_RECORD_EVENTS,
    EventRecord,
    Refused,
    approx_events,
    decode,
    encode,
    raw_events,
    record_size,
)
from tests.conftest import examples


def event(i: int, **changes) -> dict:
    return {"event_id": f"rec-{i}", "customer_id": f"rec-cust-{i % 3}", "stage": "awareness", "channel": "web",
            "touchpoint": "home", "event": "page_viewed", "occurred_at": "2009-01-01T10:00:00Z",
            "received_at": "2009-01-01T10:00:01Z", "source": "default", **changes}


def test_event_record_round_trip():
    values = [orjson.dumps(event(i)) for i in range(5)]
    record = encode(values)
    assert len(record) == record_size(sum(map(len, values)), len(values))
    decoded = decode(record)
    assert decoded == [RecordedEvent.model_validate(event(i)) for i in range(5)]
    assert EventRecord.model_validate_json(record).events == decoded
    assert raw_events(record) == [event(i) for i in range(5)]
    assert approx_events(record) == 5


def test_single_event_record_still_decodes():
    value = orjson.dumps(event(1))
    assert decode(value) == [RecordedEvent.model_validate(event(1))]
    assert raw_events(value) == [event(1)] and approx_events(value) == 1


def test_event_record_in_another_spelling_is_told_apart_by_its_field():
    record = b'{ "events" : [' + orjson.dumps(event(1)) + b"]}"
    assert decode(record) == [RecordedEvent.model_validate(event(1))]


def test_invalid_event_in_a_record_is_refused_alone_with_its_index():
    values = [orjson.dumps(event(0)), orjson.dumps(event(1, stage="browsing")), orjson.dumps(event(2)),
              b'{"event_id":"rec-3","huge":123456789012345678901234567890}']
    decoded = decode(encode(values))
    assert decoded[0] == RecordedEvent.model_validate(event(0))
    assert decoded[2] == RecordedEvent.model_validate(event(2))
    refused = decoded[1]
    assert isinstance(refused, Refused) and refused.index == 1 and refused.kind == "invalid_event"
    assert refused.reason.startswith("invalid event: stage: ")  # the event's own field path
    assert orjson.loads(refused.value) == event(1, stage="browsing")  # the event alone, for dlq replay
    big = decoded[3]
    assert isinstance(big, Refused) and big.index == 3 and b"123456789012345678901234567890" in big.value
    assert "huge" in big.reason and "customer_id" in big.reason


def test_broken_records_are_refused_whole():
    for value, kind in ((b'{"event_id": oops', "invalid_event"), (b'{"events": []}', "invalid_event"),
                        (b'{"events": [], "extra": 1}', "invalid_event"), (b'{"events": 3}', "invalid_event"),
                        (b'{"events":[' + orjson.dumps(event(1)), "invalid_event"), (None, "undecodable")):
        [refused] = decode(value)
        assert isinstance(refused, Refused) and refused.kind == kind and refused.index is None
        assert refused.value == value


@settings(max_examples=examples(50), deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=30))
def test_each_event_decoded_or_refused_in_place(valid):
    values = [orjson.dumps(event(i) if ok else event(i, channel="fax")) for i, ok in enumerate(valid)]
    decoded = decode(encode(values))
    assert len(decoded) == len(valid)
    for i, (ok, item) in enumerate(zip(valid, decoded, strict=True)):
        if ok:
            assert item == RecordedEvent.model_validate(event(i))
        else:
            assert isinstance(item, Refused) and item.index == i and item.reason.startswith("invalid event: channel")


def test_caps_leave_room_under_kafkas_default_message_size():
    from schemas.records import MAX_RECORD_BYTES

    assert MAX_RECORD_BYTES <= 512 * 1024 < 1_048_588 and MAX_RECORD_EVENTS >= 100
