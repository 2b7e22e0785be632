"""Optimistic transactions of the Redis store: every stateful rule exact across processes, nothing blocking the loop.

Handlers are synchronous and read state while they run. A request's reads come from this process's view: its
cache of values, each kept with the version Redis gave it (bounded in bytes: :mod:`cdpkit.mockserver.redis_cache`),
under the writes of its own requests still being committed (a key the process has not seen, or has dropped, is
taken as absent, a collection it has not listed as empty, which the check below corrects in the same round
trip); the request records what it read (key and version, or a collection's version for ``keys``/``items``). When the handler has answered, the wrapped handler
(:meth:`ExactTransactions.serve`) returns a coroutine the pipeline awaits: one Lua script checks every recorded
version and, only if none changed, applies the request's writes under a version of this process's own
(``<process token>.<counter>``, never given twice). If anything the request read has changed meanwhile,
nothing is applied: the script sends the current values back, the cache takes them, and the handler runs
again on fresh state. A second conflict means another request committed meanwhile, so the system always makes
progress; a request that keeps losing backs off a little (without blocking the loop) and tries again, never
answers 5xx for it. A refusal (>= 400) applies nothing but is still checked, so a request is never refused on a
value another request has already changed.

**Group commit, in order.** One task per process sends the commits queued meanwhile as one pipeline
(``redis.asyncio``; Redis runs them one after another, in queue order, and with ``appendfsync always`` syncs
once for the lot); while it waits, the loop serves other requests. Because the order is fixed and the version a
commit will give is known before it is sent, a later request of this process reads an earlier one's write
still in flight, with that version: a hot key (Zebline's trackID ring, written by every upsert) costs no
conflict between requests of one process. If the earlier commit fails, the later one's check fails too (the
version it read never appears) and it runs again: nothing is answered before its own check passed in Redis.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import random
import uuid
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import orjson

from cdpkit.mockserver import redis_scripts
from cdpkit.mockserver.redis_cache import DEFAULT_CACHE_BYTES, ViewCache
from cdpkit.mockserver.redis_outage import Outage, unreachable
from cdpkit.mockserver.redis_scripts import split_value
from cdpkit.mockserver.store import _DELETED, Scope, Writes, _overlay
from cdpkit.mockserver.vendor import Reply, Vendor

if TYPE_CHECKING:
    from cdpkit.mockserver.redis_store import RedisStore

Reads = dict  # ("k", ns, key) or ("n", ns, "") -> the version read: one request's read set
_COMMIT_SHA = hashlib.sha1(redis_scripts.COMMIT.encode()).hexdigest()


class _Unreachable(Exception):
    """A request's check could not reach Redis (``cause``): answered 503 (:mod:`cdpkit.mockserver.redis_outage`)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclasses.dataclass(slots=True)
class _Commit:
    """One request's check (and writes), queued for the next batch."""

    version: bytes
    args: list[Any]
    order: list[tuple[tuple[str, str, str], bytes]]
    items: list[tuple[tuple[str, str], Any]]
    done: asyncio.Future[bool]
    pins: list[Any] | None = None  # its request's pinned view entries (a stale answer adds what it read)


class ExactTransactions:
    """The part of :class:`~cdpkit.mockserver.redis_store.RedisStore` that makes requests exact: the view,
    the read set, the ordered group commit and the handler wrapper. The store provides ``prefix``,
    ``_redis``, ``_k``, ``_commit`` (the COMMIT script on the synchronous client) and ``async_client()``, and
    calls :meth:`_setup_exact` when it is made."""

    prefix: str
    _redis: Any
    _commit: Any
    outage: Outage  # whether Redis is unreachable now, and the 503 answered meanwhile (redis_outage.py)

    def _k(self, *parts: str) -> str:
        raise NotImplementedError

    def async_client(self) -> Any:
        raise NotImplementedError

    def _setup_exact(self, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        # this process's view, bounded in bytes: ("k", ns, key) -> (version, JSON or None), ("n", ns, "") ->
        # (version, keys); the keys are a read set's, so a request's reads name the entries it depends on
        self._view = ViewCache(cache_bytes)
        # writes of this process's commits not answered yet: (ns, key) -> (commit version, version a reader
        # must expect once it is applied, JSON or None)
        self._inflight: dict[tuple[str, str], tuple[bytes, bytes, bytes | None]] = {}
        self._token = uuid.uuid4().hex[:16]
        self._counter = itertools.count(1)
        self._queue: list[_Commit] = []
        self._committer: asyncio.Task[None] | None = None
        self.conflicts = 0  # handler runs thrown away because something they read had changed

    def _new_loop(self) -> None:
        """Requests now run on another event loop (the old one has ended): what was queued or in flight on
        the old one will never be answered, so drop it with everything learnt alongside."""
        self._queue = []
        self._committer = None
        self._inflight.clear()
        self._forget_cache()
        self._view.unpin_all()  # requests of the old loop will never finish to unpin theirs

    def _forget_cache(self) -> None:
        """Drop what this process knows: every value is learnt again at its next check (after a reset, or a
        batch whose outcome is unknown because the connection failed)."""
        self._view.clear()

    # -- reads inside a request: this process's view, recorded with their versions ------------------------
    def _read(self, ns: str, key: str, reads: Reads) -> bytes | None:
        """A key this process has not seen yet is taken to be absent, without asking Redis: the commit's
        check says otherwise if it is not, and sends its value, so a new key (an upsert of a new id) costs
        no round trip and a key written elsewhere costs one run of the handler more, not more round trips."""
        pending = self._inflight.get((ns, key))
        if pending is not None:
            reads[("k", ns, key)] = pending[1]
            return pending[2]
        vkey = ("k", ns, key)
        cached = self._view.get(vkey)
        if cached is None:
            reads[vkey] = b"0"
            return None
        reads[vkey] = cached[0]
        return cached[1]

    def _read_keys(self, ns: str, reads: Reads) -> frozenset[str]:
        """In a request on the serving loop, a collection this process has not listed is taken to be empty
        (version 0: never written since the last reset); the check sends its keys back if it is not. With no
        loop running (a direct caller) a round trip blocks nobody, so the listing is asked for at once."""
        vkey = ("n", ns, "")
        cached = self._view.get(vkey)
        if cached is None:
            try:
                asyncio.get_running_loop()
                cached = (b"0", frozenset())
            except RuntimeError:
                pipe = self._redis.pipeline(transaction=True)  # the keys and their version, atomically
                pipe.hkeys(self._k("d", ns))
                pipe.hget(self._k("nsver"), ns)
                keys, version = pipe.execute()
                cached = (version or b"0", frozenset(k.decode() for k in keys))
                self._view.put(vkey, *cached)
        reads[vkey] = cached[0]
        return cached[1]

    # -- the check-and-commit ----------------------------------------------------------------------------
    def _prepare(self, reads: Reads, writes: Writes | None, done: Any = None, pins: list[Any] | None = None) -> _Commit:
        version = f"{self._token}.{next(self._counter)}".encode()
        order = list(reads.items())
        items = list(writes.items()) if writes else []
        args: list[Any] = [self.prefix, version, len(order)]
        for (kind, ns, key), read in order:
            args += (kind, ns, key, read)
        args.append(len(items))
        for (ns, key), raw in items:
            args += (ns, key, b"" if raw is _DELETED else raw)
        return _Commit(version, args, order, items, done, pins)

    def _landed(self, commit: _Commit) -> None:
        """The commit is answered (or failed): its writes are no longer in flight, unless a later one's."""
        for (ns, key), _ in commit.items:
            pending = self._inflight.get((ns, key))
            if pending is not None and pending[0] == commit.version:
                del self._inflight[(ns, key)]

    def _absorb(self, result: Any, commit: _Commit) -> bool:
        """Bring the view up to date with the script's answer; whether the reads were current (and the
        writes applied). A stale answer carries the current values, so the next run needs no other trip."""
        self._landed(commit)
        view = self._view
        if isinstance(result, list):
            if commit.pins is not None:  # the next run reads these: keep them, however small the bound
                read = [vkey for vkey, _ in commit.order]
                view.pin(read)
                commit.pins.extend(read)
            for index, current in zip(result[::2], result[1::2]):
                vkey = commit.order[index - 1][0]
                if vkey[0] == "k":
                    view.put(vkey, *split_value(current))
                else:
                    version, keys = current
                    view.put(vkey, version, frozenset(k.decode() for k in keys))
            self.conflicts += 1
            return False
        for vkey, read in commit.order:  # every read was current: what was taken as absent is known
            if read == b"0" and vkey[0] == "k" and vkey not in view:
                view.put(vkey, b"0", None)
        if commit.items:
            listed = {ns: v for (kind, ns, _), v in commit.order if kind == "n"}
            for (ns, key), raw in commit.items:
                view.put(("k", ns, key), *((b"0", None) if raw is _DELETED else (commit.version, raw)))
            for ns in {ns for (ns, _), _ in commit.items}:
                cached = view.pop(("n", ns, ""))
                if cached is not None and listed.get(ns) == cached[0]:  # listed current, so known after the writes
                    view.put(("n", ns, ""), commit.version, frozenset(_overlay(set(cached[1]), ns, dict(commit.items))))
        return True

    def _settle_request(self, reads: Reads, writes: Writes | None) -> bool:
        """Synchronously (seeds, direct callers): check the reads and apply ``writes`` (None: check only),
        atomically. False: something read has changed and nothing was applied."""
        if not reads and not writes:
            return True
        commit = self._prepare(reads, writes)
        return self._absorb(self._commit(args=commit.args), commit)

    async def _asettle(self, reads: Reads, writes: Writes | None, pins: list[Any] | None = None) -> bool:
        """:meth:`_settle_request` in this process's next batch. The writes are visible to this process's
        later requests at once (with the version they will have), and are checked again through theirs."""
        self.async_client()  # the client of this loop (a new loop drops what the old one left)
        loop = asyncio.get_running_loop()
        commit = self._prepare(reads, writes, loop.create_future(), pins)
        for (ns, key), raw in commit.items:
            self._inflight[(ns, key)] = (commit.version, b"0", None) if raw is _DELETED else (commit.version, commit.version, raw)
        self._queue.append(commit)
        if self._committer is None:
            self._committer = loop.create_task(self._commit_batches())
        return await commit.done

    async def _commit_batches(self) -> None:
        """Send what is queued as one pipeline, answer each commit in order; again while more was queued."""
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    results = await self._send(batch)
                except Exception as exc:  # the outcome is unknown: forget, so every value is checked afresh
                    self._forget_cache()
                    if unreachable(exc):
                        self.outage.seen(exc)
                    for commit in batch:
                        self._landed(commit)
                        if not commit.done.done():
                            commit.done.set_exception(exc)
                    continue
                self.outage.over()
                for commit, result in zip(batch, results):
                    if isinstance(result, Exception):  # this script failed in Redis: nothing of it applied
                        self._landed(commit)
                        if not commit.done.done():
                            commit.done.set_exception(result)
                        continue
                    ok = self._absorb(result, commit)
                    if not commit.done.done():  # its request may have been cancelled (the client went away)
                        commit.done.set_result(ok)
        finally:
            self._committer = None

    async def _send(self, batch: list[_Commit]) -> list[Any]:
        import redis.exceptions

        client = self.async_client()
        for attempt in (1, 2):
            pipe = client.pipeline(transaction=False)
            for commit in batch:
                pipe.evalsha(_COMMIT_SHA, 0, *commit.args)
            results = await pipe.execute(raise_on_error=False)
            if attempt == 1 and any(isinstance(r, redis.exceptions.NoScriptError) for r in results):
                await client.script_load(redis_scripts.COMMIT)  # a new or restarted Redis: none of them ran
                continue
            return results
        return results

    def serve(self, vendor: Vendor) -> Vendor:
        """The vendor with each handler made exact: run, check and commit, again on a conflict."""
        return dataclasses.replace(vendor, handlers={op: self._exact(fn) for op, fn in vendor.handlers.items()})

    def _exact(self, handler: Callable[[Any], Reply]) -> Callable[[Any], Reply | Coroutine[Any, Any, Reply]]:
        store = self

        def exact(call: Any) -> Reply | Coroutine[Any, Any, Reply]:
            """The first run is synchronous, on the view; what it read and wrote is settled by a coroutine
            (a run that read nothing and keeps nothing is answered at once)."""
            scope = call.state
            if not isinstance(scope, RedisScope) or scope.reads is None:
                return handler(call)
            body, query = call.body, dict(call.query)
            try:
                reply = handler(call)
            except Exception as exc:
                if not scope.reads:
                    raise  # refused before reading anything: no state to check it against
                return store._settled(handler, call, scope, body, query, None, exc)
            if not scope.reads and not (scope.writes and reply.status < 400):
                return reply
            return store._settled(handler, call, scope, body, query, reply, None)

        exact.__name__ = getattr(handler, "__name__", "handler")
        exact.__doc__ = handler.__doc__
        return exact

    async def _settled(self, handler: Callable[[Any], Reply], call: Any, scope: RedisScope, body: Any,
                       query: dict[str, str], reply: Reply | None, error: Exception | None) -> Reply:
        """Check (and commit) a run; while what it read has changed, run the handler again on fresh state.
        What a stale check found changed is pinned in the view until the request is done (``pins``): the values
        it sent back stay for the next run, however small the view's bound."""
        pins: list[Any] = []
        try:
            return await self._settle_runs(handler, call, scope, body, query, reply, error, pins)
        except _Unreachable as lost:  # only the check's own round trip: a handler's exception is never taken for it
            scope.writes.clear()  # nothing of it was applied, and nothing may be by a later commit
            return self.outage.reply(lost.cause, f"{call.vendor}.{call.operation_id}")
        finally:
            if pins:
                self._view.unpin(pins)

    async def _checked(self, reads: Reads, writes: Writes | None, pins: list[Any]) -> bool:
        """:meth:`_asettle`, with Redis being unreachable told apart from every other failure."""
        try:
            return await self._asettle(reads, writes, pins)
        except Exception as exc:
            if unreachable(exc):
                raise _Unreachable(exc) from exc
            raise

    async def _settle_runs(self, handler: Callable[[Any], Reply], call: Any, scope: RedisScope, body: Any,
                           query: dict[str, str], reply: Reply | None, error: Exception | None,
                           pins: list[Any]) -> Reply:
        attempt = 0
        while True:
            if error is None:
                assert reply is not None
                keep = reply.status < 400
                if await self._checked(scope.reads, scope.writes if keep else None, pins):
                    if keep:
                        scope.writes.clear()  # applied: the pipeline's commit has nothing left to do
                    return reply
            elif await self._checked(scope.reads, None, pins):
                raise error  # on current state: the refusal (or the handler's bug) is real
            attempt += 1
            scope.reads.clear()
            scope.writes.clear()
            call.body = orjson.loads(call.raw_body) if body is not None and call.raw_body else body
            call.query = dict(query)
            if attempt >= 3:  # heavy contention on one key: step aside a little, growing, jittered
                await asyncio.sleep(random.uniform(0, min(0.02, 0.0005 * attempt)))
            try:
                reply, error = handler(call), None
            except Exception as exc:  # a refusal, or a handler that tripped on a view mixing old and new values
                reply, error = None, exc


class RedisScope(Scope):
    """A vendor's view; a request's (:meth:`for_request`) also records what it read, with versions."""

    __slots__ = ("reads",)

    def __init__(self, store: RedisStore, vendor: str, writes: Writes | None = None, reads: Reads | None = None) -> None:
        super().__init__(store, vendor, writes)
        self.reads = reads

    def for_request(self) -> RedisScope:
        return RedisScope(self.store, self.vendor, {}, {})

    def _present(self, kind: str, key: str) -> bool:
        return self.get(kind, key) is not None  # read, so the commit checks it as every read

    def get(self, kind: str, key: str) -> Any | None:
        if self.reads is None:
            return super().get(kind, key)
        ns = f"{self.vendor}/{kind}"
        raw = self.writes.get((ns, key))
        if raw is None:
            raw = self.store._read(ns, key, self.reads)
        elif raw is _DELETED:
            return None
        return None if raw is None else orjson.loads(raw)

    def keys(self, kind: str) -> list[str]:
        if self.reads is None:
            return super().keys(kind)
        ns = self._ns(kind)
        return sorted(_overlay(set(self.store._read_keys(ns, self.reads)), ns, self.writes))
