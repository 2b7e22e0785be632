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
from typing import Any

import orjson

from cdpkit.mockserver import journal_entry
from cdpkit.mockserver.group_commit import GroupCommit
from cdpkit.mockserver.group_commit import settle as _settle  # noqa: F401  (redis_store's finish and reset_to)
from cdpkit.mockserver.journal_entry import materialize
from cdpkit.mockserver.redis_outage import Outage, unreachable
from cdpkit.mockserver.redis_scripts import SEP
from cdpkit.mockserver.store import _dumps


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
        # the group commit (cdpkit.mockserver.group_commit): entries of concurrent requests go to Redis in one
        # script call. ``_jlock`` is held while a batch is taken and written (redis_store's finish and reset_to
        # take the queue under it too, as :meth:`_take`); the queue has a lock of its own, so a request queuing
        # its entry on the event loop never waits for a write in progress (a Redis that hangs mid-write would
        # otherwise hold the loop for the socket timeout).
        self._journal_batches: GroupCommit[tuple[bytes, bytes]] = GroupCommit(
            self._write_batch, "cdpkit-redis")
        self._jlock: threading.Lock = self._journal_batches.lock

    @property
    def _flusher(self) -> asyncio.Task[None] | None:
        """The journal's running flush, which a shut-down awaits."""
        return self._journal_batches.flusher

    def _queue_journal(self, entry: Any, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None] | None:
        """Queue ``entry`` for the next batch; the future is answered once the batch is written (or dropped).
        Every journaled request waits, reads too: its entry is the write a journal read on any process must see."""
        return self._journal_batches.add(self._journal_item(entry), loop)

    def _journal_item(self, entry: Any) -> tuple[bytes, bytes]:
        full = materialize(entry) if type(entry) is tuple else dict(entry)
        full.pop("id", None)
        return f"{full['vendor']}{SEP}{full['verdict']}".encode(), _dumps(full)

    def _take(self) -> tuple[list, list]:
        """The queued entries and their waiters; the caller holds ``_jlock``."""
        return self._journal_batches.take()

    def _write_batch(self, queued: list[tuple[bytes, bytes]]) -> None:
        """In the writer thread, under ``_jlock``: one batch to Redis, or, while Redis is unreachable, dropped and
        counted, its requests answered all the same (their answers stand: redis_outage.py)."""
        if self.outage.cause is not None:  # not tried while Redis is known away: an unanswered connect
            self.outage.unjournaled += len(queued)  # (5 s) would only delay the 503s waiting on it
            return
        try:
            self._write_journal(queued)
        except BaseException as exc:
            if not unreachable(exc):
                raise
            # the journal is in Redis too: its entries are dropped, counted, and the answers stand
            self.outage.seen(exc)
            self.outage.unjournaled += len(queued)

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
        return journal_entry.page(((entry["id"], journal_entry.fields(entry), entry) for entry in entries),
                                  lambda _id, entry: entry, vendor, verdict, operation, limit, before)

    def counts(self) -> dict[tuple[str, str], int]:
        out = {}
        for field, n in self._redis.hgetall(self._k("c")).items():
            vendor, _, verdict = field.decode().partition(SEP)
            out[(vendor, verdict)] = int(n)
        return out

    def _close_journal(self) -> None:
        """Write what the journal still queues (its waiters are answered either way) and stop its writer. Tried
        even in an outage, unlike the writer's batches; the journal stays usable (a new writer starts on demand)."""
        self._journal_batches.close(self._write_journal)
