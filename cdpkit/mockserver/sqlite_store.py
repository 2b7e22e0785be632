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
import logging
import marshal
import os
import select
import sqlite3
import subprocess
import sys
import threading
import time
from typing import Any, Awaitable

import orjson

from cdpkit.mockserver import sqlite_writer
from cdpkit.mockserver.journal_entry import fields, materialize, record_from_json, record_json
from cdpkit.mockserver.sqlite_writer import FRAME, SCHEMA, frame, write_all
from cdpkit.mockserver.store import _DELETED, DEFAULT_JOURNAL_BYTES, Store, Writes, _dumps

log = logging.getLogger("cdpkit.mock")

BUSY_TIMEOUT = 5.0  # seconds the writer waits for a lock another connection holds on the file, then fails
CLOSE_WAIT = 10.0  # seconds a close waits for the writer to commit what is queued, then ends it


class WriteFailed(sqlite3.OperationalError):
    """A batch the writer could not commit; ``cause`` is its error as the writer raised it."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.cause = f"{kind}: {message}"


class SqliteStore(Store):
    """SQLite store: state, journal and counts survive a restart.

    Reads come from memory (loaded at start); every commit is written through in one transaction
    before the pipeline sends its answer, so nothing acknowledged is lost.
    """

    def __init__(self, path: str, journal_limit: int = 10_000, journal_bytes: int = DEFAULT_JOURNAL_BYTES) -> None:
        super().__init__(journal_limit, journal_bytes)
        self.path = path
        self._load()
        self._lock = threading.RLock()  # the pipes, the queue and the batch in flight
        self._items: list[tuple] = []  # queued for the next batch (sqlite_writer's items)
        self._waiters: list[asyncio.Future[None]] = []  # the requests waiting on the queued items
        self._flight: list[asyncio.Future[None]] | None = None  # the waiters of the batch sent, if one is
        self._replies = bytearray()  # what the writer answered, not yet read as whole answers
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop reading the writer's answers
        self._writer: subprocess.Popen[bytes] | None = None
        self._closed = False
        self._start_writer()

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

    # -- the writer process ----------------------------------------------------------------------------------

    def _start_writer(self) -> None:
        """Start the writer and wait for it to be ready; its failure to open the file is raised here."""
        command = [sys.executable, "-P", sqlite_writer.__file__, self.path, str(self.journal_limit), str(BUSY_TIMEOUT)]
        self._writer = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        os.set_blocking(self._writer.stdout.fileno(), False)  # type: ignore[union-attr]
        self._replies.clear()
        self._flight = []  # its "ready"
        error = self._wait_flight()
        if error is not None or self._writer is None:
            self._stop_writer()
            raise error or WriteFailed("WriterGone", "the SQLite writer process ended as it started")

    def _send(self, op: str, argument: Any, waiters: list[asyncio.Future[None]]) -> None:
        """Send one message; its answer settles ``waiters``. Under the lock, nothing in flight."""
        self._flight = waiters
        if self._writer is None:  # it ended: a new one takes this batch
            try:
                self._start_writer()
            except Exception as exc:
                self._flight = None
                _settle(waiters, exc)
                return
            self._flight = waiters
            try:
                self._read_on(asyncio.get_running_loop())
            except RuntimeError:  # no loop here: a synchronous path reads the answer itself
                pass
        try:
            write_all(self._writer.stdin.fileno(), frame((op, argument)))  # type: ignore[union-attr]
        except (OSError, ValueError) as exc:  # the writer is gone (or an item marshal cannot write)
            self._gone(exc)

    def _send_queued(self) -> None:
        items, waiters = self._items, self._waiters
        self._items, self._waiters = [], []
        self._send("write", items, waiters)

    def _on_replies(self) -> None:
        """The loop's reader: answer the batch the writer answered, then send the next."""
        with self._lock:
            self._read_replies()
            if self._flight is None and self._items and not self._closed:
                self._send_queued()

    def _read_replies(self) -> BaseException | None:
        """Read what the writer answered so far and settle the batch in flight with it; the batch's error. An
        answer read before the writer's end counts (a close is answered, then the writer exits)."""
        error = None
        ended: BaseException | None | bool = False
        while self._writer is not None:
            try:
                chunk = os.read(self._writer.stdout.fileno(), 1 << 16)  # type: ignore[union-attr]
            except BlockingIOError:
                break
            except OSError as exc:
                ended = exc
                break
            if not chunk:
                ended = None
                break
            self._replies += chunk
        while len(self._replies) >= FRAME.size:
            (size,) = FRAME.unpack_from(self._replies)
            if len(self._replies) < FRAME.size + size:
                break
            reply = marshal.loads(bytes(self._replies[FRAME.size:FRAME.size + size]))
            del self._replies[:FRAME.size + size]
            waiters, self._flight = self._flight or [], None
            error = None if reply is None else WriteFailed(*reply)
            if error is not None:
                log.error("SQLite commit failed: %s", error.cause)
            _settle(waiters, error)
        if ended is not False:
            if self._flight is not None:
                self._gone(ended)
            else:  # nothing was waiting on it (a close answered; or killed between batches): the next batch starts one
                if not self._closed:
                    log.warning("the SQLite writer process ended between batches; a new one takes the next batch")
                self._stop_writer()
        return error

    def _wait_flight(self, deadline: float | None = None) -> BaseException | None:
        """Block until the writer answers the message in flight (a synchronous path); its error. Past
        ``deadline`` (a close's), the writer is ended and the message answered as lost."""
        error = None
        while self._flight is not None and self._writer is not None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                self._gone(TimeoutError(f"no answer in {CLOSE_WAIT:g} s"), kill=True)
                break
            select.select([self._writer.stdout], [], [], left)  # type: ignore[list-item]
            error = self._read_replies()
        return error

    def _gone(self, cause: BaseException | None, kill: bool = False) -> None:
        """The writer ended: the batch in flight is answered with that (it may or may not be on disk); what is
        queued waits for the next writer."""
        writer = self._writer
        code = writer.poll() if writer is not None else None
        self._stop_writer(kill)
        error = WriteFailed("WriterGone", f"the SQLite writer process ended (exit status {code}"
                            + (f", {cause}" if cause else "") + ")")
        log.error("SQLite commit failed: %s", error.cause)
        waiters, self._flight = self._flight or [], None
        _settle(waiters, error)

    def _stop_writer(self, kill: bool = False) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            try:
                self._loop.remove_reader(writer.stdout.fileno())  # type: ignore[union-attr]
            except (RuntimeError, ValueError, OSError):
                pass
        self._loop = None
        for pipe in (writer.stdin, writer.stdout):
            if pipe is not None:
                pipe.close()
        if kill:
            writer.kill()
        try:
            writer.wait(CLOSE_WAIT)
        except subprocess.TimeoutExpired:
            writer.kill()
            writer.wait()

    def _read_on(self, loop: asyncio.AbstractEventLoop) -> None:
        """Have ``loop`` read the writer's answers (a store reused by a later loop, as tests do, moves over)."""
        if self._writer is None:
            return
        old, fd = self._loop, self._writer.stdout.fileno()  # type: ignore[union-attr]
        if old is not None and not old.is_closed():
            self._wait_flight()
            try:
                old.remove_reader(fd)
            except (RuntimeError, ValueError, OSError):
                pass
        loop.add_reader(fd, self._on_replies)
        self._loop = loop

    def _sync(self, op: str, argument: Any = None, deadline: float | None = None) -> None:
        """Send ``op`` after what is queued and wait for it: the synchronous paths (a seed's commit, a reset, the
        close). A write goes in one batch with the queue; its error is raised, and reaches the queue's waiters."""
        with self._lock:
            self._wait_flight(deadline)
            if op == "write":
                argument, waiters = self._items + argument, self._waiters
                self._items, self._waiters = [], []
            else:
                if self._items:
                    self._send_queued()
                    self._wait_flight(deadline)
                waiters = []
            self._send(op, argument, waiters)
            error = self._wait_flight(deadline)
        if error is not None:
            raise error

    # -- the store's commits ---------------------------------------------------------------------------------

    def finish(self, entry: dict[str, Any] | None, keep_writes: bool) -> None:
        """Synchronous: the queued batch, then these pending writes and ``entry``, on disk in one
        transaction before memory is updated as :class:`Store` does."""
        item = _item(self._pending if keep_writes else None, entry, self._next_id if entry is not None else None)
        try:
            self._sync("write", [item])
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
        with self._lock:
            if self._closed:
                if waiter is not None:
                    waiter.set_exception(WriteFailed("StoreClosed", "the SQLite store is closed"))
                return waiter
            if loop is not self._loop:
                self._read_on(loop)
            self._items.append(item)
            if waiter is not None:
                self._waiters.append(waiter)
            if self._flight is None:
                self._send_queued()
        return waiter

    def _write(self, items: list[tuple[Writes | None, Any, int | None]]) -> None:
        """Commit ``(writes, entry, entry id)`` items at once, after what is queued (tests, and tools)."""
        self._sync("write", [_item(writes, entry, entry_id) for writes, entry, entry_id in items])

    def reset(self) -> None:
        self._sync("reset")
        super().reset()

    def close(self) -> None:
        """Commit what is queued (requests in flight are answered), then close."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self._writer is not None:
                    self._sync("close", deadline=time.monotonic() + CLOSE_WAIT)
            except Exception as exc:
                log.error("SQLite store: the writer did not close cleanly: %s", exc)
            finally:
                self._stop_writer()


def _item(writes: Writes | None, entry: Any, entry_id: int | None) -> tuple:
    """A request's share of a batch, as the writer process reads it (sqlite_writer)."""
    changed = None
    if writes:
        changed = [(ns, key, None if raw is _DELETED else raw) for (ns, key), raw in writes.items()]
    if entry is None:
        return (changed, None, None, None, None)
    vendor, verdict = fields(entry)[:2]
    return (changed, _journal_row(entry, entry_id), entry_id, vendor, verdict)  # type: ignore[arg-type]


def _settle(waiters: list[asyncio.Future[None]], error: BaseException | None) -> None:
    """Answer the requests waiting on a batch, each on its own loop (at once on this one); a loop since closed
    has no one left to answer."""
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    for waiter in waiters:
        loop = waiter.get_loop()
        if loop is running:
            _answer(waiter, error)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(_answer, waiter, error)


def _answer(waiter: asyncio.Future[None], error: BaseException | None) -> None:
    if not waiter.done():  # a request cancelled meanwhile (its client went away) waits for nothing
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)


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
