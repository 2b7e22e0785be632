"""Group commit: the writes of concurrent requests reach the durable store in one batch, off the event loop.

The Redis journal's (redis_journal.py). SQLite group-commits the same way, with the same promises, through a
writer *process* instead of this thread (sqlite_writer.py says why: the interpreter lock).

Why: a request must not be answered before its writes are durable (a journal entry in Redis that every
process reads), yet one commit per request would cost a round trip each, made one after another. So a
request queues what it wrote and waits; one writer thread of the store's takes *the whole queue* and commits
it at once, then answers every request of that batch. Requests arriving meanwhile form the next batch. This
gives three promises, which the stores' tests and ``tests/test_group_commit.py`` hold:

- each request is answered once the batch holding its writes is durable, with that batch's error if the
  commit failed (every request of the failed batch gets it; none of the next batch does);
- no request waits on a commit it did not make: a batch's waiters are answered as soon as *it* is committed,
  not when the queue next runs dry, and never with a later batch's outcome;
- a request the store does not make wait (``wait=False``) gets no future at all and is answered at once; its
  item rides along in the next batch. On Redis every journaled request waits, because its journal entry *is*
  the write another process must be able to read once it is answered.

Items are committed in the order they were queued, and batches in the order they were taken: ``lock`` is held
while a batch is taken and committed, by the writer thread and by a store's synchronous paths (a seed's commit,
a reset, the close), which take the queue first so that what was queued before them reaches the store before
what they write themselves.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

Item = TypeVar("Item")
Commit = Callable[[list], None]  # commits one batch of items, in order, or raises


def settle(waiters: list[asyncio.Future[None]], error: BaseException | None) -> None:
    """Answer the requests waiting on a batch, from whichever thread committed it: each on its own loop. A
    waiter of the loop this runs on is answered at once: ``call_soon_threadsafe`` wakes its loop with a system
    call each time, one per request of every batch (issue 9), for a loop that is already awake."""
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    for waiter in waiters:
        loop = waiter.get_loop()
        if loop is running:
            _answer(waiter, error)
        elif not loop.is_closed():  # a loop since closed has no one left to answer
            loop.call_soon_threadsafe(_answer, waiter, error)


def _answer(waiter: asyncio.Future[None], error: BaseException | None) -> None:
    if not waiter.done():  # a request cancelled meanwhile (its client went away) waits for nothing
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)


class GroupCommit(Generic[Item]):
    """A queue of items with the futures of the requests waiting on them, and the writer that commits it.

    ``commit`` is called in the writer thread with each batch, under :attr:`lock`. The queue has a lock of its
    own, so a request queues on the event loop while a batch is being committed and never waits for it (a
    Redis that hangs mid-write would otherwise hold the loop). ``on_failure`` hears a batch's error on the loop
    before its waiters do (to log it).
    """

    def __init__(self, commit: Commit, thread_name: str, *,
                 on_failure: Callable[[BaseException], None] | None = None) -> None:
        self.lock = threading.Lock()  # held while a batch is taken and committed: batches reach the store in order
        self._queue_lock = threading.Lock()  # guards the queue and _flushing
        self._commit = commit
        self._thread_name = thread_name
        self._on_failure = on_failure
        self._items: list[Item] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flushing = False  # a flush task is running (or about to): adds only queue
        self._writer: ThreadPoolExecutor | None = None
        self.flusher: asyncio.Task[None] | None = None  # the running flush, for a shut-down to await
        self.closed = False  # after close(then=...): nothing more is committed

    def add(self, item: Item, loop: asyncio.AbstractEventLoop, wait: bool = True) -> asyncio.Future[None] | None:
        """Queue ``item`` for the next batch, starting the writer if it is idle; with ``wait``, the future the
        request awaits (answered once the batch holding ``item`` is committed), else None: nothing to wait on."""
        waiter = loop.create_future() if wait else None
        with self._queue_lock:
            self._items.append(item)
            if waiter is not None:
                self._waiters.append(waiter)
            start = not self._flushing
            self._flushing = True
        if start:
            self.flusher = loop.create_task(self._flush())
        return waiter

    def take(self) -> tuple[list[Item], list[asyncio.Future[None]]]:
        """The whole queue and its waiters, leaving both empty. The caller holds :attr:`lock`, so the batch is
        committed before any batch taken after it."""
        with self._queue_lock:
            items, waiters = self._items, self._waiters
            self._items, self._waiters = [], []
        return items, waiters

    async def _flush(self) -> None:
        """Commit batches in the writer thread while any are queued; requests arriving meanwhile form the next."""
        loop = asyncio.get_running_loop()
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix=self._thread_name)
        while True:
            with self._queue_lock:
                if not self._items or self.closed:
                    self._flushing = False
                    return
            waiters, error = await loop.run_in_executor(self._writer, self._commit_queued)
            if error is not None and self._on_failure is not None:
                self._on_failure(error)
            settle(waiters, error)

    def _commit_queued(self) -> tuple[list[asyncio.Future[None]], BaseException | None]:
        """In the writer thread: take the queue and commit it; (its waiters, the error if it failed)."""
        with self.lock:
            items, waiters = self.take()
            try:
                if items and not self.closed:
                    self._commit(items)
            except BaseException as exc:  # the waiters learn of it; the thread carries on
                return waiters, exc
        return waiters, None

    def close(self, commit: Commit | None = None, then: Callable[[], None] | None = None) -> None:
        """Let the writer thread finish its batch, then commit what is still queued here with ``commit`` (the
        writer's unless given); its waiters are answered either way, with the error if it failed, and the error
        is not raised (the requests in flight hear of it). ``then`` runs under :attr:`lock` after that batch
        (closing what the batches went to), and from then on nothing more is committed."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        with self.lock:
            items, waiters = self.take()
            error = None
            try:
                if items:
                    (commit or self._commit)(items)
            except BaseException as exc:
                error = exc
            if then is not None:
                self.closed = True
                then()
        settle(waiters, error)
