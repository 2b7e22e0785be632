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

from cdpkit.schemas.qa_signing import signed_query
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


# -- --workers N: one port, N processes ----------------------------------------------------------------


def test_workers_are_refused_without_a_shared_store() -> None:
    done = subprocess.run([sys.executable, "-m", "cdpkit", "mock", "--workers", "2", "--port", "0"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "--workers 2 needs a shared store, --state redis://" in done.stderr


def workers_of(supervisor: subprocess.Popen) -> list[int]:
    children = Path(f"/proc/{supervisor.pid}/task/{supervisor.pid}/children").read_text().split()
    return [int(pid) for pid in children]


@pytest.fixture(scope="module")
def two_workers(redis_server) -> Iterator[Mock]:  # noqa: F811
    mock = Mock(redis_server.url(), "--workers", "2", vendors="gptbots,zebline,tto")
    try:
        assert len(workers_of(mock.proc)) == 2
        yield mock
    finally:
        mock.stop()


def test_faults_set_through_one_port_apply_on_every_worker(two_workers: Mock) -> None:
    two_workers.control("POST", "reset")
    two_workers.control("POST", "faults", {"path": "/v1/track", "status": 503, "count": 10})
    body = {"type": "track", "api_key": TTO_KEY, "user_id": "u1", "event": "E"}
    # a new connection each time: the kernel spreads them over both workers
    statuses = [requests.post(two_workers.url + "/v1/track", json=body, timeout=15).status_code for _ in range(24)]
    assert statuses.count(503) == 10 and statuses.count(200) == 14, statuses
    two_workers.control("DELETE", "faults")


def test_kill_9_of_a_worker_loses_no_acknowledged_write(two_workers: Mock) -> None:
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + 2.5

    def writer() -> None:
        session = requests.Session()
        while time.monotonic() < stop:
            user_id = f"w-{uuid.uuid4().hex}"
            try:
                answer = session.post(two_workers.url + ZEB_USERS, json={"userId": user_id, "attributes": {"n": 1}},
                                      headers=ZEB_AUTH, timeout=5)
            except requests.RequestException:
                session = requests.Session()  # that worker was killed: the next connection finds another
                continue
            if answer.status_code == 200:
                with lock:
                    acknowledged.append(user_id)

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for t in threads:
        t.start()
    time.sleep(1.2)
    victim = workers_of(two_workers.proc)[0]
    os.kill(victim, signal.SIGKILL)
    for t in threads:
        t.join(timeout=30)
    assert len(acknowledged) > 50, "too few answers to prove anything"
    missing = [u for u in acknowledged
               if requests.get(two_workers.url + ZEB_USERS, params={"userId": u}, headers=ZEB_AUTH, timeout=15).status_code != 200]
    assert missing == [], f"{len(missing)} of {len(acknowledged)} acknowledged writes lost"
    deadline = time.monotonic() + 20
    while victim in workers_of(two_workers.proc) or len(workers_of(two_workers.proc)) < 2:
        assert time.monotonic() < deadline, "the supervisor did not replace the killed worker"
        time.sleep(0.1)


def test_cdpkit_check_passes_against_two_workers(two_workers: Mock) -> None:
    done = subprocess.run([sys.executable, "-m", "cdpkit", "check", "--vendor", "gptbots", "--target", two_workers.url,
                           "--strict"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " 0 failed" in done.stdout
