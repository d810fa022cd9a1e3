"""Feedback items: the events with a comment or a low score, and where each stands.

Semantics:

* An item is a unique event (by event_id) with a non-empty comment or a low score: NPS <= 6,
  CSAT <= 2, CES <= 3 (1-7 scale, high is easy) or rating <= 2 (schemas/feedback.py). It is
  read straight from the `events` log, never stored apart, so it counts each event once (a
  duplicate copy not yet merged away is read once: the first copy read from Kafka) and needs
  no rebuild. event_id is the item's key; were two customers to send the same event_id, the
  copy read first from Kafka is the item.
* Status: the latest change (by changed_at) from `feedback_status`; "open" before any change.
  history_length counts the item's changes (each change_id once).
* Listing: newest first by (occurred_at, event_id); `cursor` continues after the last item of
  the previous page, so a page never repeats or skips an item while items are added.
  min_score / max_score filter on NPS (0-10), inclusive; either leaves out items without an
  NPS. q: case-insensitive substring of the comment. start / end: occurred_at in [start, end).
"""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from schemas.events import Channel, Stage
from schemas.feedback import LOW_CES, LOW_CSAT, LOW_NPS, LOW_RATING, FeedbackStatus
from services.api.queries import base
from services.api.queries.base import UTC, QueryRunner, Rfc3339, epoch_ms_ceil, format_ms

_TIME = {"format": "date-time"}
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_Q_CHARS = 200

THRESHOLDS = {"low_nps": LOW_NPS, "low_csat": LOW_CSAT, "low_ces": LOW_CES, "low_rating": LOW_RATING}
LOW_SCORE = (
    "(ifNull(nps <= {low_nps:UInt8}, 0) OR ifNull(csat <= {low_csat:UInt8}, 0)"
    " OR ifNull(ces <= {low_ces:UInt8}, 0) OR ifNull(rating <= {low_rating:UInt8}, 0))"
)
IS_ITEM = f"(comment != '' OR {LOW_SCORE})"

FIND = f"""
SELECT customer_id FROM person_events
WHERE event_id = {{event_id:String}} AND {IS_ITEM}
ORDER BY kafka_partition, kafka_offset
LIMIT 1
"""

HISTORY = """
SELECT change_id, toString(status), note, who, toUnixTimestamp64Milli(changed_at) AS changed_ms
FROM feedback_status_history
WHERE event_id = {event_id:String}
ORDER BY changed_at, kafka_partition, kafka_offset, change_id
LIMIT 1 BY change_id
"""


def items_sql(conditions: list[str], limit: bool = False) -> str:
    """One row per item matching every condition (code constants only). Copies of an event sort
    together; LIMIT 1 BY keeps the first read from Kafka."""
    where = " AND ".join([IS_ITEM, *conditions])
    limit_clause = "LIMIT {limit:UInt32}" if limit else ""
    return f"""
SELECT event_id, customer_id, toUnixTimestamp64Milli(occurred_at) AS occurred_ms,
       toString(channel) AS channel, toString(touchpoint) AS touchpoint, toString(stage) AS stage,
       nps, csat, ces, rating, comment
FROM person_events
WHERE {where}
ORDER BY occurred_at DESC, event_id DESC, kafka_partition, kafka_offset
LIMIT 1 BY event_id
{limit_clause}
"""


def with_status_sql(items: str) -> str:
    """The items of `items` (items_sql) with their current status and number of changes
    (LEFT JOIN: 0 / '' when none)."""
    return f"""
SELECT i.event_id AS event_id, i.customer_id AS customer_id, i.occurred_ms AS occurred_ms,
       i.channel AS channel, i.touchpoint AS touchpoint, i.stage AS stage, i.nps AS nps, i.csat AS csat,
       i.ces AS ces, i.rating AS rating, i.comment AS comment,
       if(s.present = 1, s.status, 'open') AS item_status, s.note AS note, s.changed_ms AS changed_ms,
       s.present AS present, h.changes AS changes
FROM ({items}) AS i
LEFT JOIN (
    SELECT event_id, toString(status) AS status, note, toUnixTimestamp64Milli(changed_at) AS changed_ms,
           toUInt8(1) AS present
    FROM feedback_status FINAL
) AS s ON s.event_id = i.event_id
LEFT JOIN (
    SELECT event_id, uniqExact(change_id) AS changes FROM feedback_status_history GROUP BY event_id
) AS h ON h.event_id = i.event_id
"""


def page_sql(with_status: str, status: str) -> str:
    """A page of with_status_sql's rows passing the `status` condition, newest first."""
    return f"""
{with_status}
WHERE {status}
ORDER BY i.occurred_ms DESC, i.event_id DESC
LIMIT {{limit:UInt32}}
"""


class Scores(BaseModel):
    nps: Annotated[int | None, Field(description="0-10")] = None
    csat: Annotated[int | None, Field(description="1-5")] = None
    ces: Annotated[int | None, Field(description="1-7, high is easy")] = None
    rating: Annotated[int | None, Field(description="1-5")] = None


class FeedbackItem(BaseModel):
    event_id: str
    customer_id: str
    occurred_at: Annotated[str, Field(description="RFC 3339, UTC, milliseconds", json_schema_extra=_TIME)]
    channel: str
    touchpoint: str
    stage: Stage
    scores: Scores
    comment: Annotated[str | None, Field(description="null when the event has no comment")]
    status: FeedbackStatus
    status_note: Annotated[str | None, Field(description="Note of the latest change; null before any")]
    status_changed_at: Annotated[str | None, Field(description="Time of the latest change; null before any",
                                                   json_schema_extra=_TIME)]
    history_length: Annotated[int, Field(ge=0, description="Status changes so far")]


def item_from_row(row: tuple) -> FeedbackItem:
    """A FeedbackItem from a WITH_STATUS row."""
    (event_id, customer_id, occurred_ms, channel, touchpoint, stage, nps, csat, ces, rating, comment,
     item_status, note, changed_ms, present, changes) = row
    return FeedbackItem.model_construct(
        event_id=event_id, customer_id=customer_id, occurred_at=format_ms(occurred_ms), channel=channel,
        touchpoint=touchpoint, stage=Stage(stage),
        scores=Scores.model_construct(nps=nps, csat=csat, ces=ces, rating=rating),
        comment=comment or None, status=FeedbackStatus(item_status),
        status_note=note if present else None, status_changed_at=format_ms(changed_ms) if present else None,
        history_length=int(changes or 0),
    )


def encode_cursor(occurred_ms: int, event_id: str) -> str:
    return base.encode_cursor([occurred_ms, event_id])


def decode_cursor(cursor: str) -> tuple[int, str]:
    value = base.decode_cursor(cursor)
    if (not isinstance(value, list) or len(value) != 2 or not isinstance(value[0], int)
            or isinstance(value[0], bool) or not isinstance(value[1], str)):
        raise ValueError("is not a cursor from a previous page's next_cursor")
    return value[0], value[1]


class FeedbackListQuery(BaseModel):
    """Query parameters of GET /v1/feedback."""

    model_config = ConfigDict(extra="forbid")

    status: Annotated[FeedbackStatus | None, Field(description="Only items with this current status")] = None
    channel: Annotated[Channel | None, Field(description="Only items from this channel")] = None
    touchpoint: Annotated[str | None, Field(min_length=1, max_length=256)] = None
    min_score: Annotated[int | None, Field(ge=0, le=10, description="NPS at least this (items without NPS "
                                           "are left out)")] = None
    max_score: Annotated[int | None, Field(ge=0, le=10, description="NPS at most this (items without NPS "
                                           "are left out)")] = None
    q: Annotated[str | None, Field(min_length=1, max_length=MAX_Q_CHARS,
                                   description="Case-insensitive substring of the comment")] = None
    start: Annotated[Rfc3339 | None, Field(description="Inclusive start of occurred_at, RFC 3339")] = None
    end: Annotated[Rfc3339 | None, Field(description="Exclusive end of occurred_at, RFC 3339")] = None
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT, description="Items per page, default 50")] = DEFAULT_LIMIT
    cursor: Annotated[str | None, Field(max_length=1024, description="next_cursor of the previous page")] = None

    @field_validator("max_score")
    @classmethod
    def _max_over_min(cls, value: int | None, info: ValidationInfo) -> int | None:
        low = info.data.get("min_score")
        if value is not None and low is not None and value < low:
            raise ValueError("max_score must be at least min_score")
        return value

    @field_validator("start", "end")
    @classmethod
    def _to_utc(cls, value):
        return None if value is None else value.astimezone(UTC)

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, value, info: ValidationInfo):
        start = info.data.get("start")
        if value is not None and start is not None and value <= start:
            raise ValueError("end must be after start")
        return value

    @field_validator("cursor")
    @classmethod
    def _cursor(cls, value: str | None) -> str | None:
        if value is not None:
            decode_cursor(value)
        return value


class FeedbackPage(BaseModel):
    items: list[FeedbackItem]
    next_cursor: Annotated[str | None, Field(description="Pass as cursor for the next page; null on the last")]


class FeedbackListRunner(QueryRunner[FeedbackListQuery, FeedbackPage]):
    def run(self) -> FeedbackPage:
        q = self.query
        params: dict[str, Any] = {**THRESHOLDS, "limit": q.limit + 1}  # one more: is there a next page?
        conditions = []
        if q.channel is not None:
            conditions.append("channel = {channel:String}")
            params["channel"] = q.channel.value
        if q.touchpoint is not None:
            conditions.append("touchpoint = {touchpoint:String}")
            params["touchpoint"] = q.touchpoint
        if q.min_score is not None:
            conditions.append("ifNull(nps >= {min_score:UInt8}, 0)")
            params["min_score"] = q.min_score
        if q.max_score is not None:
            conditions.append("ifNull(nps <= {max_score:UInt8}, 0)")
            params["max_score"] = q.max_score
        if q.q is not None:
            conditions.append("positionCaseInsensitiveUTF8(comment, {q:String}) > 0")
            params["q"] = q.q
        if q.start is not None:
            conditions.append("occurred_at >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC')")
            params["start_ms"] = epoch_ms_ceil(q.start)
        if q.end is not None:
            conditions.append("occurred_at < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC')")
            params["end_ms"] = epoch_ms_ceil(q.end)
        if q.cursor is not None:
            params["cursor_ms"], params["cursor_id"] = decode_cursor(q.cursor)
            conditions.append(
                "occurred_at <= fromUnixTimestamp64Milli({cursor_ms:Int64}, 'UTC') AND "
                "(occurred_at < fromUnixTimestamp64Milli({cursor_ms:Int64}, 'UTC') OR event_id < {cursor_id:String})")
        status = "1"
        if q.status is not None:
            status = "item_status = {status:String}"
            params["status"] = q.status.value
        # Without a status filter the page can be cut before the join.
        items = items_sql(conditions, limit=q.status is None)
        sql = page_sql(with_status_sql(items), status)
        rows = self.select(sql, params).result_rows
        page = [item_from_row(row) for row in rows[:q.limit]]
        next_cursor = None
        if len(rows) > q.limit:
            last = rows[q.limit - 1]
            next_cursor = encode_cursor(last[2], last[0])
        return FeedbackPage.model_construct(items=page, next_cursor=next_cursor)


class ItemQuery(BaseModel):
    event_id: str


class ItemLookupRunner(QueryRunner[ItemQuery, str | None]):
    def run(self) -> str | None:
        """The customer_id of feedback item `event_id`, or None when no such item is in the log."""
        rows = self.select(FIND, {**THRESHOLDS, "event_id": self.query.event_id}).result_rows
        return rows[0][0] if rows else None


class StatusChangeOut(BaseModel):
    change_id: str
    status: FeedbackStatus
    note: str
    who: str
    changed_at: Annotated[str, Field(json_schema_extra=_TIME)]


class FeedbackHistory(BaseModel):
    event_id: str
    customer_id: str
    status: Annotated[FeedbackStatus, Field(description="Status after the last change; open before any")]
    changes: Annotated[list[StatusChangeOut], Field(description="Oldest first")]


class HistoryRunner(QueryRunner[ItemQuery, FeedbackHistory | None]):
    def run(self) -> FeedbackHistory | None:
        """The item's status changes, or None when event_id is not a feedback item."""
        customer_id = ItemLookupRunner(self.client, self.query, timeout_seconds=self.timeout_seconds).run()
        if customer_id is None:
            return None
        rows = self.select(HISTORY, {"event_id": self.query.event_id}).result_rows
        changes = [StatusChangeOut.model_construct(change_id=c, status=FeedbackStatus(s), note=n, who=w,
                                                   changed_at=format_ms(ms)) for c, s, n, w, ms in rows]
        return FeedbackHistory.model_construct(
            event_id=self.query.event_id, customer_id=customer_id,
            status=changes[-1].status if changes else FeedbackStatus.open, changes=changes)
