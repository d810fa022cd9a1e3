"""Segment calls -> touchpoint events, identity links, or dead letters with the reason.

* track: event name -> stage by properties.stage or the rules; page and screen calls by the
  rules' `page` / `screen` entries. messageId -> event_id, userId -> customer_id, anonymousId ->
  anonymous_id, timestamp -> occurred_at (an offset-less time is UTC), properties -> properties
  (without the stage/channel/touchpoint keys used for mapping), properties.revenue (or total) and
  currency (USD when absent, as Segment's spec has it) -> revenue, properties nps/csat/ces/rating/comment -> feedback.
* channel: properties.channel, the rule's, then context.channel (browser -> web, mobile -> app),
  then SEGMENT_DEFAULT_CHANNEL. touchpoint: properties.touchpoint, the rule's, the page path, the
  screen or page name, then the library name.
* identify with userId and anonymousId, and alias (previousId -> userId), link the two ids;
  identify with only userId records its traits.
* Anything else, and any call that does not make a valid touchpoint event, is dead-lettered with
  the reason: never dropped.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from pydantic import ValidationError

from schemas.events import Channel, Stage, TouchpointEvent
from schemas.identity import IdentityLink
from services.ingest.segment.rules import Rule, Rules

MAPPING_KEYS = ("stage", "channel", "touchpoint")
FEEDBACK_KEYS = ("nps", "csat", "ces", "rating", "comment")
CONTEXT_CHANNELS = {"browser": Channel.web, "mobile": Channel.app}
CALL_TYPES = ("track", "page", "screen", "identify", "alias", "group")


@dataclass(frozen=True)
class Mapped:
    """What one call becomes: exactly one of the three is set."""

    event: TouchpointEvent | None = None
    link: IdentityLink | None = None
    dead_letter: str | None = None  # the reason
    kind: str = ""  # of a dead letter: the reason's kind, for metrics (one of UNMAPPED_KINDS)


# unsupported_call: group or unknown type; missing_id: no userId/anonymousId (or previousId) to use;
# no_stage: no stage given and no rule; invalid_field: a field of the wrong type or value.
UNMAPPED_KINDS = ("unsupported_call", "missing_id", "no_stage", "invalid_field")


class Unmapped(ValueError):
    def __init__(self, message: str, kind: str = "invalid_field") -> None:
        super().__init__(message)
        self.kind = kind


def map_call(call: dict[str, Any], rules: Rules, default_channel: Channel, max_future: timedelta) -> Mapped:
    try:
        kind = call.get("type")
        if kind in ("track", "page", "screen"):
            return Mapped(event=_touchpoint(kind, call, rules, default_channel, max_future))
        if kind == "identify":
            return Mapped(link=_identify(call))
        if kind == "alias":
            return Mapped(link=_alias(call))
        if kind == "group":
            raise Unmapped("group calls describe accounts, not touchpoints", "unsupported_call")
        raise Unmapped(f"type must be one of {', '.join(CALL_TYPES)}; got {kind!r}", "unsupported_call")
    except Unmapped as exc:
        return Mapped(dead_letter=str(exc), kind=exc.kind)


def _touchpoint(kind: str, call: dict[str, Any], rules: Rules, default_channel: Channel,
                max_future: timedelta) -> TouchpointEvent:
    properties = _object(call, "properties")
    context = _object(call, "context")
    if kind == "track":
        name = call.get("event")
        if not isinstance(name, str) or not name:
            raise Unmapped("track call without an event name")
        rule, event = rules.events.get(name), name
    else:
        rule, event = (rules.page if kind == "page" else rules.screen), f"{kind}_viewed"
        name = f"{kind} call"
    stage = _stage(properties, rule, name)
    user_id, anonymous_id = _id(call, "userId"), _id(call, "anonymousId")
    if user_id is None and anonymous_id is None:
        raise Unmapped("userId or anonymousId is required", "missing_id")
    data: dict[str, Any] = {
        "event_id": _event_id(call),
        "customer_id": user_id,
        "anonymous_id": anonymous_id,
        "stage": stage,
        "channel": _channel(properties, rule, context, default_channel),
        "touchpoint": _touchpoint_name(kind, call, properties, rule, context),
        "event": event,
        "occurred_at": _occurred_at(call),
        "properties": {k: v for k, v in properties.items() if k not in MAPPING_KEYS},
    }
    revenue = properties.get("revenue", properties.get("total"))
    if revenue is not None:
        data["revenue"] = revenue
        # Segment's spec: revenue without a currency is in US dollars.
        data["currency"] = str(properties.get("currency") or "USD").upper()
    feedback = {k: properties[k] for k in FEEDBACK_KEYS if properties.get(k) is not None}
    if feedback:
        data["feedback"] = feedback
    try:
        return TouchpointEvent.model_validate(data, context={"max_future": max_future})
    except ValidationError as exc:
        raise Unmapped("; ".join(f"{_segment_field(e['loc'])}: {e['msg']}" for e in exc.errors())) from None


def _identify(call: dict[str, Any]) -> IdentityLink:
    user_id = _id(call, "userId")
    if user_id is None:
        raise Unmapped("identify call without userId: nothing to link the anonymous id to", "missing_id")
    traits = _object(call, "traits")
    return _link(_id(call, "anonymousId") or "", user_id, traits)


def _alias(call: dict[str, Any]) -> IdentityLink:
    previous, user_id = _id(call, "previousId"), _id(call, "userId")
    if previous is None or user_id is None:
        raise Unmapped("alias call needs previousId and userId", "missing_id")
    return _link(previous, user_id, {})


def _link(anonymous_id: str, customer_id: str, traits: dict[str, Any]) -> IdentityLink:
    try:
        return IdentityLink(anonymous_id=anonymous_id, customer_id=customer_id, traits=traits)
    except ValidationError as exc:
        raise Unmapped("; ".join(f"{_segment_field(e['loc'])}: {e['msg']}" for e in exc.errors())) from None


def _stage(properties: dict[str, Any], rule: Rule | None, name: str) -> str:
    given = properties.get("stage")
    if given is not None:
        if given not in Stage.__members__:
            raise Unmapped(f"properties.stage must be one of {', '.join(Stage)}; got {given!r}")
        return given
    if rule is None:
        raise Unmapped(f"no stage for {name!r}: set properties.stage or add a rule for it (SEGMENT_RULES_FILE)",
                       "no_stage")
    return rule.stage.value


def _channel(properties: dict[str, Any], rule: Rule | None, context: dict[str, Any], default: Channel) -> Any:
    if properties.get("channel") is not None:
        return properties["channel"]  # validated with the event: a bad value is dead-lettered
    if rule is not None and rule.channel is not None:
        return rule.channel.value
    return CONTEXT_CHANNELS.get(context.get("channel"), default).value


def _touchpoint_name(kind: str, call: dict[str, Any], properties: dict[str, Any], rule: Rule | None,
                     context: dict[str, Any]) -> Any:
    if properties.get("touchpoint") is not None:
        return properties["touchpoint"]
    if rule is not None and rule.touchpoint is not None:
        return rule.touchpoint
    page = context.get("page") if isinstance(context.get("page"), dict) else {}
    for candidate in (properties.get("path"), page.get("path"), call.get("name") if kind != "track" else None):
        if isinstance(candidate, str) and candidate:
            return candidate[:256]
    library = context.get("library") if isinstance(context.get("library"), dict) else {}
    return str(library.get("name") or "segment")[:256]


def _occurred_at(call: dict[str, Any]) -> str:
    for key in ("timestamp", "originalTimestamp", "sentAt"):
        value = call.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise Unmapped(f"{key} must be an ISO 8601 string; got {value!r}")
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise Unmapped(f"{key} is not an ISO 8601 time: {value!r}") from None
        if moment.tzinfo is None:  # Segment reads offset-less times as UTC
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.isoformat()
    return datetime.now(timezone.utc).isoformat()


def _event_id(call: dict[str, Any]) -> str:
    given = call.get("messageId")
    if isinstance(given, str) and given:
        return given
    # No messageId: the same call sent twice gets the same id, so a retry still counts once.
    return "seg-" + hashlib.sha256(orjson.dumps(call, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def _id(call: dict[str, Any], key: str) -> str | None:
    value = call.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise Unmapped(f"{key} must be a string; got {value!r}")
    return str(value)


def _object(call: dict[str, Any], key: str) -> dict[str, Any]:
    value = call.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Unmapped(f"{key} must be an object")
    return value


_SEGMENT_NAMES = {"event_id": "messageId", "customer_id": "userId",
                  "occurred_at": "timestamp", "event": "event", "revenue": "properties.revenue",
                  "currency": "properties.currency", "feedback": "properties", "stage": "properties.stage",
                  "channel": "properties.channel", "touchpoint": "properties.touchpoint",
                  "anonymous_id": "anonymousId", "traits": "traits"}


def _segment_field(loc: tuple) -> str:
    """Name the field as the caller sent it."""
    if not loc:
        return "call"
    head = _SEGMENT_NAMES.get(str(loc[0]), str(loc[0]))
    return ".".join([head, *map(str, loc[1:])])
