"""Collections that grow by one record per accepted request keep only their newest N (issue 10,
"Memory is not bounded"): Zebline trackIDs per account (ZEB-MODELED-GET-TRACK), Quick Audience events
per channel (QA-EVENTS-STORED), TTO msg_ids per source (TTO-DEDUP-REPLAY-ACK).

N is patched small; each test shows the oldest record evicted and answering as unknown, the newest
kept, and a refused request evicting nothing (nor using up a slot). The mock runs on the memory and the
SQLite store (the ring lives in ``call.state``, so every store keeps the same N).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

import cdpkit.mockserver.quickaudience as qa
import cdpkit.mockserver.tto as tto
import cdpkit.mockserver.zebline as zebline
from cdpkit.mockserver import type_lock
from cdpkit.mockserver.pytest_plugin import MockServer
from cdpkit.mockserver.runtime import MockConfig
from cdpkit.mockserver.store import Store
from cdpkit.schemas.qa_signing import signed_query

N = 3


@pytest.fixture(scope="module", params=["memory", "sqlite"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockServer]:
    state = "memory" if request.param == "memory" else f"sqlite:{tmp_path_factory.mktemp('bounds') / 'state.db'}"
    with MockServer(MockConfig(port=0, vendors=["zebline", "quickaudience", "tto"], state=state)) as running:
        yield running


@pytest.fixture(autouse=True)
def small(server: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.reset()
    monkeypatch.setattr(zebline, "TRACKS_PER_ACCOUNT", N)
    monkeypatch.setattr(qa, "EVENTS_PER_CHANNEL", N)
    monkeypatch.setattr(qa, "RETIRED_PER_CHANNEL", N)
    monkeypatch.setattr(tto, "SEEN_PER_SOURCE", N)


# -- Zebline: trackIDs per account ---------------------------------------------------------------------
ZEB_AUTH = {"authorization": zebline.DEMO_TOKEN}


def zeb_post(server: MockServer, body: dict[str, Any], license_code: str = zebline.DEMO_LICENSE,
             token: str = zebline.DEMO_TOKEN) -> requests.Response:
    return requests.post(f"{server.url}/v1/accounts/{license_code}/users", json=body,
                         headers={"authorization": token}, timeout=10)


def zeb_track(server: MockServer, user: str, **attributes: Any) -> str:
    reply = zeb_post(server, {"userId": user, "attributes": attributes})
    assert reply.status_code == 200, reply.text
    return reply.json()["response"]["trackID"]


def zeb_get(server: MockServer, track_id: str, license_code: str = zebline.DEMO_LICENSE) -> int:
    return requests.get(f"{server.url}/v1/accounts/{license_code}/tracks/{track_id}", headers=ZEB_AUTH, timeout=10).status_code


@pytest.mark.requirement("ZEB-MODELED-GET-TRACK")
def test_zebline_keeps_the_newest_tracks_per_account(server: MockServer) -> None:
    ids = [zeb_track(server, f"u{i % 2}", plan="basic") for i in range(N + 1)]
    assert zeb_get(server, ids[0]) == 404  # evicted: answers like an unknown trackID
    assert [zeb_get(server, t) for t in ids[1:]] == [200] * N
    kept = server.state("zebline")["accounts"][zebline.DEMO_LICENSE]["tracks"]
    assert sorted(kept) == sorted(ids[1:])


def test_zebline_bound_is_per_account(server: MockServer) -> None:
    mine = zeb_track(server, "u1", plan="basic")
    reply = [zeb_post(server, {"userId": f"o{i}", "attributes": {}}, zebline.OTHER_LICENSE, zebline.OTHER_TOKEN)
             for i in range(N + 1)]
    assert all(r.status_code == 200 for r in reply)
    assert zeb_get(server, mine) == 200


def test_zebline_refused_upsert_evicts_nothing(server: MockServer) -> None:
    ids = [zeb_track(server, "u1", plan="basic") for _ in range(N)]
    refusal = zeb_post(server, {"userId": "u1", "attributes": {"plan": 5}})  # ZEB-TYPE-LOCK: plan is a string
    assert refusal.status_code == 400, refusal.text
    assert [zeb_get(server, t) for t in ids] == [200] * N  # nothing evicted
    newest = zeb_track(server, "u1", plan="pro")  # and no slot used up: this one evicts exactly the oldest
    assert [zeb_get(server, t) for t in [*ids, newest]] == [404] + [200] * N


def test_zebline_stored_keys_stay_bounded_over_20000_upserts(monkeypatch: pytest.MonkeyPatch) -> None:
    """20,000 upserts with ids from a pool of 100: the count of stored keys stops growing."""
    monkeypatch.setattr(zebline, "TRACKS_PER_ACCOUNT", 500)
    store = Store()
    scope = store.scope("zebline")
    zebline.load_seed(scope, zebline.demo())
    counts = []
    for i in range(20_000):
        body = {"userId": f"user-{i % 100}", "attributes": {"visits": i, "plan": "basic"}}
        if i % 3 == 0:
            body["anonymousId"] = f"anon-{i % 100}"
        zebline._upsert(scope, zebline.DEMO_LICENSE, body, type_lock.now_iso(time.time()), f"track-{i}")
        if i + 1 in (5_000, 10_000, 20_000):
            counts.append(sum(len(scope.keys(kind)) for kind in scope.kinds()))
    # accounts 2, users 100, anonymous ids 100, locks 2, tracks 500, ring 500 slots + its sequence number
    assert counts[0] == counts[1] == counts[2] <= 2 + 100 + 100 + 2 + 500 + 501, counts
    assert len(scope.keys(f"tracks:{zebline.DEMO_LICENSE}")) == 500
    assert scope.get(f"tracks:{zebline.DEMO_LICENSE}", "track-19499") is None
    assert scope.get(f"tracks:{zebline.DEMO_LICENSE}", "track-19500") is not None


# -- Quick Audience: events per channel ----------------------------------------------------------------
WEB = {"apiId": "qa-api-web", "key": "LTAIqaDemoWeb00000001", "secret": "qaDemoWebSecret0000000000000001",
       "appkey": "qademowebappkey00000001"}
ORIGIN = {"Origin": "https://www.example.com"}


def qa_collect(server: MockServer, event_id: str, origin: dict[str, str] = ORIGIN) -> requests.Response:
    data = json.dumps({"appkey": WEB["appkey"], "id": event_id, "puid": "user_001", "ts": "1659493170125",
                       "sdk_type": "httpapi"}).encode()
    return requests.post(f"{server.url}/quickaudience/v1/collect", params=signed_query(WEB["key"], WEB["secret"], data),
                         data=data, headers={"Content-Type": "application/json", **origin}, timeout=10)


def qa_events(server: MockServer) -> list[str]:
    for org in server.state("quickaudience")["organizations"].values():
        if WEB["apiId"] in org["channels"]:
            return [e["event"]["id"] for e in org["events"].get(WEB["apiId"], [])]
    raise AssertionError("the demo WEB channel is missing")


@pytest.mark.requirement("QA-EVENTS-STORED")
def test_quickaudience_keeps_the_newest_events_per_channel(server: MockServer) -> None:
    for i in range(N + 2):
        assert qa_collect(server, f"e{i}").status_code == 200
    assert qa_events(server) == [f"e{i}" for i in range(2, N + 2)]


def test_quickaudience_refused_event_evicts_nothing(server: MockServer) -> None:
    for i in range(N):
        assert qa_collect(server, f"e{i}").status_code == 200
    refusal = qa_collect(server, "foreign", {"Origin": "https://evil.example.org"})  # QA-COLLECT-ORIGIN
    assert refusal.status_code == 403, refusal.text
    assert qa_events(server) == [f"e{i}" for i in range(N)]
    assert qa_collect(server, "next").status_code == 200
    assert qa_events(server) == [f"e{i}" for i in range(1, N)] + ["next"]


def test_quickaudience_keeps_the_newest_retired_secrets_per_channel(server: MockServer) -> None:
    """A 10-minute soak rotated secrets ~100,000 times: every one was kept, and a refused collection call
    tried each with HMAC. The newest N stay; an older secret is refused all the same."""
    console = {"Authorization": f"Bearer {server.credentials()['quickaudience']['check']['console_token']}"}
    first_secret = WEB["secret"]
    for _ in range(N + 2):
        rotated = requests.post(f"{server.url}/quickaudience/v1/apis/{WEB['apiId']}/secret", headers=console,
                                json={}, timeout=10)
        assert rotated.status_code < 300, rotated.text
    org = next(o for o in server.state("quickaudience")["organizations"].values() if WEB["apiId"] in o["channels"])
    kept = [r for r in org["retired_secrets"] if r["apiId"] == WEB["apiId"]]
    assert len(kept) == N and first_secret not in [r["accessKeySecret"] for r in kept]
    assert qa_collect(server, "old").status_code == 401  # signed with the first secret: refused all the same


# -- TTO: msg_ids per source -----------------------------------------------------------------------------
def tto_track(server: MockServer, msg_id: str, api_key: str = tto.DEMO_KEY, **changes: Any) -> requests.Response:
    body = {"type": "track", "api_key": api_key, "msg_id": msg_id, "user_id": "user_1", "event": "Purchase", **changes}
    return requests.post(f"{server.url}/v1/track", json=body, timeout=10)


def tto_source(server: MockServer) -> dict[str, Any]:
    return server.state("tto")["sources"]["demo-http-api"]


@pytest.mark.requirement("TTO-DEDUP-REPLAY-ACK")
def test_tto_remembers_the_newest_msg_ids_per_source(server: MockServer) -> None:
    for i in range(N + 1):
        assert tto_track(server, f"m{i}").status_code == 200
    assert sorted(tto_source(server)["seen_msg_ids"]) == [f"m{i}" for i in range(1, N + 1)]
    stored = len(tto_source(server)["events"])
    assert tto_track(server, f"m{N}").status_code == 200  # remembered: acknowledged, not stored again
    assert len(tto_source(server)["events"]) == stored
    assert tto_track(server, "m0").status_code == 200  # forgotten: stored again, like an unknown msg_id
    assert len(tto_source(server)["events"]) == stored + 1


def test_tto_msg_id_recorded_anew_is_not_evicted_by_its_stale_slot(server: MockServer,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A msg_id met after the dedup window is recorded anew; its old slot's reuse must not forget it."""
    monkeypatch.setattr(tto, "DEDUP_WINDOW_SECONDS", 0)  # every msg_id met again is past the window
    for msg_id in ("a", "b", "a", "c"):  # slots: a@1, b@2, a@3 (a again), c@4 reuses a@1's slot
        assert tto_track(server, msg_id).status_code == 200
    assert sorted(tto_source(server)["seen_msg_ids"]) == ["a", "b", "c"]
    assert tto_track(server, "d").status_code == 200  # reuses b's slot
    assert sorted(tto_source(server)["seen_msg_ids"]) == ["a", "c", "d"]


def test_tto_refused_message_evicts_nothing(server: MockServer) -> None:
    for i in range(N):
        assert tto_track(server, f"m{i}").status_code == 200
    assert tto_track(server, "bad", event=None).status_code == 400  # TTO-TRACK-EVENT / TTO-ID-TYPES
    assert sorted(tto_source(server)["seen_msg_ids"]) == [f"m{i}" for i in range(N)]
    assert tto_track(server, "next").status_code == 200
    assert sorted(tto_source(server)["seen_msg_ids"]) == sorted([f"m{i}" for i in range(1, N)] + ["next"])


def test_tto_bound_is_per_source(server: MockServer) -> None:
    assert tto_track(server, "mine").status_code == 200
    for i in range(N + 1):
        assert tto_track(server, f"o{i}", api_key=tto.OTHER_KEY).status_code == 200
    assert "mine" in tto_source(server)["seen_msg_ids"]


def test_zebline_refuses_a_request_of_more_than_1000_attributes(server: MockServer) -> None:
    """One 975 KB request with 95,000 attributes added ~400 MB (a lock and a value each): now a 400."""
    many = {f"a{i}": i for i in range(95_000)}
    reply = zeb_post(server, {"userId": "wide", "attributes": many})
    assert reply.status_code == 400 and "ZEB-INPUT-LIMITS" in reply.text, reply.text[:300]
    scope = server.mock.scopes["zebline"]
    assert scope.get(f"users:{zebline.DEMO_LICENSE}", "wide") is None
    assert scope.get(f"locks:{zebline.DEMO_LICENSE}", "a0") is None
    assert zeb_post(server, {"userId": "wide", "attributes": {f"a{i}": i for i in range(1000)}}).status_code == 200
