"""A mock on Redis stops cleanly: every task it ran has ended and every connection it opened is closed.

The app's shut-down awaits the store's :meth:`~cdpkit.mockserver.redis_store.RedisStore.aclose`, which ends the fault
listener, the commit batches and the journal's writer and closes both clients before the loop stops. Before, the
shut-down called the synchronous ``close()``, which could only *schedule* the asyncio client's close and cancel the
listener: the loop stopped with them pending ("Task was destroyed but it is pending!", intermittently) and their
connections were left to the garbage collector (ResourceWarning) and to Redis's idea of its clients.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import warnings

import aiohttp
import pytest
import redis
import requests
from aiohttp import web

from cdpkit.mockserver.app import build_app, runner_for
from cdpkit.mockserver.redis_faults import RedisFaults
from cdpkit.mockserver.runtime import Mock, MockConfig
from cdpkit.mockserver.server import MockServer
from tests.test_store import redis_server  # noqa: F401  (the session's redis-server fixture)

AUTH = {"authorization": "ACCESS_TOKEN"}
USERS = "/v1/accounts/LICENSE_CODE/users"
RUNS = 4


def _clients(probe: redis.Redis) -> list[dict]:
    """Redis's clients other than ``probe`` itself."""
    own = probe.client_id()
    return [c for c in probe.client_list() if int(c["id"]) != own]


def _exercise(server: MockServer, i: int) -> None:
    """Everything that opens a connection or starts a task: requests (commit batches, the journal's writer, the
    fault listener), a fault set and cleared (the pub/sub channel and its acknowledgements), control API reads."""
    with requests.Session() as session:
        for j in range(5):
            answer = session.post(server.url + USERS, json={"userId": f"u{i}-{j}", "attributes": {"n": j}}, headers=AUTH)
            assert answer.status_code == 200, answer.text
        assert session.post(server.url + "/__mock/faults", json={"path": "/nowhere", "status": 500}).status_code == 201
        assert session.get(server.url + USERS, params={"userId": f"u{i}-0"}, headers=AUTH).status_code == 200
        assert session.delete(server.url + "/__mock/faults", json={}).status_code == 200
        assert session.get(server.url + "/__mock/requests").json()["count"] >= 6
        assert session.get(server.url + "/__mock/summary").status_code == 200


def test_a_redis_mock_stops_with_no_task_pending_and_no_connection_left(redis_server, monkeypatch,  # noqa: F811
                                                                       caplog) -> None:
    monkeypatch.setenv("PYTHONASYNCIODEBUG", "1")  # each MockServer's loop runs in debug mode
    caplog.set_level(logging.DEBUG, logger="asyncio")
    url = redis_server.url()
    with redis.Redis(host="127.0.0.1", port=redis_server.port) as probe:
        before = _clients(probe)
        gc.collect()  # what earlier tests left is theirs: collected before this test listens
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            for i in range(RUNS):
                server = MockServer(MockConfig(port=0, vendors=["zebline"], state=url))
                assert server._loop is not None and server._loop.get_debug()
                with server:
                    _exercise(server, i)
                del server
                gc.collect()  # a task or connection left behind says so when it is collected
        deadline = time.monotonic() + 5
        while len(_clients(probe)) > len(before) and time.monotonic() < deadline:
            time.sleep(0.05)  # Redis notices a closed connection at its next event-loop turn
        left = [c for c in _clients(probe) if c["id"] not in {b["id"] for b in before}]
    errors = [r.getMessage() for r in caplog.records if r.name == "asyncio" and r.levelno >= logging.ERROR]
    assert not errors, errors
    # the store's connections, sockets and transports, and MockServer's own event loop (closed by stop())
    leaked = [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)]
    assert not leaked, leaked
    destroyed = [r.getMessage() for r in caplog.records if "destroyed but it is pending" in r.getMessage()]
    assert not destroyed, destroyed
    assert not left, f"connections of the stopped mocks still open in Redis: {left}"


def test_the_app_cleanup_returns_with_every_store_task_done_and_connection_closed(redis_server) -> None:  # noqa: F811
    """Deterministic where the test above depends on timing: right when the runner's cleanup returns, with no
    further turn of the loop (a stopping loop may give none), nothing the store started is pending and Redis
    lists none of its connections. A close that only cancels the listener and schedules the pool's close fails
    here every time."""

    async def serve_and_stop() -> list[str]:
        mock = Mock(MockConfig(port=0, vendors=["zebline"], state=redis_server.url()))
        runner = runner_for(build_app(mock=mock), mock.config)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        async with aiohttp.ClientSession() as session:
            for j in range(3):
                async with session.post(url + USERS, json={"userId": f"c{j}", "attributes": {}}, headers=AUTH) as answer:
                    assert answer.status == 200, await answer.text()
            async with session.post(url + "/__mock/faults", json={"path": "/nowhere", "status": 500}) as answer:
                assert answer.status == 201
        await runner.cleanup()
        return [repr(t) for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]

    with redis.Redis(host="127.0.0.1", port=redis_server.port) as probe:
        before = {c["id"] for c in _clients(probe)}
        pending = asyncio.run(serve_and_stop(), debug=True)
        assert not pending, pending
        deadline = time.monotonic() + 5
        while (left := [c for c in _clients(probe) if c["id"] not in before]) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert not left, f"connections still open in Redis after the cleanup: {left}"


@pytest.mark.parametrize("state", ["memory", "sqlite"])
def test_memory_and_sqlite_mocks_still_close_their_store(state, tmp_path) -> None:
    """The awaitable close keeps the other stores' behaviour: SQLite has written what was answered and closed."""
    config = MockConfig(port=0, vendors=["zebline"],
                        state=f"sqlite:{tmp_path / 's.sqlite'}" if state == "sqlite" else "memory")
    with MockServer(config) as server:
        assert requests.post(server.url + USERS, json={"userId": "kept", "attributes": {}}, headers=AUTH).status_code == 200
    if state == "sqlite":
        with MockServer(config) as again:
            assert requests.get(again.url + USERS, params={"userId": "kept"}, headers=AUTH).status_code == 200


def test_a_listener_that_loses_its_cancellation_does_not_hang_the_shut_down(caplog) -> None:
    """redis-py can swallow a cancellation inside its read of the channel (redis/redis-py#2028): the listener
    then read on, "cancelling" for ever, and ``astop`` with the whole shut-down waited on it (a clean-clone CI
    failed ``test_redis_outage`` this way, 30 s after its last request). Here a listener swallows the first
    cancellation and goes back to waiting: the stop must cancel it again and return promptly."""
    caplog.set_level(logging.DEBUG, logger="cdpkit.mock")

    async def swallowing_listener(lost: list[int]) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            lost.append(1)  # what redis-py sometimes does: the error never reaches the listener's code
        await asyncio.Event().wait()

    async def scenario() -> tuple[float, bool, list[int]]:
        faults = RedisFaults.__new__(RedisFaults)  # only the listener is needed: no Redis
        lost: list[int] = []
        listener = asyncio.get_running_loop().create_task(swallowing_listener(lost))
        faults._listener = listener
        await asyncio.sleep(0)
        started = time.monotonic()
        await asyncio.wait_for(faults.astop(), timeout=3)  # the old astop waited here for ever
        return time.monotonic() - started, listener.done(), lost

    took, ended, lost = asyncio.run(scenario())
    assert lost == [1], "the listener never swallowed a cancellation: the test tests nothing"
    assert ended, "the stop returned with the listener still running"
    assert took < 1.0, f"the stop took {took:.2f} s"
    assert any("lost its cancellation" in r.getMessage() for r in caplog.records)
