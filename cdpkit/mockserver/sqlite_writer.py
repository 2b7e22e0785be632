"""The SQLite store's writer: the process that owns the database connection and commits the batches the mock
sends it (``python -P .../sqlite_writer.py PATH JOURNAL_LIMIT BUSY_TIMEOUT``, started by sqlite_link).

Why a process of its own (issue 9): a writer *thread* shares the interpreter lock with the event loop, and
every statement it steps gives the lock up and must win it back from a loop that is serving requests. Measured
on Zebline upserts (32 connections): the thread waited ~0.5 ms per batch for the lock at its first statement
alone, and a thread that only slept 1 ms per batch, touching no database, capped the mock at 9.8k requests/s,
against 12.7k for a child process that slept as long and answered through a pipe the loop reads itself.
Here the statements run beside the loop, not against it; the loop's cost per batch is one ``marshal`` and
two system calls.

The pipe protocol, both ways: a 4-byte little-endian length, then a ``marshal`` payload. The mock sends
``(op, number, payload)``; ``op`` is ``"write"`` (a list of items), ``"reset"`` or ``"close"``, and the number
(0 for a close) is committed with the message. The writer answers each message, in order, with ``None``
(committed) or ``(error type, message)`` (nothing of that message is on disk), and once, when it is ready, with
the number of the last message on disk: a message whose writer ended unanswered is sent again to the next
writer only if it is not there. Reaching the end of its input (the mock gone, even killed) it closes the
database and exits.

An item is ``(writes, row, entry id, vendor, verdict)``: ``writes`` a list of ``(ns, key, value)`` with
``None`` for a deleted key (or ``None``: nothing written), ``row`` the journal row's bytes (or ``None``: no entry).
"""

from __future__ import annotations

import collections
import marshal
import os
import signal
import sqlite3
import struct
import sys
from typing import Any

FRAME = struct.Struct("<I")

SCHEMA = """
PRAGMA journal_mode=WAL;
PRAGMA synchronous=FULL;
CREATE TABLE IF NOT EXISTS state (ns TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS journal (id INTEGER PRIMARY KEY, entry BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS counts (vendor TEXT NOT NULL, verdict TEXT NOT NULL, n INTEGER NOT NULL,
                                   PRIMARY KEY (vendor, verdict));
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
"""

Item = tuple  # (writes, row, entry id, vendor, verdict), as the module docstring says


class SqliteWriter:
    """The connection and where each key's row is: a key's new value is a new row at the table's end and its old
    row is deleted by the rowid kept here. No index on (ns, key): a random key (a Zebline trackID) dirtied the
    index's pages at random, two per upsert, each written to the WAL at every commit. A file of an older cdpkit,
    with that index, works as it is; a key found twice at open keeps its later row."""

    def __init__(self, path: str, journal_limit: int, busy_timeout: float = 5.0) -> None:
        self.journal_limit = journal_limit
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=busy_timeout)
        self.db.executescript(SCHEMA)
        self.rows: dict[str, dict[str, int]] = collections.defaultdict(dict)
        self.next_row = 1
        stale = []
        for row, ns, key in self.db.execute("SELECT rowid, ns, key FROM state ORDER BY rowid"):
            before = self.rows[ns].get(key)
            if before is not None:
                stale.append((before,))
            self.rows[ns][key] = row
            self.next_row = row + 1
        if stale:
            self.db.executemany("DELETE FROM state WHERE rowid = ?", stale)
        found = self.db.execute("SELECT v FROM meta WHERE k = 'seq'").fetchone()
        self.seq = found[0] if found else 0  # the number of the last message committed (the "ready" says it)

    def write(self, items: list[Item], seq: int = 0) -> None:
        """One transaction: every item's state writes and journal row, and the message's number ``seq`` (a new
        writer tells the mock the last one, so a message whose writer ended unanswered is sent again only if it
        is not on disk). A key written twice in the batch is written once, with its last value, and the counts
        grow once per (vendor, verdict) by the batch's number."""
        if not items and not seq:
            return
        final: dict[tuple[str, str], bytes | None] = {}
        journal: list[tuple[int, bytes]] = []
        counts: collections.Counter[tuple[str, str]] = collections.Counter()
        trim = None
        for writes, row, entry_id, vendor, verdict in items:
            if writes:
                for ns, key, value in writes:
                    final[(ns, key)] = value
            if row is not None:
                journal.append((entry_id, row))
                counts[(vendor, verdict)] += 1
                if entry_id % 256 == 0:
                    trim = entry_id - self.journal_limit
        where, next_row = self.rows, self.next_row
        old: list[tuple[int]] = []
        new: list[tuple[int, str, str, bytes]] = []
        for (ns, key), value in final.items():
            row = where[ns].get(key)
            if row is not None:
                old.append((row,))
            if value is not None:
                new.append((next_row, ns, key, value))
                next_row += 1
        db = self.db
        db.execute("BEGIN")
        try:
            db.executemany("DELETE FROM state WHERE rowid = ?", old)
            db.executemany("INSERT INTO state (rowid, ns, key, value) VALUES (?, ?, ?, ?)", new)
            db.executemany("INSERT INTO journal VALUES (?, ?)", journal)
            db.executemany("INSERT INTO counts VALUES (?, ?, ?) "
                           "ON CONFLICT(vendor, verdict) DO UPDATE SET n = n + excluded.n",
                           [(vendor, verdict, n) for (vendor, verdict), n in counts.items()])
            if trim is not None:
                db.execute("DELETE FROM journal WHERE id <= ?", (trim,))
            self._mark(seq)
            db.execute("COMMIT")
        except BaseException:
            _roll_back(db)
            raise
        for (ns, key), value in final.items():
            if value is None:
                where[ns].pop(key, None)
        for row, ns, key, _ in new:
            where[ns][key] = row
        self.next_row = next_row
        self.seq = seq or self.seq

    def reset(self, seq: int = 0) -> None:
        db = self.db
        db.execute("BEGIN")
        try:
            for table in ("state", "journal", "counts"):
                db.execute(f"DELETE FROM {table}")
            self._mark(seq)
            db.execute("COMMIT")
        except BaseException:
            _roll_back(db)
            raise
        self.rows.clear()
        self.seq = seq or self.seq

    def _mark(self, seq: int) -> None:
        if seq:
            self.db.execute("INSERT INTO meta VALUES ('seq', ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v", (seq,))

    def close(self) -> None:
        self.db.close()


def _roll_back(db: sqlite3.Connection) -> None:
    """End a failed transaction, if SQLite has not ended it itself (a full disk can), so that the error the
    mock hears is the one that failed it and the next message starts afresh."""
    if db.in_transaction:
        db.execute("ROLLBACK")


def read_frame(fd: int) -> bytes | None:
    """The next message's payload from ``fd`` (blocking), or None at the end of the input."""
    head = _read_exactly(fd, FRAME.size)
    if head is None:
        return None
    return _read_exactly(fd, FRAME.unpack(head)[0])


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def frame(value: Any) -> bytes:
    payload = marshal.dumps(value)
    return FRAME.pack(len(payload)) + payload


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def failure(exc: BaseException) -> tuple[str, str]:
    return (type(exc).__name__, str(exc))


def serve(writer: SqliteWriter, requests: int, replies: int) -> int:
    """Answer the mock's messages until it says close or goes away; the exit status."""
    while True:
        payload = read_frame(requests)
        if payload is None:  # the mock is gone: what it sent is committed, nothing is pending
            writer.close()
            return 0
        op, seq, argument = marshal.loads(payload)
        try:
            if op == "write":
                writer.write(argument, seq)
            elif op == "reset":
                writer.reset(seq)
            elif op == "close":
                writer.close()
                write_all(replies, frame(None))
                return 0
            else:
                raise ValueError(f"unknown operation {op!r}")
        except Exception as exc:  # the mock answers the batch's requests 503 with this; the writer carries on
            _roll_back(writer.db)
            write_all(replies, frame(failure(exc)))
            continue
        write_all(replies, frame(None))


def main(argv: list[str]) -> int:
    # Ctrl-C reaches the whole process group: the mock's shut-down sends what is queued, then "close"
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    replies = os.dup(1)
    os.dup2(2, 1)  # nothing printed may ever reach the replies
    path, journal_limit, busy_timeout = argv[1], int(argv[2]), float(argv[3])
    try:
        writer = SqliteWriter(path, journal_limit, busy_timeout)
    except Exception as exc:
        write_all(replies, frame(failure(exc)))
        return 1
    write_all(replies, frame(writer.seq))  # ready, and the number of the last message on disk
    return serve(writer, 0, replies)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
