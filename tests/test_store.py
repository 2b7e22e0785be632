"""The store: pending writes commit or vanish together, the journal is bounded, SQLite survives restarts."""

from __future__ import annotations

import pytest

from mockserver.store import SqliteStore, Store, open_store


def entry(vendor="zebline", verdict="good", operation="op"):
    return {"vendor": vendor, "verdict": verdict, "operation": operation}


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path):
    s = Store(journal_limit=5) if request.param == "memory" else SqliteStore(str(tmp_path / "s.sqlite"), 5)
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
    with pytest.raises(ValueError, match="sqlite:PATH"):
        open_store("redis://x")


def test_a_lazy_journal_record_keeps_no_credential_and_reads_as_the_entry(store):
    from mockserver import journal_entry

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
    import sqlite3

    path = str(tmp_path / "g.sqlite")
    store = SqliteStore(path)
    commits = []
    write = store._write
    store._write = lambda items: (commits.append(len(items)), write(items))[1]

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
    assert len(commits) < 30, f"no batching: {commits}"
    store.close()
    again = SqliteStore(path)
    assert sorted(k for k in again.keys("v/a")) == sorted(f"k{i}" for i in range(30) if i % 3 != 0 and i % 2 == 0)
    assert len(again.journal()) == 30 and sum(again.counts().values()) == 30, "every journal row reached the disk"
    again.close()


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
