"""Serve a chDB data directory over ClickHouse's HTTP interface.

    python -m deploy.embedded_clickhouse --path DIR [--host 127.0.0.1] [--port 8123]
        [--user NAME:PASSWORD[:readonly][:views=DB.VIEW,...]]... [--timezone UTC] [--display-name NAME]

EMBEDDED_CLICKHOUSE_PATH / _HOST / _PORT / _TIMEZONE stand in for the options. Without --user there
is one user, `default`, with an empty password; with --user options there are exactly those users
(`--user default:` keeps a password-less default). `--port 0` picks a free port; the start line names
the port actually bound. A user with `views=` may only run SELECT queries reading those tables or
views (checked with ClickHouse's own EXPLAIN; see access.py): the embedded stand-in for GRANT SELECT.
Browsing (SHOW TABLES, DESCRIBE, system.tables / columns) shows such a user those names only.
SIGTERM and SIGINT stop it gracefully: in-flight requests finish (up to 10 s), then chDB is closed.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time

import uvicorn

from services.common.compat.uvicorn_server import GracefulExitServer, header_timeout_protocol

from .protocol import User

log = logging.getLogger("embedded_clickhouse")


def main(argv: list[str] | None = None) -> int:
    env = os.environ
    parser = argparse.ArgumentParser(prog="python -m deploy.embedded_clickhouse",
                                     description="Serve a chDB data directory over ClickHouse's HTTP interface.")
    parser.add_argument("--path", default=env.get("EMBEDDED_CLICKHOUSE_PATH"), help="chDB data directory")
    parser.add_argument("--host", default=env.get("EMBEDDED_CLICKHOUSE_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env.get("EMBEDDED_CLICKHOUSE_PORT", "8123")))
    parser.add_argument("--user", action="append", default=[],
                        metavar="NAME:PASSWORD[:readonly][:views=DB.VIEW,...]",
                        help="a user; repeatable. Default: `default` with an empty password")
    parser.add_argument("--timezone", default=env.get("EMBEDDED_CLICKHOUSE_TIMEZONE", "UTC"),
                        help="server time zone (default UTC)")
    parser.add_argument("--display-name", default=None, help="X-ClickHouse-Server-Display-Name (default: hostname)")
    parser.add_argument("--receive-timeout", type=float, metavar="SECONDS",
                        default=float(env.get("EMBEDDED_CLICKHOUSE_RECEIVE_TIMEOUT_S", "30")),
                        help="a request's headers must arrive within this time, and each piece of its body "
                             "(ClickHouse's http_receive_timeout; default 30)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    if not args.path:
        parser.error("--path (or EMBEDDED_CLICKHOUSE_PATH) is required")
    try:
        users = [User.parse(spec) for spec in args.user]
    except ValueError as ex:
        parser.error(str(ex))

    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("uvicorn.error").setLevel(max(logging.WARNING, logging.getLogger().level))
    # The engine reads TZ when it starts: set it before chDB is imported.
    os.environ["TZ"] = args.timezone
    time.tzset()
    import chdb

    from .server import EmbeddedClickHouse

    path = os.path.abspath(args.path)
    os.makedirs(path, exist_ok=True)
    server_app = EmbeddedClickHouse(path, users or None, display_name=args.display_name,
                                    receive_timeout_s=args.receive_timeout)
    try:
        config = uvicorn.Config(server_app.app, host=args.host, port=args.port, log_config=None, access_log=False,
                                lifespan="on", server_header=False, timeout_keep_alive=30, timeout_graceful_shutdown=10,
                                http=header_timeout_protocol(args.receive_timeout))
        server = GracefulExitServer(config)
        sock = config.bind_socket()
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        log.info("embedded ClickHouse (chDB %s) serving %s on http://%s:%d", chdb.__version__, path, shown, port)
        server.run(sockets=[sock])
    finally:
        server_app.close()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
