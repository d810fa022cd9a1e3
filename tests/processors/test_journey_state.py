from datetime import datetime, timedelta, timezone

from schemas.events import RecordedEvent
from services.processors.journey import JourneyState

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
