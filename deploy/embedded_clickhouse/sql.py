"""The little SQL the HTTP layer must understand before chDB sees a statement: its kind, its FORMAT
clause, and for `INSERT ... FORMAT X` where the inline data starts, so the data can be streamed
into the engine instead of parsed as SQL. Also what ClickHouse's HTTP interface refuses: several
statements in one request, INTO OUTFILE and FROM INFILE."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .protocol import ClickHouseError

_TOKEN_RE = re.compile(rb"""
    (?P<ws>\s+)
  | (?P<comment>--[^\n]*|\#[!\s][^\n]*|/\*.*?\*/)
  | (?P<str>'(?:[^'\\]++|\\.|'')*+'|"(?:[^"\\]++|\\.|"")*+"|`(?:[^`\\]++|\\.|``)*+`)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<num>[0-9][0-9A-Za-z_.]*)
  | (?P<other>.)
""", re.X | re.S)
_OPENERS = (b"'", b'"', b"`", b"/")
RESULT_KINDS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN", "CHECK"})


class NeedMore(Exception):
    """The buffer ends inside a token; more of the request body is needed to decide."""


@dataclass
class Statement:
    kind: str = ""                 # first keyword, upper-cased ("SELECT" for a leading parenthesis)
    output_format: str | None = None
    format_span: tuple[int, int] | None = None  # byte span of `FORMAT name`
    insert_prefix: bytes | None = None   # INSERT ... up to its FORMAT clause, when data follows
    insert_format: str | None = None
    data_start: int = 0
    session_state: bool = False    # SET / USE / temporary tables: state a pooled handle must not keep
    calls: set[str] = field(default_factory=set)  # lower-cased names followed by `(`: functions, engines

    @property
    def returns_rows(self) -> bool:
        return self.kind in RESULT_KINDS


def _tokens(buf: bytes, final: bool):
    """(kind, start, end, upper-cased word) for significant tokens. Raises NeedMore when a token
    may continue past the end of a partial buffer; stops silently at an unterminated token when
    the buffer is final (the engine will report the syntax error)."""
    pos, n = 0, len(buf)
    while pos < n:
        m = _TOKEN_RE.match(buf, pos)
        kind, (start, end) = m.lastgroup, m.span()
        if kind == "other" and (buf[start:start + 1] in _OPENERS[:3] or buf.startswith(b"/*", start)):
            if not final:
                raise NeedMore
            return
        if end == n and not final and kind != "other":
            raise NeedMore
        pos = end
        if kind not in ("ws", "comment"):
            yield kind, start, end, buf[start:end].upper().decode("latin-1") if kind == "word" else ""


def tokens(buf: bytes) -> list[tuple[str, str, str]]:
    """(kind, text, upper-cased word or '') of a whole statement's significant tokens."""
    return [(kind, buf[start:end].decode("utf-8", "replace"), word) for kind, start, end, word in _tokens(buf, True)]


def scan_statement(buf: bytes, final: bool = True) -> Statement:
    """Classify one statement. On a partial buffer it returns as soon as the kind is known, and for
    `INSERT ... FORMAT X` as soon as the data start is known, without looking at the data. On the
    final buffer it rejects what ClickHouse's HTTP interface rejects: several statements, INTO
    OUTFILE and FROM INFILE."""
    st = Statement()
    depth, prev, semicolon, table_next, inline, name = 0, "", False, False, False, ""
    top: list[tuple[str, str, int]] = []  # (word, text, start) of top-level tokens, for the FORMAT clause
    for i, (kind, start, end, word) in enumerate(_tokens(buf, final)):
        text = buf[start:end].decode("utf-8", "replace")
        if semicolon:
            rest = buf[start:start + 40].decode("utf-8", "replace").strip()
            raise ClickHouseError.of("SYNTAX_ERROR", f"Syntax error (Multi-statements are not allowed): failed at "
                                     f"position {start + 1}: {rest}")
        if i == 0:
            st.kind = "SELECT" if text == "(" else word
            if not final and st.kind != "INSERT":
                return st
        elif i == 1 and word == "TEMPORARY":
            st.session_state = True
        if text == "(":
            depth += 1
            if name:
                st.calls.add(name)
        elif text == ")":
            depth -= 1
        elif text == ";" and depth == 0:
            semicolon = True
        elif depth == 0 and kind in ("word", "str"):
            if (prev, word) in (("INTO", "OUTFILE"), ("FROM", "INFILE")):
                raise ClickHouseError.of("INTO_OUTFILE_NOT_ALLOWED", f"{prev} {word} is not allowed over HTTP")
            if st.kind == "INSERT" and not inline:
                if table_next or prev == ".":  # a table name may be a keyword: `INSERT INTO format`
                    table_next = table_next and word in ("TABLE", "FUNCTION")
                    word = "" if not table_next else word
                elif kind == "str":
                    pass
                elif word == "INTO":
                    table_next = True
                elif prev == "FORMAT":
                    st.insert_format, st.insert_prefix = buf[start:end].decode(), buf[:top[-1][2]]
                    st.data_start = _data_start(buf, end, final)
                    return st
                elif word in ("VALUES", "SELECT", "WITH"):
                    inline = True
                    if not final:
                        return st
        if depth == 0:
            top.append((word, text, start))
        # `file(`, `` `file`( `` and `"file"(` call the same function.
        name = text.lower() if kind == "word" else text[1:-1].lower() if kind == "str" and text[0] in "`\"" else ""
        prev = word if kind == "word" else text if kind == "other" else ""
    if not final:
        raise NeedMore
    for j in range(len(top) - 2, -1, -1):  # the last `FORMAT name` followed by nothing, `;` or SETTINGS
        if top[j][0] == "FORMAT" and top[j + 1][0] and (j + 2 == len(top) or top[j + 2][1] == ";"
                                                       or top[j + 2][0] == "SETTINGS"):
            st.output_format = top[j + 1][1]
            st.format_span = (top[j][2], top[j + 1][2] + len(top[j + 1][1].encode()))
            break
    st.session_state = st.session_state or st.kind in ("SET", "USE")
    return st


def _data_start(buf: bytes, pos: int, final: bool) -> int:
    """Inline data starts after blanks and at most one line break, as in ClickHouse's parser."""
    n = len(buf)
    while pos < n and buf[pos] in b" \t\f":
        pos += 1
    if pos < n and buf[pos] == 0x0D:
        pos += 1
    if pos >= n and not final:
        raise NeedMore
    return pos + 1 if pos < n and buf[pos] == 0x0A else pos


_CONTENT_TYPES = (
    (("TABSEPARATED", "TSV"), "text/tab-separated-values; charset=UTF-8"),
    (("CSV",), "text/csv; charset=UTF-8; header=absent"),
    (("JSON", "NDJSON"), "application/json; charset=UTF-8"),
    (("XML",), "application/xml; charset=UTF-8"),
    (("MARKDOWN",), "text/markdown; charset=UTF-8"),
    (("NATIVE", "ROWBINARY", "PARQUET", "ARROW", "ORC", "AVRO", "MSGPACK", "PROTOBUF", "CAPNPROTO", "NPY",
      "BSON", "RAWBLOB"), "application/octet-stream"),
)


def content_type(fmt: str) -> str:
    upper = fmt.upper()
    for prefixes, ctype in _CONTENT_TYPES:
        if upper.startswith(prefixes):
            if upper.startswith("CSVWITHNAMES"):
                return "text/csv; charset=UTF-8; header=present"
            return ctype
    return "text/plain; charset=UTF-8"
