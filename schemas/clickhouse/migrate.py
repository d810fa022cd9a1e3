"""Apply the versioned ClickHouse migrations once each, in order.

Every statement is idempotent (IF NOT EXISTS), and applied versions are recorded in
`schema_migrations`, so running this at every service start-up is safe.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from clickhouse_connect.driver.client import Client

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def _statements(sql: str) -> tuple[str, ...]:
    # Statements end with ';' at the end of a line; comments are dropped.
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return tuple(s.strip() for s in re.split(r";\s*$", body, flags=re.M) if s.strip())


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file name must look like 0001_name.sql: {path.name}")
        found.append(Migration(int(match[1]), match[2], _statements(path.read_text())))
    return found


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def migrate(client: Client, dictionary_user: str = "", dictionary_password: str = "") -> list[int]:
    """Apply pending migrations in the client's database; returns the versions applied.

    Dictionaries read their source tables as `dictionary_user` (empty: ClickHouse's passwordless
    `default` user, as on the embedded server)."""
    credentials = ""
    if dictionary_user:
        credentials = f" USER {_quote(dictionary_user)} PASSWORD {_quote(dictionary_password)}"
    names = {"database": client.command("SELECT currentDatabase()"), "dictionary_credentials": credentials}
    client.command(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
        "ENGINE = MergeTree ORDER BY version"
    )
    done = {row[0] for row in client.query("SELECT version FROM schema_migrations").result_rows}
    applied = []
    for migration in load_migrations():
        if migration.version in done:
            continue
        for statement in migration.statements:
            client.command(Template(statement).substitute(names))
        client.insert("schema_migrations", [[migration.version, migration.name]], column_names=["version", "name"])
        applied.append(migration.version)
    return applied


def create_database(admin: Client, database: str) -> None:
    # Database names come from settings, not users; still refuse anything but an identifier.
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", database):
        raise ValueError(f"invalid ClickHouse database name: {database!r}")
    admin.command(f"CREATE DATABASE IF NOT EXISTS {database}")
