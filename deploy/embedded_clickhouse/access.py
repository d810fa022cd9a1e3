"""Read allow-lists for restricted users: `--user NAME:PASSWORD:views=db.view,...`.

The embedded server has no GRANTs, so a user with an allow-list (e.g. the BI user) may run only
SELECT / WITH queries, and before one runs, ClickHouse itself is asked what it would read:

* `EXPLAIN AST` (the parser, nothing evaluated) names every function called. Functions that read
  outside the query's tables are refused: file(), dictGet*/dictHas..., joinGet*, ... The analyzer
  folds e.g. file('/etc/passwd') into a constant, so only the AST still shows them.
* `EXPLAIN QUERY TREE` (the analyzer, with the request's database, settings and parameters)
  names every table the query reads, in FROM, JOIN, IN, and scalar subqueries (folded constants
  keep their source query). Each must be on the allow-list or harmless (ALWAYS_READABLE). Views
  are not expanded there, so an allowed view may read tables that are not. Table functions
  (remote, file, url, view, merge, ...) are refused outright.

The dumps are text: names are matched on every occurrence, and a crafted alias or literal can
only add occurrences, which refuse more; it cannot hide the real node. Anything unexpected
refuses (fails closed). The analyzer evaluates scalar subqueries while explaining, so its error
messages may quote data: when it fails on a query with subqueries or tables off the list, the
user gets a generic refusal instead of the engine's message.

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
from typing import Any

from .protocol import ClickHouseError, User
from .sql import Statement, tokens

# System tables that hold no data (drivers read them on connect; real ClickHouse lets every user).
ALWAYS_READABLE = frozenset({
    "system.one", "system.settings", "system.functions", "system.formats", "system.data_type_families",
    "system.time_zones", "system.collations", "system.table_functions",
})
# Lower-cased. Functions reading files, dictionaries, Join tables or other tables' metadata.
DENIED_FUNCTIONS = frozenset({"file", "joinget", "joingetornull", "hascolumnintable", "catboostevaluate",
                              "getserversetting", "getmergetreesetting", "getmacro", "naivebayesclassifier"})
DENIED_FUNCTION_PREFIXES = ("dict", "__")
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


def require_query(user: User, statement: Statement) -> None:
    """Before any data is read or written: restricted users may only run queries (and browse)."""
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
    for name in _AST_FUNCTION.findall(ast):
        lower = name.lower()
        if lower in DENIED_FUNCTIONS or lower.startswith(DENIED_FUNCTION_PREFIXES):
            raise _denied(f"{user.name}: Not enough privileges to call {name}(); this user may read {shown}")

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
