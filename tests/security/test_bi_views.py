"""The BI views through a second, independent client, as a BI tool uses them: SQLAlchemy with
clickhouse-connect's dialect (clickhousedb://, what Superset uses) as the read-only BI user,
against the stack's ClickHouse server. It browses (SHOW TABLES, system.tables, DESCRIBE), reads
every view, is refused the raw tables, and bi_feedback / bi_nps_daily give the API's numbers.
Data: events of 2010, customers "bi-*" (one browses anonymously first)."""
from __future__ import annotations

import os
from datetime import date, datetime, timezone

import pytest
import sqlalchemy as sa

from schemas.clickhouse.bi import BI_USER, BI_VIEWS
from tests.conftest import wait_for

BI_PASSWORD = os.environ.get("BI_PASSWORD", "bi-dev-password")
UTC = timezone.utc
RAW_TABLES = ("events", "person_events", "journeys", "journey_stages", "access_keys", "feedback_status",
              "feedback_status_history", "identities", "schema_migrations")


def ev(n: int, customer: str | None, day: int, hour: int, channel: str = "web", anonymous_id: str | None = None,
       **feedback) -> dict:
    event = {"event_id": f"bi-ev-{n}", "stage": "use", "channel": channel, "touchpoint": f"bi_{channel}_desk",
             "event": "survey_answered", "occurred_at": f"2010-03-{day:02d}T{hour:02d}:00:00Z"}
    if customer:
        event["customer_id"] = f"bi-{customer}"
    if anonymous_id:
        event["anonymous_id"] = anonymous_id
    if feedback:
        event["feedback"] = feedback
    return event


EVENTS = [
    ev(1, "ann", 1, 9, nps=10),
    ev(2, "bob", 1, 10, nps=7),                                # passive: no item
    ev(3, "cy", 1, 11, nps=6),                                 # detractor: the low-NPS edge
    ev(4, "dee", 1, 12, nps=0, comment="Nobody answered the phone"),
    ev(5, "ann", 1, 13, channel="email", nps=9, comment="Quick reply, thanks"),
    ev(6, "bob", 2, 9, nps=9),
    ev(7, "cy", 2, 10, nps=9),
    ev(8, "dee", 2, 11, csat=2),                               # low CSAT edge
    ev(9, "eve", 2, 12, csat=3),                               # not low
    ev(10, "eve", 2, 13, ces=3),                               # low CES edge (high is easy)
    ev(11, "fay", 2, 14, ces=4),                               # not low
    ev(12, "fay", 2, 15, rating=2),                            # low rating edge
    ev(13, "gus", 2, 16, rating=3),                            # not low
    ev(14, None, 2, 17, anonymous_id="bi-dev-1", nps=3),       # anonymous until identified as bi-hal
    ev(15, "gus", 3, 9, channel="store", nps=10),
]
ITEMS = {"bi-ev-3", "bi-ev-4", "bi-ev-5", "bi-ev-8", "bi-ev-10", "bi-ev-12", "bi-ev-14"}
MARCH = {"start": "2010-03-01T00:00:00Z", "end": "2010-04-01T00:00:00Z"}


@pytest.fixture(scope="module")
def seeded(stack, ingest, api, clickhouse):
    for batch in (EVENTS, EVENTS[:4]):  # the re-sent events stay one response / one item each
        assert ingest.post("/v1/events", json={"events": batch}).status_code == 202
    assert ingest.post("/v1/identify", json={"anonymous_id": "bi-dev-1", "customer_id": "bi-hal"}).status_code == 202
    wait_for(lambda: clickhouse.query(
        "SELECT uniqExact(event_id), countIf(event_id = 'bi-ev-14' AND customer_id = 'bi-hal') > 0 FROM person_events "
        "WHERE toYear(occurred_at) = 2010").result_rows[0] == (len(EVENTS), 1), what="the BI test events, identified")
    for status, note in (("acknowledged", "calling back"), ("resolved", "refund sent")):
        assert api.post("/v1/feedback/bi-ev-4/status", json={"status": status, "note": note}).status_code == 202
    wait_for(lambda: clickhouse.query("SELECT count() FROM feedback_status FINAL WHERE event_id = 'bi-ev-4' "
                                      "AND status = 'resolved'").result_rows[0][0] == 1, what="the status changes")


@pytest.fixture(scope="module")
def engine(stack):
    engine = sa.create_engine(f"clickhousedb://{BI_USER}:{BI_PASSWORD}@127.0.0.1:{stack.ports.clickhouse}/journeyline")
    yield engine
    engine.dispose()


def test_browses_only_the_views(engine):
    inspector = sa.inspect(engine)
    assert inspector.get_schema_names() == ["journeyline"]
    assert inspector.get_table_names() == sorted(BI_VIEWS)
    assert inspector.get_view_names() == sorted(BI_VIEWS)
    for view in BI_VIEWS:
        assert inspector.has_table(view) and inspector.get_table_comment(view)["text"]
        columns = inspector.get_columns(view)
        assert columns and all(c["comment"] for c in columns), view
    for table in RAW_TABLES:  # invisible, as on a server where the user has no grant on them
        with pytest.raises(sa.exc.NoSuchTableError):
            sa.Table(table, sa.MetaData(), autoload_with=engine)


def test_reads_every_view_and_no_raw_table(engine, seeded):
    with engine.connect() as conn:
        for view in BI_VIEWS:
            table = sa.Table(view, sa.MetaData(), autoload_with=conn)
            rows = conn.execute(sa.select(table).limit(3)).all()
            assert rows and len(rows[0]) == len(table.columns), view
        for table in RAW_TABLES:
            with pytest.raises(sa.exc.DatabaseError, match="ACCESS_DENIED"):
                conn.execute(sa.text(f"SELECT count() FROM {table}"))
        with pytest.raises(sa.exc.DatabaseError, match="ACCESS_DENIED|READONLY"):
            conn.execute(sa.text("INSERT INTO events (event_id) VALUES ('bi-was-here')"))


def _api_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_bi_feedback_matches_the_api(engine, seeded, api):
    response = api.get("/v1/feedback", params={**MARCH, "limit": 500})
    assert response.status_code == 200 and response.json()["next_cursor"] is None
    expected = [(i["event_id"], i["customer_id"], _api_time(i["occurred_at"]), i["channel"], i["touchpoint"],
                 i["stage"], i["scores"]["nps"], i["scores"]["csat"], i["scores"]["ces"], i["scores"]["rating"],
                 i["comment"] or "",
                 i["status"], i["status_note"] or "", _api_time(i["status_changed_at"]), i["history_length"])
                for i in response.json()["items"]]
    assert {row[0] for row in expected} == ITEMS

    feedback = sa.Table("bi_feedback", sa.MetaData(), autoload_with=engine)
    c = feedback.c
    query = (sa.select(c.event_id, c.customer_id, c.occurred_at, c.channel, c.touchpoint, c.stage, c.nps, c.csat, c.ces,
                       c.rating, c.comment, c.status, c.status_note, c.status_changed_at, c.status_changes, c.low_score,
                       c.day)
             .where(c.occurred_at >= datetime(2010, 3, 1, tzinfo=UTC), c.occurred_at < datetime(2010, 4, 1, tzinfo=UTC))
             .order_by(c.occurred_at.desc(), c.event_id.desc()))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    got = [(*row[:2], _utc(row[2]), *row[3:13], _utc(row[13], ms=True), row[14]) for row in rows]
    assert got == expected
    by_id = {row.event_id: row for row in rows}
    assert by_id["bi-ev-4"].status == "resolved" and by_id["bi-ev-4"].status_changes == 2
    assert by_id["bi-ev-14"].customer_id == "bi-hal"  # the anonymous answer counts for the person
    assert {e for e, row in by_id.items() if row.low_score} == ITEMS - {"bi-ev-5"}  # ev-5: a comment, NPS 9
    assert by_id["bi-ev-3"].day == date(2010, 3, 1)


def _utc(moment: datetime | None, ms: bool = False) -> datetime | None:
    if moment is None:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000) if ms else moment


def test_bi_nps_daily_matches_the_api(engine, seeded, api):
    nps = sa.Table("bi_nps_daily", sa.MetaData(), autoload_with=engine)
    c = nps.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(c.day, c.channel, c.responses, c.promoters, c.passives, c.detractors, c.score)
                            .where(c.day.between(date(2010, 3, 1), date(2010, 3, 31)))
                            .order_by(c.channel, c.day)).all()
    got = [tuple(row) for row in rows]
    # Day 1 on the web: 10, 7, 6, 0 (ev-1..4, ev-1..4 sent twice); day 2: 9, 9 and the identified 3.
    assert got == [
        (date(2010, 3, 1), "email", 1, 1, 0, 0, 100.0),
        (date(2010, 3, 3), "store", 1, 1, 0, 0, 100.0),
        (date(2010, 3, 1), "web", 4, 1, 1, 2, -25.0),
        (date(2010, 3, 2), "web", 3, 2, 0, 1, 33.3),
    ]
    from_api = []
    for channel in sorted({row[1] for row in got}):
        response = api.get("/v1/metrics/nps", params={**MARCH, "interval": "day", "channel": channel})
        assert response.status_code == 200, response.text
        from_api += [(_api_time(p["interval_start"]).date(), channel, p["responses"], p["promoters"], p["passives"],
                      p["detractors"], p["score"]) for p in response.json()["series"] if p["responses"]]
    assert got == from_api
