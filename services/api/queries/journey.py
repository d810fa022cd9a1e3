"""Customer journey: every event of one customer, per-stage summary and current stage.

Read from the event log with identities resolved (`person_events`): the customer's own events and
those of the anonymous ids linked to them, before and after the link (base.PERSON_FILTER reads only
those keys' granules), deduplicated by event_id: a duplicate copy that ReplacingMergeTree has not
merged yet is shown once.

* events: the unique events ordered by occurred_at, ties by canonical stage order, then
  event_id.
* stages: the stages the customer has events in, in canonical order, with first/last
  occurred_at and the number of unique events: what the journey_stages projection holds.
* current_stage: the stage of the latest event by occurred_at; on a tie, the later stage in
  canonical order (the last event in the order above), as the journeys projection defines it.
"""
from __future__ import annotations

import logging
from decimal import Decimal
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from schemas.events import Feedback, Stage
from services.api.queries.base import PERSON_FILTER, QueryRunner, format_ms

log = logging.getLogger(__name__)

_TIME = {"format": "date-time"}

SQL = f"""
SELECT
    event_id, anonymous_id, stage, channel, touchpoint, event,
    toUnixTimestamp64Milli(occurred_at) AS occurred_ms,
    toUnixTimestamp64Milli(received_at) AS received_ms,
    properties, revenue, currency, nps, csat, ces, rating, comment, source
FROM person_events
WHERE {PERSON_FILTER}
-- stage is the Enum8: it sorts by its value, i.e. in canonical order
ORDER BY occurred_at, stage, event_id, received_at
LIMIT 1 BY event_id
"""


class JourneyEvent(BaseModel):
    """An event in the touchpoint event format, as ingest recorded it."""

    event_id: str
    customer_id: str
    anonymous_id: Annotated[str | None, Field(description="Device or browser id sent with the event; null when none")]
    stage: Stage
    channel: str
    touchpoint: str
    event: str
    occurred_at: Annotated[str, Field(description="RFC 3339, UTC, milliseconds", json_schema_extra=_TIME)]
    properties: dict[str, Any]
    revenue: float | None
    currency: Annotated[str | None, Field(description="ISO 4217; null when the event has no revenue")]
    feedback: Annotated[Feedback | None, Field(description="null when the event carries no feedback")]
    received_at: Annotated[str, Field(description="When ingest accepted it; RFC 3339, UTC", json_schema_extra=_TIME)]
    source: str


class JourneyStage(BaseModel):
    stage: Stage
    first_at: Annotated[str, Field(json_schema_extra=_TIME)]
    last_at: Annotated[str, Field(json_schema_extra=_TIME)]
    events: Annotated[int, Field(ge=1, description="Unique events in this stage")]


class JourneyResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "cust-0042",
                    "current_stage": "purchase",
                    "stages": [
                        {"stage": "awareness", "first_at": "2026-11-18T19:02:11.000Z",
                         "last_at": "2026-11-18T19:02:11.000Z", "events": 1},
                        {"stage": "purchase", "first_at": "2026-11-20T08:14:03.000Z",
                         "last_at": "2026-11-20T08:14:03.000Z", "events": 1},
                    ],
                    "events": [
                        {
                            "event_id": "web-000981", "customer_id": "cust-0042",
                            "anonymous_id": "web-7f3a9c", "stage": "awareness",
                            "channel": "social", "touchpoint": "instagram_ad", "event": "ad_clicked",
                            "occurred_at": "2026-11-18T19:02:11.000Z", "properties": {"campaign": "winter"},
                            "revenue": None, "currency": None, "feedback": None,
                            "received_at": "2026-11-18T19:02:12.250Z", "source": "web",
                        },
                        {
                            "event_id": "pos-12-000187", "customer_id": "cust-0042", "anonymous_id": None,
                            "stage": "purchase",
                            "channel": "pos", "touchpoint": "store_12_pos", "event": "order_completed",
                            "occurred_at": "2026-11-20T08:14:03.000Z",
                            "properties": {"item": "flat white", "size": "regular"},
                            "revenue": 4.2, "currency": "EUR",
                            "feedback": {"nps": 9, "csat": None, "ces": None, "rating": None, "comment": "quick"},
                            "received_at": "2026-11-20T08:14:04.010Z", "source": "pos",
                        },
                    ],
                }
            ]
        }
    )

    customer_id: str
    current_stage: Annotated[Stage, Field(description="Stage of the latest event (ties: the later stage)")]
    stages: Annotated[list[JourneyStage], Field(description="Stages with events, in canonical order")]
    events: Annotated[list[JourneyEvent], Field(description="Unique events by occurred_at, stage, event_id")]


def _properties(raw: str, event_id: str) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        log.warning("event %r has properties that are not JSON; shown as {}", event_id)
        return {}
    if not isinstance(value, dict):
        log.warning("event %r has properties that are not a JSON object; shown as {}", event_id)
        return {}
    return value


def _feedback(nps: int | None, csat: int | None, ces: int | None, rating: int | None, comment: str) -> Feedback | None:
    if nps is None and csat is None and ces is None and rating is None and not comment:
        return None
    # Stored values passed ingest validation; construct without re-checking ranges.
    return Feedback.model_construct(nps=nps, csat=csat, ces=ces, rating=rating, comment=comment or None)


def _revenue(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


class JourneyQuery(BaseModel):
    customer_id: str


class JourneyQueryRunner(QueryRunner[JourneyQuery, JourneyResponse | None]):
    def run(self) -> JourneyResponse | None:
        """The customer's journey, or None when the log has no event of theirs."""
        customer_id = self.query.customer_id
        rows = self.select(SQL, {"customer_id": customer_id}).result_rows
        if not rows:
            return None

        events: list[JourneyEvent] = []
        # stage -> [first_ms, last_ms, count]; rows come sorted by time, so first/last are in order.
        summary: dict[str, list[int]] = {}
        for (event_id, anonymous_id, stage, channel, touchpoint, event, occurred_ms, received_ms, properties,
             revenue, currency, nps, csat, ces, rating, comment, source) in rows:
            events.append(
                JourneyEvent.model_construct(
                    event_id=event_id,
                    customer_id=customer_id,
                    anonymous_id=anonymous_id or None,
                    stage=Stage(stage),
                    channel=channel,
                    touchpoint=touchpoint,
                    event=event,
                    occurred_at=format_ms(occurred_ms),
                    properties=_properties(properties, event_id),
                    revenue=_revenue(revenue),
                    currency=currency or None,
                    feedback=_feedback(nps, csat, ces, rating, comment),
                    received_at=format_ms(received_ms),
                    source=source,
                )
            )
            entry = summary.get(stage)
            if entry is None:
                summary[stage] = [occurred_ms, occurred_ms, 1]
            else:
                entry[1] = occurred_ms
                entry[2] += 1

        stages = []
        for stage in Stage:  # canonical order
            if stage.value in summary:
                first, last, count = summary[stage.value]
                stages.append(
                    JourneyStage(stage=stage, first_at=format_ms(first), last_at=format_ms(last), events=count)
                )
        return JourneyResponse.model_construct(
            customer_id=customer_id,
            current_stage=events[-1].stage,
            stages=stages,
            events=events,
        )
