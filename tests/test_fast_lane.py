"""cdpkit.mockserver.fast_lane: what the lane answers is what aiohttp answers, byte for byte but for the
Date and generated ids, and the journal records it alike; what the lane must not read is handed to
aiohttp; a connection keeps its answers in order, closes when idle, and never holds more than a request
and a body while an answer is awaited."""

from __future__ import annotations

import gzip
import json
import re
import socket
import time
from typing import Any, Iterator

import pytest

from cdpkit.mockserver.fast_lane import HEAD_LIMIT, LaneServer
from cdpkit.mockserver.runtime import MockConfig
from cdpkit.mockserver.server import MockServer

BODY_LIMIT = 4096
ZEB = "/v1/accounts/LICENSE_CODE/users"
ZEB_AUTH = [("authorization", "ACCESS_TOKEN"), ("Content-Type", "application/json")]
GPT = "/v1/user/get-user-cdp"
GPT_AUTH = [("Authorization", "Bearer ${token}")]
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


def comparable(answer: tuple[int, dict[str, str], bytes]) -> tuple[int, dict[str, str], str]:
    status, fields, body = answer
    kept = {k: normalized(v) for k, v in fields.items() if k not in ("date", "content-length")}
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


def test_idle_and_half_sent_connections_are_closed() -> None:
    with MockServer(MockConfig(port=0, idle_timeout=0.3)) as server:
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
        trickle = Connection(server.url)  # bytes that keep coming but never make a request do not keep it open
        try:
            request, closed = zeb(UPSERT), False
            for n in range(20):
                try:
                    trickle.send(request[n:n + 1])
                except OSError:
                    closed = True
                    break
                time.sleep(0.05)
            assert closed or trickle.closed()
        finally:
            trickle.close()


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


def test_a_write_the_store_could_not_make_durable_is_a_503_either_way(tmp_path) -> None:
    """SQLite's batch failing (a full disk, say) is answered 503 with Retry-After by the lane and by aiohttp
    alike, never a 500 passed off as a bug; the mock answers the next request once the store works again."""
    import sqlite3

    for fast_lane in (True, False):
        with MockServer(MockConfig(port=0, fast_lane=fast_lane, state=f"sqlite:{tmp_path / f'{fast_lane}.db'}")) as server:
            store = server.mock.store
            working = store._write

            def failing(items):
                raise sqlite3.OperationalError("database or disk is full")

            store._write = failing
            connection = Connection(server.url)
            try:
                connection.send(zeb(UPSERT))
                status, fields, body = connection.answer()
                assert (status, fields["retry-after"]) == (503, "1")
                assert json.loads(body)["cause"] == "OperationalError: database or disk is full"
                store._write = working
                connection.send(zeb({**UPSERT, "userId": "after"}))
                assert connection.answer()[0] == 200
            finally:
                connection.close()
