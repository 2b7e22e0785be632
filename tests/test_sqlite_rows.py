"""The SQLite store's rows: a key's new value is a new row at the table's end, and its old row is deleted by
the rowid the store remembers (no index on (ns, key), whose random pages cost a Zebline upsert two page writes
per commit). What a reopened file holds must be exactly what memory held, one row per key, whatever happened:
rewrites, deletes, a failed commit, a file an older cdpkit wrote."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cdpkit.mockserver.sqlite_store import SqliteStore, _item
from cdpkit.mockserver.sqlite_writer import SqliteWriter
from cdpkit.mockserver.store import _DELETED, _dumps


def on_disk(path: Path) -> list[tuple[str, str, bytes]]:
    with sqlite3.connect(path) as db:
        return sorted((ns, key, bytes(value)) for ns, key, value in db.execute("SELECT ns, key, value FROM state"))


def in_memory(store: SqliteStore) -> list[tuple[str, str, bytes]]:
    return sorted((ns, key, raw) for ns, values in store._data.items() for key, raw in values.items())


def test_rewrites_and_deletes_leave_one_row_per_key_equal_to_memory(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    store = SqliteStore(str(path))
    rng = random.Random(7)
    for batch in range(40):
        items = []
        for i in range(rng.randint(1, 6)):
            writes = {}
            for _ in range(rng.randint(1, 4)):
                key = (f"v/{rng.choice('ab')}", f"k{rng.randint(0, 12)}")
                writes[key] = _DELETED if rng.random() < 0.25 else _dumps({"batch": batch, "i": i})
            items.append((writes, None, None))
            store._apply(writes)  # what finish_request does in memory before the batch is written
        store._write(items)
        assert on_disk(path) == in_memory(store), f"batch {batch}"
    store.close()
    again = SqliteStore(str(path))
    assert in_memory(again) == on_disk(path)
    again.close()


class FailingCommit:
    """A connection whose next COMMIT fails (a full disk), as sqlite3 would raise it."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db, self.fail = db, True

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT" and self.fail:
            self.fail = False
            raise sqlite3.OperationalError("database or disk is full")
        return self.db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


def test_a_failed_commit_leaves_the_rows_it_did_not_write_where_they_were(tmp_path: Path) -> None:
    """The writer process's own object, in this process: a COMMIT that fails leaves its rowid map as it was."""
    path = tmp_path / "f.sqlite"
    writer = SqliteWriter(str(path), 10_000)
    writer.write([_item({("v/a", "k"): _dumps(1), ("v/a", "gone"): _dumps(0)}, None, None)])
    real = writer.db
    writer.db = FailingCommit(real)  # type: ignore[assignment]
    with pytest.raises(sqlite3.OperationalError):
        writer.write([_item({("v/a", "k"): _dumps(2), ("v/a", "gone"): _DELETED, ("v/a", "new"): _dumps(9)}, None, None)])
    assert on_disk(path) == [("v/a", "gone", _dumps(0)), ("v/a", "k", _dumps(1))]
    # the next batch must find the rows where the failed one left them: one row per key, the last value
    writer.write([_item({("v/a", "k"): _dumps(3), ("v/a", "gone"): _DELETED}, None, None)])
    assert on_disk(path) == [("v/a", "k", _dumps(3))]
    writer.db = real
    writer.close()


def test_a_file_with_the_earlier_keyed_table_is_read_and_written(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE state (ns TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (ns, key))")
        db.executemany("INSERT INTO state VALUES (?, ?, ?)", [("v/a", "k", _dumps(1)), ("v/a", "j", _dumps(2))])
    store = SqliteStore(str(path))
    assert store.get("v/a", "k") == 1 and store.get("v/a", "j") == 2
    store._write([({("v/a", "k"): _dumps(5), ("v/a", "j"): _DELETED, ("v/b", "n"): _dumps(6)}, None, None)])
    store.close()
    assert on_disk(path) == [("v/a", "k", _dumps(5)), ("v/b", "n", _dumps(6))]


def test_a_key_found_twice_at_open_keeps_its_later_row(tmp_path: Path) -> None:
    path = tmp_path / "twice.sqlite"
    SqliteStore(str(path)).close()
    with sqlite3.connect(path) as db:
        db.executemany("INSERT INTO state (rowid, ns, key, value) VALUES (?, ?, ?, ?)",
                       [(1, "v/a", "k", _dumps("old")), (2, "v/a", "k", _dumps("new"))])
    store = SqliteStore(str(path))
    assert store.get("v/a", "k") == "new"
    assert on_disk(path) == [("v/a", "k", _dumps("new"))]
    store._write([({("v/a", "k"): _dumps("newer")}, None, None)])
    assert on_disk(path) == [("v/a", "k", _dumps("newer"))]
    store.close()


def test_the_journal_reads_the_same_after_a_restart(tmp_path: Path) -> None:
    """Journal rows are records as recorded (journal_entry.record_json), made entries only when read: every
    kind of record reads the same from the reopened file as from memory before, and none keeps a credential."""
    import orjson

    from cdpkit.mockserver.journal_entry import BODY_LIMIT, record

    big = orjson.dumps({"note": "é" * BODY_LIMIT})
    cases = [
        # (query, headers, raw body, its JSON, status, answer)
        ("", [("Host", "mock"), ("Authorization", "Bearer tok-1234567890")], b'{"userId": "u\xc3\xa9"}',
         {"userId": "ué"}, 200, b'{"ok": true}'),
        ("api_key=k-1234567890&x=1", [("Host", "mock")], b'{"api_key": "k-1234567890", "event": "e"}',
         {"api_key": "k-1234567890", "event": "e"}, 401, b'{"error": "api_key k-1234567890 is not known"}'),
        ("", [("Host", "mock"), ("X-Note", "caf\udce9")], b"not json \xff", None, 400, b'{"error": "bad"}'),
        ("", [("Host", "mock")], big, orjson.loads(big), 413, b'{"error": "too large"}'),
    ]
    path = tmp_path / "j.sqlite"
    store = SqliteStore(str(path))
    for query, headers, raw, parsed, status, answer in cases:
        items = [tuple(pair.split("=")) for pair in query.split("&")] if query else []
        rec = record(1767174918.25, "tto", "track", "POST", "/v1/track", query, items, headers, raw, parsed, status,
                     answer, orjson.loads(answer), ("TTO-X",) if status >= 400 else (), 1.5)
        store.finish(rec, keep_writes=False)  # type: ignore[arg-type]
    before = store.journal()
    store.close()
    again = SqliteStore(str(path))
    assert again.journal() == before and len(before) == len(cases)
    again.close()
    with sqlite3.connect(path) as db:
        on_file = b"".join(bytes(row[0]) for row in db.execute("SELECT entry FROM journal"))
    for secret in (b"tok-1234567890", b"k-1234567890"):
        assert secret not in on_file
