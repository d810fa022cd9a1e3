-- The read-only BI user on a real ClickHouse server (the embedded dev server has `--user bi:...:views=`
-- instead: deploy/local_stack.py). Run once as an administrator, after the services have applied
-- migrations 0003, 0005 and 0006 (the bi_* views), with a real password in place of change-me-bi-password:
--
--   clickhouse-client --multiquery < deploy/clickhouse/bi_user.sql
--
-- The user can SELECT from the five documented views only (schemas/clickhouse/bi.py BI_VIEWS): not from
-- events, journeys, journey_stages, feedback_status, identities or access_keys, and it cannot write,
-- create or drop anything. readonly = 2 (not 1): BI tools set query settings (Grafana's ClickHouse plugin
-- max_execution_time, Metabase and DBeaver max_result_rows and result_overflow_mode) and fail at
-- readonly = 1. The constraints keep the server's rules: readonly, allow_ddl and
-- allow_introspection_functions cannot change, and the time, result and memory limits can be lowered,
-- never raised or lifted (MIN 1). Table functions such as remote(), file() or url() need grants the user
-- does not have (REVOKE ALL). SHOW TABLES, DESCRIBE and system.tables / system.columns show it the
-- granted views only, which is what BI tools browse. The views are created with
-- SQL SECURITY DEFINER, so reading one needs SELECT on the view alone, not on the tables under it.
-- Adjust `journeyline.` if CLICKHOUSE_DATABASE differs. (The embedded server applies the same limits and
-- allows a narrower list of settings: deploy/embedded_clickhouse/access.py.)

CREATE SETTINGS PROFILE IF NOT EXISTS bi_readonly SETTINGS
    readonly = 2 CONST,
    allow_ddl = 0 CONST,
    allow_introspection_functions = 0 CONST,
    max_execution_time = 300 MIN 1 MAX 300,
    max_result_rows = 10000000 MIN 1 MAX 10000000,
    result_overflow_mode = 'throw',
    max_memory_usage = 4000000000 MIN 1 MAX 4000000000;

CREATE USER IF NOT EXISTS bi IDENTIFIED WITH sha256_password BY 'change-me-bi-password'
    SETTINGS PROFILE 'bi_readonly';

REVOKE ALL ON *.* FROM bi;
GRANT SELECT ON journeyline.bi_journeys TO bi;
GRANT SELECT ON journeyline.bi_stage_funnel_daily TO bi;
GRANT SELECT ON journeyline.bi_events TO bi;
GRANT SELECT ON journeyline.bi_feedback TO bi;
GRANT SELECT ON journeyline.bi_nps_daily TO bi;
