"""Per-customer journey state kept in the Faust table: pure logic, no I/O."""
from __future__ import annotations

from dataclasses import dataclass, field
from hashlib import blake2b

import orjson

from schemas.events import STAGE_INDEX, STAGES, RecordedEvent


def event_key(event_id: str) -> int:
    # 63-bit digest of the idempotency key: compact to keep per customer, safe in JSON.
    return int.from_bytes(blake2b(event_id.encode(), digest_size=8).digest(), "big") >> 1


def to_ms(event: RecordedEvent) -> int:
    return int(event.occurred_at.timestamp() * 1000)


@dataclass
class JourneyState:
    """Current stage, first/last time and count per stage, and the events already counted."""

    # stage index -> [first_ms, last_ms, events]
    stages: dict[int, list[int]] = field(default_factory=dict)
    # (occurred_ms, stage index) of the latest event; ties go to the later stage.
    latest: tuple[int, int] = (-(2**62), -1)
    seen: set[int] = field(default_factory=set)

    def add(self, event: RecordedEvent) -> bool:
        """Count the event once; False when this event_id was counted before."""
        key = event_key(event.event_id)
        if key in self.seen:
            return False
        self.seen.add(key)
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
        return orjson.dumps(
            {"s": {str(k): v for k, v in self.stages.items()}, "l": self.latest, "h": sorted(self.seen)}
        )

    @classmethod
    def loads(cls, raw: bytes | None) -> JourneyState:
        if not raw:
            return cls()
        data = orjson.loads(raw)
        return cls(
            stages={int(k): v for k, v in data["s"].items()},
            latest=tuple(data["l"]),
            seen=set(data["h"]),
        )
