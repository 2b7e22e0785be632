"""State and journal storage, behind one interface with an in-memory and a SQLite implementation.

Values are kept as JSON bytes in both, so a handler always gets its own copy and a value that
cannot be stored is refused the same way whichever store runs. Writes a handler makes are held
as pending until they are committed together with the journal entry or dropped (a rejected request
changes nothing). A request's writes are its own: the pipeline gives each request a :class:`Scope`
with a write set (:meth:`Scope.for_request`), read back by that request only, and hands it to
:meth:`Store.finish_request`. Seeds and direct callers use the store's own pending set and
:meth:`Store.finish`.

The SQLite store is :mod:`cdpkit.mockserver.sqlite_store`, imported only when ``--state sqlite:`` asks
for it (issue 9: a memory mock's start compiles and imports none of it).
"""

from __future__ import annotations

import collections
import logging
from typing import Any, Awaitable, Callable, Iterator

import orjson

from cdpkit.mockserver import journal_entry
from cdpkit.mockserver.faults import Faults
from cdpkit.mockserver.journal_entry import fields, materialize, weight
from cdpkit.mockserver.memory_journal import MemoryJournal, read

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
        # the journal, bounded by entries and by the estimated bytes its entries hold; an entry is a dict, or a
        # lazy record (journal_entry.record) built into one when read
        self._journal = MemoryJournal(journal_limit, journal_bytes)
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

    def exists(self, ns: str, key: str) -> bool:
        """Whether ``key`` holds a value, without parsing it (a delete only needs to know)."""
        if self._pending:
            raw = self._pending.get((ns, key))
            if raw is not None:
                return raw is not _DELETED
        values = self._data.get(ns)
        return values is not None and key in values

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
        self._journal.add(entry_id, fields(entry), entry, weight(entry))

    def journal_size(self) -> tuple[int, int]:
        """(entries, estimated bytes) held in memory by the journal."""
        return len(self._journal), self._journal.weight

    def journal(
        self,
        vendor: str | None = None,
        verdict: str | None = None,
        operation: str | None = None,
        limit: int | None = None,
        before: int | None = None,
    ) -> list[dict[str, Any]]:
        """Journal entries, newest first, filtered; ``before`` keeps those with a smaller id (paging)."""
        return journal_entry.page(self._journal.newest_first(), _shown, vendor, verdict, operation, limit, before)

    def counts(self) -> dict[tuple[str, str], int]:
        """Requests per (vendor, verdict) since the last reset (not bounded by the journal limit)."""
        return dict(self._counts)

    def reset(self) -> None:
        """Forget all state, the journal and the counts."""
        self._data.clear()
        self._pending.clear()
        self._journal.clear()
        self._counts.clear()

    def reset_to(self, load: Callable[[], None] | None) -> None:
        """Forget everything, then ``load`` the start-up data. A shared store does both in one step, so no
        other process sees the state empty or half loaded (RedisStore); here nobody else looks."""
        self.reset()
        if load is not None:
            load()

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        """Close on the serving loop; a store that runs tasks there (Redis) ends them before the loop stops."""
        self.close()


def _shown(entry_id: int, kept: Any) -> dict[str, Any]:
    """A journal record as the control API shows it: a lazy record (a tuple) made an entry, with its id."""
    entry = read(kept)
    if type(entry) is not tuple:
        return entry
    shown = materialize(entry)
    shown["id"] = entry_id
    return shown


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
        from cdpkit.mockserver.sqlite_store import SqliteStore

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
        existed = self._present(kind, key)
        self.writes[(self._ns(kind), key)] = _DELETED
        return existed

    def _present(self, kind: str, key: str) -> bool:
        """Whether this request sees a value at ``key``, without parsing it (a scope that must record what
        it read, RedisScope, reads it instead)."""
        ns = f"{self.vendor}/{kind}"
        raw = self.writes.get((ns, key)) if self.writes else None
        if raw is not None:
            return raw is not _DELETED
        return self.store.exists(ns, key)

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


def __getattr__(name: str) -> Any:
    """``store.SqliteStore``, where it always was, imported from its own module only when asked for."""
    if name == "SqliteStore":
        from cdpkit.mockserver.sqlite_store import SqliteStore

        return SqliteStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
