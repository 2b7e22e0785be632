"""The Redis store's per-process view is bounded in bytes, and a value it dropped is never a wrong answer.

Redis holds the truth: a key the view no longer holds reads as absent, the commit's check finds it is not and the
handler runs again on the value the check sent back. These tests run many distinct profiles through a mock whose
view is far smaller than the state and judge both the bound and every rule the dropped values carry.
"""

from __future__ import annotations

import tracemalloc

import orjson
import pytest
import requests

from cdpkit.mockserver.redis_cache import ViewCache
from cdpkit.mockserver.redis_scripts import cache_bytes, parse_url
from cdpkit.mockserver.runtime import MockConfig
from cdpkit.mockserver.server import MockServer
from tests.test_store import redis_server  # noqa: F401  (the session's redis-server fixture)

AUTH = {"authorization": "ACCESS_TOKEN"}
USERS = "/v1/accounts/LICENSE_CODE/users"
BOUND = 64 << 10


def test_the_view_estimate_is_the_memory_it_holds() -> None:
    """The bound is only as good as the bytes counted: measured, they are within 10% of what Python holds."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        view = ViewCache(1 << 40)
        for i in range(5000):
            ns = "/".join(("zebline", f"users:LICENSE_{i % 3}"))  # a namespace string per entry, as requests make
            # values as the store makes them: exact-size bytes (orjson's own result keeps a 4 KiB buffer)
            view.put(("k", ns, f"user-{i}"), f"0123456789abcdef.{i}".encode(), bytes(memoryview(orjson.dumps({"pad": "x" * (i % 400)}))))
        for i in range(20):
            view.put(("n", f"zebline/c{i}", ""), b"7", frozenset(f"key-{j}-{i}" for j in range(300)))
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert 0.9 < held / view.bytes < 1.1, (held, view.bytes)


def test_eviction_skips_pinned_entries_and_comes_back_under_the_bound() -> None:
    view = ViewCache(2000)
    view.pin([("k", "v/a", "first")])
    for i in range(20):
        view.put(("k", "v/a", "first" if i == 0 else f"k{i}"), b"1", b"x" * 100)
    assert ("k", "v/a", "first") in view, "an entry a request in flight depends on was dropped"
    assert view.bytes <= 2000 and view.evictions > 0
    view.put(("k", "v/a", "big"), b"1", b"x" * 5000)  # larger than the bound alone: dropped at once, unpinned
    assert ("k", "v/a", "big") not in view and view.bytes <= 2000
    view.pin([("k", "v/a", "big")])
    view.put(("k", "v/a", "big"), b"1", b"x" * 5000)
    assert ("k", "v/a", "big") in view and view.bytes > 2000  # over the bound only by what is pinned
    view.unpin([("k", "v/a", "big"), ("k", "v/a", "first")])
    assert view.bytes <= 2000 and view.pinned() == 0


def test_cache_bytes_is_a_parameter_of_the_state_url() -> None:
    assert cache_bytes("redis://h:1/0") == 64 << 20
    assert cache_bytes("redis://h:1/0?prefix=p&cache_bytes=1000") == 1000
    assert parse_url("redis://h:1/0?prefix=p&cache_bytes=1000") == ("redis://h:1/0", "p")
    for bad in ("0", "-1", "lots", ""):
        with pytest.raises(ValueError, match="cache_bytes is a positive number of bytes"):
            parse_url(f"redis://h:1/0?cache_bytes={bad}")


def test_many_profiles_through_a_small_view_keep_every_rule(redis_server) -> None:  # noqa: F811
    """400 distinct profiles (each with its own attribute, so its own type lock) through a view of 64 KiB: the
    view stays under its bound, and a profile and a lock it dropped still answer right."""
    config = MockConfig(port=0, vendors=["zebline"], state=redis_server.url() + f"&cache_bytes={BOUND}")
    with MockServer(config) as server:
        session = requests.Session()
        users = server.url + USERS
        first = {"userId": "first", "attributes": {"locked_first": 5, "note": "the first profile"}}
        assert session.post(users, json=first, headers=AUTH).status_code == 200
        for i in range(400):
            body = {"userId": f"user-{i}", "attributes": {f"attr_{i}": i, "pad": "x" * 200}}
            answer = session.post(users, json=body, headers=AUTH)
            assert answer.status_code == 200, answer.text
        view = server.mock.store._view
        assert view.bytes <= BOUND and view.evictions > 0 and view.pinned() == 0, (view.bytes, view.evictions)
        profile_key = ("k", "zebline/users:LICENSE_CODE", "first")
        lock_key = ("k", "zebline/locks:LICENSE_CODE", "locked_first")
        assert profile_key not in view and lock_key not in view, "the first profile was never dropped: proves nothing"

        answer = session.get(users, params={"userId": "first"}, headers=AUTH)
        assert answer.status_code == 200, answer.text
        assert answer.json()["response"]["user"]["attributes"]["locked_first"] == 5
        for i in (0, 1, 57, 200):  # dropped too, read back right
            user = session.get(users, params={"userId": f"user-{i}"}, headers=AUTH).json()["response"]["user"]
            assert user["attributes"][f"attr_{i}"] == i
        assert lock_key not in view, "the lock was read back before the check below: it would prove nothing"
        refused = session.post(users, json={"userId": "first", "attributes": {"locked_first": "text"}}, headers=AUTH)
        assert refused.status_code == 400, refused.text  # the type lock holds although the view had dropped it
        assert session.get(users, params={"userId": "first"}, headers=AUTH).json()["response"]["user"][
            "attributes"]["locked_first"] == 5
        assert view.bytes <= BOUND and view.pinned() == 0


def test_a_request_reading_more_than_the_bound_still_settles(redis_server) -> None:  # noqa: F811
    """A profile larger than the whole view: what the stale check sends back is pinned for the request's next run,
    so the read settles on the second run instead of being sent back for ever."""
    big = {"userId": "big", "attributes": {"blob": "x" * 5000}}
    writer_config = MockConfig(port=0, vendors=["zebline"], state=redis_server.url("tiny-view"))
    reader_config = MockConfig(port=0, vendors=["zebline"], state=redis_server.url("tiny-view") + "&cache_bytes=1000")
    with MockServer(writer_config) as writer, MockServer(reader_config) as reader:
        assert requests.post(writer.url + USERS, json=big, headers=AUTH).status_code == 200
        store = reader.mock.store  # its view learns the account first (a 404 for a user nobody made)
        assert requests.get(reader.url + USERS, params={"userId": "nobody"}, headers=AUTH).status_code == 404
        before = store.conflicts
        answer = requests.get(reader.url + USERS, params={"userId": "big"}, headers=AUTH, timeout=10)
        assert answer.status_code == 200 and answer.json()["response"]["user"]["attributes"]["blob"] == "x" * 5000
        assert store.conflicts - before == 1, "the value the check sent back was not kept for the next run"
        assert store._view.bytes <= 1000 and store._view.pinned() == 0
