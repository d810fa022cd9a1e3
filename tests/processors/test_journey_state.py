import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from schemas.events import STAGES, RecordedEvent
from services.processors import journey_state as journey
from services.processors.journey_state import RECENT_KEYS, BatchCount, JourneyState, event_key

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)


def ev(event_id, stage, minutes, customer="c1"):
    return RecordedEvent(
        event_id=event_id, customer_id=customer, stage=stage, channel="app", touchpoint="cafe_app",
        event="x", occurred_at=T0 + timedelta(minutes=minutes), received_at=T0,
    )


def test_counts_each_event_once_and_tracks_first_last():
    state = JourneyState()
    assert state.add(ev("a", "awareness", 10))
    assert state.add(ev("b", "awareness", 5))
    assert not state.add(ev("a", "awareness", 10))
    assert state.add(ev("c", "purchase", 20))
    assert state.events == 3
    assert state.stages[0][:3] == [
        int((T0 + timedelta(minutes=5)).timestamp() * 1000),
        int((T0 + timedelta(minutes=10)).timestamp() * 1000),
        2,
    ]
    assert state.current_stage == "purchase"


def test_late_event_does_not_move_current_stage_back():
    state = JourneyState()
    state.add(ev("p", "purchase", 60))
    state.add(ev("late", "awareness", 1))  # a POS sync hours later, about an earlier visit
    assert state.current_stage == "purchase"
    assert state.first_seen_ms < state.last_seen_ms


def test_tie_goes_to_later_stage():
    state = JourneyState()
    state.add(ev("u", "use", 5))
    state.add(ev("p", "purchase", 5))
    assert state.current_stage == "use"


def test_roundtrip_keeps_seen_set():
    state = JourneyState()
    state.add(ev("a", "consideration", 1))
    again = JourneyState.loads(state.dumps())
    assert not again.add(ev("a", "consideration", 1))
    assert again.stages == state.stages and again.latest == state.latest
    assert JourneyState.loads(None).events == 0


# ---- exactly once: repeats of records (replays) and of events (clients sending again) ----

@dataclass(frozen=True)
class Rec:
    event: RecordedEvent
    partition: int
    offset: int


def test_triage_leaves_out_applied_records_and_repeated_events():
    state = JourneyState()
    first = [Rec(ev("a", "awareness", 1), 0, 10), Rec(ev("b", "use", 2), 0, 11), Rec(ev("a", "awareness", 1), 0, 12)]
    new, unsure = state.triage(first)
    assert [r.offset for r in new] == [10, 11] and unsure == []  # the second "a" in the batch repeats the first
    for r in new:
        state.add(r.event)
    state = JourneyState.loads(state.dumps())
    assert state.offsets == {0: 12}
    replayed = first + [Rec(ev("c", "use", 3), 0, 13), Rec(ev("b", "purchase", 9), 0, 14)]
    new, unsure = state.triage(replayed)
    assert [r.offset for r in new] == [13] and unsure == []  # 10-12 applied; "b" at 14 is a client's copy


def test_events_of_one_record_share_its_offset():
    # An aggregated record (many events, one offset): all of it counts, a replay of it none.
    state = JourneyState()
    record = [Rec(ev("a", "awareness", 1), 2, 40), Rec(ev("b", "use", 2), 2, 40), Rec(ev("a", "awareness", 1), 2, 40)]
    new, unsure = state.triage(record)
    assert [r.event.event_id for r in new] == ["a", "b"] and unsure == []
    for r in new:
        state.add(r.event)
    assert state.triage(record + [Rec(ev("c", "use", 3), 2, 41)])[0] == [Rec(ev("c", "use", 3), 2, 41)]


def test_state_stays_bounded_and_asks_once_keys_were_dropped():
    state = JourneyState()
    for i in range(RECENT_KEYS * 4):
        new, unsure = state.triage([Rec(ev(f"e{i}", "use", i), 0, i)])
        assert (unsure == []) if i <= RECENT_KEYS else (new == [])
        for r in new + unsure:
            state.add(r.event)
    assert state.events == RECENT_KEYS * 4 and state.overflow
    assert len(state.recent) == RECENT_KEYS and len(state.dumps()) < 30 * RECENT_KEYS
    # a recent key is still a sure repeat; an old one needs ClickHouse; a new one too (it cannot be told apart)
    new, unsure = JourneyState.loads(state.dumps()).triage(
        [Rec(ev(f"e{RECENT_KEYS * 4 - 1}", "use", 0), 0, 10**6), Rec(ev("e0", "use", 0), 0, 10**6 + 1),
         Rec(ev("fresh", "use", 0), 0, 10**6 + 2)])
    assert new == [] and [r.offset for r in unsure] == [10**6 + 1, 10**6 + 2]


def test_state_from_before_offsets_reads_and_shrinks_on_the_first_new_event():
    keys = [event_key(f"old{i}") for i in range(RECENT_KEYS + 50)]
    old = orjson.dumps({"s": {"0": [1000, 2000, len(keys)]}, "l": [2000, 0], "h": sorted(keys)})
    state = JourneyState.loads(old)
    assert state.events == len(keys) and state.offsets == {} and not state.overflow
    # records the older version applied but had not acked come again: every one is a repeat
    new, unsure = state.triage([Rec(ev(f"old{i}", "awareness", 0), 0, i) for i in range(0, len(keys), 7)])
    assert new == [] and unsure == []
    new, _ = state.triage([Rec(ev("next", "use", 5), 0, 10**4)])
    state.add(new[0].event)
    assert len(state.recent) == RECENT_KEYS and state.overflow and state.events == len(keys) + 1


class World:
    """The agent's steps with ClickHouse as a list of rows and the table as a dict: crashes may fall
    after the insert, between two customers' table writes, or before the ack."""

    def __init__(self, log: list[Rec], rng: random.Random):
        self.log, self.rng = log, rng
        self.rows: list[tuple[str, str, int, int]] = []  # (customer, event_id, partition, offset)
        self.table: dict[str, bytes] = {}
        self.committed = 0
        self.crashes = 0

    def run(self) -> None:
        next_offset = None  # as the agent's _next_offset: lost in a crash
        while self.committed < len(self.log):
            start = self.committed
            batch = self.log[start:start + self.rng.randint(1, 40)]
            maybe_written = next_offset != start
            next_offset = start + len(batch)
            by_customer: dict[str, list[Rec]] = {}
            for r in batch:
                by_customer.setdefault(r.event.customer_id, []).append(r)
            counting = BatchCount()
            for customer_id, records in by_customer.items():
                counting.add(customer_id, JourneyState.loads(self.table.get(customer_id)), records)
            if counting.unsure:
                counting.settle(self.repeats(counting.unsure_records()))
            present = {(c, e) for c, e, _, _ in self.rows} if maybe_written else set()
            self.rows += [(r.event.customer_id, r.event.event_id, r.partition, r.offset) for r in counting.fresh
                          if (r.event.customer_id, r.event.event_id) not in present]
            if self.crash():
                next_offset = None
                continue
            for customer_id, state in counting.changed.items():
                self.table[customer_id] = state.dumps()
                if self.crash():
                    break
            else:
                if not self.crash():
                    self.committed = next_offset
                    continue
            next_offset = None

    def crash(self) -> bool:
        if self.rng.random() < 0.08:
            self.crashes += 1
            return True
        return False

    def repeats(self, records: list[Rec]) -> set[tuple[str, str]]:
        where = {(r.event.customer_id, r.event.event_id): (r.partition, r.offset) for r in records}
        return {(c, e) for c, e, p, o in self.rows if (c, e) in where and where[(c, e)] != (p, o)}


@pytest.mark.parametrize("seed", range(6))
def test_every_event_counts_once_through_crashes_and_client_repeats(seed, monkeypatch):
    monkeypatch.setattr(journey, "RECENT_KEYS", 5)  # most customers overflow: ClickHouse is asked often
    rng = random.Random(seed)
    log: list[Rec] = []
    sent: dict[str, list[tuple[str, str, int]]] = {}
    for i in range(900):
        customer = f"c{rng.randint(0, 11)}"
        mine = sent.setdefault(customer, [])
        if mine and rng.random() < 0.25:  # the same event again: just after, or long after, maybe altered
            event_id, stage, minutes = rng.choice(mine[-3:] if rng.random() < 0.5 else mine)
            if rng.random() < 0.3:
                stage, minutes = rng.choice(STAGES), minutes + 1
        else:
            event_id, stage, minutes = f"{customer}-{i}", rng.choice(STAGES), rng.randint(0, 10**5)
            mine.append((event_id, stage, minutes))
        log.append(Rec(ev(event_id, stage, minutes, customer), 0, len(log)))
    world = World(log, rng)
    world.run()
    assert world.crashes > 5

    first: dict[tuple[str, str], Rec] = {}
    for r in log:
        first.setdefault((r.event.customer_id, r.event.event_id), r)
    for customer in sent:
        expected = JourneyState()
        for (c, _), r in first.items():
            if c == customer:
                expected.add(r.event)
        got = JourneyState.loads(world.table[customer])
        assert (got.stages, got.latest, got.events) == (expected.stages, expected.latest, len(
            [k for k in first if k[0] == customer]))
        assert len(got.recent) <= 5
    # ClickHouse holds every event from its first copy only. (A record inserted by a batch that
    # crashed can be inserted again by a later, smaller batch of the replay: the same row, which
    # the ReplacingMergeTree collapses.)
    assert {(c, e) for c, e, _, _ in world.rows} == set(first)
    assert all(first[(c, e)].offset == o for c, e, _, o in world.rows)
