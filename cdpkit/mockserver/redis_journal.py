"""The journal and counts of the Redis store: written in group commits off the event loop, read for the control API.

Every answered request adds an entry; entries of concurrent requests go to Redis in one script call (the JOURNAL
script appends, trims by entries and by bytes, and counts per vendor and verdict), written by one thread of the
store's own while the loop serves on, and the request waits for its entry's batch, so a journal read on any
process after the answer shows it. While Redis is known unreachable nothing is tried: the entries are counted
in :attr:`~cdpkit.mockserver.redis_outage.Outage.unjournaled` and dropped, and the answers stand
(:mod:`cdpkit.mockserver.redis_outage`).
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson

from cdpkit.mockserver import journal_entry
from cdpkit.mockserver.journal_entry import materialize
from cdpkit.mockserver.redis_outage import Outage, unreachable
from cdpkit.mockserver.redis_scripts import SEP
from cdpkit.mockserver.store import _dumps


def _settle(waiters: list[asyncio.Future[None]], error: BaseException | None) -> None:
    """Answer the requests waiting on a journal batch, from whichever thread wrote it (the store's own: the
    SQLite store's moves with it, out of the module every store imports)."""
    for waiter in waiters:
        waiter.get_loop().call_soon_threadsafe(_set, waiter, error)


def _set(waiter: asyncio.Future[None], error: BaseException | None) -> None:
    if not waiter.done():  # a request cancelled meanwhile (its client went away) waits for nothing
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)


class RedisJournal:
    """The part of :class:`~cdpkit.mockserver.redis_store.RedisStore` that keeps the journal and counts. The store
    provides ``prefix``, ``_redis``, ``_k``, ``_journal_script`` (the JOURNAL script), ``journal_limit``,
    ``journal_bytes`` and ``outage``, and calls :meth:`_setup_journal`."""

    prefix: str
    _redis: Any
    _journal_script: Any
    journal_limit: int
    journal_bytes: int
    outage: Outage

    def _k(self, *parts: str) -> str:
        raise NotImplementedError

    def _setup_journal(self) -> None:
        # the group commit: entries of concurrent requests go to Redis in one script call
        self._jlock = threading.Lock()
        self._jqueue: list[tuple[bytes, bytes]] = []
        self._jwaiters: list[asyncio.Future[None]] = []
        self._jflushing = False
        self._writer: ThreadPoolExecutor | None = None
        self._flusher: asyncio.Task[None] | None = None

    def _queue_journal(self, entry: Any, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        """Queue ``entry`` for the next batch; the future is answered once the batch is written (or dropped)."""
        waiter = loop.create_future()
        with self._jlock:
            self._jqueue.append(self._journal_item(entry))
            self._jwaiters.append(waiter)
            start = not self._jflushing
            self._jflushing = True
        if start:
            self._flusher = loop.create_task(self._flush())
        return waiter

    def _journal_item(self, entry: Any) -> tuple[bytes, bytes]:
        full = materialize(entry) if type(entry) is tuple else dict(entry)
        full.pop("id", None)
        return f"{full['vendor']}{SEP}{full['verdict']}".encode(), _dumps(full)

    def _take(self) -> tuple[list, list]:
        queued, waiters = self._jqueue, self._jwaiters
        self._jqueue, self._jwaiters = [], []
        return queued, waiters

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="cdpkit-redis")
        while True:
            with self._jlock:
                if not self._jqueue:
                    self._jflushing = False
                    return
            waiters, error = await loop.run_in_executor(self._writer, self._flush_queued)
            _settle(waiters, error)

    def _flush_queued(self) -> tuple[list, BaseException | None]:
        with self._jlock:
            queued, waiters = self._take()
            if self.outage.cause is not None:  # not tried while Redis is known away: an unanswered connect
                self.outage.unjournaled += len(queued)  # (5 s) would only delay the 503s waiting on it
                return waiters, None
            try:
                self._write_journal(queued)
            except BaseException as exc:
                if not unreachable(exc):
                    return waiters, exc
                # the journal is in Redis too: its entries are dropped, counted, and the answers stand
                self.outage.seen(exc)
                self.outage.unjournaled += len(queued)
                return waiters, None
        return waiters, None

    def _write_journal(self, items: list[tuple[bytes, bytes]]) -> None:
        if items:
            args: list[Any] = [self.prefix, self.journal_limit, self.journal_bytes]
            for field, raw in items:
                args += (field, raw)
            self._journal_script(args=args)

    # -- journal and counts ------------------------------------------------------------------------------
    def journal_size(self) -> tuple[int, int]:
        pipe = self._redis.pipeline(transaction=True)
        pipe.llen(self._k("j"))
        pipe.get(self._k("jb"))
        n, size = pipe.execute()
        return n, int(size or 0)

    def journal(self, vendor: str | None = None, verdict: str | None = None, operation: str | None = None,
                limit: int | None = None, before: int | None = None) -> list[dict[str, Any]]:
        entries = (orjson.loads(raw) for raw in self._redis.lrange(self._k("j"), 0, -1))
        return journal_entry.page(((entry["id"], entry) for entry in entries), lambda _id, entry: entry,
                                  vendor, verdict, operation, limit, before)

    def counts(self) -> dict[tuple[str, str], int]:
        out = {}
        for field, n in self._redis.hgetall(self._k("c")).items():
            vendor, _, verdict = field.decode().partition(SEP)
            out[(vendor, verdict)] = int(n)
        return out

    def _close_journal(self) -> None:
        """Write what the journal still queues (its waiters are answered either way) and stop its writer."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        with self._jlock:
            queued, waiters = self._take()
            error = None
            try:
                self._write_journal(queued)
            except BaseException as exc:
                error = exc
        _settle(waiters, error)
