"""Feedback items and their status changes: the definitions the API and the processors share.

A *feedback item* is a unique event (by event_id) carrying a comment or a low score. It is not
stored anywhere of its own: the API derives it from the event log, so it is always exactly
what the log says (nothing to rebuild).

A *status change* is itself an event, published by the API to journeyline.feedback-status.v1
(keyed by the item's event_id) and written to ClickHouse by the processors.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# A score at or under these is low (negative feedback). CES is on the 1-7 agreement scale
# ("made it easy": high is easy), as in services/api/queries/experience.py.
LOW_NPS = 6
LOW_CSAT = 2
LOW_CES = 3
LOW_RATING = 2

MAX_NOTE_CHARS = 2000


class FeedbackStatus(StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


class StatusChange(BaseModel):
    """The JSON record on the status topic, one per change."""

    model_config = ConfigDict(extra="ignore")  # a newer writer may add fields

    change_id: Annotated[str, Field(min_length=1, max_length=64, description="Unique per change")]
    event_id: Annotated[str, Field(min_length=1, max_length=128)]
    customer_id: Annotated[str, Field(min_length=1, max_length=256)]
    status: FeedbackStatus
    note: Annotated[str, Field(max_length=MAX_NOTE_CHARS)] = ""
    who: Annotated[str, Field(min_length=1, max_length=256)] = "api"
    changed_at: AwareDatetime

    @classmethod
    def new(cls, event_id: str, customer_id: str, status: FeedbackStatus, note: str, who: str) -> StatusChange:
        return cls(change_id=uuid.uuid4().hex, event_id=event_id, customer_id=customer_id, status=status,
                   note=note, who=who, changed_at=datetime.now(timezone.utc))
