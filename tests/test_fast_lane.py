"""cdpkit.mockserver.fast_lane: what the lane answers is what aiohttp answers, byte for byte but for the
Date and generated ids, and the journal records it alike; what the lane must not read is handed to
aiohttp; a connection keeps its answers in order, closes when idle, and never holds more than a request
and a body while an answer is awaited."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import signal
import socket
import time
from typing import Any, Iterator
from urllib.parse import urlencode

import pytest

from cdpkit.mockserver.lane_server import LaneServer
from cdpkit.mockserver.lane_http import HEAD_LIMIT
from cdpkit.mockserver.runtime import MockConfig
from cdpkit.mockserver.server import MockServer
from tests.test_store import redis_server  # noqa: F401  (the session's redis-server fixture)

BODY_LIMIT = 4096
ZEB = "/v1/accounts/LICENSE_CODE/users"
ZEB_AUTH = [("authorization", "ACCESS_TOKEN"), ("Content-Type", "application/json")]
GPT = "/v1/user/get-user-cdp"
GPT_AUTH = [("Authorization", "Bearer ${token}")]
H5 = "/sf/h5/iframe-app/sf/realtime-tag"
SF_KEY = "#K-7IGwJpE2M9CpID4101qj2hWg9t59hoF3"
TTO_TRACK = json.dumps({"type": "track", "api_key": "your_api_key_here", "user_id": "u1", "event": "Buy",
                        "msg_id": "m-1", "properties": {"revenue": 1}}).encode()


def raw(method: str, target: str, headers: list[tuple[str, str]] = (), body: bytes = b"", *,
        length: bool = True, version: str = "HTTP/1.1") -> bytes:
    """A request as bytes; Content-Length is added for a body unless ``length`` is False."""
    fields = [("Host", "127.0.0.1"), *headers]
    if body and length:
        fields.append(("Content-Length", str(len(body))))
    return (f"{method} {target} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields) + "\r\n").encode() + body


def zeb(body: Any, headers: list[tuple[str, str]] = ZEB_AUTH, target: str = ZEB) -> bytes:
    return raw("POST", target, headers, body if isinstance(body, bytes) else json.dumps(body).encode())


def chunked(body: bytes) -> bytes:
    return f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"


UPSERT = {"userId": "lane-1", "firstName": "A", "attributes": {"age": 30}}
# (id, request bytes, which protocol answers it: the lane, aiohttp, or either, closing the connection)
CORPUS: list[tuple[str, bytes, str]] = [
    ("zebline-upsert", zeb(UPSERT), "lane"),
    ("zebline-prefixed", zeb(UPSERT, target="/zebline" + ZEB), "lane"),
    ("zebline-wrong-type", zeb({"userId": "lane-2", "attributes": {"age": "thirty"}}), "lane"),
    ("zebline-malformed-json", zeb(b'{"userId": '), "lane"),
    ("zebline-text-plain", zeb(UPSERT, [("authorization", "ACCESS_TOKEN"), ("Content-Type", "text/plain")]), "lane"),
    ("zebline-json-charset", zeb(UPSERT, [("authorization", "ACCESS_TOKEN"),
                                          ("Content-Type", "application/json; charset=utf-8")]), "lane"),
    ("zebline-plus-json", zeb(UPSERT, [("authorization", "ACCESS_TOKEN"), ("content-type", "application/x+json")]), "lane"),
    ("zebline-no-token", zeb(UPSERT, [("Content-Type", "application/json")]), "lane"),
    ("zebline-two-tokens", zeb(UPSERT, [("authorization", "wrong"), *ZEB_AUTH]), "lane"),
    ("zebline-spaced-token", zeb(UPSERT, [("AUTHORIZATION", "  ACCESS_TOKEN \t"), ("Content-Type", "application/json")]),
     "lane"),
    ("zebline-empty-body", raw("POST", ZEB, [*ZEB_AUTH, ("Content-Length", "0")]), "lane"),
    ("zebline-no-length", raw("POST", ZEB, ZEB_AUTH), "lane"),
    ("zebline-deep", zeb(b'{"userId": "d", "attributes": ' + b'{"a": ' * 80 + b"1" + b"}" * 81), "lane"),
    ("zebline-other-license", zeb(UPSERT, target="/v1/accounts/OTHER-lic_1.2~x/users"), "lane"),
    ("gpt-get", raw("GET", f"{GPT}?user_id=BC123", GPT_AUTH), "lane"),
    ("gpt-percent", raw("GET", f"{GPT}?user_id=BC%31%323", GPT_AUTH), "lane"),
    ("gpt-plus", raw("GET", f"{GPT}?user_id=a+b&x=%zz", GPT_AUTH), "lane"),
    ("gpt-repeated", raw("GET", f"{GPT}?user_id=BC123&user_id=other&&=v&k", GPT_AUTH), "lane"),
    ("gpt-odd-query", raw("GET", GPT + '?user_id=a"b<>\\^`{|}[]&x=%E4%B8%8A&y=%C3', GPT_AUTH), "lane"),
    ("gpt-empty-query", raw("GET", f"{GPT}?", GPT_AUTH), "lane"),
    ("gpt-no-query", raw("GET", GPT, GPT_AUTH), "lane"),
    ("gpt-no-bearer", raw("GET", f"{GPT}?user_id=BC123", [("Authorization", "${token}")]), "lane"),
    ("gpt-get-with-body", raw("GET", f"{GPT}?user_id=BC123", GPT_AUTH, b"ignored"), "lane"),
    ("tto-track", raw("POST", "/v1/track", [("Content-Type", "application/json")], TTO_TRACK), "lane"),
    ("tto-track-keep-alive", raw("POST", "/v1/track", [("Content-Type", "application/json"),
                                                        ("Connection", "Keep-Alive")], TTO_TRACK), "lane"),
    ("gpt-host-empty", raw("GET", f"{GPT}?user_id=BC123", GPT_AUTH).replace(b"Host: 127.0.0.1", b"Host:"), "lane"),
    ("h5-login", raw("GET", H5 + "?" + urlencode({"api_key": SF_KEY, "project": "default", "mode": "create"})), "lane"),
    ("h5-api-key-field", raw("GET", H5 + "?project=default&mode=create", [("api-key", SF_KEY)]), "lane"),
    ("h5-save", raw("POST", H5 + "/save?project=default", [("api-key", SF_KEY), ("Content-Type", "application/json")],
                    b'{"tag_name": "x"}'), "lane"),
    ("gpt-connection-close", raw("GET", f"{GPT}?user_id=BC123", [*GPT_AUTH, ("Connection", "close")]), "closed"),
    # what the lane leaves to aiohttp
    ("tto-trailing-slash", raw("POST", "/v1/track/", [("Content-Type", "application/json")], TTO_TRACK), "aiohttp"),
    ("unknown-path", raw("GET", "/nope"), "aiohttp"),
    ("control-summary", raw("GET", "/__mock/summary"), "aiohttp"),
    ("wrong-method", raw("DELETE", "/v1/track"), "aiohttp"),
    ("head", raw("HEAD", f"{GPT}?user_id=BC123", GPT_AUTH), "aiohttp"),
    ("options", raw("OPTIONS", GPT), "aiohttp"),
    ("chunked", raw("POST", ZEB, [*ZEB_AUTH, ("Transfer-Encoding", "chunked")], chunked(json.dumps(UPSERT).encode()),
                    length=False), "aiohttp"),
    ("expect-continue", raw("POST", ZEB, [*ZEB_AUTH, ("Expect", "100-continue")], json.dumps(UPSERT).encode()),
     "aiohttp"),
    ("gzip", raw("POST", ZEB, [*ZEB_AUTH, ("Content-Encoding", "gzip")], gzip.compress(json.dumps(UPSERT).encode())),
     "aiohttp"),
    ("over-limit", zeb({"userId": "big", "firstName": "x" * BODY_LIMIT}), "aiohttp"),
    ("http-1.0", raw("GET", f"{GPT}?user_id=BC123", GPT_AUTH, version="HTTP/1.0"), "aiohttp"),
    ("lowercase-method", raw("post", ZEB, ZEB_AUTH, json.dumps(UPSERT).encode()), "aiohttp"),
    ("percent-path", zeb(UPSERT, target="/v1/accounts/LICENSE%5FCODE/users"), "aiohttp"),
    ("dot-segment", raw("POST", "/v1/./track", [("Content-Type", "application/json")], TTO_TRACK), "aiohttp"),
    ("fragment", raw("GET", f"{GPT}?user_id=BC123#frag", GPT_AUTH), "aiohttp"),
    ("cookie", raw("GET", f"{GPT}?user_id=BC123", [*GPT_AUTH, ("Cookie", "a=b")]), "aiohttp"),
    ("connection-upgrade", raw("GET", f"{GPT}?user_id=BC123", [*GPT_AUTH, ("Connection", "Upgrade")]), "aiohttp"),
    ("obs-fold", b"GET " + GPT.encode() + b"?user_id=BC123 HTTP/1.1\r\nAuthorization: Bearer\r\n ${token}\r\n\r\n",
     "aiohttp"),
    ("utf8-header", raw("GET", f"{GPT}?user_id=BC123", GPT_AUTH).replace(b"Host: 127.0.0.1", "X-Name: é".encode()),
     "aiohttp"),
    ("length-and-chunked", raw("POST", ZEB, [*ZEB_AUTH, ("Content-Length", "4"), ("Transfer-Encoding", "chunked")],
                               chunked(b"{}"), length=False), "aiohttp"),
    ("two-lengths", raw("POST", ZEB, [*ZEB_AUTH, ("Content-Length", "2"), ("Content-Length", "2")], b"{}", length=False),
     "aiohttp"),
    ("signed-length", raw("POST", ZEB, [*ZEB_AUTH, ("Content-Length", "+2")], b"{}", length=False), "aiohttp"),
    ("garbage", b"GARBAGE\r\n\r\n", "aiohttp"),
    # what aiohttp refuses (400) though the lane could read it, and what it answers before the head ends
    ("no-host", raw("GET", f"{GPT}?user_id=BC123", GPT_AUTH).replace(b"Host: 127.0.0.1\r\n", b""), "aiohttp"),
    ("two-hosts", raw("GET", f"{GPT}?user_id=BC123", [("Host", "b"), *GPT_AUTH]), "aiohttp"),
    ("two-content-types", zeb(UPSERT, [*ZEB_AUTH, ("Content-Type", "application/json")]), "aiohttp"),
    ("two-user-agents", raw("GET", f"{GPT}?user_id=BC123", [*GPT_AUTH, ("User-Agent", "a"), ("User-Agent", "b")]),
     "aiohttp"),
    ("websocket-key1", raw("GET", f"{GPT}?user_id=BC123", [*GPT_AUTH, ("Sec-WebSocket-Key1", "x")]), "aiohttp"),
    ("proxy-connection-close", raw("GET", f"{GPT}?user_id=BC123", [*GPT_AUTH, ("Proxy-Connection", "close")]),
     "aiohttp"),
    ("tls-hello", bytes.fromhex("1603010200010001fc0303") + bytes(range(32)), "aiohttp"),
    ("stray-line", b"GARBAGE\r\n", "aiohttp"),
    ("bare-lf", raw("GET", f"{GPT}?user_id=BC123", GPT_AUTH).replace(b"\r\n", b"\n")[:-1], "aiohttp"),
]


class Connection:
    """A raw HTTP/1.1 client connection that reads answers as a client would (status, fields, body)."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def answer(self, head_request: bool = False) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill():
                raise ConnectionError(f"closed before an answer: {self.buffer!r}")
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        fields: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        length = 0 if head_request or status in (100, 204, 304) else int(fields.get("content-length", 0))
        while len(self.buffer) < length:
            if not self._fill():
                break
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, fields, body

    def closed(self) -> bool:
        """Whether the server has closed the connection (an EOF or a reset), waiting up to the timeout."""
        try:
            return self.sock.recv(65536) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


_GENERATED = [(re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
              (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?"), "<time>"),
              (re.compile(r"\b\d{10,}(\.\d+)?\b"), "<number>"), (re.compile(r"\b[0-9a-f]{32}\b"), "<hex>")]


def normalized(text: str) -> str:
    for pattern, placeholder in _GENERATED:
        text = pattern.sub(placeholder, text)
    return text


def comparable(answer: tuple[int, dict[str, str], bytes]) -> tuple[int, list[tuple[str, str]], str]:
    """Status, fields in their order (the Date's and the length's values aside), and body, ids made alike."""
    status, fields, body = answer
    kept = [(k, "" if k in ("date", "content-length") else normalized(v)) for k, v in fields.items()]
    return status, kept, normalized(body.decode("utf-8", "replace"))


def journal_entry(server: MockServer) -> dict[str, Any] | None:
    """The newest journal entry without what differs by run (None: nothing was journaled)."""
    entries = server.requests(limit=1)
    if not entries:
        return None
    entry = entries[0]
    return json.loads(normalized(json.dumps({k: v for k, v in entry.items() if k not in ("id", "time", "duration_ms")})))


@pytest.fixture(scope="module", params=["auto", "asyncio"])
def servers(request) -> Iterator[tuple[MockServer, MockServer]]:
    """A mock with the lane and one without, on uvloop (where installed) and on asyncio's loop: the lane
    hands a connection over with ``transport.set_protocol``, which each loop implements its own way."""
    config = dict(port=0, max_body_bytes=BODY_LIMIT, loop=request.param)
    with MockServer(MockConfig(**config)) as lane, MockServer(MockConfig(**config, fast_lane=False)) as plain:
        assert isinstance(lane._runner.server, LaneServer) and not isinstance(plain._runner.server, LaneServer)
        yield lane, plain


def _lanes(server: MockServer) -> int:
    return len(server._runner.server.lanes)


@pytest.mark.parametrize("name,request_bytes,served_by", CORPUS, ids=[c[0] for c in CORPUS])
def test_the_lane_answers_as_aiohttp_does(servers, name: str, request_bytes: bytes, served_by: str) -> None:
    lane, plain = servers
    answers = []
    for server in (lane, plain):
        server.reset()
        connection = Connection(server.url)
        try:
            connection.send(request_bytes)
            answers.append(comparable(connection.answer(head_request=name == "head")))
            if server is lane:
                time.sleep(0.05)  # a handed-over connection is registered with aiohttp's server in its own step
                assert _lanes(lane) == (1 if served_by == "lane" else 0), f"{name}: not served by the {served_by}"
                if served_by == "closed":
                    assert connection.closed()
        finally:
            connection.close()
    assert answers[0] == answers[1]
    assert journal_entry(lane) == journal_entry(plain)


@pytest.mark.parametrize("status", [103, 204, 304, 418, 503])
def test_an_injected_status_is_written_as_aiohttp_writes_it(servers, status: int) -> None:
    """1xx, 204 and 304 carry no body and no length (a client reading one would take the next answer for
    it); the rest carry the vendor's error body. The connection goes on serving either way."""
    lane, plain = servers
    answers = []
    for server in (lane, plain):
        server.reset()
        server.fault(GPT, status=status, count=1)
        connection = Connection(server.url)
        try:
            connection.send(raw("GET", f"{GPT}?user_id=BC123", GPT_AUTH) * 2)
            answers.append([comparable(connection.answer()) for _ in range(2)])
        finally:
            connection.close()
    assert answers[0] == answers[1]
    assert [a[0] for a in answers[0]] == [status, 200]


def test_pipelined_and_split_requests_are_answered_in_order(servers) -> None:
    lane, _ = servers
    lane.reset()
    connection = Connection(lane.url)
    try:
        ids = [f"pipe-{n}" for n in range(5)]
        connection.send(b"".join(zeb({"userId": uid, "attributes": {"n": n}}) for n, uid in enumerate(ids)))
        assert [connection.answer()[0] for _ in ids] == [200] * 5
        batch = [f"batch-{n}" for n in range(3 * 32 + 5)]  # more than one batch (fast_lane.BATCH) in one write
        connection.send(b"".join(zeb({"userId": uid, "attributes": {"n": 0}}) for uid in batch))
        assert [connection.answer()[0] for _ in batch] == [200] * len(batch)
        for byte in zeb({"userId": "split", "attributes": {"n": 1}}):  # one byte per segment
            connection.send(bytes([byte]))
        assert connection.answer()[0] == 200
        # a plain request, one aiohttp must read (chunked), and a plain one after it, in one write
        connection.send(raw("GET", f"{GPT}?user_id=BC123", GPT_AUTH)
                        + raw("POST", ZEB, [*ZEB_AUTH, ("Transfer-Encoding", "chunked")],
                              chunked(json.dumps({"userId": "chunked", "attributes": {"n": 2}}).encode()), length=False)
                        + raw("GET", "/nope"))
        assert [connection.answer()[0] for _ in range(3)] == [200, 200, 404]
        assert _lanes(lane) == 0
    finally:
        connection.close()
    journal = [e["request"]["body"].get("userId") for e in lane.requests(vendor="zebline")][::-1]
    assert journal == [*ids, *batch, "split", "chunked"]


def test_answers_that_wait_keep_their_order(tmp_path) -> None:
    """SQLite answers once the write is durable (an awaited answer), and a delayed fault waits: the
    requests behind them on the connection are answered after them."""
    with MockServer(MockConfig(port=0, state=f"sqlite:{tmp_path / 'lane.db'}")) as server:
        server.fault("/v1/track", latency_ms=200, count=1)
        connection = Connection(server.url)
        try:
            tracks = [raw("POST", "/v1/track", [("Content-Type", "application/json")],
                          TTO_TRACK.replace(b"m-1", f"m-{n}".encode())) for n in range(3)]
            connection.send(tracks[0] + zeb(UPSERT) + tracks[1] + raw("GET", f"{GPT}?user_id=BC123", GPT_AUTH) + tracks[2])
            started = time.monotonic()
            answers = [connection.answer() for _ in range(5)]
            assert time.monotonic() - started >= 0.2
            assert [a[0] for a in answers] == [200] * 5
            assert b"trackID" in answers[1][2] and b"BC123" in answers[3][2]
        finally:
            connection.close()
        operations = [e["operation"] for e in server.requests()][::-1]
        assert operations == ["track", "upsert_user", "track", "get_user_cdp", "track"]


def test_connection_close_and_a_dropped_request(servers) -> None:
    lane, _ = servers
    lane.reset()
    connection = Connection(lane.url)
    try:
        connection.send(raw("GET", f"{GPT}?user_id=BC123", [*GPT_AUTH, ("Connection", "close")]))
        status, fields, _ = connection.answer()
        assert status == 200 and fields["connection"] == "close" and connection.closed()
    finally:
        connection.close()
    lane.fault(GPT, drop=True, count=1)
    connection = Connection(lane.url)
    try:
        connection.send(raw("GET", f"{GPT}?user_id=BC123", GPT_AUTH))
        assert connection.closed()
    finally:
        connection.close()
    assert lane.requests(limit=1)[0]["violations"] == ["FAULT-DROP"]


def _closed_now(connection: Connection) -> bool:
    connection.sock.setblocking(False)
    try:
        return connection.sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        connection.sock.setblocking(True)


@pytest.mark.parametrize("fast_lane", [True, False])
def test_idle_and_half_sent_connections_are_closed(fast_lane: bool) -> None:
    with MockServer(MockConfig(port=0, idle_timeout=0.3, fast_lane=fast_lane)) as server:
        connections = [Connection(server.url) for _ in range(3)]
        try:
            connections[1].send(zeb(UPSERT)[:40])  # half a request, never finished
            connections[2].send(raw("GET", f"{GPT}?user_id=BC123", GPT_AUTH))
            assert connections[2].answer()[0] == 200  # then idle
            started = time.monotonic()
            assert all(c.closed() for c in connections)
            assert time.monotonic() - started < 2.0
        finally:
            for c in connections:
                c.close()
        # a head trickling in, a byte every 0.1 s, never makes a request: its bytes do not keep it open
        trickle = Connection(server.url)
        try:
            request, closed_after = zeb(UPSERT), None
            started = time.monotonic()
            for n in range(30):
                try:
                    trickle.send(request[n:n + 1])
                except OSError:
                    closed_after = time.monotonic() - started
                    break
                if _closed_now(trickle):
                    closed_after = time.monotonic() - started
                    break
                time.sleep(0.1)
            assert closed_after is not None and closed_after < 1.5, closed_after
        finally:
            trickle.close()


@pytest.mark.parametrize("fast_lane", [True, False])
def test_a_body_on_its_way_is_waited_for(fast_lane: bool) -> None:
    """Once a request's head has come, its body may take longer than idle_timeout: aiohttp never times a body
    out, and the lane does not either."""
    with MockServer(MockConfig(port=0, idle_timeout=0.3, fast_lane=fast_lane)) as server:
        connection = Connection(server.url)
        try:
            request = zeb(UPSERT)
            cut = request.index(b"\r\n\r\n") + 10
            connection.send(request[:cut])
            time.sleep(0.8)
            connection.send(request[cut:])
            assert connection.answer()[0] == 200
        finally:
            connection.close()


class _Transport:
    """What a FastLane writes to, kept in memory."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    abort = close

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def test_a_body_in_many_segments_costs_linear_time() -> None:
    """A 4 MiB body arriving in 1,460-byte segments (a real network's, loopback's coalesce) is joined once: the
    lane once joined the buffer again per segment and parsed the head again (0.2 s of the event loop for this
    body before its last segment, growing with the square of its size; now a few ms)."""
    from cdpkit.mockserver.fast_lane import FastLane

    size = 4 << 20
    with MockServer(MockConfig(port=0, max_body_bytes=size + 4096)) as server:
        body = json.dumps({"userId": "big", "firstName": "x" * size}).encode()
        request = zeb(body)
        cut = request.index(b"\r\n\r\n") + 4

        async def feed() -> tuple[float, list[bytes]]:
            lane, transport = FastLane(server._runner.server), _Transport()
            lane.connection_made(transport)
            lane.data_received(request[:cut])
            segments = [request[at:at + 1460] for at in range(cut, len(request), 1460)]
            started = time.perf_counter()
            for segment in segments[:-1]:
                lane.data_received(segment)
            took = time.perf_counter() - started
            assert not transport.written
            lane.data_received(segments[-1])  # the body whole: answered (judged and refused: too long a name)
            await asyncio.sleep(0)  # answers are written at the end of the loop's turn (tick_writes)
            lane.connection_lost(None)
            return took, transport.written

        took, written = asyncio.run_coroutine_threadsafe(feed(), server._loop).result(timeout=60)
        assert len(written) == 1 and written[0].startswith(b"HTTP/1.1 ")
        assert took < 0.1, f"{took:.2f} s of the event loop for a body's segments before its last"


def test_a_shutdown_between_batches_serves_no_request_it_cannot_answer(monkeypatch) -> None:
    """100 pipelined upserts, the server shutting down once the first batch of 32 is written: every request the
    mock served (journaled) was answered."""
    from cdpkit.mockserver import fast_lane

    serve = fast_lane.FastLane._serve_buffer
    shut: list[bool] = []

    def serve_then_shut_down(self: Any) -> None:
        serve(self)
        if self._next_batch is not None and not shut:
            shut.append(True)
            self._server.pre_shutdown()

    monkeypatch.setattr(fast_lane.FastLane, "_serve_buffer", serve_then_shut_down)
    with MockServer(MockConfig(port=0)) as server:
        connection = Connection(server.url)
        try:
            connection.send(b"".join(zeb({"userId": f"u{n}", "attributes": {"n": n}}) for n in range(100)))
            answered = 0
            try:
                while True:
                    connection.answer()
                    answered += 1
            except (ConnectionError, OSError):
                pass
        finally:
            connection.close()
        assert shut and answered == fast_lane.BATCH
        assert len(server.requests(vendor="zebline")) == answered


def test_a_client_that_does_not_read_holds_bounded_bytes() -> None:
    """Pipelined requests from a client that never reads its answers: once the answers fill the socket the
    lane stops reading, so what it holds stays under a request head, a body and one read."""
    with MockServer(MockConfig(port=0, max_body_bytes=BODY_LIMIT)) as server:
        connection = Connection(server.url, timeout=0.2)
        connection.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        request = raw("GET", f"{GPT}?user_id=BC123", GPT_AUTH)
        sent = 0
        try:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and sent < 60_000_000:
                try:
                    sent += connection.sock.send(request * 200)
                except (socket.timeout, BlockingIOError):
                    break
            assert sent > 200_000, "the server read everything: nothing pushed back"
            time.sleep(0.2)
            lanes = list(server._runner.server.lanes)
            # what arrived before reading paused, and at most one read of the loop's (256 KiB) after it
            assert lanes and all(len(lane._buffer) <= HEAD_LIMIT + BODY_LIMIT + (256 << 10) for lane in lanes)
            assert all(lane._paused for lane in lanes)
        finally:
            connection.close()
        assert server.requests(limit=1)  # still answering


def test_the_lane_is_on_by_default_and_can_be_turned_off(tmp_path) -> None:
    import argparse

    from cdpkit.mockserver.cli import config_from_args, configure

    parser = argparse.ArgumentParser()
    configure(parser)
    assert config_from_args(parser.parse_args([])).fast_lane is True
    assert config_from_args(parser.parse_args(["--no-fast-lane"])).fast_lane is False
    config = tmp_path / "mock.toml"
    config.write_text("no-fast-lane = true\n")
    assert config_from_args(parser.parse_args(["--config", str(config)])).fast_lane is False


def test_a_write_the_store_could_not_make_durable_is_a_503_either_way(tmp_path, monkeypatch) -> None:
    """SQLite's batch failing (here the file locked by another program, as a full disk would fail it) is answered
    503 with Retry-After by the lane and by aiohttp alike, never a 500 passed off as a bug; the mock answers the
    next request once the store works again. The writer process really fails: nothing here is patched but how
    long it waits for the lock."""
    import sqlite3

    from cdpkit.mockserver import sqlite_store

    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT", 0.1)
    for fast_lane in (True, False):
        db = tmp_path / f"{fast_lane}.db"
        with MockServer(MockConfig(port=0, fast_lane=fast_lane, state=f"sqlite:{db}")) as server:
            connection = Connection(server.url)
            other = sqlite3.connect(db, isolation_level=None)
            try:
                other.execute("BEGIN EXCLUSIVE")
                connection.send(zeb(UPSERT))
                status, fields, body = connection.answer()
                assert (status, fields["retry-after"]) == (503, "1")
                assert json.loads(body)["cause"] == "OperationalError: database is locked"
                other.execute("COMMIT")
                connection.send(zeb({**UPSERT, "userId": "after"}))
                assert connection.answer()[0] == 200
            finally:
                other.close()
                connection.close()


def test_a_writer_process_that_ends_unanswered_hands_its_batch_to_the_next(tmp_path) -> None:
    """The SQLite writer process killed with a batch in flight that it never read: a new writer takes that batch
    (the next writer's "ready" says it is not on disk), its request is answered 200, and what was acknowledged
    survives a restart."""
    db = tmp_path / "killed.db"
    with MockServer(MockConfig(port=0, state=f"sqlite:{db}")) as server:
        store = server.mock.store
        first = store._link.pid
        os.kill(first, signal.SIGSTOP)  # the batch stays unread until the kill
        connection = Connection(server.url)
        try:
            connection.send(zeb(UPSERT))
            time.sleep(0.2)
            os.kill(first, signal.SIGKILL)
            assert connection.answer()[0] == 200
            connection.send(zeb({**UPSERT, "userId": "after"}))
            assert connection.answer()[0] == 200
            assert store._link.pid not in (None, first)
        finally:
            connection.close()
    with MockServer(MockConfig(port=0, state=f"sqlite:{db}")) as again:
        users = again.mock.store.keys("zebline/users:LICENSE_CODE")
        assert {UPSERT["userId"], "after"} <= set(users)


@pytest.mark.parametrize("fast_lane", [True, False])
def test_concurrent_writes_on_redis_do_not_run_again(redis_server, fast_lane: bool) -> None:  # noqa: F811
    """Upserts arriving together on 16 connections: each is run once and checked once. The lane first left an
    awaited answer's first step to a task of the next loop step, so the requests read meanwhile ran before the
    ones ahead of them had put their writes in flight, found them changed at the check and ran again (8 checks
    per upsert at 32 connections, a quarter of the throughput)."""
    config = MockConfig(port=0, fast_lane=fast_lane, state=redis_server.url(), vendors=["zebline"])
    with MockServer(config) as server:
        connections = [Connection(server.url) for _ in range(16)]
        try:
            for round_no in range(20):
                for n, connection in enumerate(connections):
                    connection.send(zeb({"userId": f"c{round_no}-{n}", "attributes": {"n": n}}))
                assert [c.answer()[0] for c in connections] == [200] * len(connections)
        finally:
            for c in connections:
                c.close()
        assert server.mock.store.conflicts <= 16, f"{server.mock.store.conflicts} runs again for 320 upserts"


def stop_gives_up_on_the_held_answer(server: MockServer, connection: Connection) -> None:
    """Stop the mock holding an answer: within its shutdown_timeout (not the answer's wait) the connection closes."""
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5
    assert connection.closed()


def test_a_shutdown_drops_an_answer_still_awaited_after_its_timeout() -> None:
    """A request held by a 30 s delay when the mock stops: the stop waits shutdown_timeout for it, then
    cancels it (the cancellation reaches the delay inside the route) and closes the connection."""
    server = MockServer(MockConfig(port=0, shutdown_timeout=0.5)).start()
    connection = Connection(server.url)
    try:
        server.fault(GPT, latency_ms=30_000, count=1)
        connection.send(raw("GET", f"{GPT}?user_id=BC123", GPT_AUTH))
        time.sleep(0.2)
        assert len(server._runner.server.lanes) == 1
        stop_gives_up_on_the_held_answer(server, connection)
    finally:
        connection.close()


def test_a_shutdown_drops_an_answer_still_waiting_for_its_sqlite_batch(tmp_path) -> None:
    """A write whose batch is stuck on the disk when the mock stops: the lane waits shutdown_timeout for it, then
    drops it (the connection closed, no answer) instead of hanging or answering before the write is durable."""
    import threading

    server = MockServer(MockConfig(port=0, shutdown_timeout=0.5, state=f"sqlite:{tmp_path / 'stuck.db'}")).start()
    writer = server.mock.store._link.pid
    os.kill(writer, signal.SIGSTOP)  # stuck, as on a disk that does not answer
    resumed = threading.Timer(1.5, os.kill, (writer, signal.SIGCONT))  # the disk comes back after the stop gave up
    connection = Connection(server.url)
    try:
        connection.send(zeb(UPSERT))
        time.sleep(0.2)
        [lane] = server._runner.server.lanes
        assert lane._busy is not None and not lane._busy.done()
        resumed.start()
        stop_gives_up_on_the_held_answer(server, connection)
    finally:
        resumed.cancel()
        os.kill(writer, signal.SIGCONT) if server.mock.store._link.pid == writer else None
        connection.close()


def test_requests_sent_before_a_half_close_are_answered(servers) -> None:
    """A client that sends its requests and shuts its side (SHUT_WR) gets every answer, the first one delayed,
    then the end of the connection."""
    lane, _ = servers
    lane.reset()
    lane.fault(GPT, latency_ms=200, count=1)
    connection = Connection(lane.url)
    try:
        connection.send(raw("GET", f"{GPT}?user_id=BC123", GPT_AUTH) * 3)
        connection.sock.shutdown(socket.SHUT_WR)
        assert [connection.answer()[0] for _ in range(3)] == [200] * 3
        assert connection.closed()
    finally:
        connection.close()


@pytest.mark.parametrize("fast_lane", [True, False])
def test_an_answer_that_cannot_be_written_is_a_loud_500_never_a_split_header(fast_lane: bool, monkeypatch) -> None:
    """A handler bug that puts a line break in a header of its answer (here, on purpose) is never written as
    two header lines: aiohttp refuses to write it and drops the connection without an answer; the lane
    refuses too, and answers 500 before it closes."""
    from cdpkit.mockserver.vendor import Reply

    server = MockServer(MockConfig(port=0, fast_lane=fast_lane, vendors=["gptbots"]))
    # the vendor's handler table is its module's, shared by every mock of the process: patched for this test only
    monkeypatch.setitem(server.mock.vendors["gptbots"].handlers, "get_user_cdp",
                        lambda call: Reply(200, {"ok": True}, headers={"X-Echo": "a\r\nSet-Cookie: injected=1"}))
    with server:
        connection = Connection(server.url)
        try:
            connection.send(raw("GET", f"{GPT}?user_id=BC123", GPT_AUTH))
            if fast_lane:
                status, fields, _ = connection.answer()
                assert status == 500 and "set-cookie" not in fields
                assert connection.closed()
            else:
                with pytest.raises(ConnectionError):
                    connection.answer()
        finally:
            connection.close()
