"""The SQLite store's writer process (sqlite_link.py, sqlite_writer.py): what its end, a stuck disk and odd input
do to the promises. Nothing acknowledged is lost, a message that reached no writer goes to the next, a close
never hangs, an answer read with the writer's end still counts. Each case is one an adversarial review
reproduced on the first version; each test was checked to fail with its fix taken out."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from cdpkit.mockserver import sqlite_link, sqlite_store
from cdpkit.mockserver.sqlite_store import SqliteStore
from cdpkit.mockserver.store import _dumps


def keys_on_disk(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return sorted(key for (key,) in db.execute("SELECT key FROM state"))


def kill_idle_writer(store: SqliteStore) -> int:
    pid = store._link.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.1)  # dead, and its end not yet read by anyone
    return pid


def test_a_synchronous_commit_after_the_writer_died_reaches_a_new_writer(tmp_path: Path) -> None:
    """A seed's commit and a reset, the writer dead: the pipe refuses the message, which reached no writer, so a
    new one commits it. The first version answered success and lost both (the reset came back after a restart)."""
    path = tmp_path / "sync.db"
    store = SqliteStore(str(path))
    store.put("v/a", "old", 1)
    store.commit()
    first = kill_idle_writer(store)
    store.put("v/a", "alice", 2)
    store.commit()
    assert keys_on_disk(path) == ["alice", "old"] and store._link.pid not in (None, first)
    kill_idle_writer(store)
    store.reset()
    assert keys_on_disk(path) == []
    store.close()
    again = SqliteStore(str(path))
    assert again.keys("v/a") == []
    again.close()


def test_a_synchronous_commit_whose_writer_dies_with_it_raises(tmp_path: Path) -> None:
    """A message written whole and never answered may or may not be on disk: the commit raises, memory keeps
    nothing of it, and the next commit works on a new writer."""
    path = tmp_path / "raise.db"
    store = SqliteStore(str(path))
    pid = store._link.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # it reads nothing more: the commit below waits
    killer = subprocess.Popen(["sh", "-c", f"sleep 0.3; kill -9 {pid}"])
    store.put("v/a", "lost", 1)
    with pytest.raises(sqlite3.OperationalError) as raised:
        store.commit()
    killer.wait()
    assert raised.value.cause.startswith("WriterGone: the SQLite writer process ended")  # type: ignore[attr-defined]
    assert store.keys("v/a") == []
    store.put("v/a", "next", 2)
    store.commit()
    assert "next" in keys_on_disk(path)
    store.close()


def test_a_batch_after_the_writer_died_between_loops_is_committed(tmp_path: Path) -> None:
    """The writer dies while no loop reads it (tests run asyncio.run more than once): the next loop's batch
    meets a refused pipe and goes to a new writer, 200 and on disk, instead of a 503."""
    path = tmp_path / "loops.db"
    store = SqliteStore(str(path))

    async def write(key: str) -> None:
        waiter = store.finish_request(None, True, {("v/a", key): _dumps(key)})
        assert waiter is not None
        await asyncio.wait_for(waiter, 10)

    asyncio.run(write("one"))
    kill_idle_writer(store)
    asyncio.run(write("two"))
    store.close()
    assert keys_on_disk(path) == ["one", "two"]


def test_an_answer_read_together_with_the_writers_end_counts(tmp_path: Path) -> None:
    """The writer commits and answers, then dies before the loop reads: the batch was committed, so its request is
    answered as committed, not 503 (the first version read the end first)."""
    path = tmp_path / "eof.db"
    store = SqliteStore(str(path))

    async def main() -> BaseException | None:
        waiter = store.finish_request(None, True, {("v/a", "k"): _dumps(1)})
        assert waiter is not None
        pid = store._link.pid
        time.sleep(0.5)  # the loop busy: the writer commits and answers meanwhile
        os.kill(pid, signal.SIGKILL)  # type: ignore[arg-type]
        time.sleep(0.2)
        try:
            await asyncio.wait_for(waiter, 10)
        except Exception as exc:
            return exc
        return None

    assert asyncio.run(main()) is None
    store.close()
    assert keys_on_disk(path) == ["k"]


def test_a_clean_close_logs_no_failure(tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch) -> None:
    """The writer answers "close", then exits: read together (the closing thread slow to read, as on a loaded
    machine), that is a close, not a failed commit."""
    import select as real

    class Slow:
        @staticmethod
        def select(*args):  # type: ignore[no-untyped-def]
            time.sleep(0.3)
            return real.select(*args)

    store = SqliteStore(str(tmp_path / "close.db"))
    store.put("v/a", "k", 1)
    store.commit()
    monkeypatch.setattr(sqlite_link, "select", Slow)
    with caplog.at_level(logging.WARNING, logger="cdpkit.mock"):
        store.close()
    assert not caplog.records, [r.getMessage() for r in caplog.records]


def test_a_close_with_a_stuck_writer_ends_it_at_its_deadline_and_starts_no_other(tmp_path: Path, monkeypatch) -> None:
    """A batch stuck on a disk that does not answer, another queued behind it: the close gives up at CLOSE_WAIT,
    answers both 503, and starts no writer for the queue (the first version started two, and one that hung at
    its start hung the close for good)."""
    monkeypatch.setattr(sqlite_store, "CLOSE_WAIT", 1.0)
    spawned: list[int] = []
    real = subprocess.Popen

    class Counted(real):  # type: ignore[misc,valid-type]
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            spawned.append(self.pid)

    monkeypatch.setattr(sqlite_link.subprocess, "Popen", Counted)
    path = tmp_path / "stuck.db"
    store = SqliteStore(str(path))

    async def main() -> tuple[float, list[BaseException | None]]:
        os.kill(store._link.pid, signal.SIGSTOP)  # type: ignore[arg-type]
        in_flight = store.finish_request(None, True, {("v/a", "in-flight"): _dumps(1)})
        queued = store.finish_request(None, True, {("v/a", "queued"): _dumps(2)})
        await asyncio.sleep(0.1)
        started = time.monotonic()
        store.close()
        took = time.monotonic() - started
        await asyncio.sleep(0)
        return took, [w.exception() for w in (in_flight, queued) if w is not None]

    took, outcomes = asyncio.run(main())
    assert took < 3, f"the close took {took:.1f} s"
    assert len(spawned) == 1, f"{len(spawned)} writers started"
    assert all(isinstance(exc, sqlite3.OperationalError) for exc in outcomes) and len(outcomes) == 2
    assert keys_on_disk(path) == []


def test_a_key_marshal_cannot_write_fails_nothing(tmp_path: Path) -> None:
    """A key that is a str subclass (aiohttp's istr, a user's type): written as text, like every other; the
    first version failed its whole batch and ended a healthy writer."""

    class Key(str):
        pass

    path = tmp_path / "odd.db"
    store = SqliteStore(str(path))
    pid = store._link.pid

    async def main() -> list[BaseException | None]:
        waiters = [store.finish_request(None, True, {("v/a", key): _dumps(key)}) for key in ("a", Key("odd"), "b")]
        return [await asyncio.wait_for(w, 10) for w in waiters if w is not None]

    assert asyncio.run(main()) == [None, None, None]
    assert store._link.pid == pid
    store.close()
    assert keys_on_disk(path) == ["a", "b", "odd"]


def test_the_writer_ends_with_the_mock_even_after_kill_9(tmp_path: Path) -> None:
    """The writer reads the end of its input when the mock is killed: it closes the database and exits."""
    import sys

    mock = subprocess.Popen([sys.executable, "-m", "cdpkit", "mock", "--port", "0", "--quiet",
                             "--state", f"sqlite:{tmp_path / 'k9.db'}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        mock.stdout.readline()  # type: ignore[union-attr]  (its URL: started, the writer with it)
        children = Path(f"/proc/{mock.pid}/task/{mock.pid}/children").read_text().split()
        assert len(children) == 1, children
        mock.kill()
        mock.wait(10)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{children[0]}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        status = Path(f"/proc/{children[0]}/stat")
        assert not status.exists() or status.read_text().split()[2] == "Z", "the writer outlived the mock"
    finally:
        mock.kill()
        mock.wait()
