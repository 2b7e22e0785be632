"""The mock's end of the SQLite writer process (:mod:`cdpkit.mockserver.sqlite_writer`): the queue of items, the
one message in flight, the pipes and the process's lifecycle.

Two ways to commit. Requests queue their items (:meth:`WriterLink.add`, on the event loop, never blocking):
the queue goes to the writer whenever nothing is in flight, and the loop reads the answer as it reads sockets
(``add_reader``), settles the batch's waiters and sends what queued meanwhile. The synchronous paths (a
seed's commit, a reset, the close; :meth:`WriterLink.run`) send what is queued first and block until the writer
answers their own message.

What the writer's end means. A message written whole and not answered may or may not be on disk: its waiters
get ``WriterGone`` (a 503) and a synchronous path raises it. A message the pipe refused (the writer was gone
before it read it) reached no writer, so it goes to a new one. A writer that ends between messages is replaced
when the next message is due. A writer that cannot start (the file unusable) fails the queue with its error.
The loop never waits for a writer to start: the new writer's "ready" is answered like any message, and the
queue is sent then. The close waits until its deadline, then kills the writer and starts no other.
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

from cdpkit.mockserver.sqlite_writer import FRAME, frame, write_all

log = logging.getLogger("cdpkit.mock")

Waiters = list["asyncio.Future[None]"]


class WriteFailed(sqlite3.OperationalError):
    """A message the writer could not commit, or whose fate its end left unknown; ``cause`` says which, as the
    503 shows it (the writer's own error type, as it raised it)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.cause = f"{kind}: {message}"


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
        self._replies = bytearray()  # answers read, not yet whole
        self._proc: subprocess.Popen[bytes] | None = None
        self._watched: tuple[asyncio.AbstractEventLoop, int] | None = None  # the loop reading the answers, the fd
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
        if data is not None and not self._send(data, waiters):  # it reached no writer: the next one takes it
            self._items[:0], self._waiters[:0] = items, waiters
            self._spawn_for_queue()

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

    # -- the synchronous paths ---------------------------------------------------------------------------------

    def start(self, deadline: float) -> None:
        """Start the writer and wait until it is ready: its failure to open the file is raised here."""
        with self._lock:
            error = self._ready(deadline)
        if error is not None:
            raise error

    def run(self, op: str, argument: Any = None, deadline: float | None = None) -> None:
        """``op`` after what is queued, answered before this returns; its error is raised. A write goes in one
        message with the queue (whose waiters hear its outcome too); another op after the queue's own."""
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
        return self._exchange((op, argument), [], deadline)

    def _exchange(self, message: tuple, waiters: Waiters, deadline: float | None) -> BaseException | None:
        """Send ``message`` and wait for its answer (a new writer if the pipe refuses it: it reached none)."""
        data = _encoded(message, waiters)
        if data is None:
            return WriteFailed("EncodeError", "a batch the writer's pipe cannot carry")
        for _ in range(2):
            error = self._ready(deadline)
            if error is not None:
                _settle(waiters, error)
                return error
            if self._send(data, waiters):
                return self._wait(deadline)
        error = WriteFailed("WriterGone", "two SQLite writer processes ended before reading a batch")
        _settle(waiters, error)
        return error

    def _ready(self, deadline: float | None) -> BaseException | None:
        """A writer ready for a message (started if none is), or why there is none."""
        if self._proc is None:
            if self.closed and deadline is not None and time.monotonic() >= deadline:
                return WriteFailed("WriterGone", "the SQLite store's close ran out of time")
            try:
                self._spawn()
            except OSError as exc:
                return WriteFailed("WriterGone", f"the SQLite writer process could not start: {exc}")
        if self._starting:
            return self._wait(deadline)
        return None

    def _wait(self, deadline: float | None) -> BaseException | None:
        """Block until the message in flight is answered (or the writer ends); its error. Past ``deadline``
        the writer is killed and the message answered as lost."""
        error = None
        while self._flight is not None and self._proc is not None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return self._ended(TimeoutError("no answer before the close's deadline"), kill=True)
            select.select([self._stdout()], [], [], left)
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
        self._proc, self._flight, self._starting = proc, [], True
        self._replies.clear()
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # a synchronous path with no loop here reads the answers itself
            loop = None
        if loop is not None:
            self._watch(loop)

    def _stdout(self) -> IO[bytes]:
        return self._proc.stdout  # type: ignore[union-attr,return-value]

    def _send(self, data: bytes, waiters: Waiters) -> bool:
        """Write ``data`` whole, ``waiters`` then in flight; False if the pipe refused it (the writer ended
        before reading it all, so it committed none of it): that writer is stopped, nothing is in flight."""
        self._flight = waiters
        try:
            write_all(self._proc.stdin.fileno(), data)  # type: ignore[union-attr]
        except OSError:
            self._flight = None
            self._stop(kill=True)
            return False
        return True

    def _read(self) -> BaseException | None:
        """Settle the messages the writer answered; the last one's error, or the writer's end's. Answers read
        before the end count (the writer answers "close", then exits)."""
        error, ended, cause = None, False, None
        while self._proc is not None:
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
        if ended:
            error = self._ended(cause) or error
        return error

    def _answered(self, error: BaseException | None) -> None:
        waiters, self._flight = self._flight or [], None
        starting, self._starting = self._starting, False
        if error is not None:
            log.error("SQLite commit failed: %s", _cause(error))
            if starting:  # no writer could open the file: what waits for one fails with why
                waiters, self._waiters, self._items = waiters + self._waiters, [], []
        _settle(waiters, error)

    def _ended(self, cause: BaseException | None, kill: bool = False) -> BaseException | None:
        """The writer ended (or, ``kill``, is ended): the message in flight fails with that, its error
        returned; with nothing in flight, the next message starts a new writer."""
        proc = self._proc
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
        proc.stdin.close()  # type: ignore[union-attr]
        self._unwatch(proc.stdout)  # type: ignore[arg-type]
        if kill:
            proc.kill()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Have ``loop`` (this thread's) read the writer's answers; a loop that read them before stops."""
        if self._watched is not None:
            if self._flight is not None:
                self._wait(None)  # answered to the waiters of the loop that sent it
            self._unwatch(None)
        if self._proc is not None:
            fd = self._stdout().fileno()
            loop.add_reader(fd, self._on_readable)
            self._watched = (loop, fd)

    def _unwatch(self, pipe: IO[bytes] | None) -> None:
        """Stop reading on the loop that does, then close ``pipe``. From another thread, both happen on that loop:
        closed first, the pipe's descriptor could be reused by a new writer's before the loop forgot it."""
        watched, self._watched = self._watched, None
        if watched is None or watched[0].is_closed():
            if pipe is not None:
                pipe.close()
            return
        loop, fd = watched
        if _running_loop() is loop:
            loop.remove_reader(fd)
            if pipe is not None:
                pipe.close()
        else:
            loop.call_soon_threadsafe(_forget, loop, fd, pipe)


def _forget(loop: asyncio.AbstractEventLoop, fd: int, pipe: IO[bytes] | None) -> None:
    loop.remove_reader(fd)
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


def _cause(error: BaseException) -> str:
    return getattr(error, "cause", None) or f"{type(error).__name__}: {error}"


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _settle(waiters: Waiters, error: BaseException | None) -> None:
    """Answer the requests waiting on a message, each on its own loop (at once on this one); a loop since
    closed has no one left to answer."""
    running = _running_loop()
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
