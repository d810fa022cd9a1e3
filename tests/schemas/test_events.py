from datetime import datetime, timedelta, timezone

import orjson
import pytest
from pydantic import ValidationError

from schemas.events import STAGES, EventBatch, RecordedEvent, TouchpointEvent, validation_context
from schemas.jsonschema import SCHEMA_FILES, render

BASE = {
    "event_id": "e-1", "customer_id": "cafe-cust-0001", "stage": "purchase", "channel": "pos",
    "touchpoint": "cafe_counter_pos", "event": "order_completed", "occurred_at": "2026-11-20T08:14:03+01:00",
}


def errors_of(**changes):
    with pytest.raises(ValidationError) as info:
        TouchpointEvent.model_validate({**BASE, **changes})
    return {tuple(e["loc"]): e["type"] for e in info.value.errors()}


def test_valid_event_keeps_its_instant():
    event = TouchpointEvent.model_validate({**BASE, "revenue": 4.2, "currency": "EUR",
                                            "feedback": {"nps": 9, "comment": "lovely"}})
    assert event.occurred_at.astimezone(timezone.utc).hour == 7
    assert event.feedback.nps == 9


def test_stages_in_canonical_order():
    assert STAGES == ("awareness", "consideration", "purchase", "use", "retention", "advocacy")


@pytest.mark.parametrize(
    "changes, loc",
    [
        ({"event_id": ""}, ("event_id",)),
        ({"event_id": "x" * 129}, ("event_id",)),
        ({"customer_id": "x" * 257}, ("customer_id",)),
        ({"stage": "browsing"}, ("stage",)),
        ({"channel": "fax"}, ("channel",)),
        ({"occurred_at": "2026-11-20T08:14:03"}, ("occurred_at",)),
        ({"occurred_at": "yesterday"}, ("occurred_at",)),
        ({"occurred_at": 1700000000}, ("occurred_at",)),
        ({"revenue": -1}, ("revenue",)),
        ({"currency": "EURO"}, ("currency",)),
        ({"currency": "XXQ"}, ("currency",)),
        ({"feedback": {"nps": 11}}, ("feedback", "nps")),
        ({"feedback": {"csat": 0}}, ("feedback", "csat")),
        ({"feedback": {"ces": 8}}, ("feedback", "ces")),
        ({"feedback": {"rating": 6}}, ("feedback", "rating")),
        ({"feedback": {"comment": "x" * 4001}}, ("feedback", "comment")),
        ({"feedback": {"stars": 5}}, ("feedback", "stars")),
        ({"properties": {"blob": "x" * 33000}}, ("properties",)),
        ({"properties": {"n": 2**64}}, ("properties",)),  # beyond 64 bits: not storable as JSON
        ({"feedback": {"nps": False}}, ("feedback", "nps")),  # a boolean is not a score
        ({"feedback": {"rating": "4"}}, ("feedback", "rating")),
        ({"revenue": True}, ("revenue",)),
        ({"revenue": 1e14}, ("revenue",)),  # beyond Decimal(18, 4): never storable in ClickHouse
        ({"colour": "red"}, ("colour",)),
    ],
)
def test_refusals_name_the_field(changes, loc):
    assert loc in errors_of(**changes)


def test_batch_limits():
    with pytest.raises(ValidationError):
        EventBatch.model_validate({"events": []})
    with pytest.raises(ValidationError):
        EventBatch.model_validate({"events": [BASE] * 1001})
    assert len(EventBatch.model_validate({"events": [BASE] * 1000}).events) == 1000


def test_published_json_schema_is_current():
    for path, model in SCHEMA_FILES.items():
        assert path.read_text() == render(model), f"{path.name} is stale: run `make schema`"


def test_future_limit_from_the_request_context():
    now = datetime.now(timezone.utc)
    plus5 = timezone(timedelta(hours=5))
    context = validation_context(timedelta(hours=24))
    near = {**BASE, "occurred_at": (now + timedelta(hours=23)).astimezone(plus5).isoformat()}
    far = {**BASE, "occurred_at": (now + timedelta(hours=25)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    far_offset = {**BASE, "occurred_at": (now + timedelta(hours=25)).astimezone(plus5).isoformat()}
    assert len(EventBatch.model_validate_json(orjson.dumps({"events": [BASE, near]}), context=context).events) == 2
    for bad in (far, far_offset):
        with pytest.raises(ValidationError) as info:
            EventBatch.model_validate_json(orjson.dumps({"events": [BASE, bad]}), context=context)
        [error] = info.value.errors()
        assert error["loc"] == ("events", 1, "occurred_at") and "24 h in the future" in error["msg"]
        assert error["input"] == bad["occurred_at"]  # echoed as sent


def test_reserved_id_and_unstorable_properties_both_reported():
    assert errors_of(customer_id="anon:x", properties={"n": 2**64}) == {
        ("customer_id",): "value_error", ("properties",): "value_error"}


def test_revenue_needs_a_currency():
    # A revenue without a currency counts in no revenue answer (they are per currency): refused.
    with pytest.raises(ValidationError) as info:
        TouchpointEvent.model_validate({**BASE, "revenue": 4.2})
    [error] = info.value.errors()
    assert error["loc"] == ("currency",) and "required with revenue" in error["msg"]
    assert errors_of(revenue=0.0, currency=None) == {("currency",): "value_error"}  # 0 is an order too
    assert TouchpointEvent.model_validate({**BASE, "revenue": 4.2, "currency": "EUR"}).currency == "EUR"
    assert TouchpointEvent.model_validate({**BASE, "revenue": None}).revenue is None
    # Records on the topic written before the rule still load.
    recorded = {**BASE, "revenue": 4.2, "received_at": "2026-11-20T08:14:04Z"}
    assert RecordedEvent.model_validate(recorded).currency is None


def test_published_json_schema_states_the_currency_rule():
    import jsonschema_rs  # schemathesis's JSON Schema validator

    validator = jsonschema_rs.validator_for(TouchpointEvent.model_json_schema())
    assert not validator.is_valid({**BASE, "revenue": 4.2})
    assert not validator.is_valid({**BASE, "revenue": 4.2, "currency": None})
    assert validator.is_valid({**BASE, "revenue": 4.2, "currency": "EUR"})
    assert validator.is_valid({**BASE, "revenue": None}) and validator.is_valid(BASE)
