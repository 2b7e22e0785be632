"""The store: pending writes commit or vanish together, the journal is bounded, SQLite survives restarts.
The contract runs against all three stores; the Redis one against a ``redis-server`` each session starts
for itself (persistence on, ``appendfsync always``) on a free port in a temporary directory."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from cdpkit.mockserver.store import SqliteStore, Store, open_store


def entry(vendor="zebline", verdict="good", operation="op"):
    return {"vendor": vendor, "verdict": verdict, "operation": operation}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A ``redis-server`` of the tests' own: append-only file synced before every answer."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self, kill: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            (self.proc.kill if kill else self.proc.terminate)()
            self.proc.wait(timeout=10)

    def url(self, prefix: str | None = None) -> str:
        return f"redis://127.0.0.1:{self.port}/0?prefix={prefix or 't' + uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    if shutil.which("redis-server") is None:
        if os.environ.get("CDPKIT_REQUIRE_REDIS"):
            pytest.fail("CDPKIT_REQUIRE_REDIS is set but redis-server is not installed (apt-get install redis-server)")
        pytest.skip("redis-server is not installed (apt-get install redis-server); CI sets CDPKIT_REQUIRE_REDIS")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request, tmp_path):
    if request.param == "memory":
        s = Store(journal_limit=5)
    elif request.param == "sqlite":
        s = SqliteStore(str(tmp_path / "s.sqlite"), 5)
    else:
        s = open_store(request.getfixturevalue("redis_server").url(), 5)
    yield s
    s.close()


def test_rejected_writes_vanish(store):
    store.put("v/a", "k", {"n": 1})
    store.finish(entry(verdict="bad"), keep_writes=False)
    assert store.get("v/a", "k") is None


def test_kept_writes_are_visible_and_copied(store):
    store.put("v/a", "k", {"n": 1})
    store.finish(entry(), keep_writes=True)
    value = store.get("v/a", "k")
    value["n"] = 2
    assert store.get("v/a", "k") == {"n": 1}


def test_pending_reads_see_own_writes_and_deletes(store):
    store.put("v/a", "k", 1)
    store.commit()
    store.delete("v/a", "k")
    assert store.get("v/a", "k") is None
    assert store.keys("v/a") == []
    store.finish(None, keep_writes=False)
    assert store.get("v/a", "k") == 1


def test_journal_is_newest_first_filtered_and_bounded(store):
    for i in range(8):
        store.finish(entry(verdict="bad" if i % 2 else "good", operation=f"op{i}"), keep_writes=True)
    ops = [e["operation"] for e in store.journal()]
    assert ops == ["op7", "op6", "op5", "op4", "op3"]
    assert [e["operation"] for e in store.journal(verdict="bad", limit=2)] == ["op7", "op5"]
    assert store.counts() == {("zebline", "good"): 4, ("zebline", "bad"): 4}


def test_values_that_are_not_json_are_refused(store):
    with pytest.raises(TypeError):
        store.put("v/a", "k", object())


def test_sqlite_keeps_state_journal_and_counts_across_restart(tmp_path):
    path = str(tmp_path / "state.sqlite")
    first = SqliteStore(path)
    first.put("zebline/profiles", "u1", {"city": "tehran"})
    first.finish(entry(), keep_writes=True)
    first.put("zebline/profiles", "u2", {"lost": True})
    first.finish(entry(verdict="bad"), keep_writes=False)
    first.close()
    second = SqliteStore(path)
    assert second.get("zebline/profiles", "u1") == {"city": "tehran"}
    assert second.get("zebline/profiles", "u2") is None
    assert [e["verdict"] for e in second.journal()] == ["bad", "good"]
    assert second.counts()[("zebline", "good")] == 1
    second.finish(entry(), keep_writes=True)
    assert second.journal()[0]["id"] == 3
    second.close()


def test_open_store_names_the_accepted_forms():
    assert type(open_store("memory")) is Store
    with pytest.raises(ValueError, match="sqlite:PATH' or 'redis://HOST:PORT/DB"):
        open_store("postgres://x")
    with pytest.raises(ValueError, match="only prefix=NAME"):
        open_store("redis://127.0.0.1:1/0?db=2")


def test_a_lazy_journal_record_keeps_no_credential_and_reads_as_the_entry(store):
    from cdpkit.mockserver import journal_entry

    secret = "sk-live-0123456789abcdef"
    rec = journal_entry.record(
        0.0, "tto", "track", "POST", "/v1/track", f"api_key={secret}&x=1", [("api_key", secret), ("x", "1")],
        [("Authorization", f"Bearer {secret}"), ("X-Note", "caf\udce9")], f'{{"api_key": "{secret}"}}'.encode(),
        {"api_key": secret}, 200, b'{"ok":true}', {"ok": True}, (), 1.5,
    )
    assert secret not in repr(rec), "a record holds a credential in the clear"
    store.finish(rec, keep_writes=True)
    (entry,) = store.journal()
    assert entry["request"]["headers"] == {"Authorization": "Bearer " + journal_entry.mask(secret), "X-Note": "caf\ufffd"}
    assert entry["request"]["query"] == {"api_key": journal_entry.mask(secret), "x": "1"}
    assert entry["request"]["body"] == {"api_key": journal_entry.mask(secret)}
    assert entry["response"] == {"status": 200, "body": {"ok": True}}
    assert entry["time"] == "1970-01-01T00:00:00.000+00:00" and entry["id"] == 1 and entry["verdict"] == "good"


# -- per-request write sets and the SQLite group commit ---------------------------------------------


def test_a_request_scope_reads_its_own_writes_and_nothing_of_another_requests(store):
    store.put("v/a", "old", 1)
    store.commit()
    first, second = store.scope("v").for_request(), store.scope("v").for_request()
    first.put("a", "k", {"n": 1})
    assert first.delete("a", "old") is True
    assert first.get("a", "k") == {"n": 1} and first.get("a", "old") is None
    assert first.keys("a") == ["k"] and dict(first.items("a")) == {"k": {"n": 1}}
    assert second.get("a", "k") is None and second.keys("a") == ["old"], "another request's writes leaked"
    assert store.get("v/a", "k") is None


def test_group_committed_requests_are_durable_when_answered_and_refusals_change_nothing(tmp_path):
    import asyncio
    import marshal
    import sqlite3

    path = str(tmp_path / "g.sqlite")
    store = SqliteStore(path)
    commits: list[int] = []  # the size of each batch sent to the writer process
    send = store._link._send

    def counting(seq: int, data: bytes, waiters: list, *rest: object) -> object:
        op, _, argument = marshal.loads(data[4:])
        if op == "write":
            commits.append(len(argument))
        return send(seq, data, waiters, *rest)

    store._link._send = counting

    async def request(i: int, keep: bool, writes: bool) -> bool:
        scope = store.scope("v").for_request()
        if writes:
            scope.put("a", f"k{i}", i)
        waiter = store.finish_request(entry(verdict="good" if keep else "bad"), keep, scope.writes)
        if waiter is None:
            return False
        await waiter
        on_disk = sqlite3.connect(path).execute("SELECT value FROM state WHERE key=?", (f"k{i}",)).fetchone()
        assert on_disk is not None, f"request {i} was answered before its write was on disk"
        return True

    async def main() -> list[bool]:
        return await asyncio.gather(*(request(i, keep=i % 3 != 0, writes=i % 2 == 0) for i in range(30)))

    waited = asyncio.run(main())
    # only the requests that kept writes waited for a commit; refusals and reads did not
    assert waited == [i % 3 != 0 and i % 2 == 0 for i in range(30)]
    assert 0 < len(commits) < 30 and sum(commits) == 30, f"no batching: {commits}"
    store.close()
    again = SqliteStore(path)
    assert sorted(k for k in again.keys("v/a")) == sorted(f"k{i}" for i in range(30) if i % 3 != 0 and i % 2 == 0)
    assert len(again.journal()) == 30 and sum(again.counts().values()) == 30, "every journal row reached the disk"
    again.close()


def test_one_batch_leaves_on_disk_what_its_requests_left_in_memory(tmp_path):
    """A batch writes each key once, with its last value (a delete included), and adds each (vendor, verdict)
    count once by the batch's number: what a reopened file holds is what the requests, in order, left."""
    import sqlite3

    from cdpkit.mockserver.store import _DELETED, _dumps

    path = str(tmp_path / "b.sqlite")
    store = SqliteStore(path, journal_limit=300)
    store.put("v/a", "gone", 0)
    store.put("v/a", "deleted", 0)
    store.finish(entry(), keep_writes=True)
    first_id = store._next_id
    batch = [
        ({("v/a", "k"): _dumps(1), ("v/a", "gone"): _DELETED, ("v/a", "deleted"): _DELETED}, entry(), first_id),
        ({("v/a", "k"): _DELETED, ("v/a", "j"): _dumps("j1")}, entry(verdict="bad"), first_id + 1),
        ({("v/a", "k"): _dumps(3), ("v/a", "j"): _DELETED, ("v/a", "gone"): _dumps("back")}, entry(), first_id + 2),
        (None, entry(vendor="tto"), first_id + 3),
    ]
    store._write(batch)
    with sqlite3.connect(path) as db:
        state = dict(db.execute("SELECT key, value FROM state WHERE ns='v/a'").fetchall())
        counts = dict(((v, d), n) for v, d, n in db.execute("SELECT vendor, verdict, n FROM counts"))
        ids = [row[0] for row in db.execute("SELECT id FROM journal ORDER BY id")]
    assert {k: bytes(v) for k, v in state.items()} == {"k": _dumps(3), "gone": _dumps("back")}
    assert counts == {("zebline", "good"): 3, ("zebline", "bad"): 1, ("tto", "good"): 1}
    assert ids == list(range(1, first_id + 4))
    # the journal is cut to its limit in a batch that crosses a multiple of 256, as row by row it was
    store._write([(None, entry(), n) for n in range(first_id + 4, 600)])
    with sqlite3.connect(path) as db:
        (oldest,) = db.execute("SELECT min(id) FROM journal").fetchone()
    assert oldest == 512 - 300 + 1
    store.close()


def test_a_synchronous_commit_keeps_the_order_of_queued_requests(tmp_path):
    import asyncio

    path = str(tmp_path / "o.sqlite")
    store = SqliteStore(path)

    async def main() -> None:
        scope = store.scope("v").for_request()
        scope.put("a", "k", "from the request")
        waiter = store.finish_request(None, True, scope.writes)
        store.put("v/a", "k", "from the seed, later")  # a seed applied before the writer thread ran
        store.commit()
        await waiter

    asyncio.run(main())
    store.close()
    again = SqliteStore(path)
    assert again.get("v/a", "k") == "from the seed, later"
    again.close()


# -- the Redis store: optimistic transactions across processes ---------------------------------------


def test_redis_a_request_that_read_a_value_another_process_changed_applies_nothing(redis_server):
    url = redis_server.url()
    one, two = open_store(url), open_store(url)  # two processes' stores on one Redis

    def increment(store):
        scope = store.scope("v").for_request()
        scope.put("a", "k", {"n": (scope.get("a", "k") or {"n": 0})["n"] + 1})
        return scope

    try:
        one.put("v/a", "k", {"n": 0})
        one.commit()
        cold = increment(two)  # a key this process has not seen is taken as absent: the check refuses that
        assert two._settle_request(cold.reads, cold.writes) is False and two.get("v/a", "k") == {"n": 0}
        first, second = increment(one), increment(two)  # both start from n=0 (two learnt it from the refusal)
        assert one._settle_request(first.reads, first.writes) is True
        assert two._settle_request(second.reads, second.writes) is False, "a lost update was committed"
        again = increment(two)
        assert two._settle_request(again.reads, again.writes) is True
        assert one.get("v/a", "k") == {"n": 2}
        # a collection read (keys) conflicts with a key added to it elsewhere
        listing = one.scope("v").for_request()
        assert listing.keys("a") == ["k"]
        two.put("v/a", "k2", 1)
        two.commit()
        assert one._settle_request(listing.reads, None) is False
        assert one.scope("v").for_request().keys("a") == ["k", "k2"]
    finally:
        one.close()
        two.close()


def test_redis_journal_is_bounded_in_bytes_and_shared(redis_server):
    url = redis_server.url()
    one = open_store(url, journal_limit=1000, journal_bytes=2000)
    two = open_store(url, journal_limit=1000, journal_bytes=2000)
    try:
        for i in range(50):
            one.finish({**entry(operation=f"op{i}"), "pad": "x" * 100}, keep_writes=True)
        count, size = two.journal_size()
        assert 1 < count < 50 and size <= 2000, (count, size)
        assert two.journal(limit=1)[0]["operation"] == "op49"
        assert two.counts() == {("zebline", "good"): 50}, "counts are not bounded by the journal"
        two.reset()
        assert one.journal() == [] and one.counts() == {}
    finally:
        one.close()
        two.close()


def test_redis_keeps_everything_acknowledged_across_a_redis_restart(tmp_path):
    """appendfsync always: Redis syncs its append-only file before it answers, so a write the store saw
    acknowledged survives Redis being killed with SIGKILL."""
    if shutil.which("redis-server") is None and not os.environ.get("CDPKIT_REQUIRE_REDIS"):
        pytest.skip("redis-server is not installed (apt-get install redis-server); CI sets CDPKIT_REQUIRE_REDIS")
    server = RedisServer(tmp_path)
    server.start()
    try:
        url = server.url("restart")
        s = open_store(url)
        for i in range(200):
            s.put("v/a", f"k{i}", i)
            s.finish(entry(), keep_writes=True)
        server.stop(kill=True)
        server.start()
        again = open_store(url)
        assert again.keys("v/a") == sorted(f"k{i}" for i in range(200))
        assert again.counts() == {("zebline", "good"): 200}
        again.close()
    finally:
        server.stop()
