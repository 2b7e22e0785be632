"""The SQLite store: state, journal and counts survive a restart (``--state sqlite:PATH``).

Its own module so that a mock on the memory store (the default) never imports sqlite3 or compiles this
code at start (issue 9); :func:`cdpkit.mockserver.store.open_store` imports it for ``sqlite:``.

The store reads the file once, at open, and serves every read from memory. Writes are group-committed by a
writer *process* (:mod:`cdpkit.mockserver.sqlite_writer`, ``synchronous=FULL``), which shares no interpreter
lock with the event loop: a request's writes are applied in memory at once, in request order, and join the
batch sent to the writer next; the request is answered once the writer says that batch is on disk. One batch
is in flight at a time; requests arriving meanwhile form the next, sent as soon as the writer answers (the loop
reads its answers as it reads sockets). A request that wrote nothing (a GET, a refusal) never waits: its
journal row rides along in the next batch. Requests see each other's writes in the order they were made, as
with the memory store, so a read may see a write whose batch is still being committed (that writer has not been
answered yet). If a batch cannot be committed, its writers get a deliberate 503 that names the failure, with
Retry-After (pipeline._once_durable), and the error is logged; memory already holds their writes. If the writer
process ends (killed), the batch in flight is answered the same way and a new writer takes the next batch.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from typing import Any, Awaitable

import orjson

from cdpkit.mockserver import sqlite_writer
from cdpkit.mockserver.journal_entry import fields, materialize, record_from_json, record_json
from cdpkit.mockserver.sqlite_link import WriteFailed, WriterLink  # noqa: F401  (WriteFailed: this module's API)
from cdpkit.mockserver.sqlite_writer import SCHEMA
from cdpkit.mockserver.store import _DELETED, DEFAULT_JOURNAL_BYTES, Store, Writes, _dumps

BUSY_TIMEOUT = 5.0  # seconds the writer waits for a lock another connection holds on the file, then fails
CLOSE_WAIT = 10.0  # seconds a close waits for the writer to commit what is queued, then ends it
START_WAIT = 120.0  # seconds the open waits for the writer to read where every key's row is


class SqliteStore(Store):
    """SQLite store: state, journal and counts survive a restart.

    Reads come from memory (loaded at start); every commit is written through in one transaction
    before the pipeline sends its answer, so nothing acknowledged is lost.
    """

    def __init__(self, path: str, journal_limit: int = 10_000, journal_bytes: int = DEFAULT_JOURNAL_BYTES) -> None:
        super().__init__(journal_limit, journal_bytes)
        self.path = path
        self._load()
        self._link = WriterLink([sys.executable, "-P", sqlite_writer.__file__, path, str(journal_limit),
                                 str(BUSY_TIMEOUT)])
        self._link.start(time.monotonic() + START_WAIT)

    def _load(self) -> None:
        """State, journal and counts from the file; a key found twice (an older writer's crash) keeps its later row."""
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            db.executescript(SCHEMA)
            for ns, key, value in db.execute("SELECT ns, key, value FROM state ORDER BY rowid"):
                self._data[ns][key] = bytes(value)
            rows = db.execute("SELECT id, entry FROM journal ORDER BY id DESC LIMIT ?", (self.journal_limit,))
            for row_id, raw in reversed(rows.fetchall()):
                raw = bytes(raw)
                if raw[:1] == b"[":  # a record (record_json)
                    entry = record_from_json(raw)
                else:  # an entry, as a seed writes it and as cdpkit wrote every row before records
                    entry = orjson.loads(raw)
                    entry["id"] = row_id
                self._keep(row_id, entry)
                self._next_id = row_id + 1
            for vendor, verdict, n in db.execute("SELECT vendor, verdict, n FROM counts"):
                self._counts[(vendor, verdict)] = n
        finally:
            db.close()

    # -- the store's commits ---------------------------------------------------------------------------------

    def finish(self, entry: dict[str, Any] | None, keep_writes: bool) -> None:
        """Synchronous: the queued batch, then these pending writes and ``entry``, on disk in one
        transaction before memory is updated as :class:`Store` does."""
        writes = self._pending if keep_writes else None
        if not writes and entry is None:  # nothing to write (a failed seed rolled back): no round trip
            super().finish(entry, keep_writes)
            return
        item = _item(writes, entry, self._next_id if entry is not None else None)
        try:
            self._link.run("write", [item])
        except BaseException:
            self._pending = {}
            raise
        super().finish(entry, keep_writes)

    def finish_request(self, entry: Any, keep_writes: bool, writes: Writes) -> Awaitable[None] | None:
        """Apply in memory now; queue the statements; a request that wrote something awaits its batch."""
        kept = writes if keep_writes and writes else None
        item = _item(kept, entry, self._next_id if entry is not None else None)
        super().finish_request(entry, keep_writes, writes)
        loop = asyncio.get_running_loop()
        waiter = loop.create_future() if kept is not None else None
        self._link.add(item, waiter, loop)
        return waiter

    def _write(self, items: list[tuple[Writes | None, Any, int | None]]) -> None:
        """Commit ``(writes, entry, entry id)`` items at once, after what is queued (tests, and tools)."""
        self._link.run("write", [_item(writes, entry, entry_id) for writes, entry, entry_id in items])

    def reset(self) -> None:
        self._link.run("reset")
        super().reset()

    def close(self) -> None:
        """Commit what is queued (requests in flight are answered), then close; a writer that does not answer
        within CLOSE_WAIT is ended."""
        self._link.close(time.monotonic() + CLOSE_WAIT)


def _item(writes: Writes | None, entry: Any, entry_id: int | None) -> tuple:
    """A request's share of a batch, as the writer process reads it (sqlite_writer)."""
    changed = None
    if writes:
        changed = [(ns if type(ns) is str else str(ns), key if type(key) is str else str(key),
                    None if raw is _DELETED else raw) for (ns, key), raw in writes.items()]
    if entry is None:
        return (changed, None, None, None, None)
    vendor, verdict = fields(entry)[:2]
    return (changed, _journal_row(entry, entry_id), entry_id, vendor, verdict)  # type: ignore[arg-type]


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
