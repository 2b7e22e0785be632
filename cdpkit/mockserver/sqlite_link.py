"""The mock's end of the SQLite writer process (:mod:`cdpkit.mockserver.sqlite_writer`): the queue of items, the
one message in flight, the pipes and the process's lifecycle.

Two ways to commit. Requests queue their items (:meth:`WriterLink.add`, on the event loop, never blocking):
the queue goes to the writer whenever nothing is in flight, written as the pipe takes it (``add_writer``), and
the loop reads the answer as it reads sockets (``add_reader``), settles the batch's waiters and sends what
queued meanwhile. The synchronous paths (a seed's commit, a reset, the close; :meth:`WriterLink.run`) send what
is queued first and block until the writer answers their own message, for SYNC_WAIT at most on an event loop.

What the writer's end means. Every message carries a number the writer commits with it, and a new writer's
"ready" says the last number on disk. A message the writer did not read whole reached no writer, and one it
read but did not answer is in doubt: either way the next writer settles it, answering its requests if it is on
disk and taking it again if not, so nothing is committed twice and nothing a writer never committed is lost. A
writer that ends as it starts, or cannot open the file, fails what waits for it with why (it is not restarted
in a loop). The loop never waits for a writer to start: the new writer's "ready" is answered like any message.
A synchronous path or the close that waits past its deadline kills the writer; the close then starts no other.
"""

from __future__ import annotations

import asyncio
import logging
import marshal
import os
import subprocess
import threading
import time
from typing import IO, Any

from cdpkit.mockserver.group_commit import settle as _settle
from cdpkit.mockserver.sqlite_pipe import (  # noqa: F401  (WriteFailed: this module's API)
    WriteFailed, Waiters, cause, encoded, forget_on, past, poll, running_loop,
)
from cdpkit.mockserver.sqlite_writer import FRAME

log = logging.getLogger("cdpkit.mock")

SYNC_WAIT = 10.0  # seconds a synchronous path on the event loop (a seed, a reset) waits for the writer: the
# writer's own lock wait (BUSY_TIMEOUT) and a commit; one with no loop running (the seeds at start) waits on
_REFUSED = object()  # _send's answer for a message no writer read whole


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
        self._sent: tuple[int, bytes, list[Any] | None] = (0, b"", None)  # in flight: its number, bytes, items
        self._seq = 0  # the number of the last message sent (the writer commits it with the message)
        self._committed = 0  # the number of the last message known committed
        self._doubt: tuple[int, bytes, Waiters] | None = None  # read whole by a writer that ended unanswered
        self._unsent: memoryview | None = None  # the part of the message in flight the pipe has not taken yet
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
        """Send what is due if nothing is in flight (a message in doubt first, then the queue), starting a writer
        first if none is running."""
        if self._flight is not None or self.closed or (not self._items and self._doubt is None):
            return
        if self._proc is None:
            self._spawn_for_queue()  # its "ready" settles the doubt, if any, and pumps again
            return
        if self._doubt is not None:
            seq, data, waiters = self._doubt
            self._doubt = None
            if self._send(seq, data, waiters, None, None) is _REFUSED:
                self._doubt = (seq, data, waiters)
                self._spawn_for_queue()
            return
        items, waiters = self._items, self._waiters
        self._items, self._waiters = [], []
        seq, data = self._message("write", items, waiters)
        if data is not None and self._send(seq, data, waiters, items, None) is _REFUSED:
            self._requeue(items, waiters)
            self._spawn_for_queue()

    def _message(self, op: str, argument: Any, waiters: Waiters) -> tuple[int, bytes | None]:
        """The next message's number and bytes (None, its waiters answered, if marshal cannot write it)."""
        self._seq += 1
        return self._seq, encoded((op, self._seq, argument), waiters)

    def _requeue(self, items: list[Any], waiters: Waiters) -> None:
        """A message no writer read whole goes back to the queue's front, for the next writer."""
        self._items[:0], self._waiters[:0] = items, waiters

    def _spawn_for_queue(self) -> None:
        try:
            self._spawn()
        except OSError as exc:  # no process to be had (a limit reached): what waits fails with why
            self._give_up(WriteFailed("WriterGone", f"the SQLite writer process could not start: {exc}"))

    def _give_up(self, error: BaseException) -> None:
        """No writer will take what waits (the queue, a message in doubt): its requests hear why."""
        waiters, self._waiters, self._items = self._waiters, [], []
        if self._doubt is not None:
            waiters, self._doubt = self._doubt[2] + waiters, None
        if waiters:
            log.error("SQLite commit failed: %s", cause(error))
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
        if deadline is None and running_loop() is not None:
            deadline = time.monotonic() + SYNC_WAIT
        with self._lock:
            error = self._run(op, argument, deadline)
        if error is not None:
            raise error

    def _run(self, op: str, argument: Any, deadline: float | None) -> BaseException | None:
        self._wait(deadline)  # a batch in flight: its outcome is its waiters'
        if self._doubt is not None:  # read by a writer that ended: the next one says whether it is on disk
            seq, data, waiters = self._doubt
            self._doubt = None
            self._exchange(seq, data, waiters, deadline)
        items, waiters = self._items, self._waiters
        self._items, self._waiters = [], []
        if op == "write":  # one message with the queue, whose waiters hear its outcome
            return self._commit_now("write", items + argument, waiters, deadline)
        if items:
            self._commit_now("write", items, waiters, deadline)
        if op == "close" and self._proc is None:  # no writer left to close: none is started for that
            return None
        return self._commit_now(op, argument, [], deadline)

    def _commit_now(self, op: str, argument: Any, waiters: Waiters, deadline: float | None) -> BaseException | None:
        """Message ``op`` (numbered, but for a close, which commits nothing), sent and answered now; its error."""
        seq, data = (0, encoded(("close", 0, None), waiters)) if op == "close" else self._message(op, argument, waiters)
        if data is None:
            return WriteFailed("EncodeError", "a batch the writer's pipe cannot carry")
        return self._exchange(seq, data, waiters, deadline)

    def _exchange(self, seq: int, data: bytes, waiters: Waiters, deadline: float | None) -> BaseException | None:
        """Send message ``seq`` and wait for its answer. A new writer takes it when none read it whole (also when
        the one started for it ended first); when its writer ended without answering, the next writer's "ready"
        says whether it is on disk, and it is sent again if not."""
        error: BaseException | None = None
        for _ in range(3):
            error = self._ready(deadline)
            if error is not None:
                if not getattr(error, "gone", False) or past(deadline):
                    break
                continue
            if self._doubt is not None and self._doubt[0] == seq:
                self._doubt = None  # not on disk: sent again below
            elif seq and self._committed >= seq:
                return None  # on disk before its writer ended (the "ready" answered its waiters)
            sent = self._send(seq, data, waiters, None, deadline)
            if sent is _REFUSED:
                continue
            error = sent if sent is not None else self._wait(deadline)
            if error is None or not getattr(error, "gone", False) or past(deadline):
                break
        else:
            error = error or WriteFailed("WriterGone", "three SQLite writer processes ended before answering")
        if error is not None:
            if self._doubt is not None and self._doubt[0] == seq:
                self._doubt = None
            _settle(waiters, error)
        return error

    def _ready(self, deadline: float | None) -> BaseException | None:
        """A writer ready for a message (started if none is), or why there is none."""
        if self._proc is None:
            if past(deadline):
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
            readable, writable = poll(self._stdout().fileno(),
                                       self._proc.stdin.fileno() if self._unsent is not None else None,  # type: ignore[union-attr]
                                       left)
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
                        log.error("SQLite store: the writer did not close cleanly: %s", cause(error))
            finally:
                self._stop(kill=self._proc is not None and self._proc.poll() is None)
                if self._doubt is not None or self._waiters:
                    self._give_up(WriteFailed("WriterGone", "the SQLite store closed before a writer answered"))

    # -- the pipes ---------------------------------------------------------------------------------------------

    def _spawn(self) -> None:
        proc = subprocess.Popen(self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        os.set_blocking(proc.stdout.fileno(), False)  # type: ignore[union-attr]
        os.set_blocking(proc.stdin.fileno(), False)  # type: ignore[union-attr]
        self._proc, self._flight, self._starting = proc, [], True
        self._replies.clear()
        loop = running_loop()  # a synchronous path with no loop here reads the answers itself
        if loop is not None:
            self._watch(loop)

    def _stdout(self) -> IO[bytes]:
        return self._proc.stdout  # type: ignore[union-attr,return-value]

    def _send(self, seq: int, data: bytes, waiters: Waiters, items: list[Any] | None,
              deadline: float | None) -> Any:
        """Start writing message ``seq``, ``waiters`` then in flight. On the loop (``items`` given: from the
        queue; or none from a synchronous path) what the pipe does not take at once is written as it drains;
        on a synchronous path, until ``deadline``. None once sent (or being sent); _REFUSED if the writer ended
        before reading it whole (that writer is stopped, nothing is in flight); the error if the deadline passed
        first (the writer killed)."""
        self._flight, self._sent = waiters, (seq, data, items)
        self._unsent = memoryview(data)
        if not self._write_unsent(requeue=False):
            self._flight = None
            return _REFUSED
        if self._unsent is None:
            return None
        loop = running_loop() if deadline is None else None
        if loop is not None:
            fd = self._proc.stdin.fileno()  # type: ignore[union-attr]
            loop.add_writer(fd, self._on_writable)
            self._writing = (loop, fd)
            return None
        while self._unsent is not None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                self._unsent = None
                self._flight = None
                self._stop(kill=True)
                error = WriteFailed("WriterGone", "the SQLite writer process did not read its message in time")
                _settle(waiters, error)
                return error
            poll(None, self._proc.stdin.fileno(), left)  # type: ignore[union-attr]
            if not self._write_unsent(requeue=False):
                self._flight = None
                return _REFUSED
        return None

    def _write_unsent(self, requeue: bool = True) -> bool:
        """Write what the pipe takes of the message in flight; False if the writer ended before reading it whole
        (stopped; with ``requeue``, the message goes to the next writer: back in the queue, or in doubt still)."""
        if self._unsent is None or self._proc is None:
            return True
        try:
            written = os.write(self._proc.stdin.fileno(), self._unsent)  # type: ignore[union-attr]
        except BlockingIOError:
            return True
        except OSError:
            waiters = self._flight or []
            self._unsent, self._flight = None, None
            self._stop(kill=True)
            if requeue:
                self._unread(waiters)
            return False
        self._unsent = self._unsent[written:] if written < len(self._unsent) else None
        if self._unsent is None:
            self._forget_writing()
        return True

    def _unread(self, waiters: Waiters) -> None:
        """The message in flight reached no writer whole: a new one takes it, from the queue's front (or, a
        message in doubt, as it is)."""
        seq, data, items = self._sent
        if items is not None:
            self._requeue(items, waiters)
        else:
            self._doubt = (seq, data, waiters)

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
            error = WriteFailed(*reply) if type(reply) is tuple else None
            self._answered(error, reply if type(reply) is int else None)
        if ended and self._proc is proc:
            error = self._ended(cause) or error
        return error

    def _answered(self, error: BaseException | None, committed: int | None = None) -> None:
        """The message in flight answered: with ``error``, or, a new writer's "ready", with the number of the last
        message on disk (which settles a message in doubt: answered if it is on disk, sent again if not)."""
        waiters, self._flight = self._flight or [], None
        starting, self._starting = self._starting, False
        if error is not None:
            if starting:  # no writer could open the file: what waits for one fails with why, and it exits
                self._stop(kill=True)
                self._give_up(error)
            else:
                log.error("SQLite commit failed: %s", cause(error))
        elif committed is not None:
            self._committed = max(self._committed, committed)
            self._seq = max(self._seq, committed)
            if self._doubt is not None and self._doubt[0] <= committed:
                waiters, self._doubt = waiters + self._doubt[2], None
        elif self._sent[0]:
            self._committed = max(self._committed, self._sent[0])
        _settle(waiters, error)

    def _ended(self, cause: BaseException | None, kill: bool = False) -> BaseException | None:
        """The writer ended (or, ``kill``, is ended). A message it did not read whole goes to the next writer, and
        so does one it read and did not answer (in doubt: the next writer's "ready" says whether it is on disk).
        Returns an error that says so (a synchronous path's wait ends with it) if a message was in flight."""
        proc, starting = self._proc, self._starting
        in_flight = self._flight is not None
        if self._unsent is not None:
            waiters = self._flight or []
            self._unsent, self._flight = None, None
            self._unread(waiters)
        self._stop(kill)
        code = proc.returncode if proc is not None else None
        error = WriteFailed("WriterGone", f"the SQLite writer process ended (exit status {code}"
                            + (f", {cause}" if cause is not None else "") + ")")
        if self._flight is None:
            if not self.closed and not in_flight:
                log.warning("the SQLite writer process ended between batches (exit status %s); a new one "
                            "takes the next", code)
            return error if in_flight else None
        waiters, self._flight = self._flight, None
        if starting:  # what waits for it fails with why (a writer that cannot start is not retried at once)
            self._starting = False
            self._give_up(WriteFailed("WriterGone", f"the SQLite writer process ended as it started (exit status {code})"))
            return error
        seq, data, _ = self._sent
        if seq:
            self._doubt = (seq, data, waiters)
        else:  # the close: nothing to commit
            _settle(waiters, error)
        return error

    def _stop(self, kill: bool = False) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        self._starting = False
        writing, self._writing = self._writing, None
        forget_on(writing, "writer", proc.stdin)  # type: ignore[arg-type]
        self._unwatch(proc.stdout)  # type: ignore[arg-type]
        if kill:
            proc.kill()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:  # stuck in the kernel (a disk that hangs): left to the system
                log.error("the SQLite writer process %s does not end", proc.pid)

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
        forget_on(watched, "reader", pipe)

    def _forget_writing(self) -> None:
        writing, self._writing = self._writing, None
        forget_on(writing, "writer", None)
