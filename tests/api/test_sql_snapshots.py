"""The SQL each insight sends, kept as files so a change to it shows in review.

Every runner in services/api/queries runs here on a few representative requests against the
real engine (a small data set, so runners that stop early on an empty answer send all their
queries); each SELECT it sends, with its parameters, is compared with
tests/api/sql_snapshots/<insight>__<case>.sql.

After an intended change to the SQL, regenerate the files and review their diff:

    UPDATE_SQL_SNAPSHOTS=1 .venv/bin/python -m pytest tests/api/test_sql_snapshots.py
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from services.api.queries.base import QueryRunner
from services.api.queries.churn import ChurnQuery, ChurnQueryRunner
from services.api.queries.custom_funnel import (
    FunnelCustomersQuery,
    FunnelCustomersQueryRunner,
    FunnelQuery,
    FunnelQueryRunner,
)
from services.api.queries.custom_funnel.model import encode_cursor as funnel_cursor
from services.api.queries.experience import CesQueryRunner, CsatQueryRunner, ExperienceQuery, NpsQueryRunner
from services.api.queries.feedback import (
    FeedbackListQuery,
    FeedbackListRunner,
    HistoryRunner,
    ItemLookupRunner,
    ItemQuery,
)
from services.api.queries.feedback import encode_cursor as feedback_cursor
from services.api.queries.feedback_summary import RepeatIssuesQuery, RepeatIssuesRunner, SummaryQuery, SummaryRunner
from services.api.queries.journey import JourneyQuery, JourneyQueryRunner
from services.api.queries.lifecycle import LifecycleQuery, LifecycleQueryRunner
from services.api.queries.profile import ProfileQuery, ProfileQueryRunner
from services.api.queries.recommendations import RecommendationsQuery, RecommendationsQueryRunner
from services.api.queries.retention import RetentionQuery, RetentionQueryRunner
from services.api.queries.revenue import CustomerValueQuery, CustomerValueQueryRunner, RevenueQuery, RevenueQueryRunner
from services.api.queries.stage_funnel import StageFunnelQuery, StageFunnelQueryRunner
from services.api.queries.transitions import TransitionsQuery, TransitionsQueryRunner
from services.api.queries.visits import VisitsQuery, VisitsQueryRunner
from tests.api.conftest import EventWriter, make_event

SNAPSHOTS = Path(__file__).parent / "sql_snapshots"
UPDATE = os.environ.get("UPDATE_SQL_SNAPSHOTS") == "1"
UTC = timezone.utc
NOW = datetime(2026, 12, 15, tzinfo=UTC)
RANGE = {"start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"}


class RecordingClient:
    """The real client, keeping the SQL and parameters of every query sent through it."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def query(self, query: str, parameters: dict[str, Any] | None = None, **kwargs: Any):
        self.sent.append((query, dict(parameters or {})))
        return self._client.query(query, parameters=parameters, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


Make = Callable[[Client], QueryRunner]
STEPS = [{"stage": "awareness"}, {"stage": "consideration", "channel": "web"},
         {"event": "purchase_seen", "properties": {"item": "tea", "qty": 2, "gift": False}}]
FUNNEL = {**RANGE, "steps": STEPS, "window_seconds": 86400}

CASES: dict[str, Make] = {
    "stage_funnel__all_channels": lambda c: StageFunnelQueryRunner(c, StageFunnelQuery(**RANGE)),
    "stage_funnel__one_channel": lambda c: StageFunnelQueryRunner(c, StageFunnelQuery(**RANGE, channel="web")),
    "custom_funnel__ordered_steps": lambda c: FunnelQueryRunner(c, FunnelQuery(**FUNNEL)),
    "custom_funnel__ordered_exclusion": lambda c: FunnelQueryRunner(c, FunnelQuery(
        **FUNNEL, exclusions=[{"filter": {"event": "use_seen"}, "from_step": 1, "to_step": 2}])),
    "custom_funnel__overlapping_steps": lambda c: FunnelQueryRunner(c, FunnelQuery(
        **{**FUNNEL, "steps": [{"channel": "web"}, {"stage": "purchase"}]})),
    "custom_funnel__strict_breakdown": lambda c: FunnelQueryRunner(c, FunnelQuery(
        **FUNNEL, order="strict", breakdown="properties.item")),
    "custom_funnel__any_time_to_convert": lambda c: FunnelQueryRunner(c, FunnelQuery(
        **FUNNEL, order="any", view="time_to_convert", bins=5,
        exclusions=[{"filter": {"event": "use_seen"}, "from_step": 1, "to_step": 3}])),
    "custom_funnel__trends": lambda c: FunnelQueryRunner(c, FunnelQuery(**FUNNEL, view="trends", interval="week")),
    "custom_funnel__customers": lambda c: FunnelCustomersQueryRunner(c, FunnelCustomersQuery(
        **FUNNEL, step=2, status="dropped", limit=10)),
    "custom_funnel__customers_strict_cursor": lambda c: FunnelCustomersQueryRunner(c, FunnelCustomersQuery(
        **FUNNEL, order="strict", step=1, status="converted", cursor=funnel_cursor("c0"))),
    "transitions__stage": lambda c: TransitionsQueryRunner(c, TransitionsQuery(**RANGE)),
    "transitions__touchpoint_channel": lambda c: TransitionsQueryRunner(c, TransitionsQuery(
        **RANGE, level="touchpoint", top=3, channel="web")),
    "retention__week": lambda c: RetentionQueryRunner(c, RetentionQuery(**RANGE), now=NOW),
    "retention__day_channel_stages": lambda c: RetentionQueryRunner(c, RetentionQuery(
        **RANGE, interval="day", channel="web", cohort_stage="purchase", return_stage="any", periods=4), now=NOW),
    "lifecycle__week": lambda c: LifecycleQueryRunner(c, LifecycleQuery(**RANGE), now=NOW),
    "lifecycle__month": lambda c: LifecycleQueryRunner(c, LifecycleQuery(**RANGE, interval="month"), now=NOW),
    "churn__default": lambda c: ChurnQueryRunner(c, ChurnQuery(**RANGE)),
    "experience__nps": lambda c: NpsQueryRunner(c, ExperienceQuery(**RANGE)),
    "experience__csat_by_touchpoint_weekly": lambda c: CsatQueryRunner(c, ExperienceQuery(
        **RANGE, group_by="touchpoint", interval="week", channel="web")),
    "experience__ces_by_stage": lambda c: CesQueryRunner(c, ExperienceQuery(**RANGE, group_by="stage")),
    "visits__none": lambda c: VisitsQueryRunner(c, VisitsQuery(**RANGE)),
    "visits__weekday_touchpoint_stage": lambda c: VisitsQueryRunner(c, VisitsQuery(
        **RANGE, group_by="weekday", touchpoint="site", stage="purchase")),
    "revenue__total": lambda c: RevenueQueryRunner(c, RevenueQuery(**RANGE)),
    "revenue__daily_by_channel": lambda c: RevenueQueryRunner(c, RevenueQuery(
        **RANGE, interval="day", group_by="channel")),
    "revenue__customer": lambda c: CustomerValueQueryRunner(c, CustomerValueQuery(customer_id="c1")),
    "journey__customer": lambda c: JourneyQueryRunner(c, JourneyQuery(customer_id="c1")),
    "profile__customer": lambda c: ProfileQueryRunner(c, ProfileQuery(customer_id="c1")),
    "recommendations__customer": lambda c: RecommendationsQueryRunner(c, "c1", RecommendationsQuery()),
    "feedback__list": lambda c: FeedbackListRunner(c, FeedbackListQuery()),
    "feedback__list_filtered": lambda c: FeedbackListRunner(c, FeedbackListQuery(
        status="open", channel="web", touchpoint="site", min_score=0, max_score=6, q="slow", **RANGE,
        limit=5, cursor=feedback_cursor(1_796_000_000_000, "sql-snap-9"))),
    "feedback__item_lookup": lambda c: ItemLookupRunner(c, ItemQuery(event_id="sql-snap-3")),
    "feedback__history": lambda c: HistoryRunner(c, ItemQuery(event_id="sql-snap-3")),
    "feedback_summary__summary": lambda c: SummaryRunner(c, SummaryQuery(**RANGE)),
    "feedback_summary__repeat_issues": lambda c: RepeatIssuesRunner(c, RepeatIssuesQuery(
        as_of="2026-12-01T00:00:00Z", min_items=1)),
}


@pytest.fixture(scope="module")
def data(chdb: Client) -> None:
    """A few events of c1 (and c2): every runner gets past its early returns."""
    writer = EventWriter(chdb)
    writer.truncate()
    t = "2026-11-0{}T10:00:00Z".format
    writer.insert([
        make_event("c1", "awareness", t(1), event_id="sql-snap-1"),
        make_event("c1", "consideration", t(2), event_id="sql-snap-2", properties={"item": "tea"}),
        make_event("c1", "purchase", t(3), event_id="sql-snap-3", revenue=4.2, currency="EUR",
                   properties={"item": "tea", "qty": 2, "gift": False},
                   feedback={"nps": 3, "comment": "slow delivery"}),
        make_event("c1", "use", t(4), event_id="sql-snap-4", feedback={"csat": 2, "ces": 2}),
        make_event("c2", "awareness", t(1), event_id="sql-snap-5"),
        make_event("c2", "purchase", t(5), event_id="sql-snap-6", revenue=1.0, currency="EUR",
                   properties={"item": "tea"}, feedback={"nps": 1}),
        make_event("c2", "purchase", t(6), event_id="sql-snap-7", properties={"item": "cake"}, feedback={"nps": 2}),
    ])


def render(sent: list[tuple[str, dict[str, Any]]]) -> str:
    parts = []
    for i, (sql, parameters) in enumerate(sent, 1):
        shown = json.dumps(parameters, sort_keys=True, default=str)
        parts.append(f"-- query {i} of {len(sent)}\n-- parameters: {shown}\n{sql.strip()}\n")
    return "\n".join(parts)


@pytest.mark.parametrize("case", sorted(CASES))
def test_sql_snapshot(case: str, chdb: Client, data: None) -> None:
    client = RecordingClient(chdb)
    CASES[case](client).run()  # type: ignore[arg-type]
    assert client.sent, "the runner sent no query"
    got = render(client.sent)
    path = SNAPSHOTS / f"{case}.sql"
    if UPDATE or not path.exists():
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(got)
        if not UPDATE:
            pytest.fail(f"new snapshot {path.name} written; review it and run again")
    assert got == path.read_text(), (
        f"the SQL of {case} changed; if intended, regenerate with UPDATE_SQL_SNAPSHOTS=1 (module docstring) "
        "and review the diff of tests/api/sql_snapshots/")


def test_every_insight_has_a_snapshot() -> None:
    modules = {p.stem for p in (Path(__file__).parents[2] / "services/api/queries").iterdir()
               if p.name not in ("__init__.py", "base.py", "intervals.py", "__pycache__")}
    assert modules == {case.split("__")[0] for case in CASES}
