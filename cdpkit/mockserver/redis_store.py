"""The Redis store (``--state redis://HOST:PORT/DB[?prefix=NAME]``): one state, journal, counts and fault
list shared by every process and machine that names the same Redis, every stateful rule exact across them.

**Exact across processes.** Each request's reads are recorded with the versions this process's cache holds and
checked, with its writes applied, by one Lua script awaited through ``redis.asyncio``; a request that read
something changed meanwhile runs again on fresh state (:mod:`cdpkit.mockserver.redis_exact`). That cache is
bounded in bytes (64 MiB per process unless ``?cache_bytes=N`` says otherwise; :mod:`cdpkit.mockserver.redis_cache`):
a value it dropped is read again through the same check, a round trip more, never a wrong answer.

**Seeds** are checked as requests are: what a seed's ``load_seed`` read is checked at its commit, in the same
script, and the seed is loaded again on a conflict (:mod:`cdpkit.mockserver.redis_seed`).

**Redis unreachable** mid-run: a request that needs the state is answered a deliberate 503 naming the store, the
outage logged once, and service resumes when Redis answers (:mod:`cdpkit.mockserver.redis_outage`).

**Reset** (:meth:`RedisStore.reset_to`) is one script: it forgets every value, the journal and the counts and
writes the start-up data, which the process computed beforehand against an empty state without touching Redis.
Another process sees the state before or after, never empty or half loaded; its cache learns of the change at
its next check, since every value written gets a version never given before.

**Layout** (``P`` is the prefix, ``cdpkit`` unless ``?prefix=`` says otherwise, so several mocks can share
one Redis): ``P:d:<ns>`` hash key -> ``<version>:<JSON>``; ``P:nsver`` hash ns -> version of its last
write; ``P:nss`` the namespaces holding keys. A version is never given twice, so a value deleted and written
again never looks unchanged: a request's writes get their process's own (``<process token>.<counter>``), the
start-up data a reset writes the next of ``P:seq`` (never reset itself); ``P:j`` the journal (newest
first, ids from ``P:jid``), ``P:jb`` its size in bytes, trimmed by entries and by bytes in the same script
that appends (:mod:`cdpkit.mockserver.redis_journal`); ``P:c`` counts per vendor and verdict; ``P:f*`` the
faults (:mod:`cdpkit.mockserver.redis_faults`). The scripts are in :mod:`cdpkit.mockserver.redis_scripts`.

**Connections.** Control API calls, seeds and the journal's writer thread use a synchronous client (the fault
list's per-request check, on the loop, one of its own that waits at most ``QUICK_TIMEOUT``); requests
use an asyncio client on the serving loop, whose pool holds at most :data:`POOL_SIZE` connections: one carries
the batches of commits (one batch in flight at a time, so Redis applies them in order), one listens for fault
changes, the rest serve their rare round trips (a request waits for a free one rather than opening more). Both
clients are closed with the store: the app's shut-down awaits :meth:`RedisStore.aclose` on the serving loop, so
the fault listener, the commit batches and the pool have ended before the loop stops.

**Durability.** A write is answered after Redis applied it. Whether it also survives a Redis restart is
Redis's persistence setting: with ``appendonly yes`` and ``appendfsync always`` Redis syncs the append-only
file before it answers, so nothing acknowledged is lost; with ``everysec`` (Redis's default) up to a second.
A worker killed with ``kill -9`` loses nothing acknowledged either way: its writes are already in Redis.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import orjson

from cdpkit.mockserver import redis_scripts
from cdpkit.mockserver.redis_exact import ExactTransactions, RedisScope
from cdpkit.mockserver.redis_faults import RedisFaults
from cdpkit.mockserver.redis_journal import RedisJournal, _settle
from cdpkit.mockserver.redis_outage import QUICK_TIMEOUT, Outage, probe
from cdpkit.mockserver.redis_scripts import cache_bytes, parse_url, split_value
from cdpkit.mockserver.redis_seed import SeedTransactions
from cdpkit.mockserver.store import (
    _DELETED,
    DEFAULT_JOURNAL_BYTES,
    Store,
    Writes,
    _overlay,
)
from cdpkit.mockserver.vendor import Vendor

__all__ = ["POOL_SIZE", "RedisFaults", "RedisScope", "RedisStore", "parse_url"]

POOL_SIZE = 8  # asyncio connections per process: the commit batches, the fault channel, the fault list's loads
CLOSE_WAIT = 5.0  # seconds a shut-down waits for commits and journal writes still running before cancelling them


class RedisStore(ExactTransactions, SeedTransactions, RedisJournal, Store):
    """State, journal, counts and faults in Redis; see the module's description."""

    shared = True  # other processes see the same state: --workers may run on it

    def __init__(self, url: str, journal_limit: int = 10_000, journal_bytes: int = DEFAULT_JOURNAL_BYTES) -> None:
        import redis  # only this store needs the client

        super().__init__(journal_limit, journal_bytes)
        self.url = url
        self._address, self.prefix = parse_url(url)
        self._redis = redis.Redis.from_url(self._address, socket_timeout=30, socket_connect_timeout=5)
        self._redis.ping()  # a wrong address is a start-up error, not the first request's
        # the one synchronous round trip a vendor request may make on the serving loop (the fault list's check
        # while its listener is not live): a Redis that does not answer holds the loop QUICK_TIMEOUT at most
        self._quick = redis.Redis.from_url(self._address, socket_timeout=QUICK_TIMEOUT,
                                           socket_connect_timeout=QUICK_TIMEOUT)
        self.outage = Outage(self._address)  # Redis unreachable later: a deliberate 503 (redis_outage.py)
        self._commit = self._redis.register_script(redis_scripts.COMMIT)
        self._journal_script = self._redis.register_script(redis_scripts.JOURNAL)
        self._reset_script = self._redis.register_script(redis_scripts.RESET_TO)
        self._take_fault = self._redis.register_script(redis_scripts.TAKE_FAULT)
        # the asyncio client, made on the loop that serves (its connections belong to that loop)
        self._aredis: Any = None
        self._aloop: asyncio.AbstractEventLoop | None = None
        self._setup_exact(cache_bytes(url))
        self._setup_seed()
        # reset_to: the start-up data being computed against an empty state (None: not resetting)
        self._staged: dict[tuple[str, str], bytes] | None = None
        self._fault_lists: list[RedisFaults] = []
        self._setup_journal()
        self._closing: asyncio.Task[None] | None = None  # a close started by close() on the serving loop

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def async_client(self) -> Any:
        """The ``redis.asyncio`` client of the running loop, made on first use there (a pool's connections
        cannot move between loops; a store used from a new loop, as tests do, gets a new client)."""
        loop = asyncio.get_running_loop()
        if self._aloop is not loop:
            import redis.asyncio

            if self._aloop is not None:
                self._new_loop()

            pool = redis.asyncio.BlockingConnectionPool.from_url(
                self._address, max_connections=POOL_SIZE, timeout=30, socket_timeout=30, socket_connect_timeout=5)
            self._aredis = redis.asyncio.Redis.from_pool(pool)
            self._aloop = loop
        return self._aredis

    async def probe(self) -> None:
        """Whether Redis answers, asked without holding the event loop (:func:`redis_outage.probe`): the control
        API's first step, so its synchronous calls never wait out a timeout on the loop. Each of the pool's
        connections may have been closed by a Redis that restarted: one attempt each, and one more. When it ends
        an outage, the idle connections of every client are closed, to be opened afresh at their next use: one
        opened before the outage may have been closed under it, and would fail a request that had nothing to do
        with the outage."""
        client = self.async_client()
        away = self.outage.cause is not None
        await probe(client, POOL_SIZE + 1)
        if away:
            await client.connection_pool.disconnect(inuse_connections=False)
            self._redis.connection_pool.disconnect(inuse_connections=False)
            self._quick.connection_pool.disconnect(inuse_connections=False)

    def take_fault(self, fault_id: int) -> bool:
        """Take one use of a fault with a count, atomically across processes (False: none was left)."""
        return bool(self._take_fault(args=[self.prefix, fault_id]))

    # -- reads outside a request (seeds, the control API): straight from Redis ----------------------------
    def get(self, ns: str, key: str) -> Any | None:
        raw = self._pending.get((ns, key))
        if raw is _DELETED:
            return None
        if raw is None:
            if self._staged is not None:
                raw = self._staged.get((ns, key))
            else:
                version, raw = split_value(self._redis.hget(self._k("d", ns), key))
                self._seed_read(("k", ns, key), version)
        return None if raw is None else orjson.loads(raw)

    def exists(self, ns: str, key: str) -> bool:
        return self.get(ns, key) is not None  # a read a seed's commit checks, as every read

    def _listing(self, ns: str, command: str) -> Any:
        """``HKEYS`` or ``HGETALL`` of a namespace; while a seed is loaded, with the namespace's version read in
        the same transaction, for the seed's commit to check (:mod:`cdpkit.mockserver.redis_seed`)."""
        if self._seed_reads is None:
            return getattr(self._redis, command)(self._k("d", ns))
        pipe = self._redis.pipeline(transaction=True)
        getattr(pipe, command)(self._k("d", ns))
        pipe.hget(self._k("nsver"), ns)
        found, version = pipe.execute()
        self._seed_read(("n", ns, ""), version or b"0")
        return found

    def _stored(self, ns: str) -> dict[str, bytes]:
        if self._staged is not None:
            return {key: raw for (sns, key), raw in self._staged.items() if sns == ns}
        return {k.decode(): split_value(v)[1] for k, v in self._listing(ns, "hgetall").items()}

    def keys(self, ns: str) -> list[str]:
        if self._staged is not None:
            found = {key for sns, key in self._staged if sns == ns}
        else:
            found = {k.decode() for k in self._listing(ns, "hkeys")}
        return sorted(_overlay(found, ns, self._pending))

    def items(self, ns: str) -> Iterator[tuple[str, Any]]:
        stored: dict[str, bytes | None] = dict(self._stored(ns))
        for (pns, key), raw in self._pending.items():
            if pns == ns:
                stored[key] = None if raw is _DELETED else raw
        for key in sorted(stored):
            if stored[key] is not None:
                yield key, orjson.loads(stored[key])

    def namespaces(self, prefix: str = "") -> list[str]:
        if self._staged is not None:
            names = {ns for ns, _ in self._staged}
        else:
            names = {n.decode() for n in self._redis.smembers(self._k("nss"))}
        names |= {ns for ns, _ in self._pending}
        return sorted(n for n in names if n.startswith(prefix))

    def scope(self, vendor: str) -> RedisScope:
        return RedisScope(self, vendor)

    def serve(self, vendor: Vendor) -> Vendor:
        """Each handler made exact (:mod:`cdpkit.mockserver.redis_exact`), ``load_seed`` recorded so a seed is
        checked at its commit as a request is (:mod:`cdpkit.mockserver.redis_seed`)."""
        return self.serve_seed(super().serve(vendor))

    # -- commits -----------------------------------------------------------------------------------------
    def finish(self, entry: dict[str, Any] | None, keep_writes: bool) -> None:
        """Seeds and direct callers: apply the store's pending writes, journal ``entry``. A seed's are checked
        against what it read and loaded again on a conflict (:meth:`_commit_seed`); a direct caller's have no
        reads to check. While :meth:`reset_to` computes the start-up data, the writes are staged for its one
        step instead."""
        pending, self._pending = self._pending, {}
        try:
            if keep_writes and pending:
                if self._staged is not None:
                    for (ns, key), raw in pending.items():
                        if raw is _DELETED:
                            self._staged.pop((ns, key), None)
                        else:
                            self._staged[(ns, key)] = raw
                elif self._seed_loads:
                    self._commit_seed(pending)
                else:
                    self._settle_request({}, pending)
        finally:
            self._end_seed()
        if entry is not None:
            with self._jlock:
                queued, waiters = self._take()
                queued.append(self._journal_item(entry))
                try:
                    self._write_journal(queued)
                finally:
                    _settle(waiters, None)

    def finish_request(self, entry: Any, keep_writes: bool, writes: Writes) -> Awaitable[None] | None:
        """The handler has applied its writes already (:meth:`serve`); what is left (a caller that did not
        go through it) is applied now. The journal entry joins the next batch; the request waits for it, so
        a journal read on any process after the answer shows it."""
        if keep_writes and writes:
            self._settle_request({}, writes)
        if entry is None:
            return None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.finish(entry, False)
            return None
        return self._queue_journal(entry, loop)

    def reset(self) -> None:
        self.reset_to(None)

    def reset_to(self, load: Callable[[], None] | None) -> None:
        """Forget everything and load the start-up data in one step (see the module's description): ``load``
        runs first against an empty state, its writes staged here; if it fails, nothing changed. Then one
        script replaces the state; requests of this process in flight meanwhile find it at their check."""
        self._pending.clear()
        self._staged = {}
        try:
            if load is not None:
                load()
            staged = self._staged
        finally:
            self._staged = None
            self._pending.clear()
        args: list[Any] = [self.prefix]
        for (ns, key), raw in staged.items():
            args += (ns, key, raw)
        with self._jlock:  # the journal entries queued so far go first: the reset forgets them too
            queued, waiters = self._take()
            try:
                self._write_journal(queued)
            finally:
                _settle(waiters, None)
            self._reset_script(args=args)
        self._forget_cache()

    def faults(self, seed: int | None = None) -> RedisFaults:
        faults = RedisFaults(self, seed)
        self._fault_lists.append(faults)
        return faults

    def close(self) -> None:
        """Close from outside the serving loop (a script, a seeding process, the tests' fixtures). On the loop,
        the app's shut-down awaits :meth:`aclose` instead: from there this could only schedule the asyncio
        client's close and cancel the fault listener, and a loop stopped right after left both pending."""
        for faults in self._fault_lists:
            faults.stop()
        self._close_journal()
        self._close_async()
        self._redis.close()
        self._quick.close()

    async def aclose(self) -> None:
        """The app's shut-down, on the serving loop: the fault listeners end (their pub/sub connections closed),
        the commit batches and the journal's writes still running finish (each bounded by
        :data:`CLOSE_WAIT`, then cancelled), and both clients close their connections, all before the loop
        stops, so no task is left pending and no connection open in Redis."""
        for faults in self._fault_lists:
            await faults.astop()
        running = asyncio.get_running_loop()
        tasks = [t for t in (self._committer, self._flusher) if t is not None and not t.done() and t.get_loop() is running]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=CLOSE_WAIT)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        self._close_journal()
        client, loop = self._aredis, self._aloop
        if client is not None and loop is running:
            self._aredis = self._aloop = None
            await client.aclose()  # its pool's connections too (made from the pool it owns)
        self._close_async()  # a client of another loop, if any
        self._redis.close()
        self._quick.close()

    def _close_async(self) -> None:
        """Close the asyncio client's pool from outside :meth:`aclose`: run its loop to do it when that is
        stopped; on the loop itself, start it; a loop already closed took its connections with it."""
        client, loop = self._aredis, self._aloop
        self._aredis = self._aloop = None
        if client is None or loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:  # a synchronous close on the serving loop: the most it can do is start the close
            self._closing = loop.create_task(client.aclose())
        elif running is None and not loop.is_running():
            loop.run_until_complete(client.aclose())
