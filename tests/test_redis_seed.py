"""A seed on the Redis store is atomic against other processes' commits: nothing another process committed
between the seed's reads and its write is lost.

The interleaving is made deterministic: the seed's own ``load_seed`` runs, then, before the seed commits, a
request of another process (another store on the same Redis) commits an update of the very profile the seed
upserts (and of the account's trackID ring both push to). Blindly applied, the seed would overwrite it.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import requests

from cdpkit.mockserver import redis_seed, zebline
from cdpkit.mockserver.runtime import MockConfig
from cdpkit.mockserver.server import MockServer
from cdpkit.mockserver.store import open_store
from cdpkit.mockserver.type_lock import now_iso
from tests.test_store import redis_server  # noqa: F401  (the session's redis-server fixture)

LICENSE = "LIC"


def _commit_upsert(store: Any, body: dict[str, Any], track_id: str) -> None:
    """One Zebline upsert as a request of ``store``'s process commits it: run, check, again on a conflict."""
    for _ in range(10):
        scope = store.scope("zebline").for_request()
        zebline._upsert(scope, LICENSE, body, now_iso(time.time()), track_id)
        if store._settle_request(scope.reads, scope.writes):
            return
    raise AssertionError("the request never committed")


def test_a_seed_does_not_lose_an_update_committed_under_it(redis_server) -> None:  # noqa: F811
    url = redis_server.url()
    seeding, other = open_store(url), open_store(url)  # two processes on one Redis
    try:
        _commit_upsert(other, {"userId": "shared", "attributes": {"first": 0}}, "track-0")
        loads = []

        def load_then_another_process_commits(scope: Any, section: dict[str, Any]) -> None:
            zebline.load_seed(scope, section)
            loads.append(1)
            if len(loads) == 1:  # between the seed's reads and its commit, once
                _commit_upsert(other, {"userId": "shared", "attributes": {"from_request": 2}}, "track-request")

        vendor = seeding.serve(dataclasses.replace(zebline.VENDOR, load_seed=load_then_another_process_commits))
        section = {"accounts": {LICENSE: {"access_token": "T",
                                          "users": [{"userId": "shared", "attributes": {"from_seed": 1}}]}}}
        vendor.load_seed(seeding.scope("zebline"), section)  # as Mock.apply_seed does: load, then commit
        seeding.commit()

        profile = other.get(f"zebline/users:{LICENSE}", "shared")
        assert profile["attributes"] == {"first": 0, "from_request": 2, "from_seed": 1}, profile["attributes"]
        tracks = other.keys(f"zebline/tracks:{LICENSE}")
        assert "track-request" in tracks and len(tracks) == 3, tracks  # the ring lost none of the three
        assert len(loads) == 2 and seeding.seed_conflicts == 1, "the seed never met the other commit: proves nothing"
        assert other.get(f"zebline/locks:{LICENSE}", "from_request") is not None
    finally:
        seeding.close()
        other.close()


def test_a_seed_that_no_longer_loads_on_the_current_state_applies_nothing(redis_server) -> None:  # noqa: F811
    """Loaded again after a conflict, a seed whose user now breaks a type lock is refused, nothing applied."""
    url = redis_server.url()
    seeding, other = open_store(url), open_store(url)
    try:
        calls = []

        def load_then_lock(scope: Any, section: dict[str, Any]) -> None:
            zebline.load_seed(scope, section)
            calls.append(1)
            if len(calls) == 1:  # meanwhile another process locks the seeded attribute as text
                _commit_upsert(other, {"userId": "elsewhere", "attributes": {"score": "high"}}, "track-x")

        vendor = seeding.serve(dataclasses.replace(zebline.VENDOR, load_seed=load_then_lock))
        section = {"accounts": {LICENSE: {"access_token": "T", "users": [{"userId": "u", "attributes": {"score": 3}}]}}}
        vendor.load_seed(seeding.scope("zebline"), section)
        try:
            seeding.commit()
        except ValueError as exc:
            assert "locked" in str(exc), exc
        else:
            raise AssertionError("a seed breaking a lock committed after another process took it")
        assert other.get(f"zebline/users:{LICENSE}", "u") is None and other.get("zebline/accounts", LICENSE) is None
        assert seeding._pending == {} and seeding._seed_reads is None
    finally:
        seeding.close()
        other.close()


def test_a_seed_that_never_settles_is_a_409_with_nothing_applied(redis_server, monkeypatch) -> None:  # noqa: F811
    """Another process commits under every load of the seed: after SEED_ATTEMPTS loads the control API answers
    409 Conflict (the seed is fine, the moment is not), not the 400 of a bad seed, and nothing of it is applied."""
    monkeypatch.setattr(redis_seed, "SEED_ATTEMPTS", 4)
    url = redis_server.url()
    other = open_store(url)
    try:
        with MockServer(MockConfig(port=0, vendors=["zebline"], state=url, demo=False)) as server:
            loads = []

            def load_then_another_process_commits(scope: Any, section: dict[str, Any]) -> None:
                zebline.load_seed(scope, section)
                loads.append(1)
                _commit_upsert(other, {"userId": "shared", "attributes": {"n": len(loads)}}, f"track-{len(loads)}")

            mock = server.mock
            mock.vendors["zebline"] = mock.store.serve(
                dataclasses.replace(zebline.VENDOR, load_seed=load_then_another_process_commits))
            section = {"accounts": {LICENSE: {"access_token": "T",
                                              "users": [{"userId": "shared", "attributes": {"from_seed": 1}}]}}}
            answer = requests.post(server.url + "/__mock/seed", json={"zebline": section}, timeout=30)
            assert answer.status_code == 409, answer.text
            assert "kept changing" in answer.json()["error"] and "send it again" in answer.json()["error"]
            assert len(loads) == 4, loads
            profile = other.get(f"zebline/users:{LICENSE}", "shared")
            assert "from_seed" not in profile["attributes"], profile
            assert other.get("zebline/accounts", LICENSE) is None, "the seed's account was applied"

            answer = requests.post(server.url + "/__mock/seed", json={"zebline": {"accounts": {LICENSE: "x"}}},
                                   timeout=30)
            assert answer.status_code == 400, answer.text  # a bad seed is still the sender's mistake
    finally:
        other.close()
