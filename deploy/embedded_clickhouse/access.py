"""Read allow-lists for restricted users: `--user NAME:PASSWORD:views=db.view,...`.

The embedded server has no GRANTs, so a user with an allow-list (e.g. the BI user) may run only
SELECT / WITH queries, and before one runs, ClickHouse itself is asked what it would read:

* `EXPLAIN AST` (the parser, nothing evaluated) decides first: every function called (those reading
  outside the query's tables are refused: file(), dictGet*/dictHas..., joinGet*, ...), no table
  function, and every name that can be a table (FROM, JOIN, the right side of `IN name`) on the
  allow-list, or unqualified and naming no table (a WITH name). The analyzer evaluates scalar
  subqueries while it explains, so nothing reaches it before this check passed: a refused query
  runs no part of itself (tests/security/test_bi_user.py, the sleep oracles).
* `EXPLAIN QUERY TREE` (the analyzer, with the request's database, settings and parameters)
  then names every table the query reads, in FROM, JOIN, IN, and scalar subqueries (folded constants
  keep their source query). Each must be on the allow-list or harmless (ALWAYS_READABLE). Views
  are not expanded there, so an allowed view may read tables that are not. Table functions
  (remote, file, url, view, merge, ...) are refused outright.

The dumps are text: names are matched on every occurrence, and a crafted alias or literal can
only add occurrences, which refuse more; it cannot hide the real node. Anything unexpected
refuses (fails closed). When the analyzer fails on a query with subqueries or tables off the list,
the user gets a generic refusal instead of the engine's message.

For every user, `require_query` refuses any statement that calls a function, table function or
engine reaching files, URLs, programs or other servers (EXTERNAL), from the statement's tokens.

Restricted users run at readonly = 2, as on a real server with deploy/clickhouse/bi_user.sql: BI
tools set query settings (Grafana's ClickHouse plugin max_execution_time, Metabase and DBeaver
max_result_rows and result_overflow_mode, Tableau join_use_nulls) and fail at readonly = 1. Here
only TUNABLE_SETTINGS may be set, as URL parameters or in SETTINGS clauses; LIMITS may be lowered,
never raised or lifted (0); anything else (readonly, allow_ddl, additional_table_filters, profile,
priority, format_schema, ...) is refused as at readonly = 1 (`restricted_settings`).

BI tools browse before they query (SHOW DATABASES, SHOW TABLES, DESCRIBE, EXISTS, system.tables
and system.columns), and on a real server a user sees there only what it was granted. Here the
user's handles carry `additional_table_filters` on system.tables / columns / databases, set before
readonly (so the user cannot change them), which restricts every read of them, the SHOW rewrites
included, to the allow-list. DESCRIBE and EXISTS are let through for allowed names only, and SHOW
only in its plain DATABASES / TABLES forms (a WHERE clause could hide a subquery).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .protocol import ClickHouseError, User
from .sql import Statement, tokens

# What a restricted user may set (readonly = 2 narrowed to an allow-list: it fails closed). Drivers
# send some on their own (clickhouse-connect: date_time_input_format, cast_string_to_dynamic_use_inference,
# cancel_http_readonly_queries_on_client_close).
TUNABLE_SETTINGS = frozenset({
    "max_threads", "max_block_size", "max_execution_time", "max_result_rows", "max_result_bytes",
    "result_overflow_mode", "max_memory_usage", "join_use_nulls", "extremes", "session_timezone",
    "date_time_output_format", "date_time_input_format", "cast_string_to_dynamic_use_inference",
    "cancel_http_readonly_queries_on_client_close",
    "output_format_json_quote_64bit_integers", "output_format_json_quote_denormals",
    "output_format_json_named_tuples_as_objects", "output_format_decimal_trailing_zeros",
})
# The bi profile's limits (deploy/clickhouse/bi_user.sql), on every query of a restricted user.
LIMITS = {"max_execution_time": 300, "max_result_rows": 10_000_000, "max_memory_usage": 4_000_000_000}
LIMIT_SETTINGS = {**{name: str(cap) for name, cap in LIMITS.items()}, "result_overflow_mode": "throw"}

# System tables that hold no data (drivers read them on connect; real ClickHouse lets every user).
ALWAYS_READABLE = frozenset({
    "system.one", "system.settings", "system.functions", "system.formats", "system.data_type_families",
    "system.time_zones", "system.collations", "system.table_functions",
})
# Lower-cased. Functions reading files, dictionaries, Join tables or other tables' metadata.
DENIED_FUNCTIONS = frozenset({"file", "joinget", "joingetornull", "hascolumnintable", "catboostevaluate",
                              "getserversetting", "getmergetreesetting", "getmacro", "naivebayesclassifier"})
DENIED_FUNCTION_PREFIXES = ("dict", "__")
# `x IN name` reads the table `name` (a Set) when there is one.
IN_FUNCTIONS = frozenset({"in", "notin", "globalin", "globalnotin", "nullin", "notnullin", "globalnullin",
                          "globalnotnullin", "inignoreset", "notinignoreset"})
# Lower-cased. Table functions, functions, table and database engines, dictionary sources and backup
# destinations that reach files, URLs, programs or other servers: refused for every user, wherever they
# appear before `(` (fails closed: a table of one of these names cannot be created with columns).
EXTERNAL = frozenset({
    "file", "filecluster", "url", "urlcluster", "remote", "remotesecure", "cluster", "clusterallreplicas",
    "s3", "s3cluster", "gcs", "cosn", "oss", "hdfs", "hdfscluster", "azureblobstorage", "azureblobstoragecluster",
    "mysql", "postgresql", "materializedpostgresql", "materializedmysql", "odbc", "jdbc", "mongodb", "redis",
    "sqlite", "executable", "executablepool", "executable_pool", "http", "https", "disk", "filesystem",
    "filelog", "distributed", "kafka", "rabbitmq", "nats", "hive", "externaldistributed", "s3queue",
    "azurequeue", "iceberg", "icebergs3", "icebergazure", "icebergblob", "iceberghdfs", "icebergcluster",
    "icebergs3cluster", "icebergazurecluster", "iceberghdfscluster", "deltalake", "deltalakecluster",
    "deltalakes3", "deltalakeazure", "hudi", "hudicluster", "paimon", "paimons3", "paimonazure", "paimonhdfs",
    "ytsaurus", "arrowflight", "arrowflightsql", "prometheusquery", "prometheusqueryrange",
    "keepermap",
})
# Readable by restricted users because their handles filter them to the allow-list (session_settings).
FILTERED_SYSTEM_TABLES = frozenset({"system.tables", "system.columns", "system.databases"})
QUERY_KINDS = frozenset({"SELECT", "WITH"})
BROWSE_KINDS = frozenset({"SHOW", "DESCRIBE", "DESC", "EXISTS"})

_AST_FUNCTION = re.compile(r"^\s*Function (\S+)", re.M)
_AST_TABLE = re.compile(r"^\s*TableIdentifier (\S+)", re.M)
_AST_SUBQUERY = re.compile(r"^\s*Subquery\b", re.M)
_TREE_TABLE = re.compile(r"\btable_name: ([^\s,]+)")
_TREE_TABLE_FUNCTION = re.compile(r"\btable_function_name: ([^\s,]*)")
_AST_DESCRIBE_TABLE = re.compile(r"^\s*TableIdentifier (\S+)$", re.M)
_AST_EXISTS = re.compile(r"(ExistsTableQuery|ExistsViewQuery) (\w*) (\w+)(?: \(children \d+\))?")
_AST_EXISTS_DATABASE = re.compile(r"ExistsDatabaseQuery (\w+) (?: \(children \d+\))?")
# SHOW statements as token symbols (sql.tokens): ' a string, " a quoted name, # a number.
_NAME = r"(?:[A-Z_][A-Z0-9_]*|\")"
_SHOW = re.compile(rf"SHOW (?:DATABASES|(?:FULL )?TABLES(?: (?:FROM|IN) {_NAME})?)(?: (?:NOT )?I?LIKE ')?"
                   rf"(?: LIMIT #)?(?: FORMAT {_NAME})?(?: ;)?")


def _denied(message: str) -> ClickHouseError:
    return ClickHouseError.of("ACCESS_DENIED", message)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def session_settings(user: User) -> tuple[tuple[str, str], ...]:
    """Settings (name, SQL literal) fixed on every handle of this user before it is made readonly:
    for a restricted user, system.tables / columns / databases show the allow-list only."""
    if user.views is None:
        return ()
    pairs = sorted(tuple(view.split(".", 1)) for view in user.views)  # names are [A-Za-z0-9_] (User.parse)
    listed = ", ".join(f"({_quote(db)}, {_quote(name)})" for db, name in pairs)
    databases = ", ".join(_quote(db) for db in sorted({db for db, _ in pairs}))
    filters = {"system.tables": f"(database, name) IN ({listed})",
               "system.columns": f"(database, table) IN ({listed})",
               "system.databases": f"name IN ({databases})"}
    return (("additional_table_filters",
             "{" + ", ".join(f"{_quote(k)}: {_quote(v)}" for k, v in filters.items()) + "}"),)


def restricted_settings(user: User, settings: Mapping[str, str]) -> dict[str, str]:
    """The settings of a request: for a restricted user, its URL settings checked and the limits
    added (always set, so a handle never falls back to the server's unlimited defaults)."""
    if user.views is None:
        return dict(settings)
    for name, value in settings.items():
        _check_setting(user, name, value)
    return {**LIMIT_SETTINGS, **settings}


def _check_setting(user: User, name: str, value: str | None) -> None:
    """value: None when it is not a plain literal (only TUNABLE_SETTINGS outside LIMITS take those)."""
    if name not in TUNABLE_SETTINGS:
        raise ClickHouseError.of("READONLY", f"{user.name}: Cannot modify '{name}' setting in readonly mode")
    if name in LIMITS:
        try:
            number = float(value or "")
        except ValueError:
            number = -1.0
        if not 0 < number <= LIMITS[name]:
            raise ClickHouseError(452, f"Code: 452. DB::Exception: {user.name}: Setting {name} must be between 0 "
                                  f"(exclusive) and {LIMITS[name]}. (SETTING_CONSTRAINT_VIOLATION)")


def _settings_clauses(sql: bytes) -> list[tuple[str, str | None]] | None:
    """(name, literal or None) of every `SETTINGS name = value, ...` in the statement; None when a
    SETTINGS keyword is not followed by such a list (fails closed)."""
    found: list[tuple[str, str | None]] = []
    toks = tokens(sql)
    i = 0
    while i < len(toks):
        if toks[i][2] != "SETTINGS" or (i and toks[i - 1][1] == "."):  # system.settings is a table
            i += 1
            continue
        while True:
            i += 1
            if i + 1 >= len(toks) or toks[i][0] not in ("word", "str") or toks[i + 1][1] != "=":
                return None
            name = toks[i][1].strip("`\"") if toks[i][0] == "str" else toks[i][1]
            value, i = _literal(toks, i + 2)
            found.append((name, value))
            if i >= len(toks) or toks[i][1] != ",":
                break
    return found


def _literal(toks: list[tuple[str, str, str]], i: int) -> tuple[str | None, int]:
    """The value starting at toks[i] (a plain number or string, else None) and the index after it."""
    sign = ""
    while i < len(toks) and toks[i][1] in ("-", "+"):
        sign, i = sign + toks[i][1], i + 1
    if i >= len(toks):
        return None, i
    kind, text, _ = toks[i]
    if text in ("(", "[", "{"):
        depth = 0
        while i < len(toks):
            depth += toks[i][1] in ("(", "[", "{")
            depth -= toks[i][1] in (")", "]", "}")
            i += 1
            if depth == 0:
                break
        return None, i
    if kind == "num":
        return sign + text, i + 1
    if kind == "str" and text.startswith("'") and not sign:
        return text[1:-1], i + 1
    return None, i + 1


def check_settings_clauses(user: User, sql: bytes) -> None:
    """A restricted user's SETTINGS clauses set only what its URL settings may (restricted_settings)."""
    if user.views is None:
        return
    clauses = _settings_clauses(sql)
    if clauses is None:
        raise ClickHouseError.of("READONLY", f"{user.name}: Cannot read this query's SETTINGS clause; only "
                                 "`SETTINGS name = literal, ...` is allowed in readonly mode")
    for name, value in clauses:
        _check_setting(user, name, value)


def require_query(user: User, statement: Statement) -> None:
    """Before any data is read or written: no user reaches files, URLs or other servers, and
    restricted users may only run queries (and browse)."""
    if reach := sorted(statement.calls & EXTERNAL):
        raise _denied(f"{user.name}: Not enough privileges: {reach[0]}() reaches files, URLs, programs or other "
                      "servers, which this server allows no user")
    if user.views is not None and (statement.insert_prefix is not None
                                   or statement.kind not in QUERY_KINDS | BROWSE_KINDS):
        raise _denied(f"{user.name}: Not enough privileges. This user may only run SELECT queries "
                      f"on {', '.join(sorted(user.views))}")


def _explain(conn: Any, what: bytes, sql: bytes, params: Mapping[str, str]) -> str:
    try:
        return conn.query(what + sql, "TabSeparatedRaw", params=dict(params)).bytes().decode("utf-8", "replace")
    except Exception as ex:
        raise ClickHouseError.from_engine(ex) from None


def _without_format(sql: bytes, statement: Statement) -> bytes:
    # The query's own FORMAT clause would apply to the EXPLAIN output (Parquet hides every name).
    if statement.format_span is None:
        return sql
    start, end = statement.format_span
    return sql[:start] + b" " + sql[end:]


def check_reads(conn: Any, user: User, sql: bytes, statement: Statement, database: str,
                params: Mapping[str, str]) -> None:
    """Raise ACCESS_DENIED unless the query reads only allowed tables, on a handle already at the
    request's database and settings (readonly, so explaining runs no table function)."""
    if user.views is None:
        return
    check_settings_clauses(user, sql)
    allowed = user.views | ALWAYS_READABLE | FILTERED_SYSTEM_TABLES
    shown = ", ".join(sorted(user.views))
    body = _without_format(sql, statement)
    if statement.kind == "SHOW":
        if not _SHOW.fullmatch(" ".join(_symbols(sql))):
            raise _denied(f"{user.name}: Not enough privileges: of SHOW queries only SHOW DATABASES and SHOW "
                          f"TABLES [FROM db] [LIKE 'pattern'] [LIMIT n] are allowed; this user may read {shown}")
        return  # they read the filtered system tables only

    ast = _explain(conn, b"EXPLAIN AST ", body, params)
    if statement.kind in BROWSE_KINDS:
        return _check_browse(user, ast, database, shown)
    if not ast.startswith("Select"):
        raise _denied(f"{user.name}: Not enough privileges: only plain SELECT queries can be checked")
    _check_syntax(conn, user, ast, database, allowed, shown)

    try:
        tree = _explain(conn, b"EXPLAIN QUERY TREE ", body, params)
    except ClickHouseError:
        named = {n if "." in n else f"{database}.{n}" for n in _AST_TABLE.findall(ast)}
        if _AST_SUBQUERY.search(ast) or not named <= allowed:
            raise _denied(f"{user.name}: Not enough privileges, or the query is invalid: it reads tables "
                          f"other than {shown}, or could not be analysed") from None
        raise  # the engine's own message: no subquery was evaluated, so it quotes no data
    if not tree.startswith(("QUERY id:", "UNION id:")):
        raise _denied(f"{user.name}: Not enough privileges: only plain SELECT queries can be checked")
    for function in _TREE_TABLE_FUNCTION.findall(tree):
        raise _denied(f"{user.name}: Not enough privileges to use table function {function}(); "
                      f"this user may read {shown}")
    for table in _TREE_TABLE.findall(tree):
        if table not in allowed:
            raise _denied(f"{user.name}: Not enough privileges to read {table}; this user may read {shown}")


@dataclass
class _Node:
    label: str
    parent: _Node | None
    children: list[_Node] = field(default_factory=list)


def _ast_nodes(ast: str) -> list[_Node]:
    """The nodes of an EXPLAIN AST dump, whose indentation is its nesting."""
    nodes: list[_Node] = []
    stack: list[tuple[int, _Node]] = []
    for line in ast.splitlines():
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip(" "))
        while stack and stack[-1][0] >= depth:
            stack.pop()
        node = _Node(line.strip(), stack[-1][1] if stack else None)
        if node.parent is not None:
            node.parent.children.append(node)
        nodes.append(node)
        stack.append((depth, node))
    return nodes


def _in_table(node: _Node) -> str | None:
    """The name after IN when it is a bare name (which may be a table): `x IN name`."""
    args = node.children[0].children if node.children and node.children[0].label.startswith("ExpressionList") else []
    if len(args) >= 2 and args[1].label.startswith("Identifier "):
        return args[1].label.split(" ", 2)[1]
    return None


def _check_syntax(conn: Any, user: User, ast: str, database: str, allowed: frozenset[str], shown: str) -> None:
    """From the parse alone, before the analyzer (which evaluates scalar subqueries) sees the query:
    no denied function, no table function, and every name that can be a table (FROM, JOIN, the
    right side of IN) on the allow-list, or unqualified and no table at all (a WITH name)."""
    for node in _ast_nodes(ast):
        if not node.label.startswith(("Function ", "TableIdentifier ")):
            continue
        kind, name = node.label.split(" ", 2)[:2]
        if kind == "TableIdentifier":
            _check_table(conn, user, name, database, allowed, shown)
            continue
        lower = name.lower()
        if lower in DENIED_FUNCTIONS or lower.startswith(DENIED_FUNCTION_PREFIXES):
            raise _denied(f"{user.name}: Not enough privileges to call {name}(); this user may read {shown}")
        if node.parent is not None and node.parent.label.startswith("TableExpression"):
            raise _denied(f"{user.name}: Not enough privileges to use table function {name}(); "
                          f"this user may read {shown}")
        if lower in IN_FUNCTIONS and (table := _in_table(node)) is not None:
            _check_table(conn, user, table, database, allowed, shown)


def _check_table(conn: Any, user: User, name: str, database: str, allowed: frozenset[str], shown: str) -> None:
    if (name if "." in name else f"{database}.{name}") in allowed:
        return
    if "." not in name:
        quoted = ".".join("`" + part.replace("\\", "\\\\").replace("`", "\\`") + "`" for part in (database, name))
        if _explain(conn, b"EXISTS TABLE ", quoted.encode(), {}).strip() == "0":
            return  # a WITH name (or nothing): the analyzer resolves it, reading only what is checked here
    raise _denied(f"{user.name}: Not enough privileges to read {name}; this user may read {shown}")


def _symbols(sql: bytes) -> list[str]:
    kinds = {"str": "'", "num": "#"}
    return [word or ("\"" if text[:1] in ('"', "`") else kinds.get(kind, text))
            for kind, text, word in tokens(sql)]


def _check_browse(user: User, ast: str, database: str, shown: str) -> None:
    """DESCRIBE and EXISTS of an allowed table, EXISTS DATABASE of a database holding one (from
    ClickHouse's own parse of the statement)."""
    first = ast.split("\n", 1)[0]
    name = None
    if first.startswith("DescribeQuery"):
        tables = _AST_DESCRIBE_TABLE.findall(ast)
        if len(tables) == 1 and not _AST_SUBQUERY.search(ast) and not _AST_FUNCTION.search(ast):
            name = tables[0] if "." in tables[0] else f"{database}.{tables[0]}"
    elif match := _AST_EXISTS.fullmatch(first):
        name = f"{match[2] or database}.{match[3]}"
    elif match := _AST_EXISTS_DATABASE.fullmatch(first):
        if match[1] in {view.split(".", 1)[0] for view in user.views}:
            return
    if name is None or name not in user.views:
        raise _denied(f"{user.name}: Not enough privileges to describe or check that; this user may read {shown}")
