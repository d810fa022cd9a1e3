"""The cluster variant (deploy/cluster): the generated DDL parses with ClickHouse's own parser (the
session stack's engine, formatQuery), every single-node table has its cluster counterpart with a
replicated engine, the sharded ones are Distributed by the customer, and the config and compose
files agree with it (docker-compose validates the compose file offline)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from deploy.cluster.__main__ import main as cluster_main
from deploy.cluster.ddl import REPLICATED_EVERYWHERE, SHARDED, UnplacedTable, cluster_statements, translate
from schemas.clickhouse.migrate import load_migrations

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy/cluster/config"
ON = " ON CLUSTER journeyline"


def single_node_objects() -> dict[str, str]:
    """name -> kind (TABLE, VIEW, DICTIONARY) of what the migrations create, plus schema_migrations."""
    found = {"schema_migrations": "TABLE"}
    for migration in load_migrations():
        for statement in migration.statements:
            if match := re.match(r"CREATE (?:OR REPLACE )?(TABLE|VIEW|DICTIONARY)(?: IF NOT EXISTS)? (\w+)", statement):
                found[match[2]] = match[1]
    return found


@pytest.fixture(scope="module")
def formatted(clickhouse) -> list[str]:
    """Each generated statement as ClickHouse's parser formats it (a syntax error fails here)."""
    return [clickhouse.query("SELECT formatQuerySingleLine({q:String})", parameters={"q": s.sql}).result_rows[0][0]
            for s in cluster_statements()]


def _created(formatted: list[str]) -> dict[str, str]:
    out = {}
    for sql in formatted:
        if match := re.match(r"CREATE (?:OR REPLACE )?(?:TABLE|VIEW|DICTIONARY) (?:IF NOT EXISTS )?journeyline\.(\w+)"
                             r" ON CLUSTER journeyline", sql):
            out.setdefault(match[1], sql)  # the first creation; a later OR REPLACE redefines a view
    return out


def test_every_statement_runs_on_the_cluster(formatted):
    assert formatted[0] == "CREATE DATABASE IF NOT EXISTS journeyline ON CLUSTER journeyline"
    assert all(ON in sql for sql in formatted[:-1])
    assert formatted[-1].startswith("INSERT INTO journeyline.schema_migrations")  # replicates by itself


def test_every_single_node_object_has_its_cluster_counterpart(formatted):
    created = _created(formatted)
    objects = single_node_objects()
    assert set(objects) == SHARDED | REPLICATED_EVERYWHERE | {n for n, k in objects.items() if k != "TABLE"}
    for name, kind in objects.items():
        assert name in created, name
        if name in SHARDED:
            local = created[f"{name}_local"]
            assert re.search(r"ENGINE = Replicated\w*MergeTree\('/clickhouse/tables/\{shard\}/\{database\}/\{table\}', "
                             r"'\{replica\}'", local), local
            assert "`customer_id` String" in local
            assert created[name].endswith(f"AS journeyline.{name}_local ENGINE = Distributed(journeyline, journeyline, "
                                          f"{name}_local, cityHash64(customer_id))")
        elif kind == "TABLE":
            assert re.search(r"ENGINE = Replicated\w*MergeTree\('/clickhouse/tables/all/\{database\}/\{table\}', "
                             r"'\{replica\}'", created[name]), created[name]
    engines = re.findall(r"ENGINE = (\w+)", " ".join(formatted))
    assert engines and all(e.startswith("Replicated") or e == "Distributed" for e in engines)


def test_engine_arguments_are_kept(formatted):
    created = _created(formatted)
    assert "'{replica}', version) ORDER BY customer_id" in created["journeys_local"]
    assert "ReplicatedReplacingMergeTree" in created["events_local"] and "PARTITION BY toYYYYMM(occurred_at)" in \
        created["events_local"]
    assert "ReplicatedMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}') ORDER BY (event_id" in \
        created["feedback_status_history"]
    # A column added to the log goes to the local tables and to the Distributed tables (0005:
    # anonymous_id; 0008: key_hash and anonymous_key, computed on every shard from its own rows).
    alters = [sql for sql in formatted if sql.startswith("ALTER TABLE")]
    assert [a.split(" ON ")[0] for a in alters] == ["ALTER TABLE journeyline.events_local",
                                                   "ALTER TABLE journeyline.events"] * 3
    assert [re.search(r"ADD COLUMN IF NOT EXISTS `?(\w+)", a)[1] for a in alters] == [
        "anonymous_id", "anonymous_id", "key_hash", "key_hash", "anonymous_key", "anonymous_key"]


def test_views_read_the_distributed_names_and_the_dictionary_its_local_table(formatted):
    created = _created(formatted)
    assert "FROM events)" in created["person_events"]  # the Distributed table: every shard
    assert "FROM journeyline.identities WHERE" in created["identity_links"]  # replicated on every node
    assert "FROM journeyline.identities WHERE" in created["identity_person_keys"]


def test_a_new_table_must_be_placed():
    with pytest.raises(UnplacedTable, match="SHARDED or REPLICATED_EVERYWHERE"):
        translate("CREATE TABLE IF NOT EXISTS mystery (a UInt8) ENGINE = MergeTree ORDER BY a", "db", "c")


def test_migrations_are_recorded_as_applied(clickhouse):
    statement = cluster_statements()[-1].sql
    versions = [m.version for m in load_migrations()]
    # The same INSERT ... SELECT against a plain table: every version once, however often it runs.
    table = "cluster_check.schema_migrations"
    clickhouse.command("CREATE DATABASE IF NOT EXISTS cluster_check")
    clickhouse.command(f"CREATE OR REPLACE TABLE {table} (version UInt32, name String) "
                       "ENGINE = MergeTree ORDER BY version")
    try:
        for _ in range(2):
            clickhouse.command(statement.replace("journeyline.schema_migrations", table))
        rows = clickhouse.query(f"SELECT version FROM {table} ORDER BY version").result_rows
    finally:
        clickhouse.command("DROP DATABASE cluster_check")
    assert [r[0] for r in rows] == versions


def test_command_line_prints_the_script(capsys):
    assert cluster_main(["--cluster", "analytics", "--database", "jl"]) == 0
    out = capsys.readouterr().out
    assert out.count(";\n") == len(cluster_statements("jl", "analytics"))
    assert "Distributed(analytics, jl, events_local, cityHash64(customer_id))" in out
    assert "${" not in out  # every template name filled in
    with pytest.raises(SystemExit):
        cluster_main(["--cluster", "no such cluster"])


def test_config_matches_the_layout():
    cluster = ET.parse(CONFIG / "cluster.xml").getroot()
    shards = cluster.findall("./remote_servers/journeyline/shard")
    hosts = [[r.findtext("host") for r in shard.findall("replica")] for shard in shards]
    assert hosts == [["ch-s1-r1", "ch-s1-r2"], ["ch-s2-r1", "ch-s2-r2"]]
    assert all(shard.findtext("internal_replication") == "true" for shard in shards)
    for number, replicas in enumerate(hosts, start=1):
        for host in replicas:
            macros = ET.parse(CONFIG / "macros" / f"{host}.xml").getroot().find("macros")
            assert (macros.findtext("shard"), macros.findtext("replica")) == (str(number), host)
    keepers = [n.findtext("host") for n in cluster.findall("./zookeeper/node")]
    ids = [ET.parse(CONFIG / "keeper" / f"{k}.xml").getroot().findtext("./keeper_server/server_id") for k in keepers]
    assert ids == ["1", "2", "3"]
    profile = ET.parse(CONFIG / "users.xml").getroot().find("./profiles/journeyline")
    assert profile.findtext("distributed_foreground_insert") == "1"
    assert profile.findtext("optimize_distributed_group_by_sharding_key") == "0"


def test_compose_file_validates():
    tool = shutil.which("docker-compose")
    assert tool, "docker-compose is missing: `make install` installs it (apt-get install docker-compose)"
    env = {**os.environ, "WRITE_KEYS": "k=website", "READ_TOKENS": "t", "CLICKHOUSE_PASSWORD": "p",
           "CLICKHOUSE_CLUSTER_SECRET": "s"}
    result = subprocess.run([tool, "-f", str(ROOT / "deploy/cluster/docker-compose.yml"), "config"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    nodes = {name for name in services if name.startswith("ch-")}
    assert nodes == {"ch-s1-r1", "ch-s1-r2", "ch-s2-r1", "ch-s2-r2"}
    for node in nodes:
        mounts = " ".join(services[node]["volumes"])
        assert f"macros/{node}.xml" in mounts and "config/cluster.xml" in mounts
    assert services["schema"]["command"][:3] == ["python", "-m", "deploy.cluster"]
    assert services["processors"]["deploy"]["replicas"] > 1
    assert services["processors"]["depends_on"]["schema"]["condition"] == "service_completed_successfully"
    partitions = int(services["processors"]["environment"]["TOPIC_PARTITIONS"])
    assert services["processors"]["deploy"]["replicas"] <= partitions  # more workers would idle
