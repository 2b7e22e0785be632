"""Optimistic transactions of the Redis store: every stateful rule exact across processes, nothing blocking the loop.

Handlers are synchronous and read state while they run. A request's reads come from this process's cache of values, each kept with the version Redis gave it (a key the
process has not seen yet is taken as absent, a collection it has not listed as empty, which the check below
corrects in the same round trip); the request records what it read (key and version, or a collection's version
for ``keys``/``items``). When the handler has answered, the wrapped handler (:meth:`ExactTransactions.serve`) returns a
coroutine the pipeline awaits: one Lua script, sent through ``redis.asyncio``, checks every recorded version and,
only if none changed, applies the request's writes under a new version (``EVAL`` is atomic in Redis). While it
waits, the event loop serves other requests. If anything the request read has changed meanwhile (another
process, or another request of this one that committed first), nothing is applied: the script sends the current
values back, the cache takes them, and the handler runs again on fresh state. A second conflict means another
request committed meanwhile, so the system always makes progress; a request that keeps losing backs off a little
(without blocking the loop) and tries again, never answers 5xx for it. A refusal (>= 400) applies nothing but is
still checked, so a request is never refused on a value another request has already changed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from typing import TYPE_CHECKING, Any, Callable, Coroutine

import orjson

from cdpkit.mockserver.redis_scripts import split_value
from cdpkit.mockserver.store import _DELETED, Scope, Writes, _overlay
from cdpkit.mockserver.vendor import Reply, Vendor

if TYPE_CHECKING:
    from cdpkit.mockserver.redis_store import RedisStore

Reads = dict  # ("k", ns, key) or ("n", ns, "") -> the version read: one request's read set


class ExactTransactions:
    """The part of :class:`~cdpkit.mockserver.redis_store.RedisStore` that makes requests exact: the cache,
    the read set, the check-and-commit and the handler wrapper. The store provides ``prefix``, ``_redis``,
    ``_k``, ``_commit`` (the COMMIT script, synchronous) and ``async_client()`` / ``_acommit``."""

    _cache: dict[tuple[str, str], tuple[bytes, bytes | None]]  # (ns, key) -> (version, JSON or None)
    _kcache: dict[str, tuple[bytes, frozenset[str]]]  # ns -> (version, keys)
    conflicts: int  # handler runs thrown away because something they read had changed
    prefix: str
    _redis: Any
    _commit: Any
    _acommit: Any

    def _k(self, *parts: str) -> str:
        raise NotImplementedError

    def async_client(self) -> Any:
        raise NotImplementedError

    # -- reads inside a request: cached, recorded with their versions -------------------------------------
    def _read(self, ns: str, key: str, reads: Reads) -> bytes | None:
        """A key this process has not seen yet is taken to be absent, without asking Redis: the commit's
        check says otherwise if it is not, and sends its value, so a new key (an upsert of a new id) costs
        no round trip and a key written elsewhere costs one run of the handler more, not more round trips."""
        cached = self._cache.get((ns, key))
        if cached is None:
            reads[("k", ns, key)] = b"0"
            return None
        reads[("k", ns, key)] = cached[0]
        return cached[1]

    def _read_keys(self, ns: str, reads: Reads) -> frozenset[str]:
        """In a request on the serving loop, a collection this process has not listed is taken to be empty
        (version 0: never written since the last reset); the check sends its keys back if it is not. With no
        loop running (a direct caller) a round trip blocks nobody, so the listing is asked for at once."""
        cached = self._kcache.get(ns)
        if cached is None:
            try:
                asyncio.get_running_loop()
                cached = (b"0", frozenset())
            except RuntimeError:
                pipe = self._redis.pipeline(transaction=True)  # the keys and their version, atomically
                pipe.hkeys(self._k("d", ns))
                pipe.hget(self._k("nsver"), ns)
                keys, version = pipe.execute()
                cached = self._kcache[ns] = (version or b"0", frozenset(k.decode() for k in keys))
        reads[("n", ns, "")] = cached[0]
        return cached[1]

    # -- the check-and-commit ----------------------------------------------------------------------------
    def _commit_args(self, reads: Reads, writes: Writes | None) -> tuple[list[Any], list, list]:
        args: list[Any] = [self.prefix, len(reads)]
        order = list(reads.items())
        for (kind, ns, key), version in order:
            args += (kind, ns, key, version)
        items = list(writes.items()) if writes else []
        args.append(len(items))
        for (ns, key), raw in items:
            args += (ns, key, b"" if raw is _DELETED else raw)
        return args, order, items

    def _absorb(self, result: Any, order: list, items: list) -> bool:
        """Bring the cache up to date with the script's answer; whether the reads were current (and the
        writes applied). A stale answer carries the current values, so the next run needs no other trip."""
        if isinstance(result, list):
            for index, current in zip(result[::2], result[1::2]):
                kind, ns, key = order[index - 1][0]
                if kind == "k":
                    self._cache[(ns, key)] = split_value(current)
                else:
                    version, keys = current
                    self._kcache[ns] = (version, frozenset(k.decode() for k in keys))
            self.conflicts += 1
            return False
        for (kind, ns, key), version in order:  # every read was current: what was assumed absent is known now
            if kind == "k" and version == b"0":
                self._cache.setdefault((ns, key), (b"0", None))
        if items:
            version = str(result).encode()
            listed = {ns: v for (kind, ns, _), v in order if kind == "n"}
            for (ns, key), raw in items:
                self._cache[(ns, key)] = (b"0", None) if raw is _DELETED else (version, raw)
            for ns in {ns for (ns, _) in items}:
                cached = self._kcache.pop(ns, None)
                if cached is not None and listed.get(ns) == cached[0]:  # listed current, so known after the writes
                    self._kcache[ns] = (version, frozenset(_overlay(set(cached[1]), ns, dict(items))))
        return True

    def _settle_request(self, reads: Reads, writes: Writes | None) -> bool:
        """Synchronously (seeds, direct callers): check the reads and apply ``writes`` (None: check only),
        atomically. False: something read has changed and nothing was applied."""
        if not reads and not writes:
            return True
        args, order, items = self._commit_args(reads, writes)
        return self._absorb(self._commit(args=args), order, items)

    async def _asettle(self, reads: Reads, writes: Writes | None) -> bool:
        """:meth:`_settle_request` through the asyncio client: the loop serves others while Redis answers."""
        args, order, items = self._commit_args(reads, writes)
        self.async_client()
        return self._absorb(await self._acommit(args=args), order, items)

    def serve(self, vendor: Vendor) -> Vendor:
        """The vendor with each handler made exact: run, check and commit, again on a conflict."""
        return dataclasses.replace(vendor, handlers={op: self._exact(fn) for op, fn in vendor.handlers.items()})

    def _exact(self, handler: Callable[[Any], Reply]) -> Callable[[Any], Reply | Coroutine[Any, Any, Reply]]:
        store = self

        def exact(call: Any) -> Reply | Coroutine[Any, Any, Reply]:
            """The first run is synchronous, on the cache; what it read and wrote is settled by a coroutine
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

    async def _settled(self, handler: Callable[[Any], Reply], call: Any, scope: "RedisScope", body: Any,
                       query: dict[str, str], reply: Reply | None, error: Exception | None) -> Reply:
        """Check (and commit) a run; while what it read has changed, run the handler again on fresh state."""
        attempt = 0
        while True:
            if error is None:
                keep = reply.status < 400
                if await self._asettle(scope.reads, scope.writes if keep else None):
                    if keep:
                        scope.writes.clear()  # applied: the pipeline's commit has nothing left to do
                    return reply
            elif await self._asettle(scope.reads, None):
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

    def for_request(self) -> "RedisScope":
        return RedisScope(self.store, self.vendor, {}, {})

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
