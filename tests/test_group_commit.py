"""The group commit both durable stores use (:mod:`cdpkit.mockserver.group_commit`), on real threads and futures.

A batch's outcome reaches exactly the requests of that batch (a failure all of them, the next batch none of it);
items reach the store in the order they were queued; a request the store does not make wait gets no future; a
batch's waiters are answered when it is committed, not after the batches queued behind it; the close commits what
is still queued. Each runs with the queue's own lock (SQLite) and with the queue under the commit lock (Redis's
journal), where an add waits for a commit in progress.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from cdpkit.mockserver.group_commit import GroupCommit

WAIT = 5.0  # seconds any step may take before the test fails instead of hanging


class Boom(Exception):
    pass


class Recorder:
    """A commit that records each batch, the thread it ran in, and can hold a batch until a gate opens."""

    def __init__(self, fail_when: Callable[[list[str]], bool] = lambda batch: False) -> None:
        self.batches: list[list[str]] = []
        self.threads: list[str] = []
        self.fail_when = fail_when
        self.gates: dict[str, threading.Event] = {}  # an item -> the gate its batch waits for
        self.entered: dict[str, threading.Event] = {}  # an item -> set when its batch is in the commit

    def hold(self, item: str) -> threading.Event:
        self.gates[item] = threading.Event()
        self.entered[item] = threading.Event()
        return self.gates[item]

    def __call__(self, batch: list[str]) -> None:
        self.threads.append(threading.current_thread().name)
        for item in batch:
            if item in self.gates:
                self.entered[item].set()
                assert self.gates[item].wait(WAIT), "the test never opened the gate"
        if self.fail_when(batch):
            raise Boom(batch)
        self.batches.append(list(batch))


def later(seconds: float, gate: threading.Event) -> None:
    """Open ``gate`` from another thread, a moment from now."""
    threading.Timer(seconds, gate.set).start()


def test_a_failed_batch_reaches_every_waiter_of_it_and_none_of_the_next() -> None:
    commit = Recorder(fail_when=lambda batch: "a1" in batch)
    gate = commit.hold("a1")
    failures: list[tuple[BaseException, str]] = []
    group = GroupCommit(commit, "test-group",
                        on_failure=lambda exc: failures.append((exc, threading.current_thread().name)))

    async def main() -> list[object]:
        loop = asyncio.get_running_loop()
        first = [group.add("a1", loop), group.add("a2", loop), group.add("a3", loop, wait=False)]
        assert first[2] is None
        assert await asyncio.to_thread(commit.entered["a1"].wait, WAIT), "the first batch never reached the writer"
        second = [group.add("b1", loop), group.add("b2", loop)]
        assert not gate.is_set(), "queuing waited for the commit in progress"
        gate.set()
        return await asyncio.wait_for(asyncio.gather(first[0], first[1], *second, return_exceptions=True), WAIT)

    a1, a2, b1, b2 = asyncio.run(main())
    assert isinstance(a1, Boom) and a2 is a1, "every waiter of the failed batch hears its error"
    assert b1 is None and b2 is None, "the next batch's waiters heard the failure of one they were not in"
    assert commit.batches == [["b1", "b2"]]
    assert [exc for exc, _ in failures] == [a1] and failures[0][1] == "MainThread"
    assert commit.threads and all(name.startswith("test-group") for name in commit.threads)


def test_items_are_committed_in_the_order_they_were_queued_each_waiter_after_its_batch() -> None:
    committed: list[str] = []
    batches: list[int] = []

    def commit(batch: list[str]) -> None:
        threading.Event().wait(0.001)  # a commit takes a moment: requests queue behind it
        committed.extend(batch)
        batches.append(len(batch))

    group = GroupCommit(commit, "test-order")
    queued: list[str] = []

    async def request(i: int, j: int) -> None:
        item = f"{i}.{j}"
        queued.append(item)
        waiter = group.add(item, asyncio.get_running_loop(), wait=j % 3 != 0)
        if waiter is not None:
            await waiter
            assert item in committed, f"{item} was answered before its batch was committed"

    async def client(i: int) -> None:
        for j in range(10):
            await request(i, j)
            await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.wait_for(asyncio.gather(*(client(i) for i in range(20))), WAIT)
        while group.flusher is not None and not group.flusher.done():  # the last no-wait items
            await asyncio.sleep(0.01)

    asyncio.run(main())
    assert committed == queued, "items reached the store out of the order they were queued in"
    assert len(queued) == 200 and 1 < len(batches) < 200, f"no group commit: batches of {batches}"


def test_a_batch_is_answered_when_committed_not_after_the_batch_queued_behind_it() -> None:
    commit = Recorder()
    first_gate, second_gate = commit.hold("a"), commit.hold("b")
    group = GroupCommit(commit, "test-prompt")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        a = group.add("a", loop)
        assert await asyncio.to_thread(commit.entered["a"].wait, WAIT)
        later(0.05, first_gate)  # the first batch ends while "b" is queued
        b = group.add("b", loop)
        await asyncio.wait_for(a, WAIT)
        assert await asyncio.to_thread(commit.entered["b"].wait, WAIT), "the second batch never started"
        assert not b.done() and not second_gate.is_set(), "b was answered before its batch was committed"
        second_gate.set()
        await asyncio.wait_for(b, WAIT)

    asyncio.run(main())
    assert commit.batches == [["a"], ["b"]]


def test_a_request_with_nothing_to_wait_for_gets_no_future_and_its_item_rides_in_the_next_batch() -> None:
    commit = Recorder()
    group = GroupCommit(commit, "test-nowait")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert group.add("read", loop, wait=False) is None
        assert group.add("refusal", loop, wait=False) is None
        waiter = group.add("write", loop)
        assert waiter is not None and not waiter.done()
        await asyncio.wait_for(waiter, WAIT)

    asyncio.run(main())
    assert commit.batches == [["read", "refusal", "write"]]


def test_close_commits_what_is_queued_and_answers_its_waiters_with_the_outcome() -> None:
    commit = Recorder()
    group = GroupCommit(commit, "test-close")
    closed: list[list[list[str]]] = []

    async def main() -> list[object]:
        loop = asyncio.get_running_loop()
        waiters = [group.add("x", loop), group.add("y", loop)]
        group.close(then=lambda: closed.append(list(commit.batches)))  # before the writer ever ran
        ok = await asyncio.wait_for(asyncio.gather(*waiters, return_exceptions=True), WAIT)
        assert group.closed and closed == [[["x", "y"]]], "`then` ran before the queued batch was committed"
        return ok

    assert asyncio.run(main()) == [None, None]

    failing = Recorder(fail_when=lambda batch: True)
    group = GroupCommit(Recorder(), "test-close")

    async def fails() -> list[object]:
        loop = asyncio.get_running_loop()
        waiters = [group.add("x", loop), group.add("y", loop)]
        group.close(failing)  # the error goes to the requests in flight, not to the caller
        return await asyncio.wait_for(asyncio.gather(*waiters, return_exceptions=True), WAIT)

    x, y = asyncio.run(fails())
    assert isinstance(x, Boom) and y is x and not group.closed


def test_settle_answers_its_own_loops_waiters_at_once_and_another_loops_through_that_loop() -> None:
    """On the loop that committed, a waiter is answered in the same step (no wake-up system call per request);
    a waiter of another loop, running in another thread, is answered by that loop, never from this thread."""
    from cdpkit.mockserver.group_commit import settle

    other = asyncio.new_event_loop()
    thread = threading.Thread(target=other.run_forever, daemon=True)
    thread.start()
    try:
        answered_in: list[str] = []

        async def make_waiter() -> asyncio.Future[None]:
            waiter = asyncio.get_running_loop().create_future()
            waiter.add_done_callback(lambda _: answered_in.append(threading.current_thread().name))
            return waiter

        foreign = asyncio.run_coroutine_threadsafe(make_waiter(), other).result(5)

        async def main() -> None:
            own = asyncio.get_running_loop().create_future()
            failed = asyncio.get_running_loop().create_future()
            settle([own, foreign], None)
            settle([failed], RuntimeError("disk full"))
            assert own.done() and own.result() is None, "a waiter of the running loop waited for a later step"
            assert failed.done() and isinstance(failed.exception(), RuntimeError)
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(asyncio.sleep(0), other))

        asyncio.run(main())
        assert foreign.done() and foreign.result() is None
        assert answered_in == [thread.name]
    finally:
        other.call_soon_threadsafe(other.stop)
        thread.join(5)
        other.close()
