"""The Redis store's transactions inside one process and its reset, below the HTTP layer (issue 12).

Requests of one process now interleave while each awaits its commit, so the optimistic versions must keep
rules exact between them too; no vendor request may wait on Redis synchronously (the event loop would stop
for the round trip); and a reset is one step for every other process.
"""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import closing
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
import requests

from cdpkit.mockserver.faults import Fault
from cdpkit.mockserver.runtime import MockConfig
from cdpkit.mockserver.server import MockServer
from cdpkit.mockserver.store import open_store
from cdpkit.mockserver.vendor import Rejection, Reply
from tests.test_store import entry, redis_server  # noqa: F401  (the session's redis-server fixture)


async def answer(handler: Any, call: Any) -> Any:
    """What the pipeline does with a handler: await it when it returns an awaitable; a refusal is returned."""
    try:
        reply = handler(call)
        return reply if isinstance(reply, Reply) else await reply
    except Rejection as rejection:
        return rejection


def call_with(store: Any, body: Any) -> SimpleNamespace:
    return SimpleNamespace(state=store.scope("v").for_request(), body=body, query={}, raw_body=orjson.dumps(body))


def claim(call: Any) -> Reply:
    """The first use of a name fixes its type (as Zebline's type lock); another type is refused."""
    lock = call.state.get("locks", "n")
    if lock is None:
        call.state.put("locks", "n", call.body)
        return Reply(200, call.body)
    if lock != call.body:
        raise Rejection(400, f"locked to {lock}")
    return Reply(200, lock)


def bump(call: Any) -> Reply:
    n = (call.state.get("c", "n") or 0) + 1
    call.state.put("c", "n", n)
    return Reply(200, n)


def test_redis_requests_interleaving_in_one_process_stay_exact(redis_server):  # noqa: F811
    """A request of one process runs while earlier ones' commits are in flight, on a view holding their writes
    with the versions they will get: of two first uses of a name with different types exactly one wins, and
    30 increments of one value lose none. Two stores (two processes) doing the same at once conflict, run
    again on fresh state, and still keep every rule."""
    url = redis_server.url()
    in_flight: list[bool] = []

    def counted_bump(call: Any) -> Reply:
        in_flight.append(bool(call.state.store._inflight))
        return bump(call)

    async def run() -> None:
        try:
            for i in range(4):
                one.reset()
                same = await asyncio.gather(answer(one._exact(claim), call_with(one, "number")),
                                            answer(one._exact(claim), call_with(one, "string")))
                one.reset()
                across = await asyncio.gather(answer(one._exact(claim), call_with(one, "number")),
                                              answer(two._exact(claim), call_with(two, "string")))
                for results in (same, across):
                    assert sorted(type(r).__name__ for r in results) == ["Rejection", "Reply"], results
                    assert one.get("v/locks", "n") == next(r for r in results if isinstance(r, Reply)).body
            results = await asyncio.gather(*(answer(one._exact(counted_bump), call_with(one, None)) for _ in range(30)))
            assert sorted(r.body for r in results) == list(range(1, 31)) and one.get("v/c", "n") == 30
            assert any(in_flight), "no request ran while another's commit was in flight: this proved nothing"
            before = one.conflicts + two.conflicts
            results = await asyncio.gather(*(answer(store._exact(bump), call_with(store, None))
                                             for _ in range(20) for store in (one, two)))
            assert sorted(r.body for r in results) == list(range(31, 71)) and two.get("v/c", "n") == 70
            assert one.conflicts + two.conflicts > before, "the two stores never conflicted: this proved nothing"
        finally:
            await one.async_client().aclose()
            await two.async_client().aclose()

    with closing(open_store(url)) as one, closing(open_store(url)) as two:
        asyncio.run(run())


def test_redis_a_collection_listed_on_the_loop_is_checked_and_learnt(redis_server):  # noqa: F811
    """On the serving loop a collection not listed yet is taken as empty (no round trip); the check refuses
    that and sends the keys, and a request that listed it current and wrote keeps it known."""
    url = redis_server.url()

    async def run() -> None:
        try:
            listing = two.scope("v").for_request()
            assert listing.keys("a") == []
            assert await two._asettle(listing.reads, None) is False
            again = two.scope("v").for_request()
            assert again.keys("a") == ["k", "k2"] and await two._asettle(again.reads, None) is True
            again.put("a", "k3", 3)
            assert await two._asettle(again.reads, again.writes) is True
            third = two.scope("v").for_request()
            assert third.keys("a") == ["k", "k2", "k3"] and await two._asettle(third.reads, None) is True
            one.put("v/a", "k4", 4)
            one.commit()
            stale = two.scope("v").for_request()
            stale.keys("a")
            assert await two._asettle(stale.reads, None) is False, "a listing changed elsewhere passed the check"
        finally:
            await two.async_client().aclose()

    with closing(open_store(url)) as one, closing(open_store(url)) as two:
        one.put("v/a", "k", 1)
        one.put("v/a", "k2", 2)
        one.commit()
        asyncio.run(run())


def test_redis_a_store_serves_a_new_event_loop_after_the_first_ended(redis_server):  # noqa: F811
    """Commits and the fault listener belong to the loop they ran on; a store used again from another loop
    (as tests do) starts both afresh there, and a fault set elsewhere reaches it by push, acknowledged."""
    url = redis_server.url()

    async def run(first: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            results = await asyncio.gather(*(answer(exact_bump, call_with(store, None)) for _ in range(5)))
            assert sorted(r.body for r in results) == list(range(first, first + 5))
            assert faults.take("POST", "/x") is None
            deadline = loop.time() + 5
            while not faults._live:
                assert loop.time() < deadline, "the fault listener never went live"
                await asyncio.sleep(0.01)
            # set by another process, from a thread: this loop stays free to load it and acknowledge
            fault = await loop.run_in_executor(None, other_faults.add, Fault(path="/x", status=503))
            assert faults.take("POST", "/x").id == fault.id, "the change had not reached this process when add returned"
            await loop.run_in_executor(None, other_faults.clear)
            assert faults.take("POST", "/x") is None
        finally:
            faults.stop()
            await store.async_client().aclose()

    with closing(open_store(url)) as store, closing(open_store(url)) as elsewhere:
        faults, other_faults = store.faults(), elsewhere.faults()
        exact_bump = store._exact(bump)
        asyncio.run(run(1))
        asyncio.run(run(6))


def test_no_vendor_request_waits_on_redis_synchronously(redis_server):  # noqa: F811
    """Every Redis call a vendor request makes on the event loop goes through the asyncio client: the
    synchronous client (control API, seeds, the journal's writer thread) is never called from the loop."""
    config = MockConfig(port=0, vendors=["zebline", "tto"], state=redis_server.url())
    with MockServer(config) as server:
        session = requests.Session()
        users = server.url + "/v1/accounts/LICENSE_CODE/users"
        auth = {"authorization": "ACCESS_TOKEN"}
        assert session.post(users, json={"userId": "warm", "attributes": {"n": 1}}, headers=auth).status_code == 200
        deadline = time.monotonic() + 10
        while not server.mock.faults._live:  # the fault listener's first load: until then, a check per request
            assert time.monotonic() < deadline, "the fault listener never went live"
            time.sleep(0.02)
        sync = server.mock.store._redis
        on_loop: list[str] = []
        real_execute, real_pipeline = sync.execute_command, sync.pipeline

        def watched(real: Any) -> Any:
            def call(*args: Any, **kwargs: Any) -> Any:
                if threading.current_thread() is server._thread:
                    on_loop.append(str(args[0]) if args else real.__name__)
                return real(*args, **kwargs)
            return call

        sync.execute_command, sync.pipeline = watched(real_execute), watched(real_pipeline)
        try:
            for i in range(40):
                body = {"userId": f"u{i % 7}", "attributes": {"n": i}}
                assert session.post(users, json=body, headers=auth).status_code == 200
                assert session.get(users, params={"userId": f"u{i % 7}"}, headers=auth).status_code == 200
                track = {"type": "track", "api_key": "your_api_key_here", "user_id": "u1", "event": "E"}
                assert session.post(server.url + "/v1/track", json=track).status_code == 200
            assert session.post(users, json={"userId": "x", "attributes": {"n": "text"}}, headers=auth).status_code == 400
            assert on_loop == [], f"synchronous Redis calls on the event loop: {sorted(set(on_loop))}"
            assert session.get(server.url + "/__mock/summary").status_code == 200  # the control API may, and is seen
            assert on_loop, "the watch saw no call of the control API: it proves nothing"
        finally:
            sync.execute_command, sync.pipeline = real_execute, real_pipeline


def test_redis_reset_to_replaces_the_state_in_one_step(redis_server):  # noqa: F811
    """The start-up data is computed against an empty state without touching Redis; one script then swaps
    it in, so another process sees the old state or the new one, never an empty or half-loaded one."""
    url = redis_server.url()
    one, two = open_store(url), open_store(url)
    try:
        one.put("v/a", "old", 1)
        one.put("v/b", "gone", 1)
        one.finish(entry(), keep_writes=True)
        view = two.scope("v").for_request()
        view.get("a", "old")
        two._settle_request(view.reads, None)  # two learns "old" and its version (first taken as absent)
        view = two.scope("v").for_request()
        assert view.get("a", "old") == 1 and two._settle_request(view.reads, None) is True

        def load() -> None:
            assert one.get("v/a", "old") is None and one.namespaces() == [], "the load does not start empty"
            one.put("v/a", "new", {"n": 1})
            one.commit()
            assert one.keys("v/a") == ["new"]
            assert two.get("v/a", "new") is None and two.get("v/a", "old") == 1, "applied before the one step"

        one.reset_to(load)
        assert two.namespaces() == ["v/a"] and two.keys("v/a") == ["new"] and two.get("v/a", "new") == {"n": 1}
        assert two.journal() == [] and two.counts() == {}
        assert two._settle_request(view.reads, None) is False, "a cache from before the reset passed the check"

        def broken() -> None:
            one.put("v/a", "half", 1)
            one.commit()
            raise ValueError("bad seed")

        with pytest.raises(ValueError, match="bad seed"):
            one.reset_to(broken)
        assert two.keys("v/a") == ["new"], "a reset whose load failed changed the state"
    finally:
        one.close()
        two.close()




def test_redis_queuing_a_journal_entry_never_waits_for_a_write_in_progress(redis_server):  # noqa: F811
    """A journal write to Redis runs in the writer thread; a request queuing its own entry on the event loop
    meanwhile must not wait for it (with one lock for both, a Redis that hangs mid-write held the loop)."""
    url = redis_server.url()
    writing, release = threading.Event(), threading.Event()

    async def run(store: Any) -> None:
        loop = asyncio.get_running_loop()
        real = store._write_journal

        def slow(items: Any) -> None:
            writing.set()
            release.wait(10)
            real(items)

        store._write_journal = slow
        first = store._queue_journal(entry(operation="a"), loop)
        assert await loop.run_in_executor(None, writing.wait, 5), "the first batch never started"
        started = time.perf_counter()
        second = store._queue_journal(entry(operation="b"), loop)  # on the loop, while the first batch is being written
        queued_in = time.perf_counter() - started
        release.set()
        await asyncio.wait_for(asyncio.gather(first, second), 10)
        assert queued_in < 0.1, f"queuing waited {queued_in:.2f} s for the write in progress"

    with closing(open_store(url)) as store:
        asyncio.run(run(store))
        assert [e["operation"] for e in store.journal()][:2] == ["b", "a"]
