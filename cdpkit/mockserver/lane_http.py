"""What the fast lane (:mod:`cdpkit.mockserver.fast_lane`) reads of a request's bytes and how it writes an
answer's, as aiohttp would (issue 9): functions of bytes, no connection state (a :class:`HeadReader` is one
server's, and remembers only what blocks of header fields said).

:class:`HeadReader` takes a request head only when every byte of it means to the lane what it means to
aiohttp, and says None for anything else, which the lane then hands to aiohttp; :func:`encode` writes an
answer field for field as aiohttp writes it. ``tests/test_fast_lane.py`` holds both to aiohttp's answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Mapping

from aiohttp import hdrs, http_parser
from aiohttp.helpers import parse_content_type, rfc822_formatted_time
from aiohttp.http import SERVER_SOFTWARE
from multidict import CIMultiDict, CIMultiDictProxy, MultiDictProxy, istr
from yarl import URL

from cdpkit.mockserver.journal_entry import KeptHeaders, keep_headers
from cdpkit.mockserver.pipeline import Answer

if TYPE_CHECKING:
    from cdpkit.mockserver.fast_routes import Route, VendorRoutes

HEAD_LIMIT = 8190  # bytes of request line and header fields (aiohttp's own line limit; beyond it, aiohttp judges)
MAX_FIELDS = 100
FIELDS_MEMORY_BYTES = 4 << 20  # what a HeadReader's memory may hold, by the estimate below (HeadReader)
# What remembering a block costs, estimated from above: its bytes twice over (the key, and the strings decoded
# from them) and a third for slack; its names once more (the multidict's lower-case copies); per field its
# multidict entry, its journal pair and their objects; and per credential field the journal's masked copy, its
# pair and its place among the secrets (tracemalloc: 2.2 times a block of long fields, ~165 bytes a tiny
# field, ~120 more a credential field; tests/test_lane_heads.py measures each shape)
BLOCK_COPIES, FIELD_BYTES, SECRET_FIELD_BYTES = 3, 200, 200
_REQUEST_LINE = re.compile(rb"(GET|POST|PUT|PATCH|DELETE) (/[!-~]*) HTTP/1\.1").fullmatch
_FIELD = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([!-~]+(?:[ \t]+[!-~]+)*)?[ \t]*").fullmatch
_LENGTH = re.compile(rb"0|[1-9][0-9]{0,17}").fullmatch
# fields whose meaning the lane does not carry out: the request goes to aiohttp, which does (cookies: the
# H5 page's session, read with aiohttp's own cookie parser; Proxy-Connection, which llhttp reads as Connection;
# Sec-WebSocket-Key1, which aiohttp refuses)
_HANDED_OVER = frozenset((b"transfer-encoding", b"expect", b"upgrade", b"content-encoding", b"cookie",
                          b"proxy-connection", b"sec-websocket-key1"))
# fields aiohttp refuses to see twice (its parser's SINGLETON_HEADERS): a second one goes to aiohttp
_SINGLETONS = frozenset((b"content-length", b"content-location", b"content-range", b"content-type", b"etag", b"host",
                         b"max-forwards", b"server", b"transfer-encoding", b"user-agent"))
# what a request's first bytes may be while the rest of its line is on its way
_STARTS = (b"GET /", b"POST /", b"PUT /", b"PATCH /", b"DELETE /")
# aiohttp's compiled parser spells the field names it knows its own way (``authorization`` becomes
# ``Authorization``); handlers and the journal see them so. Its pure-Python parser keeps them as sent.
_KNOWN_NAMES = ({str(name).lower().encode(): str(name) for name in vars(hdrs).values() if isinstance(name, istr)}
                if http_parser.HttpRequestParser.__module__ == "aiohttp._http_parser" else {})
_REASONS = {status.value: status.phrase for status in HTTPStatus}


class LaneRequest:
    """What an :class:`~cdpkit.mockserver.pipeline.OperationRoute` and its handler read of a request, with
    aiohttp's meanings (its decoded query string, multidicts and content type)."""

    __slots__ = ("method", "path", "raw_path", "headers", "transport", "kept_headers", "_query_string", "_url")

    def __init__(self, method: str, target: str, path: str, query_string: str,
                 headers: CIMultiDictProxy[str], transport: Any, kept_headers: KeptHeaders) -> None:
        self.method = method
        self.raw_path = target
        self.path = path  # plain: what aiohttp decodes it to is itself
        self.headers = headers
        self.kept_headers = kept_headers  # what the journal keeps of them, made once for these fields
        self.transport = transport  # what a drop fault aborts (the lane's, which writes the answers held first)
        self._query_string = query_string
        self._url: URL | None = None

    def _rel_url(self) -> URL:
        if self._url is None:  # built as aiohttp's parser builds it
            self._url = URL.build(path=self.path, query_string=self._query_string, encoded=True)
        return self._url

    @property
    def query_string(self) -> str:
        return self._rel_url().query_string if self._query_string else ""

    @property
    def query(self) -> MultiDictProxy[str]:
        return self._rel_url().query

    @property
    def content_type(self) -> str:
        raw = self.headers.get("Content-Type")
        return "application/octet-stream" if raw is None else parse_content_type(raw)[0]

    @property
    def cookies(self) -> Mapping[str, str]:
        return {}  # a request with a Cookie field is aiohttp's (_HANDED_OVER)


def encode(answer: Answer, extra: str, close: bool) -> bytes:
    """The answer as aiohttp writes it, field for field and in its order: the handler's headers, Content-Type,
    the hooks' (``extra``), Content-Length, Date, Server; no body and no length for 1xx, 204 and 304."""
    status = answer.status
    content_type = answer.content_type if answer.charset is None else f"{answer.content_type}; charset={answer.charset}"
    head = f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\n"
    if answer.headers:
        fields = "".join(f"{name}: {value}\r\n" for name, value in answer.headers.items())
        if fields.count("\r") + fields.count("\n") != 2 * len(answer.headers):
            raise ValueError("a header of the answer holds a line break")  # aiohttp refuses to write one too
        head += fields
    bodiless = status < 200 or status in (204, 304)
    head += f"Content-Type: {content_type}\r\n{extra}"
    if not bodiless:
        head += f"Content-Length: {len(answer.body)}\r\n"
    head += f"Date: {rfc822_formatted_time()}\r\nServer: {SERVER_SOFTWARE}\r\n"
    if close:
        head += "Connection: close\r\n"
    return (head + "\r\n").encode() + (b"" if bodiless else answer.body)


def may_become_plain(start: bytes) -> bool:
    """Whether the first bytes of a request, its head not yet whole, may still be a request the lane reads: a
    lane method's start, a request line ending in CRLF, and no line ending in a bare LF (anything else goes to
    aiohttp at once, which answers it 400 at once: TLS spoken to the HTTP port, a stray line, bare LFs)."""
    line_end = start.find(b"\n")
    if line_end < 0:
        return any(start.startswith(s) or s.startswith(start) for s in _STARTS)
    if start[line_end - 1:line_end] != b"\r" or _REQUEST_LINE(start[:line_end - 1]) is None:
        return False
    return start.count(b"\n") == start.count(b"\r\n")


@dataclass(slots=True)
class Head:
    """A request head the lane reads: its route, path parameters, request, where its body starts and ends in
    the buffer, and whether the client asked to close after the answer."""

    route: "Route"
    params: dict[str, str]
    request: LaneRequest
    start: int
    stop: int
    close: bool


@dataclass(frozen=True, slots=True)
class Fields:
    """What a head's header fields say to the lane: the request's headers (a read-only view, so requests may
    share it), the body's length, whether to close after the answer, and what the journal keeps of them."""

    headers: CIMultiDictProxy[str]
    length: int
    close: bool
    kept: KeptHeaders


def read_fields(block: bytes, body_limit: int) -> Fields | None:
    """The header fields ``block`` (the head after its request line's CRLF, before its blank line), or None
    when aiohttp must read them."""
    lines = block.split(b"\r\n")
    if len(lines) > MAX_FIELDS:
        return None
    fields = []
    seen: set[bytes] = set()
    length = -1
    close = False
    for line in lines:
        field = _FIELD(line)
        if field is None:
            return None
        name = field[1].lower()
        value = field[2] or b""
        if name in _HANDED_OVER:
            return None
        if name in _SINGLETONS:
            if name in seen:
                return None
            seen.add(name)
        if name == b"content-length":
            if length >= 0 or _LENGTH(value) is None:
                return None
            length = int(value)
            if length > body_limit:
                return None
        elif name == b"connection":
            token = value.lower()
            if token == b"close":
                close = True
            elif token != b"keep-alive":
                return None
        fields.append((_KNOWN_NAMES.get(name) or field[1].decode(), value.decode()))
    if b"host" not in seen:  # aiohttp refuses an HTTP/1.1 request without one
        return None
    return Fields(CIMultiDictProxy(CIMultiDict(fields)), max(length, 0), close, keep_headers(fields))


_UNREAD = object()


class HeadReader:
    """Reads request heads for one server, remembering what each distinct block of header fields said.

    A client sends the same fields again and again (its Host, its credential, its Content-Type; the length
    changes with the body), and reading them is most of reading a head: a block met before is looked up, not
    parsed, matched and masked again (issue 9). It is emptied when what it holds would pass
    :data:`FIELDS_MEMORY_BYTES` (estimated from each block's bytes and number of fields), so it stays bounded
    whatever clients send, many tiny fields included; like a request being served, it holds its fields (a
    credential among them) in this process's memory only, never in the journal, a log or a file."""

    def __init__(self, routes: "VendorRoutes", body_limit: int) -> None:
        self.routes = routes
        self.body_limit = body_limit
        self._known: dict[bytes, Fields | None] = {}
        self._known_bytes = 0

    def read(self, buffer: bytes, end: int, transport: Any) -> Head | None:
        """The head ``buffer[:end]`` (``end``: where its blank line starts), or None when aiohttp must read it."""
        line_end = buffer.find(b"\r\n", 0, end)
        if line_end < 0:  # a request line and no field: no Host, which aiohttp refuses
            return None
        first = _REQUEST_LINE(buffer[:line_end])
        if first is None:
            return None
        method, target = first[1].decode(), first[2].decode()
        path, _, query_string = target.partition("?")
        if "#" in target:
            return None
        hit = self.routes.find_path(method, path)
        if hit is None:
            return None
        block = buffer[line_end + 2:end]
        fields = self._known.get(block, _UNREAD)
        if fields is _UNREAD:
            fields = read_fields(block, self.body_limit)
            weight = BLOCK_COPIES * len(block) + FIELD_BYTES * (block.count(b"\n") + 1)
            if fields is not None:
                kept = fields.kept
                weight += sum(len(name) for name, _ in kept.pairs) + SECRET_FIELD_BYTES * len(kept.secrets)
            if self._known_bytes + weight > FIELDS_MEMORY_BYTES:
                self._known.clear()
                self._known_bytes = 0
            self._known[block] = fields
            self._known_bytes += weight
        if fields is None:
            return None
        request = LaneRequest(method, target, path, query_string, fields.headers, transport, fields.kept)
        return Head(hit[0], hit[1], request, end + 4, end + 4 + fields.length, fields.close)
