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


async def committed_then_killed(store: SqliteStore, lose_the_answer: bool) -> BaseException | None:
    """One upsert's batch, committed and answered by the writer while the loop is busy, then the writer killed
    before the loop reads; with ``lose_the_answer``, its answer gone with it. What the request heard."""
    waiter = store.finish_request(None, True, {("v/a", "k"): _dumps(1)})
    assert waiter is not None
    pid = store._link.pid
    assert pid is not None
    time.sleep(0.5)  # the loop busy: the writer commits and answers meanwhile
    os.kill(pid, signal.SIGKILL)
    if lose_the_answer:
        store._link._replies.clear()
        os.read(store._link._stdout().fileno(), 1 << 16)
    time.sleep(0.1)
    try:
        await asyncio.wait_for(waiter, 10)
    except Exception as exc:
        return exc
    return None


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


def test_a_synchronous_commit_whose_writer_ends_unanswered_is_sent_again_if_not_on_disk(tmp_path: Path) -> None:
    """A message written to a writer that ends without answering may or may not be on disk: each message carries a
    number the writer commits with it, and the next writer's "ready" says the last one on disk. Here the writer
    never read it (stopped, then killed): the next writer commits it, and the commit returns. (The first version
    raised here; the second review found batches in doubt whose journal rows were then lost.)"""
    path = tmp_path / "again.db"
    store = SqliteStore(str(path))
    pid = store._link.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # it reads nothing more: the commit below waits
    killer = subprocess.Popen(["sh", "-c", f"sleep 0.3; kill -9 {pid}"])
    store.put("v/a", "kept", 1)
    store.commit()
    killer.wait()
    assert store.keys("v/a") == ["kept"] and keys_on_disk(path) == ["kept"] and store._link.pid not in (None, pid)
    store.close()


def test_a_message_on_disk_whose_writer_ended_unanswered_is_not_sent_again(tmp_path: Path, monkeypatch) -> None:
    """The writer commits a batch and ends before answering: the next writer's "ready" says it is on disk, so its
    request is answered 200 and it is not committed twice (journal ids are explicit: a second copy would fail)."""
    path = tmp_path / "once.db"
    store = SqliteStore(str(path))
    sent: list[int] = []
    send = store._link._send

    def counting(seq: int, data: bytes, *rest: object) -> object:
        sent.append(seq)
        return send(seq, data, *rest)

    monkeypatch.setattr(store._link, "_send", counting)

    assert asyncio.run(committed_then_killed(store, lose_the_answer=True)) is None
    assert len(sent) == len(set(sent)), f"a message sent twice: {sent}"
    store.close()
    assert keys_on_disk(path) == ["k"]


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

    assert asyncio.run(committed_then_killed(store, lose_the_answer=False)) is None
    store.close()
    assert keys_on_disk(path) == ["k"]


def test_a_clean_close_logs_no_failure(tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch) -> None:
    """The writer answers "close", then exits: read together (the closing thread slow to read, as on a loaded
    machine), that is a close, not a failed commit."""
    poll = sqlite_link.poll

    def slow(*args):  # type: ignore[no-untyped-def]
        time.sleep(0.3)
        return poll(*args)

    store = SqliteStore(str(tmp_path / "close.db"))
    store.put("v/a", "k", 1)
    store.commit()
    monkeypatch.setattr(sqlite_link, "poll", slow)
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


# -- a second review, of the fixes above ---------------------------------------------------------------------


def test_a_reset_whose_writer_ends_unanswered_is_sent_again(tmp_path: Path) -> None:
    """A reset written whole to a writer that then ends without answering may or may not be done: it is sent to
    a new writer (doing it twice is doing it once), and memory and file agree. The first version raised, memory
    kept every key and the file could hold none: acknowledged keys lost at the next restart."""
    path = tmp_path / "reset.db"
    store = SqliteStore(str(path))
    store.put("v/a", "acked", 1)
    store.commit()
    pid = store._link.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # it will read the reset, never answer it
    killer = subprocess.Popen(["sh", "-c", f"sleep 0.3; kill -9 {pid}"])
    store.reset()
    killer.wait()
    assert store.keys("v/a") == [] and keys_on_disk(path) == [] and store._link.pid not in (None, pid)
    store.close()


def test_the_control_api_answers_a_seed_it_could_not_make_durable_503(tmp_path: Path, monkeypatch) -> None:
    """The control API's seed meets a file locked by another program past the writer's wait: the vendor routes'
    503 with its cause, not aiohttp's 500; the lock gone, the same seed is 200."""
    import json
    import urllib.error
    import urllib.request

    from cdpkit.mockserver.runtime import MockConfig
    from cdpkit.mockserver.server import MockServer

    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT", 0.1)
    seed = {"gptbots": {"agents": {"demo-agent": {"users": {"seeded-user": ["anon-s"]}}}}}
    path = tmp_path / "seed.db"
    with MockServer(MockConfig(port=0, state=f"sqlite:{path}")) as server:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        request = urllib.request.Request(server.url + "/__mock/seed", data=json.dumps(seed).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
        finally:
            other.execute("COMMIT")
            other.close()
        answer = json.loads(refused.value.read())
        assert refused.value.code == 503 and refused.value.headers["Retry-After"] == "1"
        assert answer["cause"] == "OperationalError: database is locked", answer
        with urllib.request.urlopen(request, timeout=10) as again:
            assert again.status == 200


def test_a_batch_larger_than_the_pipe_never_blocks_the_loop(tmp_path: Path) -> None:
    """An upsert of 200 kB for a writer that does not read (stopped): the loop writes what the pipe takes and
    serves on; the first version blocked in the write, every other request with it."""
    import urllib.request

    from cdpkit.mockserver.runtime import MockConfig
    from cdpkit.mockserver.server import MockServer
    from tests.test_fast_lane import Connection, zeb

    with MockServer(MockConfig(port=0, state=f"sqlite:{tmp_path / 'big.db'}")) as server:
        pid = server.mock.store._link.pid
        os.kill(pid, signal.SIGSTOP)
        connection = Connection(server.url, timeout=30)
        try:
            connection.send(zeb({"userId": "big", "attributes": {"blob": "x" * 200_000}}))
            time.sleep(0.3)
            started = time.monotonic()
            with urllib.request.urlopen(server.url + "/__mock/credentials", timeout=3) as other:
                assert other.status == 200  # answered meanwhile: the loop is not blocked
            assert time.monotonic() - started < 1
            os.kill(pid, signal.SIGCONT)
            assert connection.answer()[0] == 200
        finally:
            os.kill(pid, signal.SIGCONT)
            connection.close()


def test_a_writer_that_cannot_open_the_file_is_replaced_once_it_can(tmp_path: Path) -> None:
    """The file unusable when a writer starts (its path a directory): requests get a 503 that says so; the file
    back, the very next request is committed (the first version sent it to the writer that had failed)."""
    import json

    from cdpkit.mockserver.runtime import MockConfig
    from cdpkit.mockserver.server import MockServer
    from tests.test_fast_lane import Connection, zeb

    path = tmp_path / "s.db"
    with MockServer(MockConfig(port=0, state=f"sqlite:{path}")) as server:
        connection = Connection(server.url, timeout=10)
        try:
            kill_idle_writer(server.mock.store)
            for suffix in ("", "-wal", "-shm"):
                if Path(f"{path}{suffix}").exists():
                    os.rename(f"{path}{suffix}", f"{path}.away{suffix}")
            path.mkdir()
            connection.send(zeb({"userId": "during", "attributes": {"n": 1}}))
            status, _, body = connection.answer()
            assert status == 503 and "unable to open database file" in json.loads(body)["cause"]
            path.rmdir()
            for suffix in ("", "-wal", "-shm"):
                if Path(f"{path}.away{suffix}").exists():
                    os.rename(f"{path}.away{suffix}", f"{path}{suffix}")
            connection.send(zeb({"userId": "after", "attributes": {"n": 1}}))
            assert connection.answer()[0] == 200
        finally:
            connection.close()


def test_a_failed_reset_leaves_the_writer_able_to_write(tmp_path: Path, monkeypatch) -> None:
    """A reset that fails (the file locked by another program past the writer's wait) is rolled back: the next
    commit works. The first version left its transaction open and every later write failed."""
    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT", 0.2)
    path = tmp_path / "txn.db"
    store = SqliteStore(str(path))
    store.put("v/a", "k", 1)
    store.commit()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        store.reset()
    other.execute("COMMIT")
    other.close()
    store.put("v/a", "j", 2)
    store.commit()
    assert keys_on_disk(path) == ["j", "k"]
    store.close()


def test_a_writer_whose_pipes_are_past_descriptor_1024_is_waited_on(tmp_path: Path) -> None:
    """A mock holding a thousand client sockets gives a new writer's pipes descriptors past 1024, which select()
    cannot wait on (the first versions raised ValueError from a seed's commit, a reset and the close)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert hard == resource.RLIM_INFINITY or hard >= 1200, f"this machine allows {hard} open files: the test needs 1200"
    if soft != resource.RLIM_INFINITY and soft < 1200:  # a machine's default soft limit is often 1024
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096 if hard == resource.RLIM_INFINITY else min(hard, 4096), hard))
    path = tmp_path / "fds.db"
    store = SqliteStore(str(path))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        kill_idle_writer(store)
        store.put("v/a", "k", 1)
        store.commit()  # a new writer, its pipes past 1024
        assert store._link._stdout().fileno() > 1024
        store.reset()
        store.put("v/a", "j", 2)
        store.commit()
        store.close()
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert keys_on_disk(path) == ["j"]
