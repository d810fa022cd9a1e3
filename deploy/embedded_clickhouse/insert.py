"""The data of an `INSERT ... FORMAT X` request, run as one statement that reads it `FROM INFILE`.

Why not chDB's own ways in: its streaming insert (send_insert) answers success for blocks the table
refused (partition limit, constraints, memory), so an insert could report rows it never stored; and
data inline in a query's text is cut short when it is binary (RowBinary, Native). A file read by the
statement reports every error and takes any format. The file is the server's own: users may not
send INFILE over HTTP (sql.scan_statement refuses it).
"""
from __future__ import annotations

import tempfile
from types import TracebackType

from .sql import Statement, _tokens


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def infile_statement(prefix: bytes, path: str, fmt: str) -> bytes:
    """`INSERT INTO t (cols) [SETTINGS ...]` -> `INSERT INTO t (cols) FROM INFILE 'path' [SETTINGS ...]
    FORMAT fmt`: ClickHouse wants SETTINGS after the INFILE clause."""
    depth, split = 0, len(prefix)
    for kind, start, end, word in _tokens(prefix, True):
        text = prefix[start:end]
        depth += (text == b"(") - (text == b")")
        if depth == 0 and kind == "word" and word == "SETTINGS":
            split = start
            break
    return (prefix[:split].rstrip() + b" FROM INFILE " + _quote(path).encode() + b" "
            + prefix[split:].strip() + b" FORMAT " + fmt.encode())


class InsertData:
    """An insert's data in a temporary file, added piece by piece (blocking: run it off the event
    loop), deleted when the block ends."""

    def __init__(self) -> None:
        self._file = tempfile.NamedTemporaryFile(prefix="embedded-clickhouse-insert-", suffix=".data")
        self.size = 0

    def add(self, data: bytes) -> None:
        self.size += len(data)
        self._file.write(data)

    def statement(self, statement: Statement) -> bytes:
        self._file.flush()
        return infile_statement(statement.insert_prefix or b"", self._file.name, statement.insert_format or "")

    def __enter__(self) -> InsertData:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._file.close()
