"""Customer profile: one customer's habits and experience, from their whole event log.

Semantics (tests/api/experience_reference.py is the executable spec). Every figure is over the
customer's unique events (duplicate copies of an event_id count once), all time:

* first_seen / last_seen: earliest and latest occurred_at; events: the number of unique events.
* current_stage: the stage of the latest event by (occurred_at, canonical stage order), as the
  journey defines it.
* orders: events with revenue (0 included); revenue: per currency, never summed across
  currencies (revenue sent without a currency is its own entry, currency null), by code, null
  first; amounts are exact 4-decimal strings.
* favourite_items: the top 5 items *bought*: properties.item (a non-empty JSON string) of
  events of stage purchase OR with revenue (repeat orders often arrive in the retention stage
  with revenue, e.g. the café's reorders; an item merely viewed, picked up or reviewed is not
  a purchase). Counted in events. Recommendations use the same definition (BOUGHT_SQL).
* favourite_touchpoints: top 5 touchpoints by events; preferred_channel: the channel with
  most events.
* visit_hours (UTC hour 0-23) and visit_weekdays (ISO, Monday = 1): top 3 by *days*: the
  number of distinct UTC dates with an event in that hour / on that weekday, so a visit that
  leaves several events counts once.
* Top lists: by count descending, ties by name (hours and weekdays: by number).
* last_nps / last_csat: the score of the latest event carrying one (ties: the greater
  event_id), with its time and event_id; null when the customer never gave one.
* feedback_items: events with a comment or a low score (NPS <= 6, CSAT <= 2, CES <= 3 on the
  7-point easy scale, rating <= 2). open_feedback_items: those whose current status in the
  feedback loop (feedback_status) is neither acknowledged nor resolved.

SQL: one query on the customer's rows (customer_id prefixes the sorting key): the inner
GROUP BY event_id dedupes, the outer aggregates with -Map combinators (per-key counts); the top
lists are cut in Python from those small maps.
"""
from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from schemas.events import Stage
from schemas.feedback import LOW_CES, LOW_CSAT, LOW_NPS, LOW_RATING
from services.api.queries.base import PERSON_FILTER, QueryRunner, format_ms

_TIME = {"format": "date-time"}
_MONEY = {"pattern": r"^\d+\.\d{4}$"}
TOP_ITEMS = 5
TOP_TOUCHPOINTS = 5
TOP_TIMES = 3

# An event that bought properties.item (stage is the events table's Enum8; item is extracted).
BOUGHT_SQL = "(stage = 'purchase' OR revenue IS NOT NULL)"
# Only JSON strings: JSONExtractString would also turn 7, true or {...} into text.
ITEM_SQL = "if(JSONType(properties, 'item') = 'String', JSONExtractString(properties, 'item'), '')"
# A feedback item: a comment or a low score (NULL scores compare to NULL, which countIf skips).
FEEDBACK_ITEM_SQL = (f"(note != '' OR s_nps <= {LOW_NPS} OR s_csat <= {LOW_CSAT} OR s_ces <= {LOW_CES}"
                     f" OR s_rating <= {LOW_RATING})")

SQL = f"""
SELECT
    count() AS events,
    min(ms) AS first_ms,
    max(ms) AS last_ms,
    argMax(stg, (ms, toUInt8(stg))) AS current_stage,
    countIf(amount IS NOT NULL) AS orders,
    sumMapIf(map(cur, assumeNotNull(amount)), amount IS NOT NULL) AS revenue,
    countMapIf(map(cur, 1), amount IS NOT NULL) AS currency_orders,
    countMapIf(map(item, 1), bought AND item != '') AS items,
    countMap(map(tp, 1)) AS touchpoints,
    countMap(map(ch, 1)) AS channels,
    uniqExactMap(map(toHour(t), toDate(t))) AS hours,
    uniqExactMap(map(toDayOfWeek(t), toDate(t))) AS weekdays,
    argMaxIf((assumeNotNull(s_nps), ms, id), (ms, id), s_nps IS NOT NULL) AS last_nps,
    countIf(s_nps IS NOT NULL) AS nps_responses,
    argMaxIf((assumeNotNull(s_csat), ms, id), (ms, id), s_csat IS NOT NULL) AS last_csat,
    countIf(s_csat IS NOT NULL) AS csat_responses,
    countIf({FEEDBACK_ITEM_SQL}) AS feedback_items,
    countIf({FEEDBACK_ITEM_SQL} AND NOT closed) AS open_feedback_items
FROM
(
    -- one row per event: duplicate copies (same event_id) are identical
    SELECT
        event_id AS id, any(stage) AS stg, any(occurred_at) AS t, toUnixTimestamp64Milli(t) AS ms,
        any(channel) AS ch, any(touchpoint) AS tp, any(revenue) AS amount, any(currency) AS cur,
        any({ITEM_SQL}) AS item, max({BOUGHT_SQL}) AS bought,
        any(nps) AS s_nps, any(csat) AS s_csat, any(ces) AS s_ces, any(rating) AS s_rating, any(comment) AS note,
        -- acknowledged or resolved through the feedback loop (current status, latest change wins)
        -- by event_id alone: a change made before an anonymous visitor was identified is theirs too
        event_id IN (SELECT event_id FROM feedback_status FINAL WHERE status != 'open') AS closed
    FROM person_events
    WHERE {PERSON_FILTER}
    GROUP BY event_id
)
HAVING events > 0
"""


# Identify calls naming the customer, oldest first: later traits override earlier ones key by key.
# `linked`: the anonymous id resolves to this customer (it was not claimed by someone else first).
IDENTITY_SQL = """
SELECT anonymous_id, traits,
       dictGetOrDefault('identity_links', 'customer_id', tuple(concat('anon:', anonymous_id)), '')
           = {customer_id:String} AS linked
FROM identities
WHERE customer_id = {customer_id:String}
ORDER BY received_at, anonymous_id
"""


class Count(BaseModel):
    name: str
    events: Annotated[int, Field(ge=1)]


class TimeSlot(BaseModel):
    value: Annotated[int, Field(description="UTC hour 0-23, or ISO weekday 1-7 (Monday = 1)")]
    days: Annotated[int, Field(ge=1, description="Distinct UTC dates with an event in this slot")]


class CurrencyRevenue(BaseModel):
    currency: Annotated[str | None, Field(description="ISO 4217; null for revenue sent without currency")]
    orders: Annotated[int, Field(ge=1)]
    revenue: Annotated[str, Field(description="Exact sum, 4 decimals", json_schema_extra=_MONEY)]


class LastScore(BaseModel):
    score: int
    at: Annotated[str, Field(description="occurred_at of the event, RFC 3339 UTC", json_schema_extra=_TIME)]
    event_id: str


class ProfileResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "customer_id": "cust-0042",
        "first_seen": "2026-01-03T08:10:00.000Z",
        "last_seen": "2026-11-20T08:14:03.000Z",
        "events": 57,
        "current_stage": "retention",
        "orders": 21,
        "revenue": [{"currency": "EUR", "orders": 21, "revenue": "96.6000"}],
        "favourite_items": [{"name": "flat white", "events": 14}, {"name": "cinnamon bun", "events": 5}],
        "favourite_touchpoints": [{"name": "cafe_counter_pos", "events": 15}, {"name": "cafe_app", "events": 12}],
        "preferred_channel": "pos",
        "visit_hours": [{"value": 7, "days": 12}, {"value": 8, "days": 6}, {"value": 12, "days": 2}],
        "visit_weekdays": [{"value": 1, "days": 6}, {"value": 3, "days": 5}, {"value": 5, "days": 5}],
        "last_nps": {"score": 9, "at": "2026-11-02T10:00:00.000Z", "event_id": "app-77812"},
        "last_csat": {"score": 4, "at": "2026-11-02T10:00:00.000Z", "event_id": "app-77812"},
        "feedback_items": 2,
        "open_feedback_items": 2,
        "anonymous_ids": ["web-7f3a9c"],
        "traits": {"name": "Ana", "favourite": "flat white"},
    }]})

    customer_id: str
    first_seen: Annotated[str, Field(description="Earliest occurred_at, RFC 3339 UTC", json_schema_extra=_TIME)]
    last_seen: Annotated[str, Field(description="Latest occurred_at, RFC 3339 UTC", json_schema_extra=_TIME)]
    events: Annotated[int, Field(ge=1, description="Unique events")]
    current_stage: Annotated[Stage, Field(description="Stage of the latest event (ties: the later stage)")]
    orders: Annotated[int, Field(ge=0, description="Unique events with revenue")]
    revenue: Annotated[list[CurrencyRevenue], Field(description="Per currency, by code (null first)")]
    favourite_items: Annotated[list[Count], Field(description="Top 5 items bought (purchase stage or "
                                                  "revenue), by events; ties by name")]
    favourite_touchpoints: Annotated[list[Count], Field(description="Top 5 touchpoints by events; ties by name")]
    preferred_channel: Annotated[str, Field(description="Channel with most events; ties by name")]
    visit_hours: Annotated[list[TimeSlot], Field(description="Top 3 UTC hours by days; ties: earlier hour")]
    visit_weekdays: Annotated[list[TimeSlot], Field(description="Top 3 ISO weekdays by days; ties: earlier day")]
    last_nps: Annotated[LastScore | None, Field(description="Latest NPS (0-10); null if never given")]
    last_csat: Annotated[LastScore | None, Field(description="Latest CSAT (1-5); null if never given")]
    feedback_items: Annotated[int, Field(ge=0, description="Events with a comment or a low score (NPS <= 6, "
                                         "CSAT <= 2, CES <= 3, rating <= 2)")]
    open_feedback_items: Annotated[int, Field(ge=0, description="Feedback items not yet acknowledged or "
                                              "resolved in the feedback loop")]
    anonymous_ids: Annotated[list[str], Field(description="Browser or device ids linked to the customer, "
                                              "whose events are counted as theirs; sorted")] = []
    traits: Annotated[dict[str, Any], Field(description="Traits from identify calls; a later call's value "
                                            "wins per key")] = {}


def top(counts: dict[Any, int], n: int) -> list[tuple[Any, int]]:
    """The n largest counts, ties by key."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def money(value: Decimal) -> str:
    with decimal.localcontext(prec=80):
        return str(value.quantize(Decimal("0.0001")))


def _last(value: tuple[int, int, str], responses: int) -> LastScore | None:
    score, ms, event_id = value
    return LastScore(score=score, at=format_ms(ms), event_id=event_id) if responses else None


def _slots(days: dict[int, int]) -> list[TimeSlot]:
    return [TimeSlot(value=int(k), days=int(v)) for k, v in top(days, TOP_TIMES)]


class ProfileQuery(BaseModel):
    customer_id: str


class ProfileQueryRunner(QueryRunner[ProfileQuery, ProfileResponse | None]):
    def run(self) -> ProfileResponse | None:
        """The customer's profile, or None when the log has no event of theirs."""
        customer_id = self.query.customer_id
        rows = self.select(SQL, {"customer_id": customer_id}).named_results()
        row = next(iter(rows), None)
        if row is None:
            return None
        revenue = [
            CurrencyRevenue(currency=cur or None, orders=int(row["currency_orders"][cur]), revenue=money(amount))
            for cur, amount in sorted(row["revenue"].items())
        ]
        items = top(row["items"], TOP_ITEMS)
        touchpoints = top(row["touchpoints"], TOP_TOUCHPOINTS)
        anonymous_ids, traits = self._identity(customer_id)
        return ProfileResponse(
            customer_id=customer_id,
            first_seen=format_ms(row["first_ms"]),
            last_seen=format_ms(row["last_ms"]),
            events=int(row["events"]),
            current_stage=Stage(row["current_stage"]),
            orders=int(row["orders"]),
            revenue=revenue,
            favourite_items=[Count(name=k, events=int(v)) for k, v in items],
            favourite_touchpoints=[Count(name=k, events=int(v)) for k, v in touchpoints],
            preferred_channel=top(row["channels"], 1)[0][0],
            visit_hours=_slots(row["hours"]),
            visit_weekdays=_slots(row["weekdays"]),
            last_nps=_last(row["last_nps"], row["nps_responses"]),
            last_csat=_last(row["last_csat"], row["csat_responses"]),
            feedback_items=int(row["feedback_items"]),
            open_feedback_items=int(row["open_feedback_items"]),
            anonymous_ids=anonymous_ids,
            traits=traits,
        )

    def _identity(self, customer_id: str) -> tuple[list[str], dict[str, Any]]:
        anonymous_ids: set[str] = set()
        traits: dict[str, Any] = {}
        for anonymous_id, raw, linked in self.select(IDENTITY_SQL, {"customer_id": customer_id}).result_rows:
            if linked:
                anonymous_ids.add(anonymous_id)
            value = orjson.loads(raw) if raw else {}
            if isinstance(value, dict):
                traits.update(value)
        return sorted(anonymous_ids), traits
