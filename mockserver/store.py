"""State and journal storage, behind one interface with an in-memory and a SQLite implementation.

Values are kept as JSON bytes in both, so a handler always gets its own copy and a value that
cannot be stored is refused the same way whichever store runs. Writes a handler makes are held
as pending until :meth:`Store.finish` commits them together with the journal entry (SQLite: in one
transaction, on disk before the answer is sent) or drops them (a rejected request changes nothing).
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any, Iterator

import orjson

from mockserver import journal_entry
from mockserver.journal_entry import materialize, weight

_DELETED = object()


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
        raw = self._pending.get((ns, key))
        if raw is _DELETED:
            return None
        if raw is None:
            raw = self._data.get(ns, {}).get(key)
        return None if raw is None else orjson.loads(raw)

    def put(self, ns: str, key: str, value: Any) -> None:
        self._pending[(ns, key)] = _dumps(value)

    def delete(self, ns: str, key: str) -> bool:
        existed = self.get(ns, key) is not None
        self._pending[(ns, key)] = _DELETED
        return existed

    def keys(self, ns: str) -> list[str]:
        found = set(self._data.get(ns, {}))
        for (pns, key), raw in self._pending.items():
            if pns == ns:
                (found.discard if raw is _DELETED else found.add)(key)
        return sorted(found)

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

    def close(self) -> None:
        pass


class SqliteStore(Store):
    """SQLite store: state, journal and counts survive a restart.

    Reads come from memory (loaded at start); every commit is written through in one transaction
    before the pipeline sends its answer, so nothing acknowledged is lost.
    """

    def __init__(self, path: str, journal_limit: int = 10_000, journal_bytes: int = DEFAULT_JOURNAL_BYTES) -> None:
        super().__init__(journal_limit, journal_bytes)
        self.path = path
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

    def finish(self, entry: dict[str, Any] | None, keep_writes: bool) -> None:
        """Write through to disk in one transaction, then update memory as :class:`Store` does."""
        try:
            self._write_through(self._pending if keep_writes else {}, entry)
        except BaseException:
            self._pending = {}
            raise
        super().finish(entry, keep_writes)

    def _write_through(self, pending: dict[tuple[str, str], Any], entry: dict[str, Any] | None) -> None:
        db = self._db
        db.execute("BEGIN")
        try:
            for (ns, key), raw in pending.items():
                if raw is _DELETED:
                    db.execute("DELETE FROM state WHERE ns=? AND key=?", (ns, key))
                else:
                    db.execute("INSERT OR REPLACE INTO state VALUES (?, ?, ?)", (ns, key, raw))
            if entry is not None:
                full = materialize(entry) if type(entry) is tuple else entry
                full["id"] = entry_id = self._next_id  # the id Store._append gives it next
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
        super().reset()
        self._db.executescript("BEGIN; DELETE FROM state; DELETE FROM journal; DELETE FROM counts; COMMIT;")

    def close(self) -> None:
        self._db.close()


def open_store(spec: str, journal_limit: int = 10_000, journal_bytes: int = DEFAULT_JOURNAL_BYTES) -> Store:
    """``memory`` or ``sqlite:PATH``."""
    if spec == "memory":
        return Store(journal_limit, journal_bytes)
    if spec.startswith("sqlite:") and len(spec) > len("sqlite:"):
        return SqliteStore(spec.removeprefix("sqlite:"), journal_limit, journal_bytes)
    raise ValueError(f"--state must be 'memory' or 'sqlite:PATH', not {spec!r}")


class Scope:
    """One vendor's view of the store: ``kind`` names a collection (``"profiles:LICENSE"``, …)."""

    __slots__ = ("store", "vendor")

    def __init__(self, store: Store, vendor: str) -> None:
        self.store = store
        self.vendor = vendor

    def _ns(self, kind: str) -> str:
        return f"{self.vendor}/{kind}"

    def get(self, kind: str, key: str) -> Any | None:
        return self.store.get(self._ns(kind), key)

    def put(self, kind: str, key: str, value: Any) -> None:
        self.store.put(self._ns(kind), key, value)

    def delete(self, kind: str, key: str) -> bool:
        return self.store.delete(self._ns(kind), key)

    def keys(self, kind: str) -> list[str]:
        return self.store.keys(self._ns(kind))

    def items(self, kind: str) -> Iterator[tuple[str, Any]]:
        return self.store.items(self._ns(kind))

    def kinds(self) -> list[str]:
        prefix = f"{self.vendor}/"
        return [ns.removeprefix(prefix) for ns in self.store.namespaces(prefix)]

    def dump(self) -> dict[str, dict[str, Any]]:
        """Every collection of this vendor, for ``GET /__mock/state/<vendor>``."""
        return {kind: dict(self.items(kind)) for kind in self.kinds()}
