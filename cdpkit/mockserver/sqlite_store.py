"""The SQLite store: state, journal and counts survive a restart (``--state sqlite:PATH``).

Its own module so that a mock on the memory store (the default) never imports sqlite3 or compiles this
code at start (issue 9); :func:`cdpkit.mockserver.store.open_store` imports it for ``sqlite:``.

SQLite group-commits (issue 9): a request's writes are applied in memory at once, in request order,
and their statements join the batch a writer thread commits next (``synchronous=FULL``); the request
is answered once that batch is on disk. A request that wrote nothing (a GET, a refusal) never waits:
its journal row rides along in the next batch. Requests see each other's writes in the order they were
made, as with the memory store, so a read may see a write whose batch is still being committed (that
writer has not been answered yet). If a batch cannot be committed, its writers get a deliberate 503 that
names the failure, with Retry-After (pipeline._once_durable), and the error is logged; memory already holds
their writes.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sqlite3
from typing import Any, Awaitable

import orjson

from cdpkit.mockserver.group_commit import GroupCommit, settle
from cdpkit.mockserver.journal_entry import fields, materialize, record_from_json, record_json
from cdpkit.mockserver.store import (
    _DELETED,
    DEFAULT_JOURNAL_BYTES,
    Store,
    Writes,
    _dumps,
)

log = logging.getLogger("cdpkit.mock")


class SqliteStore(Store):
    """SQLite store: state, journal and counts survive a restart.

    Reads come from memory (loaded at start); every commit is written through in one transaction
    before the pipeline sends its answer, so nothing acknowledged is lost.
    """

    def __init__(self, path: str, journal_limit: int = 10_000, journal_bytes: int = DEFAULT_JOURNAL_BYTES) -> None:
        super().__init__(journal_limit, journal_bytes)
        self._setup_group_commit()
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.executescript(
            """
            PRAGMA journal_mode=WAL;
            PRAGMA synchronous=FULL;
            CREATE TABLE IF NOT EXISTS state (ns TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS journal (id INTEGER PRIMARY KEY, entry BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS counts (vendor TEXT NOT NULL, verdict TEXT NOT NULL, n INTEGER NOT NULL,
                                               PRIMARY KEY (vendor, verdict));
            """
        )
        # where each key's row is (see _write); a file of an older cdpkit, with an index on (ns, key), works as is
        self._rows: dict[str, dict[str, int]] = collections.defaultdict(dict)
        self._next_row = 1
        stale = []
        for row, ns, key, value in self._db.execute("SELECT rowid, ns, key, value FROM state ORDER BY rowid"):
            self._data[ns][key] = bytes(value)
            before = self._rows[ns].get(key)
            if before is not None:
                stale.append((before,))
            self._rows[ns][key] = row
            self._next_row = row + 1
        if stale:
            self._db.executemany("DELETE FROM state WHERE rowid = ?", stale)
        rows = self._db.execute("SELECT id, entry FROM journal ORDER BY id DESC LIMIT ?", (journal_limit,))
        for row_id, raw in reversed(rows.fetchall()):
            raw = bytes(raw)
            if raw[:1] == b"[":  # a record (record_json)
                entry = record_from_json(raw)
            else:  # an entry, as a seed writes it and as cdpkit wrote every row before records
                entry = orjson.loads(raw)
                entry["id"] = row_id
            self._keep(row_id, entry)
            self._next_id = row_id + 1
        for vendor, verdict, n in self._db.execute("SELECT vendor, verdict, n FROM counts"):
            self._counts[(vendor, verdict)] = n

    # Group commit (cdpkit.mockserver.group_commit). Its lock, ``_db_lock``, serialises every use of the
    # connection (the writer thread's batches and the synchronous paths below); the queue is taken under it,
    # so batches reach the disk in the order their requests were applied in memory. The queue has a lock of
    # its own: a request queues while a batch is being written.

    def _setup_group_commit(self) -> None:
        # items: (writes kept, entry, entry id); _write looked up at each batch, as the synchronous paths do
        self._batches: GroupCommit[tuple[Writes | None, Any, int | None]] = GroupCommit(
            lambda items: self._write(items), "cdpkit-sqlite", on_failure=_log_failure)
        self._db_lock = self._batches.lock

    def finish(self, entry: dict[str, Any] | None, keep_writes: bool) -> None:
        """Synchronous: the queued batch, then these pending writes and ``entry``, on disk in one
        transaction before memory is updated as :class:`Store` does."""
        item = (self._pending if keep_writes else None, entry, self._next_id if entry is not None else None)
        with self._db_lock:
            queued, waiters = self._batches.take()
            try:
                self._write(queued + [item])
            except BaseException as exc:
                self._pending = {}
                settle(waiters, exc)
                raise
        settle(waiters, None)
        super().finish(entry, keep_writes)

    def finish_request(self, entry: Any, keep_writes: bool, writes: Writes) -> Awaitable[None] | None:
        """Apply in memory now; queue the statements; a request that wrote something awaits its batch."""
        kept = writes if keep_writes and writes else None
        entry_id = self._next_id if entry is not None else None
        super().finish_request(entry, keep_writes, writes)
        return self._batches.add((kept, entry, entry_id), asyncio.get_running_loop(), wait=kept is not None)

    def _write(self, items: list[tuple[Writes | None, Any, int | None]]) -> None:
        """One transaction: every item's state writes and journal row. A batch's statements are made whole
        first and run with ``executemany``: a key written twice in the batch is written once, with its last
        value, and the counts grow once per (vendor, verdict) by the batch's number (one statement per write,
        each through Python, cost the writer thread a GIL hold per row while the loop waited for it)."""
        if not items:
            return
        final: Writes = {}
        rows: list[tuple[int, bytes]] = []
        counts: collections.Counter[tuple[str, str]] = collections.Counter()
        trim = None
        for writes, entry, entry_id in items:
            if writes:
                final.update(writes)
            if entry is not None:
                rows.append((entry_id, _journal_row(entry, entry_id)))
                counts[fields(entry)[:2]] += 1
                if entry_id % 256 == 0:
                    trim = entry_id - self.journal_limit
        # A key's new value is a new row at the table's end and its old row is deleted by rowid, found in
        # _rows: no index on (ns, key), whose pages a random key (a Zebline trackID) would dirty at random,
        # two per upsert, each written to the WAL at every commit.
        where, next_row = self._rows, self._next_row
        old: list[tuple[int]] = []
        new: list[tuple[int, str, str, bytes]] = []
        for (ns, key), raw in final.items():
            row = where[ns].get(key)
            if row is not None:
                old.append((row,))
            if raw is not _DELETED:
                new.append((next_row, ns, key, raw))
                next_row += 1
        db = self._db
        db.execute("BEGIN")
        try:
            db.executemany("DELETE FROM state WHERE rowid = ?", old)
            db.executemany("INSERT INTO state (rowid, ns, key, value) VALUES (?, ?, ?, ?)", new)
            db.executemany("INSERT INTO journal VALUES (?, ?)", rows)
            db.executemany("INSERT INTO counts VALUES (?, ?, ?) "
                           "ON CONFLICT(vendor, verdict) DO UPDATE SET n = n + excluded.n",
                           [(vendor, verdict, n) for (vendor, verdict), n in counts.items()])
            if trim is not None:
                db.execute("DELETE FROM journal WHERE id <= ?", (trim,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        for (ns, key), raw in final.items():
            if raw is _DELETED:
                where[ns].pop(key, None)
        for row, ns, key, _ in new:
            where[ns][key] = row
        self._next_row = next_row

    def reset(self) -> None:
        with self._db_lock:
            queued, waiters = self._batches.take()
            try:
                self._write(queued)
            finally:
                settle(waiters, None)
            super().reset()
            self._rows.clear()
            self._db.executescript("BEGIN; DELETE FROM state; DELETE FROM journal; DELETE FROM counts; COMMIT;")

    def close(self) -> None:
        """Commit what is queued (requests in flight are answered), then close."""
        self._batches.close(then=self._db.close)


def _journal_row(entry: Any, entry_id: int) -> bytes:
    """What the journal table keeps of an entry: a record as it is (record_json), or, for an entry dict (a
    seed's, an older row's) and a record holding text JSON cannot spell (a header that was not UTF-8), the entry."""
    if type(entry) is tuple:
        try:
            return record_json(entry)
        except TypeError:
            entry = materialize(entry)
    full = dict(entry)
    full["id"] = entry_id  # the id Store._append gives (or gave) it
    return _dumps(full)


def _log_failure(error: BaseException) -> None:
    log.error("SQLite commit failed: %r", error)
