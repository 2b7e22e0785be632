"""What the SQLite store's link to its writer process (sqlite_link.py) needs of pipes and event loops: the
error a batch fails with, waiting on descriptors, and forgetting a descriptor on the loop that watches it."""

from __future__ import annotations

import asyncio
import logging
import select
import sqlite3
import time
from typing import IO

from cdpkit.mockserver.group_commit import settle
from cdpkit.mockserver.sqlite_writer import frame

log = logging.getLogger("cdpkit.mock")

Waiters = list["asyncio.Future[None]"]


class WriteFailed(sqlite3.OperationalError):
    """A message the writer could not commit, or whose fate its end left unknown; ``cause`` says which, as the
    503 shows it (the writer's own error type, as it raised it)."""

    store_write_failed = True  # the control API answers it 503, as a vendor route does (control.store_outage)

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.cause = f"{kind}: {message}"
        self.gone = kind == "WriterGone"


def forget_on(registered: tuple[asyncio.AbstractEventLoop, int] | None, kind: str, pipe: IO[bytes] | None) -> None:
    """Remove a reader or writer from its loop, then close ``pipe``: from another thread, both on that loop, so
    that the descriptor is not reused by a new writer's pipe before the loop has forgotten it."""
    if registered is None or registered[0].is_closed():
        if pipe is not None:
            pipe.close()
        return
    loop, fd = registered
    if running_loop() is loop:
        _forget(loop, kind, fd, pipe)
    else:
        loop.call_soon_threadsafe(_forget, loop, kind, fd, pipe)


def _forget(loop: asyncio.AbstractEventLoop, kind: str, fd: int, pipe: IO[bytes] | None) -> None:
    (loop.remove_reader if kind == "reader" else loop.remove_writer)(fd)
    if pipe is not None:
        pipe.close()


def encoded(message: tuple, waiters: Waiters) -> bytes | None:
    """The message as the pipe carries it; None, its waiters answered with why, if marshal cannot write it (the
    writer carries on: only this batch fails)."""
    try:
        return frame(message)
    except Exception as exc:
        error = WriteFailed("EncodeError", f"a batch the writer's pipe cannot carry: {exc}")
        log.error("SQLite commit failed: %s", error.cause)
        settle(waiters, error)
        return None


def poll(read_fd: int | None, write_fd: int | None, timeout: float | None) -> tuple[bool, bool]:
    """Whether ``read_fd`` has something to read and ``write_fd`` room to write, waiting up to ``timeout``
    seconds (poll, not select: a mock with a thousand clients has descriptors select cannot take)."""
    poller = select.poll()
    if read_fd is not None:
        poller.register(read_fd, select.POLLIN)
    if write_fd is not None:
        poller.register(write_fd, select.POLLOUT)
    events = dict(poller.poll(None if timeout is None else max(0, int(timeout * 1000) + 1)))
    return bool(read_fd is not None and events.get(read_fd, 0)), bool(write_fd is not None and events.get(write_fd, 0))


def past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def cause(error: BaseException) -> str:
    return getattr(error, "cause", None) or f"{type(error).__name__}: {error}"


def running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
