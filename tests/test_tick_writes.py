"""The fast lane writes its answers once per turn of the event loop, every connection's together
(cdpkit.mockserver.tick_writes): held while the turn's requests are served, written in order, never lost
when a connection closes."""

from __future__ import annotations

import asyncio
import json
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
