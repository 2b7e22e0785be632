"""State and journal storage, behind one interface with an in-memory and a SQLite implementation.

Values are kept as JSON bytes in both, so a handler always gets its own copy and a value that
cannot be stored is refused the same way whichever store runs. Writes a handler makes are held
as pending until they are committed together with the journal entry or dropped (a rejected request
changes nothing). A request's writes are its own: the pipeline gives each request a :class:`Scope`
with a write set (:meth:`Scope.for_request`), read back by that request only, and hands it to
:meth:`Store.finish_request`. Seeds and direct callers use the store's own pending set and
:meth:`Store.finish`.

SQLite group-commits (issue 9): a request's writes are applied in memory at once, in request order,
and their statements join the batch a writer thread commits next (``synchronous=FULL``); the request
is answered once that batch is on disk. A request that wrote nothing (a GET, a refusal) never waits:
its journal row rides along in the next batch. Requests see each other's writes in the order they were
made, as with the memory store, so a read may see a write whose batch is still being committed (that
writer has not been answered yet). If a batch cannot be committed, its writers get a 500 and the error
is logged; memory already holds their writes.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Awaitable, Callable, Iterator

import orjson

from cdpkit.mockserver import journal_entry
from cdpkit.mockserver.faults import Faults
from cdpkit.mockserver.journal_entry import materialize, weight

log = logging.getLogger("cdpkit.mock")

_DELETED = object()
Writes = dict  # (namespace, key) -> JSON bytes or _DELETED: one request's pending writes


def _dumps(value: Any) -> bytes:
    """JSON bytes of exactly their size: orjson's own result keeps a buffer of at least 4 KiB, which a
    store that holds millions of small values would pay for each one (measured: 4,097 against 105 bytes)."""
    return bytes(memoryview(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)))


DEFAULT_JOURNAL_BYTES = 64 << 20


class Store:
    """In-memory store: the default, fast, gone at exit."""

    def __init__(self, journal_limit: int = 10_000, journal_bytes: int = DEFAULT_JOURNAL_BYTES) -> None:
        self.journal_limit = journal_limit
        self.journal_bytes = journal_bytes
        self._data: dict[str, dict[str, bytes]] = collections.defaultdict(dict)
        self._pending: dict[tuple[str, str], Any] = {}
        # the journal: (id, entry) newest last, bounded by entries and by the estimated bytes its entries hold;
        # an entry is a dict, or a lazy record (journal_entry.record) built into one when read
        self._journal: collections.deque[tuple[int, Any]] = collections.deque()
        self._weights: collections.deque[int] = collections.deque()
        self._journal_weight = 0
        self._counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self._next_id = 1

    # -- state ---------------------------------------------------------------------------------
    def get(self, ns: str, key: str) -> Any | None:
        if self._pending:  # a seed or direct caller's writes; a request's are in its Scope's own set
            raw = self._pending.get((ns, key))
            if raw is _DELETED:
                return None
            if raw is not None:
                return orjson.loads(raw)
        values = self._data.get(ns)
        raw = values.get(key) if values is not None else None
        return None if raw is None else orjson.loads(raw)

    def put(self, ns: str, key: str, value: Any) -> None:
        self._pending[(ns, key)] = _dumps(value)

    def delete(self, ns: str, key: str) -> bool:
        existed = self.get(ns, key) is not None
        self._pending[(ns, key)] = _DELETED
        return existed

    def keys(self, ns: str) -> list[str]:
        return sorted(_overlay(set(self._data.get(ns, {})), ns, self._pending))

    def items(self, ns: str) -> Iterator[tuple[str, Any]]:
        for key in self.keys(ns):
            value = self.get(ns, key)
            if value is not None:
                yield key, value

    def namespaces(self, prefix: str = "") -> list[str]:
        names = {ns for ns, values in self._data.items() if values} | {ns for ns, _ in self._pending}
        return sorted(n for n in names if n.startswith(prefix))

    def scope(self, vendor: str) -> "Scope":
        return Scope(self, vendor)

    # -- hooks a store shared by several processes uses (cdpkit.mockserver.redis_store) -------------------------
    shared = False  # whether other processes see this state (only then may --workers run on it)

    def serve(self, vendor: Any) -> Any:
        """The vendor as this store runs it (a shared store wraps each handler to make it exact)."""
        return vendor

    def faults(self, seed: int | None = None) -> Faults:
        """The fault list requests of this store's mock apply (a shared store shares it)."""
        return Faults(seed)

    # -- transactions --------------------------------------------------------------------------
    def finish(self, entry: dict[str, Any] | None, keep_writes: bool) -> None:
        """Commit (or drop) the pending writes and append ``entry`` to the journal, together."""
        pending, self._pending = self._pending, {}
        if keep_writes:
            self._apply(pending)
        if entry is not None:
            self._append(entry)

    def commit(self) -> None:
        self.finish(None, keep_writes=True)

    def finish_request(self, entry: Any, keep_writes: bool, writes: Writes) -> Awaitable[None] | None:
        """Commit (or drop) one request's write set and journal its entry; what to await before
        answering (None: nothing, the memory store is done at once)."""
        if keep_writes and writes:
            self._apply(writes)
        if entry is not None:
            self._append(entry)
        return None

    def _apply(self, pending: dict[tuple[str, str], Any]) -> None:
        for (ns, key), raw in pending.items():
            if raw is _DELETED:
                self._data[ns].pop(key, None)
            else:
                self._data[ns][key] = raw

    # -- journal -------------------------------------------------------------------------------
    def _append(self, entry: dict[str, Any] | tuple) -> None:
        entry_id = self._next_id
        self._next_id += 1
        if type(entry) is tuple:
            self._counts[(entry[journal_entry.VENDOR], entry[journal_entry.VERDICT])] += 1
        else:
            entry["id"] = entry_id
            self._counts[(entry["vendor"], entry["verdict"])] += 1
        self._keep(entry_id, entry)

    def _keep(self, entry_id: int, entry: dict[str, Any] | tuple) -> None:
        """Hold ``entry`` in memory, dropping the oldest while over the entry or byte bound."""
        w = weight(entry)
        self._journal.append((entry_id, entry))
        self._weights.append(w)
        self._journal_weight += w
        while len(self._journal) > 1 and (len(self._journal) > self.journal_limit or self._journal_weight > self.journal_bytes):
            self._journal.popleft()
            self._journal_weight -= self._weights.popleft()

    def journal_size(self) -> tuple[int, int]:
        """(entries, estimated bytes) held in memory by the journal."""
        return len(self._journal), self._journal_weight

    def journal(
        self,
        vendor: str | None = None,
        verdict: str | None = None,
        operation: str | None = None,
        limit: int | None = None,
        before: int | None = None,
    ) -> list[dict[str, Any]]:
        """Journal entries, newest first, filtered; ``before`` keeps those with a smaller id (paging)."""
        out = []
        for entry_id, entry in reversed(self._journal):
            if before is not None and entry_id >= before:
                continue
            if type(entry) is tuple:
                if vendor and entry[journal_entry.VENDOR] != vendor:
                    continue
                if verdict and entry[journal_entry.VERDICT] != verdict:
                    continue
                if operation and entry[journal_entry.OPERATION] != operation:
                    continue
                entry = materialize(entry)
                entry["id"] = entry_id
            else:
                if vendor and entry["vendor"] != vendor:
                    continue
                if verdict and entry["verdict"] != verdict:
                    continue
                if operation and entry["operation"] != operation:
                    continue
            out.append(entry)
            if limit and len(out) >= limit:
                break
        return out

    def counts(self) -> dict[tuple[str, str], int]:
        """Requests per (vendor, verdict) since the last reset (not bounded by the journal limit)."""
        return dict(self._counts)

    def reset(self) -> None:
        """Forget all state, the journal and the counts."""
        self._data.clear()
        self._pending.clear()
        self._journal.clear()
        self._weights.clear()
        self._journal_weight = 0
        self._counts.clear()

    def reset_to(self, load: Callable[[], None] | None) -> None:
        """Forget everything, then ``load`` the start-up data. A shared store does both in one step, so no
        other process sees the state empty or half loaded (RedisStore); here nobody else looks."""
        self.reset()
        if load is not None:
            load()

    def close(self) -> None:
        pass


class SqliteStore(Store):
    """SQLite store: state, journal and counts survive a restart.

    Reads come from memory (loaded at start); every commit is written through in one transaction
    before the pipeline sends its answer, so nothing acknowledged is lost.
    """

    def __init__(self, path: str, journal_limit: int = 10_000, journal_bytes: int = DEFAULT_JOURNAL_BYTES) -> None:
        super().__init__(journal_limit, journal_bytes)
        self._setup_group_commit()
        self.path = path
        import sqlite3  # here, not on every start of a mock on the memory store (issue 9)

        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.executescript(
            """
            PRAGMA journal_mode=WAL;
            PRAGMA synchronous=FULL;
            CREATE TABLE IF NOT EXISTS state (ns TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
                                              PRIMARY KEY (ns, key));
            CREATE TABLE IF NOT EXISTS journal (id INTEGER PRIMARY KEY, entry BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS counts (vendor TEXT NOT NULL, verdict TEXT NOT NULL, n INTEGER NOT NULL,
                                               PRIMARY KEY (vendor, verdict));
            """
        )
        for ns, key, value in self._db.execute("SELECT ns, key, value FROM state"):
            self._data[ns][key] = bytes(value)
        rows = self._db.execute("SELECT id, entry FROM journal ORDER BY id DESC LIMIT ?", (journal_limit,))
        for row_id, raw in reversed(rows.fetchall()):
            entry = orjson.loads(raw)
            entry["id"] = row_id
            self._keep(row_id, entry)
            self._next_id = row_id + 1
        for vendor, verdict, n in self._db.execute("SELECT vendor, verdict, n FROM counts"):
            self._counts[(vendor, verdict)] = n

    # Group commit. ``_db_lock`` serialises every use of the connection (the writer thread's batches and
    # the synchronous paths below); the queue is taken under it, so batches reach the disk in the order
    # their requests were applied in memory. ``_queue_lock`` guards the queue, its waiters and ``_flushing``.

    def _setup_group_commit(self) -> None:
        self._db_lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[tuple[Writes | None, Any, int | None]] = []  # (writes kept, entry, entry id)
        self._waiters: list[asyncio.Future[None]] = []
        self._flushing = False
        self._closed = False
        self._writer: ThreadPoolExecutor | None = None

    def finish(self, entry: dict[str, Any] | None, keep_writes: bool) -> None:
        """Synchronous: the queued batch, then these pending writes and ``entry``, on disk in one
        transaction before memory is updated as :class:`Store` does."""
        item = (self._pending if keep_writes else None, entry, self._next_id if entry is not None else None)
        with self._db_lock:
            queued, waiters = self._take()
            try:
                self._write(queued + [item])
            except BaseException as exc:
                self._pending = {}
                _settle(waiters, exc)
                raise
        _settle(waiters, None)
        super().finish(entry, keep_writes)

    def finish_request(self, entry: Any, keep_writes: bool, writes: Writes) -> Awaitable[None] | None:
        """Apply in memory now; queue the statements; a request that wrote something awaits its batch."""
        kept = writes if keep_writes and writes else None
        entry_id = self._next_id if entry is not None else None
        super().finish_request(entry, keep_writes, writes)
        waiter = None
        with self._queue_lock:
            self._queue.append((kept, entry, entry_id))
            if kept is not None:
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
            start = not self._flushing
            self._flushing = True
        if start:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return waiter

    def _take(self) -> tuple[list, list]:
        with self._queue_lock:
            queued, waiters = self._queue, self._waiters
            self._queue, self._waiters = [], []
        return queued, waiters

    async def _flush(self) -> None:
        """Commit batches in the writer thread while any are queued; requests arriving meanwhile form the next."""
        loop = asyncio.get_running_loop()
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="cdpkit-sqlite")
        while True:
            with self._queue_lock:
                if not self._queue or self._closed:
                    self._flushing = False
                    return
            waiters, error = await loop.run_in_executor(self._writer, self._commit_queued)
            if error is not None:
                log.error("SQLite commit failed: %r", error)
            _settle(waiters, error)

    def _commit_queued(self) -> tuple[list, BaseException | None]:
        """In the writer thread: take the queue and commit it; (its waiters, the error if it failed)."""
        with self._db_lock:
            queued, waiters = self._take()
            try:
                if queued and not self._closed:
                    self._write(queued)
            except BaseException as exc:  # the waiters learn of it; the thread carries on
                return waiters, exc
        return waiters, None

    def _write(self, items: list[tuple[Writes | None, Any, int | None]]) -> None:
        """One transaction: every item's state writes and journal row, in order."""
        if not items:
            return
        db = self._db
        db.execute("BEGIN")
        try:
            for writes, entry, entry_id in items:
                if writes:
                    for (ns, key), raw in writes.items():
                        if raw is _DELETED:
                            db.execute("DELETE FROM state WHERE ns=? AND key=?", (ns, key))
                        else:
                            db.execute("INSERT OR REPLACE INTO state VALUES (?, ?, ?)", (ns, key, raw))
                if entry is not None:
                    full = materialize(entry) if type(entry) is tuple else dict(entry)
                    full["id"] = entry_id  # the id Store._append gives (or gave) it
                    db.execute("INSERT INTO journal VALUES (?, ?)", (entry_id, _dumps(full)))
                    db.execute(
                        "INSERT INTO counts VALUES (?, ?, 1) ON CONFLICT(vendor, verdict) DO UPDATE SET n = n + 1",
                        (full["vendor"], full["verdict"]),
                    )
                    if entry_id % 256 == 0:
                        db.execute("DELETE FROM journal WHERE id <= ?", (entry_id - self.journal_limit,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def reset(self) -> None:
        with self._db_lock:
            queued, waiters = self._take()
            try:
                self._write(queued)
            finally:
                _settle(waiters, None)
            super().reset()
            self._db.executescript("BEGIN; DELETE FROM state; DELETE FROM journal; DELETE FROM counts; COMMIT;")

    def close(self) -> None:
        """Commit what is queued (requests in flight are answered), then close."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)
        with self._db_lock:
            queued, waiters = self._take()
            error = None
            try:
                self._write(queued)
            except BaseException as exc:
                error = exc
            self._closed = True
            self._db.close()
        _settle(waiters, error)


def _settle(waiters: list[asyncio.Future[None]], error: BaseException | None) -> None:
    """Answer the requests waiting on a batch, from whichever thread committed it."""
    for waiter in waiters:
        waiter.get_loop().call_soon_threadsafe(_set, waiter, error)


def _set(waiter: asyncio.Future[None], error: BaseException | None) -> None:
    if not waiter.done():
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)


def _overlay(found: set[str], ns: str, writes: Writes) -> set[str]:
    """``found`` (keys of ``ns``) with ``writes`` applied."""
    for (pns, key), raw in writes.items():
        if pns == ns:
            (found.discard if raw is _DELETED else found.add)(key)
    return found


STATE_FORMS = "'memory', 'sqlite:PATH' or 'redis://HOST:PORT/DB[?prefix=NAME]'"


def open_store(spec: str, journal_limit: int = 10_000, journal_bytes: int = DEFAULT_JOURNAL_BYTES) -> Store:
    """``memory``, ``sqlite:PATH`` or ``redis://HOST:PORT/DB[?prefix=NAME]``."""
    if spec == "memory":
        return Store(journal_limit, journal_bytes)
    if spec.startswith("sqlite:") and len(spec) > len("sqlite:"):
        return SqliteStore(spec.removeprefix("sqlite:"), journal_limit, journal_bytes)
    if spec.startswith(("redis://", "rediss://")):
        from cdpkit.mockserver.redis_store import RedisStore

        return RedisStore(spec, journal_limit, journal_bytes)
    raise ValueError(f"--state must be {STATE_FORMS}, not {spec!r}")


class Scope:
    """One vendor's view of the store: ``kind`` names a collection (``"profiles:LICENSE"``, …).

    A scope with ``writes`` (:meth:`for_request`) keeps its writes in that set, reads them back, and
    leaves the store untouched until the pipeline commits the set; one without uses the store's own."""

    __slots__ = ("store", "vendor", "writes")

    def __init__(self, store: Store, vendor: str, writes: Writes | None = None) -> None:
        self.store = store
        self.vendor = vendor
        self.writes = writes

    def for_request(self) -> "Scope":
        """A scope with a fresh write set of its own: one request's view."""
        return Scope(self.store, self.vendor, {})

    def _ns(self, kind: str) -> str:
        return f"{self.vendor}/{kind}"

    def get(self, kind: str, key: str) -> Any | None:
        ns = f"{self.vendor}/{kind}"
        writes = self.writes
        if writes:
            raw = writes.get((ns, key))
            if raw is not None:
                return None if raw is _DELETED else orjson.loads(raw)
        return self.store.get(ns, key)

    def put(self, kind: str, key: str, value: Any) -> None:
        writes = self.writes
        if writes is None:
            self.store.put(f"{self.vendor}/{kind}", key, value)
        else:
            # _dumps, inlined: this runs for every write of every request
            writes[(f"{self.vendor}/{kind}", key)] = bytes(memoryview(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)))

    def delete(self, kind: str, key: str) -> bool:
        if self.writes is None:
            return self.store.delete(self._ns(kind), key)
        existed = self.get(kind, key) is not None
        self.writes[(self._ns(kind), key)] = _DELETED
        return existed

    def keys(self, kind: str) -> list[str]:
        ns = self._ns(kind)
        if not self.writes:
            return self.store.keys(ns)
        return sorted(_overlay(set(self.store.keys(ns)), ns, self.writes))

    def items(self, kind: str) -> Iterator[tuple[str, Any]]:
        if self.writes is None:
            return self.store.items(self._ns(kind))
        return self._items(kind)

    def _items(self, kind: str) -> Iterator[tuple[str, Any]]:
        for key in self.keys(kind):
            value = self.get(kind, key)
            if value is not None:
                yield key, value

    def kinds(self) -> list[str]:
        prefix = f"{self.vendor}/"
        names = set(self.store.namespaces(prefix))
        if self.writes:
            names.update(ns for ns, _ in self.writes if ns.startswith(prefix))
        return [ns.removeprefix(prefix) for ns in sorted(names)]

    def dump(self) -> dict[str, dict[str, Any]]:
        """Every collection of this vendor, for ``GET /__mock/state/<vendor>``."""
        return {kind: dict(self.items(kind)) for kind in self.kinds()}
