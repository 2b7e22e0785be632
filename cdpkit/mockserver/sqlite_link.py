"""The mock's end of the SQLite writer process (:mod:`cdpkit.mockserver.sqlite_writer`): the queue of items, the
one message in flight, the pipes and the process's lifecycle.

Two ways to commit. Requests queue their items (:meth:`WriterLink.add`, on the event loop, never blocking):
the queue goes to the writer whenever nothing is in flight, written as the pipe takes it (``add_writer``), and
the loop reads the answer as it reads sockets (``add_reader``), settles the batch's waiters and sends what
queued meanwhile. The synchronous paths (a seed's commit, a reset, the close; :meth:`WriterLink.run`) send what
is queued first and block until the writer answers their own message, for SYNC_WAIT at most.

What the writer's end means. A message written whole and not answered may or may not be on disk: its waiters
get ``WriterGone`` (a 503), a synchronous path raises it, and a reset (which may be repeated) is sent again to a
new writer. A message the writer did not read whole (the pipe refused it; the writer ended first) reached no
writer, so a new one takes it. A writer that ends between messages is replaced when the next message is due.
A writer that cannot open the file fails what waits for it with its error. The loop never waits for a writer
to start: the new writer's "ready" is answered like any message, and the queue is sent then. A synchronous
path or the close that waits past its deadline kills the writer; the close then starts no other.
"""

from __future__ import annotations

import asyncio
import logging
import marshal
import os
import select
import sqlite3
import subprocess
import threading
import time
from typing import IO, Any

from cdpkit.mockserver.group_commit import settle as _settle
from cdpkit.mockserver.sqlite_writer import FRAME, frame

log = logging.getLogger("cdpkit.mock")

Waiters = list["asyncio.Future[None]"]
SYNC_WAIT = 10.0  # seconds a synchronous path on the event loop (a seed, a reset) waits for the writer: the
# writer's own lock wait (BUSY_TIMEOUT) and a commit; one with no loop running (the seeds at start) waits on
_REFUSED = object()  # _send's answer for a message no writer read whole


class WriteFailed(sqlite3.OperationalError):
    """A message the writer could not commit, or whose fate its end left unknown; ``cause`` says which, as the
    503 shows it (the writer's own error type, as it raised it)."""

    store_write_failed = True  # the control API answers it 503, as a vendor route does (control.store_outage)

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.cause = f"{kind}: {message}"
        self.gone = kind == "WriterGone"


class WriterLink:
    """The queue, the message in flight and the writer process (``command`` starts one). Every method runs
    under one lock: a synchronous path in another thread holds the loop's reader for one commit."""

    def __init__(self, command: list[str]) -> None:
        self._command = command
        self._lock = threading.RLock()
        self._items: list[Any] = []
        self._waiters: Waiters = []
        self._flight: Waiters | None = None  # the waiters of the message in flight, if one is
        self._starting = False  # the message in flight is a new writer's "ready"
        self._unsent: memoryview | None = None  # the part of the message in flight the pipe has not taken yet
        self._unsent_items: list[Any] = []  # that message's items: a new writer takes them if this one ends
        self._replies = bytearray()  # answers read, not yet whole
        self._proc: subprocess.Popen[bytes] | None = None
        self._watched: tuple[asyncio.AbstractEventLoop, int] | None = None  # the loop reading the answers, the fd
        self._writing: tuple[asyncio.AbstractEventLoop, int] | None = None  # the loop writing the unsent part
        self.closed = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # -- the event loop's path ---------------------------------------------------------------------------------

    def add(self, item: Any, waiter: asyncio.Future[None] | None, loop: asyncio.AbstractEventLoop) -> None:
        """Queue ``item`` (``waiter`` settled once it is committed); sent at once if nothing is in flight."""
        with self._lock:
            if self.closed:
                if waiter is not None:
                    waiter.set_exception(WriteFailed("StoreClosed", "the SQLite store is closed"))
                return
            self._items.append(item)
            if waiter is not None:
                self._waiters.append(waiter)
            if self._proc is not None and (self._watched is None or self._watched[0] is not loop):
                self._watch(loop)
            self._pump()

    def _pump(self) -> None:
        """Send the queue if nothing is in flight, starting a writer first if none is running."""
        if self._flight is not None or not self._items or self.closed:
            return
        if self._proc is None:
            self._spawn_for_queue()  # its "ready" pumps again
            return
        items, waiters = self._items, self._waiters
        self._items, self._waiters = [], []
        data = _encoded(("write", items), waiters)
        if data is not None and self._send(data, waiters, items, None) is _REFUSED:
            self._requeue(items, waiters)
            self._spawn_for_queue()

    def _requeue(self, items: list[Any], waiters: Waiters) -> None:
        """A message no writer read whole goes back to the queue's front, for the next writer."""
        self._items[:0], self._waiters[:0] = items, waiters

    def _spawn_for_queue(self) -> None:
        try:
            self._spawn()
        except OSError as exc:  # no process to be had (a limit reached): what is queued fails with why
            error = WriteFailed("WriterGone", f"the SQLite writer process could not start: {exc}")
            log.error("SQLite commit failed: %s", error.cause)
            waiters, self._waiters, self._items = self._waiters, [], []
            _settle(waiters, error)

    def _on_readable(self) -> None:
        with self._lock:
            self._read()
            self._pump()

    def _on_writable(self) -> None:
        with self._lock:
            self._write_unsent()
            self._pump()

    # -- the synchronous paths ---------------------------------------------------------------------------------

    def start(self, deadline: float) -> None:
        """Start the writer and wait until it is ready: its failure to open the file is raised here."""
        with self._lock:
            error = self._ready(deadline)
        if error is not None:
            raise error

    def run(self, op: str, argument: Any = None, deadline: float | None = None) -> None:
        """``op`` after what is queued, answered before this returns (on an event loop within SYNC_WAIT, unless
        ``deadline`` says otherwise); its error is raised. A write goes in one message with the queue (whose
        waiters hear its outcome too); another op after the queue's own."""
        if deadline is None and _running_loop() is not None:
            deadline = time.monotonic() + SYNC_WAIT
        with self._lock:
            error = self._run(op, argument, deadline)
        if error is not None:
            raise error

    def _run(self, op: str, argument: Any, deadline: float | None) -> BaseException | None:
        self._wait(deadline)  # a batch in flight: its outcome is its waiters'
        items, waiters = self._items, self._waiters
        self._items, self._waiters = [], []
        if op == "write":
            return self._exchange(("write", items + argument), waiters, deadline)
        if items:
            self._exchange(("write", items), waiters, deadline)
        if op == "close" and self._proc is None:  # no writer left to close: none is started for that
            return None
        return self._exchange((op, argument), [], deadline, again=op == "reset")

    def _exchange(self, message: tuple, waiters: Waiters, deadline: float | None,
                  again: bool = False) -> BaseException | None:
        """Send ``message`` and wait for its answer. A new writer takes it when none read it whole (also when the
        one started for it ended first), and with ``again`` (a reset: doing it twice is doing it once) when its
        writer ended without answering."""
        data = _encoded(message, waiters)
        if data is None:
            return WriteFailed("EncodeError", "a batch the writer's pipe cannot carry")
        error: BaseException | None = None
        for _ in range(3):
            error = self._ready(deadline)
            if error is None:
                flight = waiters if not again else []  # a reset's own waiters hear only its last outcome
                sent = self._send(data, flight, None, deadline)
                if sent is _REFUSED:
                    continue
                error = sent if sent is not None else self._wait(deadline)
                if not (again and getattr(error, "gone", False) and not _past(deadline)):
                    break
            elif not getattr(error, "gone", False) or _past(deadline):
                break
        else:
            error = error or WriteFailed("WriterGone", "three SQLite writer processes ended before reading a batch")
        if error is not None or again:
            _settle(waiters, error)
        return error

    def _ready(self, deadline: float | None) -> BaseException | None:
        """A writer ready for a message (started if none is), or why there is none."""
        if self._proc is None:
            if _past(deadline):
                return WriteFailed("WriterGone", "no SQLite writer process, and no time left to start one")
            try:
                self._spawn()
            except OSError as exc:
                return WriteFailed("WriterGone", f"the SQLite writer process could not start: {exc}")
        if self._starting:
            return self._wait(deadline)
        return None

    def _wait(self, deadline: float | None) -> BaseException | None:
        """Block until the message in flight is answered (or the writer ends), writing what the pipe has not
        taken of it yet; its error. Past ``deadline`` the writer is killed and the message answered as lost."""
        error = None
        while self._flight is not None and self._proc is not None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return self._ended(TimeoutError("no answer in time"), kill=True)
            unsent = [self._proc.stdin] if self._unsent is not None else []
            readable, writable, _ = select.select([self._stdout()], unsent, [], left)  # type: ignore[list-item]
            if writable:
                self._write_unsent()
            if readable:
                error = self._read()
        return error

    def close(self, deadline: float) -> None:
        """Commit what is queued, then end the writer; past ``deadline``, kill it and start no other."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            try:
                if self._items or self._proc is not None:
                    error = self._run("close", None, deadline)
                    if error is not None:
                        log.error("SQLite store: the writer did not close cleanly: %s", _cause(error))
            finally:
                self._stop(kill=self._proc is not None and self._proc.poll() is None)

    # -- the pipes ---------------------------------------------------------------------------------------------

    def _spawn(self) -> None:
        proc = subprocess.Popen(self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        os.set_blocking(proc.stdout.fileno(), False)  # type: ignore[union-attr]
        os.set_blocking(proc.stdin.fileno(), False)  # type: ignore[union-attr]
        self._proc, self._flight, self._starting = proc, [], True
        self._replies.clear()
        loop = _running_loop()  # a synchronous path with no loop here reads the answers itself
        if loop is not None:
            self._watch(loop)

    def _stdout(self) -> IO[bytes]:
        return self._proc.stdout  # type: ignore[union-attr,return-value]

    def _send(self, data: bytes, waiters: Waiters, items: list[Any] | None, deadline: float | None) -> Any:
        """Start writing ``data``, ``waiters`` then in flight. On the loop (``items`` given) what the pipe does
        not take at once is written as it drains; on a synchronous path, until ``deadline``. None once sent (or
        being sent); _REFUSED if the writer ended before reading it whole (that writer is stopped, nothing is in
        flight); the error if the deadline passed first (the writer killed)."""
        self._flight = waiters
        self._unsent, self._unsent_items = memoryview(data), items or []
        if not self._write_unsent(requeue=False):
            self._flight = None
            return _REFUSED
        if self._unsent is None:
            return None
        if items is not None:
            loop = _running_loop()
            if loop is not None:
                fd = self._proc.stdin.fileno()  # type: ignore[union-attr]
                loop.add_writer(fd, self._on_writable)
                self._writing = (loop, fd)
                return None
        while self._unsent is not None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                self._unsent = None
                return self._ended(TimeoutError("the writer did not read its message in time"), kill=True)
            select.select([], [self._proc.stdin], [], left)  # type: ignore[list-item,union-attr]
            if not self._write_unsent(requeue=False):
                self._flight = None
                return _REFUSED
        return None

    def _write_unsent(self, requeue: bool = True) -> bool:
        """Write what the pipe takes of the message in flight; False if the writer ended before reading it whole
        (stopped; with ``requeue``, the message back at the queue's front for the next writer)."""
        if self._unsent is None or self._proc is None:
            return True
        try:
            written = os.write(self._proc.stdin.fileno(), self._unsent)  # type: ignore[union-attr]
        except BlockingIOError:
            return True
        except OSError:
            items, waiters = self._unsent_items, self._flight or []
            self._unsent, self._unsent_items, self._flight = None, [], None
            self._stop(kill=True)
            if requeue:
                self._requeue(items, waiters)
            return False
        self._unsent = self._unsent[written:] if written < len(self._unsent) else None
        if self._unsent is None:
            self._unsent_items = []
            self._forget_writing()
        return True

    def _read(self) -> BaseException | None:
        """Settle the messages the writer answered; the last one's error, or the writer's end's. Answers read
        before the end count (the writer answers "close", then exits)."""
        error, ended, cause, proc = None, False, None, self._proc
        while proc is not None and self._proc is proc:
            try:
                chunk = os.read(self._stdout().fileno(), 1 << 16)
            except BlockingIOError:
                break
            except OSError as exc:
                ended, cause = True, exc
                break
            if not chunk:
                ended = True
                break
            self._replies += chunk
        while len(self._replies) >= FRAME.size:
            (size,) = FRAME.unpack_from(self._replies)
            if len(self._replies) < FRAME.size + size:
                break
            reply = marshal.loads(bytes(self._replies[FRAME.size:FRAME.size + size]))
            del self._replies[:FRAME.size + size]
            error = None if reply is None else WriteFailed(*reply)
            self._answered(error)
        if ended and self._proc is proc:
            error = self._ended(cause) or error
        return error

    def _answered(self, error: BaseException | None) -> None:
        waiters, self._flight = self._flight or [], None
        starting, self._starting = self._starting, False
        if error is not None:
            log.error("SQLite commit failed: %s", _cause(error))
            if starting:  # no writer could open the file: what waits for one fails with why, and it exits
                waiters, self._waiters, self._items = waiters + self._waiters, [], []
                self._stop(kill=True)
        _settle(waiters, error)

    def _ended(self, cause: BaseException | None, kill: bool = False) -> BaseException | None:
        """The writer ended (or, ``kill``, is ended). A message it did not read whole goes to the next writer; one
        it read and did not answer fails with that, its error returned; with nothing in flight, the next message
        starts a new writer."""
        proc = self._proc
        if self._unsent is not None:
            items, waiters = self._unsent_items, self._flight or []
            self._unsent, self._unsent_items, self._flight = None, [], None
            if items:
                self._requeue(items, waiters)
        self._stop(kill)
        code = proc.returncode if proc is not None else None
        if self._flight is None:
            if not self.closed:
                log.warning("the SQLite writer process ended between batches (exit status %s); a new one "
                            "takes the next", code)
            return None
        error = WriteFailed("WriterGone", f"the SQLite writer process ended (exit status {code}"
                            + (f", {cause}" if cause is not None else "") + ")")
        self._answered(error)
        return error

    def _stop(self, kill: bool = False) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        self._starting = False
        writing, self._writing = self._writing, None
        _forget_on(writing, "writer", proc.stdin)  # type: ignore[arg-type]
        self._unwatch(proc.stdout)  # type: ignore[arg-type]
        if kill:
            proc.kill()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Have ``loop`` (this thread's) read the writer's answers; a loop that read them before stops. Nothing
        waits for a message in flight: whichever loop reads its answer hands each waiter to its own loop."""
        if self._watched is not None:
            self._unwatch(None)
        if self._proc is not None:
            fd = self._stdout().fileno()
            loop.add_reader(fd, self._on_readable)
            self._watched = (loop, fd)

    def _unwatch(self, pipe: IO[bytes] | None) -> None:
        """Stop reading on the loop that does, then close ``pipe``. From another thread, both happen on that loop:
        closed first, the pipe's descriptor could be reused by a new writer's before the loop forgot it."""
        watched, self._watched = self._watched, None
        _forget_on(watched, "reader", pipe)

    def _forget_writing(self) -> None:
        writing, self._writing = self._writing, None
        _forget_on(writing, "writer", None)


def _forget_on(registered: tuple[asyncio.AbstractEventLoop, int] | None, kind: str, pipe: IO[bytes] | None) -> None:
    """Remove a reader or writer from its loop, then close ``pipe``: from another thread, both on that loop, so
    that the descriptor is not reused by a new writer's pipe before the loop has forgotten it."""
    if registered is None or registered[0].is_closed():
        if pipe is not None:
            pipe.close()
        return
    loop, fd = registered
    if _running_loop() is loop:
        _forget(loop, kind, fd, pipe)
    else:
        loop.call_soon_threadsafe(_forget, loop, kind, fd, pipe)


def _forget(loop: asyncio.AbstractEventLoop, kind: str, fd: int, pipe: IO[bytes] | None) -> None:
    (loop.remove_reader if kind == "reader" else loop.remove_writer)(fd)
    if pipe is not None:
        pipe.close()


def _encoded(message: tuple, waiters: Waiters) -> bytes | None:
    """The message as the pipe carries it; None, its waiters answered with why, if marshal cannot write it (the
    writer carries on: only this batch fails)."""
    try:
        return frame(message)
    except Exception as exc:
        error = WriteFailed("EncodeError", f"a batch the writer's pipe cannot carry: {exc}")
        log.error("SQLite commit failed: %s", error.cause)
        _settle(waiters, error)
        return None


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def _cause(error: BaseException) -> str:
    return getattr(error, "cause", None) or f"{type(error).__name__}: {error}"


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
