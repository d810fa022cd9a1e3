"""The single-node migrations (schemas/clickhouse/migrations) turned into cluster DDL.

Every statement runs ON CLUSTER. Tables are of two kinds:

* Sharded by customer (SHARDED): each node holds `<name>_local`, a Replicated*MergeTree replicated
  within its shard ({shard}/{replica} macros), and `<name>` becomes a Distributed table over them,
  sharded by cityHash64(customer_id). The services, the views and the BI user keep using the plain
  names, so one customer's events, journey and stages live on one shard.
* Small and global (REPLICATED_EVERYWHERE): one replication group spanning every node, so each
  node has all rows locally. The identity dictionary reads `identities` on its own node, the API
  joins feedback statuses and checks keys there, and migrate() finds `schema_migrations` complete.

customer_id in the sharded tables is the raw identity key: an anonymous visitor's events are keyed
`anon:<id>`, so one person's events can sit on two shards. Queries stay correct because they read
person_events (the key resolved by the dictionary, on every node) through the Distributed tables:
ClickHouse aggregates per shard and merges the partial states on the initiator, so GROUP BY the
resolved customer_id meets both shards' rows there. The cost is that merge: per-customer states
travel to the initiator, and `optimize_distributed_group_by_sharding_key` must stay off (the
resolved customer is not the sharding key).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from string import Template

from schemas.clickhouse.migrate import load_migrations

SHARDED = frozenset({"events", "journeys", "journey_stages"})
REPLICATED_EVERYWHERE = frozenset({"access_keys", "identities", "feedback_status", "feedback_status_history",
                                   "schema_migrations"})
SHARDING_KEY = "cityHash64(customer_id)"
LOCAL_SUFFIX = "_local"
SHARD_PATH = "/clickhouse/tables/{shard}/{database}/{table}"
EVERYWHERE_PATH = "/clickhouse/tables/all/{database}/{table}"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# migrate.py creates this table itself; on the cluster it is created up front, replicated everywhere.
SCHEMA_MIGRATIONS = ("CREATE TABLE IF NOT EXISTS schema_migrations "
                     "(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
                     "ENGINE = MergeTree ORDER BY version")

_CREATE_TABLE = re.compile(r"^CREATE TABLE IF NOT EXISTS (\w+)\s*(?=\()")
_ALTER_TABLE = re.compile(r"^ALTER TABLE (\w+) ")
_CREATE_OTHER = re.compile(r"^(CREATE (?:OR REPLACE )?(?:VIEW|DICTIONARY)(?: IF NOT EXISTS)?) (\w+)")
_ENGINE = re.compile(r"ENGINE = (\w*)MergeTree(?:\(([^)]*)\))?")


class UnplacedTable(ValueError):
    """A migration creates a table the cluster layout does not place: decide SHARDED or everywhere."""


@dataclass(frozen=True)
class ClusterStatement:
    sql: str
    table: str  # the object the statement creates or alters


def _replicated(statement: str, path: str) -> str:
    def engine(match: re.Match) -> str:
        args = ", ".join([f"'{path}'", "'{replica}'", *([match[2].strip()] if match[2] and match[2].strip() else [])])
        return f"ENGINE = Replicated{match[1]}MergeTree({args})"

    replaced, count = _ENGINE.subn(engine, statement, count=1)
    if count != 1:
        raise ValueError(f"no MergeTree engine to replicate in: {statement[:80]}")
    return replaced


def translate(statement: str, database: str, cluster: str) -> list[ClusterStatement]:
    """One single-node statement (already templated) as its cluster statements."""
    on = f" ON CLUSTER {cluster}"
    if match := _CREATE_TABLE.match(statement):
        name, rest = match[1], statement[match.end():]
        if name in SHARDED:
            local = f"{name}{LOCAL_SUFFIX}"
            return [
                ClusterStatement(_replicated(f"CREATE TABLE IF NOT EXISTS {database}.{local}{on} {rest}", SHARD_PATH),
                                 local),
                ClusterStatement(f"CREATE TABLE IF NOT EXISTS {database}.{name}{on} AS {database}.{local} "
                                 f"ENGINE = Distributed({cluster}, {database}, {local}, {SHARDING_KEY})", name),
            ]
        if name in REPLICATED_EVERYWHERE:
            return [ClusterStatement(
                _replicated(f"CREATE TABLE IF NOT EXISTS {database}.{name}{on} {rest}", EVERYWHERE_PATH), name)]
        raise UnplacedTable(f"table {name!r} is neither sharded by customer nor replicated everywhere: add it to "
                            "SHARDED or REPLICATED_EVERYWHERE in deploy/cluster/ddl.py")
    if match := _ALTER_TABLE.match(statement):
        name, rest = match[1], statement[match.end():]
        if name in SHARDED:  # the local tables first, then the Distributed tables' own columns
            return [ClusterStatement(f"ALTER TABLE {database}.{name}{LOCAL_SUFFIX}{on} {rest}", name + LOCAL_SUFFIX),
                    ClusterStatement(f"ALTER TABLE {database}.{name}{on} {rest}", name)]
        if name in REPLICATED_EVERYWHERE:
            return [ClusterStatement(f"ALTER TABLE {database}.{name}{on} {rest}", name)]
        raise UnplacedTable(f"ALTER of unknown table {name!r}")
    if match := _CREATE_OTHER.match(statement):
        # Views and dictionaries exist on every node and read the plain (Distributed or local) names.
        return [ClusterStatement(f"{match[1]} {database}.{match[2]}{on}{statement[match.end():]}", match[2])]
    raise ValueError(f"cannot translate for a cluster: {statement[:80]}")


def cluster_statements(database: str = "journeyline", cluster: str = "journeyline",
                       dictionary_credentials: str = "") -> list[ClusterStatement]:
    """Every migration, in order, as cluster DDL; then the record that they are applied, so that the
    services' own migrate() finds nothing to do."""
    for name, value in (("database", database), ("cluster", cluster)):
        if not _IDENT.match(value):
            raise ValueError(f"invalid {name} name: {value!r}")
    names = {"database": database, "dictionary_credentials": dictionary_credentials}
    out = [ClusterStatement(f"CREATE DATABASE IF NOT EXISTS {database} ON CLUSTER {cluster}", database)]
    out += translate(SCHEMA_MIGRATIONS, database, cluster)
    migrations = load_migrations()
    for migration in migrations:
        for statement in migration.statements:
            out += translate(Template(statement).substitute(names), database, cluster)
    rows = ", ".join(f"({m.version}, '{m.name}')" for m in migrations)  # names are [a-z0-9_] (migrate._NAME)
    out.append(ClusterStatement(
        f"INSERT INTO {database}.schema_migrations (version, name) SELECT version, name "
        f"FROM values('version UInt32, name String', {rows}) "
        f"WHERE version NOT IN (SELECT version FROM {database}.schema_migrations)", "schema_migrations"))
    return out


def script(statements: list[ClusterStatement]) -> str:
    return "".join(f"{s.sql};\n\n" for s in statements)
