"""ClickHouse HTTP protocol pieces of the embedded server: errors and their HTTP statuses, users and
authentication, how URL parameters split into transport options, settings and query parameters,
Content-Encoding codecs and multipart forms. Nothing here touches chDB."""
from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
import hmac
import json
import re
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import lz4.frame

try:  # PEP 784 module, its backport, or the zstandard package: whichever is installed
    from compression import zstd as _zstd  # type: ignore[import-not-found]
except ImportError:
    try:
        from backports import zstd as _zstd  # type: ignore[no-redef]
    except ImportError:
        try:
            import zstandard as _zstd  # type: ignore[no-redef]
        except ImportError:
            _zstd = None
_ZSTANDARD = getattr(_zstd, "__name__", "") == "zstandard"  # its streaming API differs from PEP 784's
try:
    import brotli
except ImportError:
    brotli = None

# ---- errors -------------------------------------------------------------------------------------

CODES = {"SYNTAX_ERROR": 62, "UNKNOWN_SETTING": 115, "READONLY": 164, "AUTHENTICATION_FAILED": 516,
         "NOT_IMPLEMENTED": 48, "BAD_ARGUMENTS": 36, "UNKNOWN_FORMAT": 73, "CANNOT_DECOMPRESS": 271,
         "UNKNOWN_COMPRESSION_METHOD": 89, "INTO_OUTFILE_NOT_ALLOWED": 358, "STD_EXCEPTION": 1001,
         "ACCESS_DENIED": 497, "QUERY_IS_TOO_LARGE": 393,
         "SOCKET_TIMEOUT": 209}

# ClickHouse's exceptionCodeToHTTPStatus; everything else is 500.
_STATUS_CODES = {
    401: (194,),
    403: (192, 193, 497, 512),
    400: (6, 8, 15, 25, 26, 27, 36, 37, 38, 41, 44, 53, 62, 72, 117, 123, 167, 168, 223, 321, 376, 427,
          441, 675, 676),
    404: (46, 47, 50, 56, 60, 63, 73, 78, 81, 115, 152, 336, 511),
    408: (159,), 411: (381,), 413: (229, 393), 415: (779,), 501: (48,), 503: (76, 209, 439),
}
STATUS_BY_CODE = {code: status for status, codes in _STATUS_CODES.items() for code in codes}
# Authentication failures answer with the exception code itself as the status, as ClickHouse did.
STATUS_BY_CODE[516] = 516

_CODE_RE = re.compile(r"Code: (\d+)\. ")
_NESTED_RE = re.compile(
    r"^Code: (\d+)\. DB::Exception: (Code: \1\. DB::Exception: .*?)(?: \(version [^)]*\))?\. \(\w+\)$", re.S)


class ClickHouseError(Exception):
    """An error in ClickHouse's wire shape: `Code: N. DB::Exception: message. (NAME)`."""

    def __init__(self, code: int, text: str):
        super().__init__(text)
        self.code, self.text = code, text

    @classmethod
    def of(cls, name: str, message: str) -> ClickHouseError:
        return cls(CODES[name], f"Code: {CODES[name]}. DB::Exception: {message}. ({name})")

    @classmethod
    def from_engine(cls, ex: BaseException) -> ClickHouseError:
        """Wrap a chDB exception, whose text carries ClickHouse's own message after some prefix."""
        message = str(ex)
        start = message.find("Code: ")
        match = _CODE_RE.match(message, start) if start >= 0 else None
        if match is None:
            return cls.of("STD_EXCEPTION", f"{type(ex).__name__}: {message.strip() or 'error'}")
        text = message[start:].strip()
        nested = _NESTED_RE.match(text)  # SETTINGS-clause errors arrive wrapped twice
        return cls(int(match.group(1)), nested.group(2) + "." if nested else text)

    @property
    def status(self) -> int:
        return STATUS_BY_CODE.get(self.code, 500)


# ---- users --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class User:
    name: str
    password: str = ""
    readonly: int = 0
    # `db.table` names this user may read (queries only), or None for no restriction: see access.py.
    views: frozenset[str] | None = None

    @classmethod
    def parse(cls, spec: str) -> User:
        """`NAME[:PASSWORD[:readonly]][:views=DB.VIEW,...]`; the password may itself contain colons
        (but not `:views=`). An allow-list makes the user readonly = 2: it may set the settings
        access.py allows (BI tools need some), and still write nothing."""
        name, _, rest = spec.partition(":")
        readonly, views = 0, None
        head, found, listed = rest.rpartition(":views=")
        if found or rest.startswith("views="):
            rest, listed = (head, listed) if found else ("", rest[len("views="):])
            views = frozenset(v.strip() for v in listed.split(",") if v.strip())
            bad = [v for v in views if not re.fullmatch(r"[A-Za-z0-9_]+\.[A-Za-z0-9_]+", v)]
            if not views or bad:
                raise ValueError(f"views= must list tables as db.name, comma-separated; got {listed!r}")
            readonly = 2
        for suffix in (":readonly", ":ro"):
            if rest.endswith(suffix):
                rest, readonly = rest[: -len(suffix)], readonly or 1
        if not re.fullmatch(r"[A-Za-z0-9_.@-]+", name):
            raise ValueError(f"invalid user name in {spec!r}")
        return cls(name, rest, readonly, views)


def _auth_error(message: str) -> ClickHouseError:
    return ClickHouseError.of("AUTHENTICATION_FAILED", message)


def authenticate(users: Mapping[str, User], headers: Mapping[str, str], params: Mapping[str, str]) -> User:
    """ClickHouse's rules: X-ClickHouse-User/Key headers, else HTTP Basic, else user/password params
    (user `default` when none is named); mixing two of them is an error."""
    header_user, header_key = headers.get("x-clickhouse-user", ""), headers.get("x-clickhouse-key", "")
    authorization = headers.get("authorization", "")
    in_params = "user" in params or "password" in params
    if header_user or header_key:
        if authorization:
            raise _auth_error("Invalid authentication: it is not allowed to use X-ClickHouse HTTP headers "
                              "and Authorization HTTP header simultaneously")
        if in_params:
            raise _auth_error("Invalid authentication: it is not allowed to use X-ClickHouse HTTP headers "
                              "and authentication via parameters simultaneously")
        name, password = header_user, header_key
    elif authorization:
        if in_params:
            raise _auth_error("Invalid authentication: it is not allowed to use Authorization HTTP header "
                              "and authentication via parameters simultaneously")
        scheme, _, info = authorization.partition(" ")
        if scheme.lower() != "basic":
            raise _auth_error(f"Invalid authentication: '{scheme}' HTTP Authorization scheme is not supported")
        try:
            name, _, password = base64.b64decode(info.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise _auth_error("Invalid authentication: malformed Basic credentials") from None
    else:
        name, password = params.get("user", "default"), params.get("password", "")
    if not name:
        raise _auth_error("Got an empty user name")
    user = users.get(name)
    # Compare against something even for an unknown user so timing doesn't reveal names.
    expected = user.password if user is not None else "\0unknown"
    if not hmac.compare_digest(expected.encode(), password.encode()) or user is None:
        raise _auth_error(f"{name}: Authentication failed: password is incorrect, or there is no user with such name")
    return user


# ---- compression --------------------------------------------------------------------------------

def _decompressor_factory(encoding: str) -> Callable[[], object] | None:
    if encoding in ("gzip", "x-gzip"):
        return lambda: zlib.decompressobj(wbits=31)
    if encoding == "lz4":
        return lz4.frame.LZ4FrameDecompressor
    if encoding == "zstd" and _zstd is not None:
        return (lambda: _zstd.ZstdDecompressor().decompressobj()) if _ZSTANDARD else _zstd.ZstdDecompressor
    return None


PIECE_BYTES = 1 << 20


def _bounded(dec: object, data: bytes) -> Iterator[bytes]:
    """Decompress `data` in output pieces of at most PIECE_BYTES (zlib's unconsumed_tail API, or
    PEP 784 / lz4's needs_input one; the zstandard package has no bound)."""
    if isinstance(dec, _ZLIB_DECOMPRESS):
        out = dec.decompress(data, PIECE_BYTES)
        yield out
        while (dec.unconsumed_tail or len(out) == PIECE_BYTES) and not dec.eof:  # a full piece: maybe more
            out = dec.decompress(dec.unconsumed_tail, PIECE_BYTES)
            yield out
    elif hasattr(dec, "needs_input"):
        yield dec.decompress(data, max_length=PIECE_BYTES)  # type: ignore[attr-defined]
        while not dec.eof and not dec.needs_input:  # type: ignore[attr-defined]
            yield dec.decompress(b"", max_length=PIECE_BYTES)  # type: ignore[attr-defined]
    else:
        yield dec.decompress(data)  # type: ignore[attr-defined]


_ZLIB_DECOMPRESS = type(zlib.decompressobj())


class BodyDecoder:
    """Incremental Content-Encoding decoder; copes with concatenated frames/members, which is how
    clickhouse-connect sends lz4 and zstd inserts (one frame per block)."""

    def __init__(self, encoding: str | None):
        self.encoding = (encoding or "identity").strip().lower()
        self._factory = _decompressor_factory(self.encoding)
        self._dec: object | None = None
        self._pending = False
        if self.encoding == "br" and brotli is not None:
            self._dec = brotli.Decompressor()
        elif self._factory is None and self.encoding not in ("", "identity", "deflate", "none"):
            raise ClickHouseError.of("UNKNOWN_COMPRESSION_METHOD",
                                     f"Unknown compression method '{self.encoding}' in Content-Encoding")

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decoded bytes of this chunk in pieces of at most PIECE_BYTES, so that the reader can
        stop between pieces: a few KB of gzip inflate to hundreds of MB."""
        if self.encoding in ("", "identity", "none") or not data:
            if data:
                yield data
            return
        try:
            if self.encoding == "br":
                yield self._dec.process(data)  # type: ignore[union-attr]  # brotli has no output bound
                return
            if self.encoding == "deflate" and self._dec is None:
                # HTTP "deflate" is zlib-wrapped, but raw deflate is common too: sniff the header.
                zlib_header = len(data) > 1 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
                self._dec = zlib.decompressobj(wbits=15 if zlib_header else -15)
            while data:
                if self._dec is None:
                    self._dec = self._factory()  # type: ignore[misc]
                yield from _bounded(self._dec, data)
                self._pending = not self._dec.eof  # type: ignore[attr-defined]
                if self._pending or self.encoding == "deflate":
                    break
                data, self._dec = self._dec.unused_data, None  # type: ignore[attr-defined]
        except ClickHouseError:
            raise
        except Exception as ex:
            message = f"Cannot decompress {self.encoding} request body: {ex}"
            raise ClickHouseError.of("CANNOT_DECOMPRESS", message) from ex

    def finish(self) -> None:
        if self._pending:
            raise ClickHouseError.of("CANNOT_DECOMPRESS", f"Truncated {self.encoding} request body")


RESPONSE_ENCODINGS = ("lz4", "zstd", "gzip", "deflate") + (("br",) if brotli is not None else ())


def choose_encoding(accept_encoding: str) -> str | None:
    """The first encoding the client lists (q > 0) that we can produce."""
    for item in accept_encoding.split(","):
        name, _, params = item.strip().partition(";")
        name = name.strip().lower()
        q = re.search(r"q\s*=\s*([0-9.]+)", params)
        if q and float(q.group(1) or 0) == 0:
            continue
        if name in RESPONSE_ENCODINGS and (name != "zstd" or _zstd is not None):
            return name
    return None


class BodyEncoder:
    def __init__(self, encoding: str):
        self.encoding = encoding
        self._head = b""
        if encoding == "lz4":
            self._c = lz4.frame.LZ4FrameCompressor()
            self._head = self._c.begin()
        elif encoding == "zstd":
            self._c = _zstd.ZstdCompressor().compressobj() if _ZSTANDARD else _zstd.ZstdCompressor()
        elif encoding == "br":
            self._c = brotli.Compressor()
        else:
            self._c = zlib.compressobj(wbits=31 if encoding == "gzip" else 15)

    def compress(self, data: bytes) -> bytes:
        head, self._head = self._head, b""
        return head + (self._c.process(data) if self.encoding == "br" else self._c.compress(data))

    def finish(self) -> bytes:
        head, self._head = self._head, b""
        return head + (self._c.finish() if self.encoding == "br" else self._c.flush())


# ---- request forms ------------------------------------------------------------------------------

def parse_multipart(content_type: str, body: bytes) -> list[tuple[str, str, bool]]:
    """(name, value, is_file) for each part of a multipart/form-data body."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    parts = []
    for part in message.iter_parts() if message.is_multipart() else ():
        name = part.get_param("name", header="content-disposition") or ""
        payload = part.get_payload(decode=True) or b""
        parts.append((str(name), payload.decode("utf-8", "replace"), part.get_filename() is not None))
    return parts


# ---- request options ----------------------------------------------------------------------------

# URL parameters the HTTP layer consumes itself; any other one, except param_<name> query
# parameters, is a ClickHouse setting for the query.
TRANSPORT_PARAMS = frozenset({
    "query", "database", "default_format", "query_id", "session_id", "session_timeout", "session_check",
    "close_session", "compress", "decompress", "user", "password", "quota_key", "buffer_size",
    "wait_end_of_query", "enable_http_compression", "http_zlib_compression_level", "stacktrace",
    "http_headers_progress_interval_ms", "send_progress_in_http_headers", "client_protocol_version",
    "role", "readonly",
})
PSEUDO_FORMATS = frozenset({"arrowtable", "dataframe", "datastore"})  # chdb-python's, not ClickHouse's
_SETTING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def flag(params: Mapping[str, str], name: str) -> bool:
    return params.get(name, "0").strip().lower() in ("1", "true", "yes", "on")


@dataclass
class Options:
    readonly: int                  # 0 writable, 1 nothing may change, 2 settings may change
    database: str
    default_format: str
    settings: dict[str, str]
    query_params: dict[str, str]
    encoding: str | None           # response Content-Encoding
    wait_end_of_query: bool


def request_options(user: User, method: str, params: Mapping[str, str], headers: Mapping[str, str]) -> Options:
    for name in ("compress", "decompress"):
        if flag(params, name):
            raise ClickHouseError.of("NOT_IMPLEMENTED", f"{name}=1 (ClickHouse's internal compression format) is "
                                     "not supported; use HTTP Content-Encoding / Accept-Encoding")
    default_format = headers.get("x-clickhouse-format") or params.get("default_format") or "TabSeparated"
    if default_format.lower() in PSEUDO_FORMATS:
        raise ClickHouseError.of("UNKNOWN_FORMAT", f"Unknown format {default_format}")
    settings = {}
    for name, value in params.items():
        if name and name not in TRANSPORT_PARAMS and not name.startswith("param_"):
            if not _SETTING_NAME.match(name):
                raise ClickHouseError.of("UNKNOWN_SETTING", f"Unknown setting '{name}'")
            settings[name] = value
    encoding = choose_encoding(headers.get("accept-encoding", "")) if flag(params, "enable_http_compression") else None
    return Options(_readonly_level(user, method, params), headers.get("x-clickhouse-database")
                   or params.get("database") or "default", default_format, settings,
                   {k[6:]: v for k, v in params.items() if k.startswith("param_")}, encoding,
                   flag(params, "wait_end_of_query"))


def _readonly_level(user: User, method: str, params: Mapping[str, str]) -> int:
    """ClickHouse's rules: the user's level, readonly=2 for anything but POST, and a `readonly`
    parameter that may only change the level of a writable session."""
    level = user.readonly or (0 if method == "POST" else 2)
    if "readonly" not in params:
        return level
    if params["readonly"] not in ("0", "1", "2"):
        raise ClickHouseError.of("BAD_ARGUMENTS", f"Invalid value for setting 'readonly': {params['readonly']!r}")
    if level and int(params["readonly"]) != level:
        raise ClickHouseError.of("READONLY", "Cannot modify 'readonly' setting in readonly mode")
    return int(params["readonly"])


# ---- response pieces ----------------------------------------------------------------------------

_SUMMARY_KEYS = ("read_rows", "read_bytes", "written_rows", "written_bytes", "total_rows_to_read", "result_rows",
                 "result_bytes", "elapsed_ns")


def summary(**counts: int) -> str:
    """The X-ClickHouse-Summary header; unknown counters are 0."""
    counts.setdefault("total_rows_to_read", counts.get("read_rows", 0))
    return json.dumps({k: str(int(counts.get(k, 0))) for k in _SUMMARY_KEYS}, separators=(",", ":"))


def exception_block(tag: str, error: ClickHouseError) -> bytes:
    """ClickHouse's in-band marker for an error after the response has started (X-ClickHouse-Exception-Tag)."""
    message = error.text.encode()
    return (b"__exception__\r\n" + tag.encode() + b"\r\n" + message + b"\n"
            + f"{len(message)} {tag}".encode() + b"\r\n__exception__\r\n")
