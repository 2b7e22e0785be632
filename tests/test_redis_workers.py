"""Several mock processes on one Redis (``--state redis://…``): every stateful rule stays exact across them.

Two ``cdpkit mock`` processes on two ports share one Redis, as two machines behind a load balancer would
(the races need to choose which process a request goes to); then ``--workers 2`` on one port. Each race
fires its requests at both processes at once, from threads released together, and judges the outcome
from the state: exactly one of two conflicting first uses wins, nothing is lost or doubled, a rotated
secret is refused everywhere, a fault set on one process is applied by the other.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests

from schemas.qa_signing import signed_query
from tests.test_store import free_port, redis_server  # noqa: F401  (the session's redis-server fixture)

ZEB_AUTH = {"authorization": "ACCESS_TOKEN"}
ZEB_USERS = "/v1/accounts/LICENSE_CODE/users"
TTO_KEY = "your_api_key_here"
SENSORS_HEADERS = {"Content-Type": "application/json", "api-key": "#K-7IGwJpE2M9CpID4101qj2hWg9t59hoF3",
                   "X-Organization-Id": "org-sep-3164dp4", "sensorsdata-project": "default"}
SENSORS_TAG = "/api/v3/focus/v1/real-time-tag"
QA = "/quickaudience/v1"
QA_WEB = {"key": "LTAIqaDemoWeb00000001", "secret": "qaDemoWebSecret0000000000000001", "appkey": "qademowebappkey00000001"}
VENDORS = "zebline,tto,sensors,quickaudience"


class Mock:
    """One ``cdpkit mock`` process."""

    def __init__(self, state: str, *extra: str, vendors: str = VENDORS) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "cdpkit", "mock", "--port", "0", "--quiet", "--vendors",
                                      vendors, "--state", state, *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://"), self.proc.stderr.read()
        self.session = requests.Session()

    def __call__(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.session.request(method, self.url + path, timeout=15, **kw)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        answer = self(method, "/__mock/" + path, json=body if body is not None else {} if method != "GET" else None)
        assert answer.status_code < 300, answer.text
        return answer.json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def pair(redis_server) -> Iterator[tuple[Mock, Mock]]:  # noqa: F811
    url = redis_server.url()
    first = Mock(url)
    second = Mock(url)  # finds the demo data the first loaded and serves the same state
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


@pytest.fixture(autouse=True)
def fresh(request) -> None:
    if "pair" in request.fixturenames:
        request.getfixturevalue("pair")[0].control("POST", "reset")


def together(*calls: Callable[[], requests.Response]) -> list[requests.Response]:
    """Run the calls at the same moment, one thread each; their answers in order."""
    barrier = threading.Barrier(len(calls))
    answers: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        answers[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return answers


def test_two_first_uses_of_an_attribute_with_different_types_one_wins(pair) -> None:
    one, two = pair
    for i in range(15):
        name = f"race_{i}"
        a, b = together(lambda: one("POST", ZEB_USERS, json={"userId": f"a{i}", "attributes": {name: 1}}, headers=ZEB_AUTH),
                        lambda: two("POST", ZEB_USERS, json={"userId": f"b{i}", "attributes": {name: "one"}}, headers=ZEB_AUTH))
        assert sorted([a.status_code, b.status_code]) == [200, 400], (a.text, b.text)
        winner = "number" if a.status_code == 200 else "string"
        lock = two.control("GET", "state/zebline")["accounts"]["LICENSE_CODE"]["type_locks"][name]
        assert lock["type"] == winner
        loser = f"b{i}" if winner == "number" else f"a{i}"
        assert one("GET", ZEB_USERS, params={"userId": loser}, headers=ZEB_AUTH).status_code == 404, "a refusal wrote"


def test_no_lost_update_when_two_processes_write_one_profile(pair) -> None:
    one, two = pair

    def writer(mock: Mock, tag: str) -> Callable[[], requests.Response]:
        def run() -> requests.Response:
            for j in range(25):
                answer = mock("POST", ZEB_USERS, json={"userId": "shared", "attributes": {f"{tag}{j}": j}}, headers=ZEB_AUTH)
                assert answer.status_code == 200, answer.text
            return answer
        return run

    together(writer(one, "one_"), writer(two, "two_"))
    profile = one("GET", ZEB_USERS, params={"userId": "shared"}, headers=ZEB_AUTH).json()["response"]["user"]
    expected = {f"{tag}{j}": j for tag in ("one_", "two_") for j in range(25)}
    assert profile["attributes"] == expected


def test_tto_msg_id_is_stored_once_when_sent_to_two_processes_at_once(pair) -> None:
    one, two = pair
    ids = [f"dup-{uuid.uuid4().hex}" for _ in range(15)]
    for msg_id in ids:
        body = {"type": "track", "api_key": TTO_KEY, "msg_id": msg_id, "user_id": "u1", "event": "Purchase"}
        a, b = together(lambda: one("POST", "/v1/track", json=body), lambda: two("POST", "/v1/track", json={**body, "event": "Refund"}))
        assert a.status_code == b.status_code == 200 and a.json() == b.json() == {"success": True, "msg_id": msg_id}
    events = one.control("GET", "state/tto?limit=100000")["sources"]["demo-http-api"]["events"]
    stored = [e["msg_id"] for e in events if e.get("msg_id") in ids]
    assert sorted(stored) == sorted(ids), "a msg_id stored twice or not at all"


def test_sensors_quota_holds_under_racing_starts(pair) -> None:
    one, two = pair
    tags = ("user_rt_tag_if1", "user_rt_tag_disposable_demo")  # the demo's two stopped tags
    for _ in range(5):
        one.control("POST", "reset")
        # running 1 + held elsewhere 31: a total of 33 leaves one unit for the two starts
        one.control("POST", "seed", {"sensors": {"organizations": {"org-sep-3164dp4": {"projects": {"default": {"quota": {"total": 33}}}}}}})
        a, b = together(lambda: one("POST", f"{SENSORS_TAG}/start", json={"name": tags[0]}, headers=SENSORS_HEADERS),
                        lambda: two("POST", f"{SENSORS_TAG}/start", json={"name": tags[1]}, headers=SENSORS_HEADERS))
        assert sorted([a.status_code, b.status_code]) == [200, 409], (a.text, b.text)
        quota = two("POST", f"{SENSORS_TAG}/quota/query", headers=SENSORS_HEADERS).json()["data"]
        assert quota == {"remain": 0, "use": 33}


def _collect(mock: Mock, secret: str) -> requests.Response:
    body = json.dumps({"appkey": QA_WEB["appkey"], "id": "click", "puid": "user_001", "ts": "1659493170125", "sdk_type": "httpapi"}).encode()
    return mock("POST", QA + "/collect", params=signed_query(QA_WEB["key"], secret, body, None), data=body,
                headers={"Content-Type": "application/json", "Origin": "https://www.example.com"})


def test_a_rotated_quick_audience_secret_is_refused_by_every_process_at_once(pair) -> None:
    one, two = pair
    old = QA_WEB["secret"]
    assert _collect(one, old).status_code == _collect(two, old).status_code == 200  # both have the record cached
    rotated = one("POST", QA + "/apis/qa-api-web/secret", headers={"Authorization": "Bearer ${console_token}"})
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["data"]["accessKeySecret"]
    assert _collect(two, old).status_code == 401 and _collect(one, old).status_code == 401
    assert _collect(two, new).status_code == 200


def test_faults_set_on_one_process_are_applied_by_all_and_counted_once(pair) -> None:
    one, two = pair
    one.control("POST", "faults", {"path": "/v1/track", "status": 503, "count": 3})
    body = {"type": "track", "api_key": TTO_KEY, "user_id": "u1", "event": "E"}
    statuses = [m("POST", "/v1/track", json=body).status_code for m in (two, one, two, one, two, one)]
    assert statuses.count(503) == 3 and statuses[:3] == [503, 503, 503], statuses
    assert two.control("GET", "faults")["faults"] == []
    two.control("POST", "faults", {"path": "/v1/track", "status": 502})
    assert one("POST", "/v1/track", json=body).status_code == 502
    assert one.control("GET", "faults")["faults"][0]["hits"] == 1
    one.control("DELETE", "faults")
    assert two("POST", "/v1/track", json=body).status_code == 200


def test_one_journal_and_one_count_across_processes(pair) -> None:
    one, two = pair
    body = {"type": "track", "api_key": TTO_KEY, "user_id": "u1", "event": "E"}
    one("POST", "/v1/track", json=body)
    two("POST", "/v1/track", json={**body, "api_key": "wrong"})
    assert [e["verdict"] for e in one.control("GET", "requests")["requests"]] == ["bad", "good"]
    assert two.control("GET", "summary")["total"] == {"good": 1, "bad": 1, "total": 2}
