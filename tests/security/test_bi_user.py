"""The read-only BI user of the session stack's ClickHouse server (embedded: `views=` allow-list):
it reads the documented views and nothing else, by any route, and cannot change anything."""
from __future__ import annotations

import os
import time
from datetime import date

import clickhouse_connect
import httpx
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from deploy.embedded_clickhouse.protocol import User
from schemas.clickhouse.bi import BI_USER, BI_VIEWS
from tests.conftest import wait_for

BI_PASSWORD = os.environ.get("BI_PASSWORD", "bi-dev-password")
BASE_TABLES = ("events", "journeys", "journey_stages", "access_keys", "schema_migrations")
EVENT = {"event_id": "sec-bi-1", "customer_id": "sec-bi-cust-1", "stage": "purchase", "channel": "pos",
         "touchpoint": "store_7_pos", "event": "order_completed", "occurred_at": "2019-05-02T10:00:00Z",
         "revenue": 19.9, "currency": "EUR", "properties": {"basket": 3}}
BI_EVENT_COLUMNS = ["event_id", "customer_id", "anonymous_id", "stage", "channel", "touchpoint", "event", "occurred_at",
                    "received_at", "properties", "revenue", "currency", "nps", "csat", "ces", "rating", "comment",
                    "source"]


def bi_client(stack, password: str = BI_PASSWORD):
    return clickhouse_connect.get_client(host="127.0.0.1", port=stack.ports.clickhouse, username=BI_USER,
                                         password=password, database="journeyline", autogenerate_session_id=False)


@pytest.fixture(scope="module")
def bi(stack):
    client = bi_client(stack)
    yield client
    client.close()


@pytest.fixture(scope="module")
def seeded(stack, ingest, clickhouse):
    """One event through the real pipeline, with its journey; returns a stored key hash to hunt for."""
    assert ingest.post("/v1/events", json={"events": [EVENT]}).status_code == 202
    wait_for(lambda: clickhouse.query("SELECT count() FROM journeys FINAL WHERE customer_id = 'sec-bi-cust-1'")
             .result_rows[0][0] == 1, what="the BI test event's journey")
    from services.common.access_keys import AccessKeyStore

    secret = AccessKeyStore(lambda: clickhouse).create("write", "bi-test").secret
    rows = clickhouse.query("SELECT hash FROM access_keys").result_rows
    assert rows
    return {"secret": secret, "hashes": [row[0] for row in rows]}


def raw(stack, sql: str, password: str = BI_PASSWORD, **params) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{stack.ports.clickhouse}/", content=sql.encode(),
                      params={"database": "journeyline", **params}, auth=(BI_USER, password), timeout=30)


def test_bi_reads_each_view(bi, seeded, clickhouse):
    result = bi.query("SELECT * FROM bi_events WHERE event_id = 'sec-bi-1'")
    assert result.column_names == tuple(BI_EVENT_COLUMNS)  # no kafka_partition / kafka_offset
    row = dict(zip(result.column_names, result.result_rows[0], strict=True))
    assert (row["customer_id"], row["stage"], row["touchpoint"], row["currency"], row["source"]) == (
        "sec-bi-cust-1", "purchase", "store_7_pos", "EUR", "default")
    assert float(row["revenue"]) == 19.9 and row["properties"] == '{"basket":3}'

    journey = bi.query("SELECT current_stage, events FROM bi_journeys WHERE customer_id = 'sec-bi-cust-1'")
    assert journey.result_rows == [("purchase", 1)]
    funnel = bi.query("SELECT stage, customers FROM bi_stage_funnel_daily WHERE day = {d:Date}",
                      parameters={"d": date(2019, 5, 2)})
    assert funnel.result_rows == [("purchase", 1)]
    assert bi.query("SELECT count() FROM journeyline.bi_events").result_rows[0][0] >= 1  # qualified name too

    # A redelivered copy (same key, another offset) is in events twice but in bi_events once.
    clickhouse.command("INSERT INTO events (event_id, customer_id, stage, channel, touchpoint, event, occurred_at, "
                       "received_at, source, kafka_offset) SELECT event_id, customer_id, stage, channel, touchpoint, "
                       "event, occurred_at, received_at, source, kafka_offset + 1000 FROM events "
                       "WHERE event_id = 'sec-bi-1' LIMIT 1")
    assert clickhouse.query("SELECT count() FROM events WHERE event_id = 'sec-bi-1'").result_rows[0][0] == 2
    assert bi.query("SELECT count() FROM bi_events WHERE event_id = 'sec-bi-1'").result_rows[0][0] == 1


def test_views_and_their_columns_are_documented(clickhouse):
    tables = dict(clickhouse.query("SELECT name, comment FROM system.tables WHERE database = 'journeyline' "
                                   "AND name IN {names:Array(String)}", parameters={"names": list(BI_VIEWS)})
                  .result_rows)
    assert set(tables) == set(BI_VIEWS) and all(tables.values())
    columns = clickhouse.query("SELECT table, name, comment FROM system.columns WHERE database = 'journeyline' "
                               "AND table IN {names:Array(String)}", parameters={"names": list(BI_VIEWS)}).result_rows
    assert len(columns) == len(BI_EVENT_COLUMNS) + 5 + 3 + 17 + 7  # events, journeys, funnel, feedback, NPS
    assert [(t, c) for t, c, comment in columns if not comment] == []


@pytest.mark.parametrize("sql", [
    "INSERT INTO events (event_id) VALUES ('bi-was-here')",
    "INSERT INTO bi_events (event_id) VALUES ('bi-was-here')",
    "INSERT INTO access_keys SELECT * FROM access_keys",
    "CREATE TABLE bi_owned (a UInt8) ENGINE = Memory",
    "CREATE VIEW bi_leak AS SELECT * FROM access_keys",
    "DROP TABLE events",
    "DROP VIEW bi_events",
    "TRUNCATE TABLE events",
    "ALTER TABLE events DELETE WHERE 1",
    "RENAME TABLE events TO events_gone",
    "OPTIMIZE TABLE events FINAL",
    "GRANT SELECT ON *.* TO bi",
    "SET readonly = 0",
])
def test_bi_cannot_write_or_change_anything(bi, clickhouse, sql):
    before = clickhouse.query("SELECT count() FROM events").result_rows[0][0]
    with pytest.raises(DatabaseError, match=r"ACCESS_DENIED|READONLY"):
        bi.command(sql)
    names = {r[0] for r in clickhouse.query("SHOW TABLES FROM journeyline").result_rows}
    assert set(BASE_TABLES) | set(BI_VIEWS) <= names and "bi_owned" not in names and "bi_leak" not in names
    assert clickhouse.query("SELECT count() FROM events WHERE event_id = 'bi-was-here'").result_rows[0][0] == 0
    assert clickhouse.query("SELECT count() FROM events").result_rows[0][0] >= before


READS = [
    *(f"SELECT * FROM {table}" for table in BASE_TABLES),
    "SELECT count() FROM journeyline.access_keys",
    "SELECT * FROM bi_events WHERE customer_id IN (SELECT customer_id FROM journeys)",
    "SELECT (SELECT any(hash) FROM access_keys) AS h",
    "SELECT toUInt8((SELECT any(hash) FROM access_keys))",
    "SELECT throwIf(1, (SELECT any(hash) FROM access_keys))",
    "SELECT * FROM bi_events AS e JOIN access_keys AS k ON 1 = 1",
    "SELECT * FROM bi_journeys LEFT JOIN journeys USING customer_id",
    "WITH k AS (SELECT * FROM access_keys) SELECT * FROM k",
    "SELECT event_id FROM bi_events UNION ALL SELECT hash FROM access_keys",
    "SELECT * FROM (SELECT * FROM journey_stages)",
    "SELECT * FROM bi_events AS `x, table_name: journeyline.bi_events` CROSS JOIN access_keys",
    "SELECT * FROM remote('127.0.0.1', journeyline.access_keys)",
    "SELECT * FROM remote('127.0.0.1', journeyline.bi_events)",
    "SELECT * FROM file('/etc/hostname', 'LineAsString')",
    "SELECT file('/etc/hostname')",
    "SELECT arrayMap(p -> file(p), ['/etc/hostname'])",
    "SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')",
    "SELECT * FROM merge('journeyline', '^access')",
    "SELECT * FROM view(SELECT * FROM access_keys)",
    "SELECT * FROM numbers(10)",
    "SELECT dictGet('journeyline.keys', 'hash', 1)",
    "SELECT joinGet('journeyline.access_keys', 'hash', 'x')",
    "SELECT * FROM system.query_log",
    "SELECT * FROM system.tables SETTINGS additional_table_filters = {}",
    "SELECT name FROM system.tables WHERE name IN (SELECT hash FROM access_keys)",
    "SHOW TABLES WHERE name IN (SELECT hash FROM access_keys)",
    "SHOW TABLES LIKE 'bi%' SETTINGS additional_table_filters = {}",
    "SHOW PROCESSLIST",
    "SHOW DICTIONARIES",
    "SHOW COLUMNS FROM access_keys",
    "DESCRIBE (SELECT * FROM access_keys)",
    "DESCRIBE remote('127.0.0.1', journeyline.access_keys)",
    "DESCRIBE system.tables",
    "EXISTS TABLE access_keys",
    "EXISTS DICTIONARY identity_links",
    "EXISTS DATABASE system",
    "SELECT * FROM INFORMATION_SCHEMA.tables",
    "DESCRIBE TABLE access_keys",
    "SHOW CREATE TABLE access_keys",
    "EXPLAIN SELECT * FROM access_keys",
    "SELECT * FROM access_keys FORMAT Parquet",
    "SELECT * FROM access_keys SETTINGS readonly = 1 FORMAT JSONEachRow",
]


@pytest.mark.parametrize("sql", READS)
def test_bi_cannot_read_anything_else(stack, seeded, sql):
    response = raw(stack, sql)
    assert response.status_code in (403, 500), (response.status_code, response.text)
    assert response.headers["x-clickhouse-exception-code"] in ("497", "164")  # ACCESS_DENIED, READONLY
    assert not any(h in response.text for h in seeded["hashes"])


def test_bi_sees_only_the_views_when_browsing(stack, bi):
    """What BI tools read before they query (Superset, Metabase, Grafana), filtered to the views."""
    assert [r[0] for r in bi.query("SHOW TABLES").result_rows] == sorted(BI_VIEWS)
    assert [r[0] for r in bi.query('SHOW TABLES FROM "journeyline"').result_rows] == sorted(BI_VIEWS)
    assert [r[0] for r in bi.query("SHOW DATABASES").result_rows] == ["journeyline"]
    assert sorted(r[0] for r in bi.query("SELECT name FROM system.tables").result_rows) == sorted(BI_VIEWS)
    assert {r[0] for r in bi.query("SELECT DISTINCT table FROM system.columns").result_rows} == set(BI_VIEWS)
    assert [r[0] for r in bi.query('DESC TABLE "journeyline"."bi_events"').result_rows] == BI_EVENT_COLUMNS
    assert bi.query("EXISTS TABLE bi_nps_daily").result_rows == [(1,)]
    assert bi.query("EXISTS DATABASE journeyline").result_rows == [(1,)]
    response = raw(stack, "SELECT count() FROM system.tables", additional_table_filters="{}")
    assert response.headers["x-clickhouse-exception-code"] == "164"  # the filter cannot be lifted


def test_bi_cannot_read_a_table_named_by_a_query_parameter(bi):
    with pytest.raises(DatabaseError, match="ACCESS_DENIED"):
        bi.query("SELECT * FROM {t:Identifier}", parameters={"t": "access_keys"})
    assert bi.query("SELECT count() > 0 FROM {t:Identifier}", parameters={"t": "bi_events"}).result_rows == [(1,)]


def test_wrong_password_is_refused(stack):
    with pytest.raises((DatabaseError, OperationalError), match="Authentication failed"):
        bi_client(stack, password="not-the-password")
    response = raw(stack, "SELECT count() FROM bi_events", password="")
    assert response.status_code == 516 and "Authentication failed" in response.text


def test_user_spec_with_allow_list():
    user = User.parse("bi:pa:ss:readonly:views=journeyline.bi_events, journeyline.bi_journeys")
    assert (user.name, user.password, user.readonly) == ("bi", "pa:ss", 2)
    assert user.views == {"journeyline.bi_events", "journeyline.bi_journeys"}
    assert User.parse("bi:secret:views=db.v").readonly == 2  # an allow-list implies readonly = 2
    assert User.parse("reader:secret:readonly").readonly == 1
    assert User.parse("default:").views is None
    for bad in ("bi:pw:views=", "bi:pw:views=no_database", "bi:pw:views=db.v;drop"):
        with pytest.raises(ValueError, match="views="):
            User.parse(bad)


def test_bi_user_sql_for_real_clickhouse_grants_only_the_views(clickhouse):
    from pathlib import Path

    text = Path(__file__).resolve().parents[2].joinpath("deploy/clickhouse/bi_user.sql").read_text()
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    statements = [s.strip() for s in body.split(";") if s.strip()]
    formatted = [clickhouse.query("SELECT formatQuerySingleLine({q:String})", parameters={"q": s}).result_rows[0][0]
                 for s in statements]  # ClickHouse's own parser accepts every statement
    grants = sorted(s for s in formatted if s.startswith("GRANT"))
    assert grants == sorted(f"GRANT SELECT ON journeyline.{view} TO bi" for view in BI_VIEWS)
    assert any(s.startswith("CREATE USER IF NOT EXISTS bi ") for s in formatted)
    assert any("readonly = 2 CONST" in s for s in formatted) and "REVOKE ALL ON *.* FROM bi" in formatted
    profile = next(s for s in formatted if s.startswith("CREATE SETTINGS PROFILE"))
    for rule in ("allow_ddl = 0 CONST", "max_execution_time = 300 MIN 1 MAX 300",
                 "max_result_rows = 10000000 MIN 1 MAX 10000000", "max_memory_usage = 4000000000 MIN 1 MAX 4000000000"):
        assert rule in profile


# Each would sleep 1 s if any part of it ran while being checked: refused at once means nothing ran.
SLEEP_ORACLES = [
    "SELECT (SELECT sleep(if((SELECT count() FROM journeyline.events) > 0, 1, 1)))",
    "SELECT (SELECT sleep(if((SELECT count() FROM events) > 0, 1, 1)))",
    "SELECT (SELECT sleep(if((SELECT any(substring(hash, 1, 1)) FROM access_keys) = 'a', 1, 1)))",
    "SELECT 1 FROM bi_events WHERE (SELECT sleep(if((SELECT count() FROM access_keys) > 0, 1, 1))) = 0",
    "WITH (SELECT sleep(if((SELECT count() FROM journeyline.events) > 0, 1, 1))) AS s SELECT s",
    "WITH k AS (SELECT count() AS c FROM access_keys) SELECT (SELECT sleep(if((SELECT c FROM k) > 0, 1, 1)))",
    "SELECT (SELECT 1 FROM (WITH events AS (SELECT 1) SELECT 1)), "
    "(SELECT sleep(if((SELECT count() FROM events) > 0, 1, 1)))",
    "SELECT (SELECT sleep(if('x' IN journeyline.access_keys, 1, 1)))",
    "SELECT (SELECT sleep(if('x' GLOBAL NOT IN access_keys, 1, 1)))",
    "SELECT (SELECT sleep(1) FROM journeys LIMIT 1)",
    "SELECT (SELECT sleep(1)) FROM bi_events JOIN access_keys ON 1 = 1",
    "SELECT (SELECT sleep(1)), * FROM numbers(1)",
    "SELECT (SELECT sleep(1)), * FROM remote('127.0.0.1', journeyline.access_keys)",
    "SELECT (SELECT sleep(1)), dictGet('journeyline.identity_links', 'customer_id', 'x')",
    "SELECT (SELECT sleep(if((SELECT count() FROM `journeyline`.`events`) > 0, 1, 1)))",
]


@pytest.mark.parametrize("sql", SLEEP_ORACLES)
def test_refused_queries_run_no_part_of_themselves(stack, seeded, sql):
    started = time.monotonic()
    response = raw(stack, sql)
    elapsed = time.monotonic() - started
    assert response.status_code == 403, response.text
    assert response.headers["x-clickhouse-exception-code"] == "497"
    assert elapsed < 0.8, f"refused after {elapsed:.2f} s: the check evaluated part of the query"


@pytest.mark.parametrize("sql", [
    "WITH x AS (SELECT customer_id FROM bi_journeys) SELECT count() > 0 FROM x",
    "SELECT count() > 0 FROM (SELECT * FROM bi_events) AS virtual_table",
    "SELECT (SELECT count() FROM bi_events) > 0",
    "SELECT count() > 0 FROM bi_events WHERE customer_id IN (SELECT customer_id FROM bi_journeys)",
    "WITH ['sec-bi-cust-1'] AS wanted SELECT count() > 0 FROM bi_events WHERE has(wanted, customer_id)",
    "SELECT count() > 0 FROM bi_events AS e JOIN bi_journeys AS j USING customer_id",
])
def test_bi_still_runs_subqueries_and_with_on_the_views(bi, seeded, sql):
    assert bi.query(sql).result_rows == [(1,)]


# readonly = 2: what BI tools send (Grafana's plugin, Metabase, DBeaver, Tableau), in the URL or the query.
TUNED = [
    ("SELECT 1 SETTINGS max_threads = 1", {}),
    ("SELECT count() FROM bi_events SETTINGS max_execution_time = 30, max_result_rows = 100", {}),
    ("SELECT 1", {"max_execution_time": "60"}),
    ("SELECT 1", {"max_result_rows": "2000", "result_overflow_mode": "break"}),
    ("SELECT 1", {"join_use_nulls": "1", "max_threads": "2"}),
    ("SELECT name FROM system.settings WHERE name = 'max_threads'", {}),
]


@pytest.mark.parametrize(("sql", "settings"), TUNED)
def test_bi_may_set_query_settings(stack, sql, settings):
    response = raw(stack, sql, **settings)
    assert response.status_code == 200, response.text


def test_bi_settings_take_effect_and_limits_stay(bi):
    assert bi.query("SELECT getSetting('max_threads') SETTINGS max_threads = 1").result_rows == [(1,)]
    got = bi.query("SELECT getSetting('max_execution_time'), getSetting('max_result_rows'), "
                   "getSetting('max_memory_usage')").result_rows[0]
    assert [float(v) for v in got] == [300, 10_000_000, 4_000_000_000]  # the bi profile's limits
    with pytest.raises(DatabaseError, match="ACCESS_DENIED|READONLY"):
        bi.command("INSERT INTO bi_events (event_id) SETTINGS max_threads = 1 VALUES ('bi-was-here')")


LOOSENING = [
    ("SELECT 1 SETTINGS readonly = 0", {}, "164"),
    ("SELECT 1", {"allow_ddl": "1"}, "164"),
    ("SELECT 1 SETTINGS allow_introspection_functions = 1", {}, "164"),
    ("SELECT 1 SETTINGS `additional_table_filters` = {}", {}, "164"),
    ("SELECT 1 SETTINGS profile = 'default'", {}, "164"),
    ("SELECT 1", {"priority": "0"}, "164"),
    ("SELECT 1 SETTINGS format_schema = '/etc/passwd'", {}, "164"),
    ("SELECT 1 SETTINGS max_execution_time = 0", {}, "452"),
    ("SELECT 1 SETTINGS max_execution_time = 301", {}, "452"),
    ("SELECT 1", {"max_result_rows": "0"}, "452"),
    ("SELECT 1", {"max_memory_usage": "5000000000"}, "452"),
    ("SELECT 1 SETTINGS max_result_rows = -1", {}, "452"),
    ("SELECT 1 SETTINGS max_execution_time = (SELECT 1)", {}, "452"),
    ("SELECT 1 SETTINGS", {}, "164"),
]


@pytest.mark.parametrize(("sql", "settings", "code"), LOOSENING)
def test_bi_cannot_loosen_the_servers_rules(stack, sql, settings, code):
    response = raw(stack, sql, **settings)
    assert response.headers.get("x-clickhouse-exception-code") == code, (response.status_code, response.text)
