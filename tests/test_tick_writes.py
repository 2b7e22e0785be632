"""The fast lane writes its answers once per turn of the event loop, every connection's together
(cdpkit.mockserver.tick_writes): held while the turn's requests are served, written in order, never lost
when a connection closes."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
from typing import Any, Callable

import pytest

from cdpkit.mockserver.fast_lane import FastLane
from cdpkit.mockserver.runtime import MockConfig
from cdpkit.mockserver.server import MockServer


def upsert(user_id: str, close: bool = False) -> bytes:
    body = json.dumps({"userId": user_id, "attributes": {"plan": "pro"}}).encode()
    fields = b"Connection: close\r\n" if close else b""
    return (b"POST /v1/accounts/LICENSE_CODE/users HTTP/1.1\r\nHost: mock\r\nContent-Type: application/json\r\n"
            b"authorization: ACCESS_TOKEN\r\n" + fields + b"Content-Length: %d\r\n\r\n" % len(body) + body)


class Transport:
    """A connection's transport that logs what is done to it, in one log shared by every connection."""

    def __init__(self, name: str, log: list[tuple[str, str, bytes]]) -> None:
        self.name, self.log, self.closing = name, log, False

    def write(self, data: bytes) -> None:
        self.log.append(("write", self.name, data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.log.append(("close", self.name, b""))
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 5555) if name == "peername" else default


@pytest.fixture(scope="module")
def server() -> Any:
    with MockServer(MockConfig(port=0)) as running:
        yield running


def on_loop(server: MockServer, steps: Callable[[list], Any]) -> list[tuple[str, str, bytes]]:
    """Run ``steps(log)`` (a coroutine function) on the mock's loop; the log of what the transports saw."""
    log: list[tuple[str, str, bytes]] = []
    asyncio.run_coroutine_threadsafe(steps(log), server._loop).result(timeout=30)
    return log


def answers(data: bytes) -> list[dict[str, Any]]:
    """The JSON bodies of the HTTP answers in ``data``, in order."""
    found = []
    for part in data.split(b"HTTP/1.1 ")[1:]:
        found.append(json.loads(part.split(b"\r\n\r\n", 1)[1]))
    return found


def test_answers_of_one_turn_are_written_together_after_it(server: MockServer) -> None:
    async def steps(log: list) -> None:
        lanes = []
        for name in ("a", "b", "c"):
            lane = FastLane(server._runner.server)
            lane.connection_made(Transport(name, log))
            lanes.append(lane)
        for name, lane in zip("abc", lanes):
            lane.data_received(upsert(f"tick-{name}"))
            log.append(("served", name, b""))
        await asyncio.sleep(0)
        for lane in lanes:
            lane.connection_lost(None)

    log = on_loop(server, steps)
    assert [(what, name) for what, name, _ in log] == [
        ("served", "a"), ("served", "b"), ("served", "c"), ("write", "a"), ("write", "b"), ("write", "c")]
    for _, _, data in log[3:]:
        assert data.startswith(b"HTTP/1.1 200 OK\r\n") and answers(data)[0]["response"]["status"] == "queued"


def test_pipelined_answers_leave_in_one_write_in_request_order(server: MockServer) -> None:
    async def steps(log: list) -> None:
        lane = FastLane(server._runner.server)
        lane.connection_made(Transport("a", log))
        lane.data_received(upsert("first") + b"GET /v1/accounts/LICENSE_CODE/users?userId=first HTTP/1.1\r\n"
                           b"Host: mock\r\nauthorization: ACCESS_TOKEN\r\n\r\n")
        await asyncio.sleep(0)
        lane.connection_lost(None)

    [(what, _, data)] = on_loop(server, steps)
    first, second = answers(data)
    assert what == "write" and first["response"]["status"] == "queued"
    assert second["response"]["user"]["userId"] == "first"  # the read after the write saw it


@pytest.mark.parametrize("how", ["connection-close", "server-shutdown"])
def test_a_closing_connection_writes_its_answers_before_it_closes(server: MockServer, how: str) -> None:
    async def steps(log: list) -> None:
        lane = FastLane(server._runner.server)
        lane.connection_made(Transport("a", log))
        lane.data_received(upsert("closing", close=how == "connection-close"))
        if how == "server-shutdown":
            lane.shut_down()
        await asyncio.sleep(0)
        lane.connection_lost(None)

    log = on_loop(server, steps)
    assert [what for what, _, _ in log] == ["write", "close"]
    assert answers(log[0][2])[0]["response"]["status"] == "queued"


def test_a_connection_whose_write_fails_keeps_no_other_answer_unsent(server: MockServer) -> None:
    class Broken(Transport):
        def write(self, data: bytes) -> None:
            raise OSError("the socket broke")

    async def steps(log: list) -> None:
        broken, fine = FastLane(server._runner.server), FastLane(server._runner.server)
        broken.connection_made(Broken("broken", log))
        fine.connection_made(Transport("fine", log))
        broken.data_received(upsert("tick-broken"))
        fine.data_received(upsert("tick-fine"))
        await asyncio.sleep(0)
        broken.connection_lost(None)
        fine.connection_lost(None)

    assert [(what, name) for what, name, _ in on_loop(server, steps)] == [("write", "fine")]


# -- what held answers must survive (found by an adversarial review of this change) ---------------------------

GET = b"GET /v1/accounts/LICENSE_CODE/users?userId=u1 HTTP/1.1\r\nHost: mock\r\nauthorization: ACCESS_TOKEN\r\n\r\n"


def port_of(server: MockServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def read_to_end(sock: socket.socket) -> bytes:
    got = b""
    try:
        while data := sock.recv(1 << 16):
            got += data
    except ConnectionResetError:
        pass
    return got


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_every_request_sent_before_a_half_close_is_answered(loop: str) -> None:
    """More requests than one batch answers, then the client's FIN: uvloop read the FIN in the turn that
    answered the second batch, the transport closed, and the held answers were dropped (33 sent, 32 answered)."""
    with MockServer(MockConfig(port=0, loop=loop)) as server:
        for sent in (31, 33, 70):
            with socket.create_connection(("127.0.0.1", port_of(server)), timeout=5) as sock:
                sock.sendall(GET * sent)
                sock.shutdown(socket.SHUT_WR)
                assert read_to_end(sock).count(b"HTTP/1.1 ") == sent


def test_a_fin_read_in_the_turn_an_awaited_answer_is_ready_does_not_drop_it(tmp_path: Any) -> None:
    with MockServer(MockConfig(port=0, state=f"sqlite:{tmp_path / 'eof.sqlite'}")) as server:
        async def steps(log: list) -> None:
            lane = FastLane(server._runner.server)
            transport = Transport("a", log)
            lane.connection_made(transport)
            lane.data_received(upsert("eof"))  # SQLite: the answer awaits its batch
            await lane._busy  # resumed after the lane's own callback: the answer is held for the turn's end
            log.append(("fin", "a", b""))
            if not lane.eof_received():  # what asyncio's and uvloop's transports do on reading the FIN
                transport.close()
            await asyncio.sleep(0)
            lane.connection_lost(None)

        assert [what for what, _, _ in on_loop(server, steps)] == ["fin", "write", "close"]


def test_a_drop_fault_writes_the_answers_before_it_first(tmp_path: Any) -> None:
    """An upsert and a request a drop fault takes, pipelined: the upsert's answer reaches the client, as it does
    through aiohttp, which answers one request after the other."""
    with MockServer(MockConfig(port=0, state=f"sqlite:{tmp_path / 'drop.sqlite'}")) as server:
        server.fault("*/users", method="GET", drop=True)
        for attempt in range(5):
            with socket.create_connection(("127.0.0.1", port_of(server)), timeout=5) as sock:
                sock.sendall(upsert(f"drop-{attempt}") + GET)
                assert read_to_end(sock).count(b"HTTP/1.1 200 ") == 1, f"attempt {attempt}"


def test_request_bytes_held_while_answers_are_awaited_stay_bounded() -> None:
    """A client pipelining faster than its answers come (each delayed by a fault) and reading none: the lane
    held one more segment each time an awaited answer resumed reading and met another (20 MB within a second)."""
    with MockServer(MockConfig(port=0)) as server:
        server.fault("*/users", latency_ms=1)
        limit = server._runner.server.buffer_limit

        def held() -> int:
            async def look() -> int:
                return max([lane._held for lane in server._runner.server.lanes], default=0)
            return asyncio.run_coroutine_threadsafe(look(), server._loop).result(5)

        with socket.create_connection(("127.0.0.1", port_of(server))) as sock:
            sock.settimeout(0.05)
            payload, most = upsert("held") * 2000, 0
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                try:
                    sock.send(payload)
                except socket.timeout:
                    pass
                most = max(most, held())
        assert 0 < most <= limit + (1 << 18), f"{most} bytes held, the limit is {limit}"


def test_a_reset_before_a_hand_over_reaches_no_exception_handler() -> None:
    """Plain requests, then one aiohttp must take, then a reset, while the loop is busy: the lane handed a
    transport already closing to aiohttp, whose request task then failed where nobody heard it."""
    chunked = (b"POST /v1/accounts/LICENSE_CODE/users HTTP/1.1\r\nHost: mock\r\nContent-Type: application/json\r\n"
               b"authorization: ACCESS_TOKEN\r\nTransfer-Encoding: chunked\r\n\r\n")
    with MockServer(MockConfig(port=0)) as server:
        heard: list[Any] = []
        server._loop.call_soon_threadsafe(server._loop.set_exception_handler, lambda _, context: heard.append(context))
        for _ in range(10):
            sock = socket.create_connection(("127.0.0.1", port_of(server)))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            time.sleep(0.01)
            server._loop.call_soon_threadsafe(time.sleep, 0.05)  # the loop busy while the bytes and the reset arrive
            time.sleep(0.01)
            sock.sendall(GET * 40 + chunked)
            sock.close()  # SO_LINGER 0: a reset
            time.sleep(0.1)
        assert heard == []
