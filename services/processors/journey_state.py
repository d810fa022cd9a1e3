"""Per-customer journey state kept in the Faust table: pure logic, no I/O.

Each event counts once per customer (event_id is the client's idempotency key). Two kinds of
repeats reach the agent:

* Records read again after a crash or rebalance (the batch was not acked). `offsets` holds, per
  partition, the last Kafka offset applied to this state; a customer's records all come from one
  partition, in order, so a record at or below it was applied already.
* Copies of an event a client sent again, at any later time: a new record. Its key is in `recent`
  (the keys of the last RECENT_KEYS counted events). Once a customer has counted more events than
  that (`overflow`), a key not in `recent` may still be an old event's: ClickHouse decides. Only
  the first copy of an event (the lowest Kafka position) is ever written to `events`, so a row of it
  at another position means this copy repeats a counted event; a row at this very position is this
  record's own write from before a crash, and the event is not counted yet.

The state therefore stays bounded whatever a customer's history. States written before `offsets`
and `recent` existed (a full set of keys, "h") load as `recent`; it shrinks to RECENT_KEYS only
when new events are counted, that is once the records the older version applied are behind.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Protocol

import orjson

from schemas.events import STAGE_INDEX, STAGES, RecordedEvent

RECENT_KEYS = 256


class Record(Protocol):
    """A decoded event and where it was read from (sink.Consumed)."""

    event: RecordedEvent
    partition: int
    offset: int


def event_key(event_id: str) -> int:
    # 63-bit digest of the idempotency key: compact to keep per customer, safe in JSON.
    return int.from_bytes(blake2b(event_id.encode(), digest_size=8).digest(), "big") >> 1


def to_ms(event: RecordedEvent) -> int:
    return int(event.occurred_at.timestamp() * 1000)


@dataclass
class JourneyState:
    """Current stage, first/last time and count per stage, and what was counted (module doc)."""

    # stage index -> [first_ms, last_ms, events]
    stages: dict[int, list[int]] = field(default_factory=dict)
    # (occurred_ms, stage index) of the latest event; ties go to the later stage.
    latest: tuple[int, int] = (-(2**62), -1)
    # keys of the most recently counted events, oldest first
    recent: dict[int, None] = field(default_factory=dict)
    # some counted events' keys have left `recent`
    overflow: bool = False
    # partition -> the last offset applied
    offsets: dict[int, int] = field(default_factory=dict)

    def triage(self, records: Iterable[Record]) -> tuple[list[Record], list[Record]]:
        """Split a batch's records of this customer, in Kafka order, into those to count and those
        only ClickHouse can tell (`overflow`); repeats are left out. Moves `offsets` past them."""
        new: list[Record] = []
        unsure: list[Record] = []
        keys: set[int] = set()
        offsets = self.offsets
        for record in records:
            partition, offset = record.partition, record.offset
            if offset <= offsets.get(partition, -1):
                continue  # applied before this batch
            key = event_key(record.event.event_id)
            if key not in keys and key not in self.recent:
                keys.add(key)  # a second copy in this batch repeats the first
                (unsure if self.overflow else new).append(record)
        for record in records:
            if record.offset > offsets.get(record.partition, -1):
                offsets[record.partition] = record.offset
        return new, unsure

    def add(self, event: RecordedEvent) -> bool:
        """Count the event once; False when its key is among the recent ones (a repeat)."""
        key = event_key(event.event_id)
        if key in self.recent:
            return False
        recent = self.recent
        recent[key] = None
        if len(recent) > RECENT_KEYS:
            if len(recent) == RECENT_KEYS + 1:
                del recent[next(iter(recent))]
            else:  # a state from before `recent` was bounded
                self.recent = dict.fromkeys(list(recent)[-RECENT_KEYS:])
            self.overflow = True
        at, stage = to_ms(event), STAGE_INDEX[event.stage.value]
        stats = self.stages.get(stage)
        if stats is None:
            self.stages[stage] = [at, at, 1]
        else:
            stats[0], stats[1], stats[2] = min(stats[0], at), max(stats[1], at), stats[2] + 1
        self.latest = max(self.latest, (at, stage))
        return True

    @property
    def current_stage(self) -> str:
        return STAGES[self.latest[1]]

    @property
    def events(self) -> int:
        return sum(stats[2] for stats in self.stages.values())

    @property
    def first_seen_ms(self) -> int:
        return min(stats[0] for stats in self.stages.values())

    @property
    def last_seen_ms(self) -> int:
        return max(stats[1] for stats in self.stages.values())

    def dumps(self) -> bytes:
        # "h" keeps its meaning (keys of counted events), so an older worker still reads the state.
        return orjson.dumps({
            "s": {str(k): v for k, v in self.stages.items()}, "l": self.latest, "h": list(self.recent),
            "x": self.overflow, "o": {str(p): o for p, o in self.offsets.items()},
        })

    @classmethod
    def loads(cls, raw: bytes | None) -> JourneyState:
        if not raw:
            return cls()
        data = orjson.loads(raw)
        return cls(
            stages={int(k): v for k, v in data["s"].items()},
            latest=tuple(data["l"]),
            recent=dict.fromkeys(data["h"]),
            overflow=data.get("x", False),
            offsets={int(p): o for p, o in data.get("o", {}).items()},
        )


@dataclass
class BatchCount:
    """A batch's counting over its customers: the records counted now (`fresh`, in the order
    counted) and the states they changed; `unsure` waits for `settle` with ClickHouse's answer."""

    fresh: list[Record] = field(default_factory=list)
    changed: dict[str, JourneyState] = field(default_factory=dict)
    unsure: list[tuple[str, JourneyState, list[Record]]] = field(default_factory=list)

    def add(self, customer_id: str, state: JourneyState, records: Iterable[Record]) -> None:
        new, unsure = state.triage(records)
        if unsure:
            self.unsure.append((customer_id, state, unsure))
        if new:
            self._count(customer_id, state, new)

    def unsure_records(self) -> list[Record]:
        return [record for _, _, records in self.unsure for record in records]

    def settle(self, repeats: set[tuple[str, str]]) -> None:
        """`repeats`: (customer_id, event_id) of unsure records that ClickHouse holds from elsewhere."""
        for customer_id, state, records in self.unsure:
            new = [r for r in records if (customer_id, r.event.event_id) not in repeats]
            if new:
                self._count(customer_id, state, new)
        self.unsure = []

    def _count(self, customer_id: str, state: JourneyState, new: list[Record]) -> None:
        for record in new:
            state.add(record.event)
        self.fresh.extend(new)
        self.changed[customer_id] = state
