"""`journeyline keys create|list|revoke`: write keys (per source) and read tokens in ClickHouse.

Uses CLICKHOUSE_URL / _USER / _PASSWORD / _DATABASE like the services, and applies pending
migrations first (idempotent), so it works on a fresh database. The secret is printed once, at
creation; only its SHA-256 and a short prefix are stored.
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import datetime

from services.common.access_keys import KINDS, AccessKey, AccessKeyStore, validate_source
from services.common.settings import ClickHouseSettings


def register(subparsers: argparse._SubParsersAction) -> None:
    keys = subparsers.add_parser("keys", help="create, list and revoke write keys and read tokens")
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a key and print its secret (shown only this once)")
    create.add_argument("--kind", required=True, choices=KINDS, help="write (ingest) or read (query API)")
    create.add_argument("--source", default="", help="write keys: the source stamped on their events")
    create.add_argument("--json", action="store_true", help="print a JSON object instead of text")
    create.set_defaults(run=_guarded(_create))
    listing = actions.add_parser("list", help="list keys: id, kind, source, prefix, created, revoked")
    listing.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    listing.set_defaults(run=_guarded(_list))
    revoke = actions.add_parser("revoke", help="revoke a key; services refuse it within a second")
    revoke.add_argument("key_id", metavar="KEY_ID", help="the id shown by `keys create` / `keys list`")
    revoke.set_defaults(run=_guarded(_revoke))


def _guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """ClickHouse errors become one-line messages (the CLI's main prints RuntimeError text)."""
    def guarded(args: argparse.Namespace) -> int:
        from clickhouse_connect.driver.exceptions import Error

        try:
            return run(args)
        except Error as exc:
            settings = ClickHouseSettings()
            raise RuntimeError(f"ClickHouse at {settings.clickhouse_url} (database {settings.clickhouse_database}): "
                               f"{_first_line(exc)}") from None
    return guarded


def _store() -> AccessKeyStore:
    import logging

    from services.common.clickhouse import connect_migrated

    logging.getLogger("clickhouse_connect").setLevel(logging.CRITICAL)  # errors come as one message
    client = connect_migrated(ClickHouseSettings(), connect_timeout=5, send_receive_timeout=30)
    return AccessKeyStore(lambda: client)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _as_dict(key: AccessKey) -> dict[str, str | None]:
    return {"key_id": key.key_id, "kind": key.kind, "source": key.source, "prefix": key.prefix,
            "created_at": key.created_at.isoformat(),
            "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None}


def _create(args: argparse.Namespace) -> int:
    if args.kind == "write":
        if not args.source:
            raise ValueError("write keys need --source NAME: the source stamped on the events they send")
        validate_source(args.source)
    elif args.source:
        raise ValueError("read tokens have no source; --source is for write keys")
    new = _store().create(args.kind, args.source)
    if args.json:
        print(json.dumps({**_as_dict(new.key), "secret": new.secret}))
        return 0
    what = f"write key for source {new.key.source!r}" if new.key.kind == "write" else "read token"
    print(f"Created {what}: {new.key.key_id}")
    print("Secret (shown only now; store it safely, it cannot be recovered):")
    print(new.secret)
    return 0


def _list(args: argparse.Namespace) -> int:
    keys = _store().list()
    if args.json:
        for key in keys:
            print(json.dumps(_as_dict(key)))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "kind", "source", "prefix", "created", "revoked", box=None, pad_edge=False)
    for key in keys:
        table.add_row(key.key_id, key.kind, key.source or "-", key.prefix + "...", _when(key.created_at),
                      _when(key.revoked_at) or "-")
    if keys:
        Console(width=200).print(table)
    else:
        print("No keys yet: `journeyline keys create --kind write --source NAME` makes one.")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    key, now = _store().revoke(args.key_id)
    if now:
        print(f"Revoked {key.kind} key {key.key_id} ({key.prefix}...); services refuse it within a second.")
    else:
        print(f"{key.key_id} was already revoked at {_when(key.revoked_at)}.")
    return 0
