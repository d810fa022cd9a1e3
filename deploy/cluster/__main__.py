"""Print the cluster DDL, or apply it to a running cluster.

    python -m deploy.cluster [--cluster journeyline] [--database journeyline] > cluster.sql
    python -m deploy.cluster --apply http://ch-s1-r1:8123      # as $CLICKHOUSE_USER / $CLICKHOUSE_PASSWORD

Apply before the services start: they then find every migration recorded in schema_migrations and
create nothing themselves. Every statement is idempotent, so applying again after a new migration
adds what is new.
"""
from __future__ import annotations

import argparse
import os
import sys

from deploy.cluster.ddl import cluster_statements, script
from schemas.clickhouse.migrate import _quote


def main(argv: list[str] | None = None) -> int:
    env = os.environ
    parser = argparse.ArgumentParser(prog="python -m deploy.cluster", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cluster", default=env.get("CLICKHOUSE_CLUSTER", "journeyline"),
                        help="cluster name in remote_servers (env CLICKHOUSE_CLUSTER)")
    parser.add_argument("--database", default=env.get("CLICKHOUSE_DATABASE", "journeyline"))
    parser.add_argument("--dictionary-user", default=env.get("CLICKHOUSE_DICTIONARY_USER", ""),
                        help="user the identity dictionary reads its source as (env CLICKHOUSE_DICTIONARY_USER)")
    parser.add_argument("--apply", metavar="URL", help="run the statements on this node instead of printing them")
    args = parser.parse_args(argv)
    credentials = ""
    if args.dictionary_user:
        credentials = (f" USER {_quote(args.dictionary_user)} "
                       f"PASSWORD {_quote(env.get('CLICKHOUSE_DICTIONARY_PASSWORD', ''))}")
    try:
        statements = cluster_statements(args.database, args.cluster, credentials)
    except ValueError as exc:
        parser.error(str(exc))
    if not args.apply:
        sys.stdout.write(script(statements))
        return 0
    import clickhouse_connect

    login = {"username": env.get("CLICKHOUSE_USER", "default"), "password": env.get("CLICKHOUSE_PASSWORD", "")}
    clickhouse_connect.get_client(dsn=args.apply, **login).command(statements[0].sql)  # CREATE DATABASE
    # ON CLUSTER statements qualify the views' unqualified names with the initiator's database.
    client = clickhouse_connect.get_client(dsn=args.apply, database=args.database, **login)
    for statement in statements[1:]:
        client.command(statement.sql)
        print(f"applied: {statement.sql.splitlines()[0][:100]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
