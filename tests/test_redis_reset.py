"""``POST /__mock/reset`` on a Redis store is one step for every process (issue 12).

A reset forgets the state and loads the start-up data again. Done as two steps (delete, then load), another
worker serving in between would see the state empty (the demo account gone: a 401 for a client's valid
request) and could write into it before the load overwrites it. Here writers upsert Zebline users through
``--workers 2`` while others read an unknown user (404 while the account exists, 401 once it is gone) and
resets are sent to the same port; every write must be answered 200, every read 404, and what the state holds
afterwards is judged against when each write and the last reset were sent and answered.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from tests.test_redis_workers import VENDORS, ZEB_AUTH, ZEB_USERS, Mock, workers_of
from tests.test_store import redis_server  # noqa: F401  (the session's redis-server fixture)

WRITERS = 4
READERS = 4
START_ACCOUNTS = ("LICENSE_CODE", "zebline-demo-license-b")  # zebline.demo()
RESETS = 12


@dataclass
class Write:
    user_id: str
    sent: float
    answered: float
    status: int


@pytest.fixture()
def two_workers(redis_server) -> Iterator[Mock]:  # noqa: F811
    # four vendors' start-up data: a reset has more to load, so a two-step reset would be seen half done
    mock = Mock(redis_server.url(), "--workers", "2", vendors=VENDORS)
    try:
        assert len(workers_of(mock.proc)) == 2
        yield mock
    finally:
        mock.stop()


def test_a_reset_under_concurrent_writes_leaves_no_half_reset_state(two_workers: Mock) -> None:
    writes: list[Write] = []
    lock = threading.Lock()
    done = threading.Event()

    def writer() -> None:
        session = requests.Session()  # one connection each: the kernel spreads them over both workers
        while not done.is_set():
            user_id = f"r-{uuid.uuid4().hex}"
            sent = time.monotonic()
            answer = session.post(two_workers.url + ZEB_USERS, json={"userId": user_id, "attributes": {"n": 1}},
                                  headers=ZEB_AUTH, timeout=15)
            with lock:
                writes.append(Write(user_id, sent, time.monotonic(), answer.status_code))

    reads: list[int] = []

    def reader() -> None:  # an unknown user of the demo account: 404, never 401 (the account gone)
        session = requests.Session()
        while not done.is_set():
            answer = session.get(two_workers.url + ZEB_USERS, params={"userId": "nobody"}, headers=ZEB_AUTH, timeout=15)
            with lock:
                reads.append(answer.status_code)

    threads = [threading.Thread(target=writer) for _ in range(WRITERS)] + [threading.Thread(target=reader) for _ in range(READERS)]
    for t in threads:
        t.start()
    resets: list[tuple[float, float]] = []
    try:
        time.sleep(0.3)
        for _ in range(RESETS):
            sent = time.monotonic()
            two_workers.control("POST", "reset")
            resets.append((sent, time.monotonic()))
            time.sleep(0.15)
        time.sleep(0.5)  # writes after the last reset, enough to judge even on a busy machine
    finally:
        done.set()
        for t in threads:
            t.join(timeout=30)

    assert set(reads) == {404}, f"reads answered {sorted(set(reads))} while resets ran (a half-reset state)"
    refused = [(w.user_id, w.status) for w in writes if w.status != 200]
    assert refused == [], f"{len(refused)} of {len(writes)} writes refused while resets ran (a half-reset state)"
    reset_sent, reset_answered = resets[-1]
    before = [w for w in writes if w.answered < reset_sent]
    after = [w for w in writes if w.sent > reset_answered]
    assert len(before) > 20 and len(after) > 20, "too few writes on either side of the last reset to prove anything"
    users = set(two_workers.control("GET", "state/zebline?limit=1000000")["accounts"]["LICENSE_CODE"]["profiles"]["by_user_id"])
    kept = [w.user_id for w in before if w.user_id in users]
    assert kept == [], f"{len(kept)} writes acknowledged before the last reset survived it"
    lost = [w.user_id for w in after if w.user_id not in users]
    assert lost == [], f"{len(lost)} writes sent after the last reset answered are missing"
    overlapping = {w.user_id for w in writes if w.answered >= reset_sent}
    assert users <= overlapping, "the state holds profiles no write since the last reset made"
    # the start-up data is whole: both demo accounts are there, as after a reset with nobody writing
    accounts = two_workers.control("GET", "state/zebline?limit=10")["accounts"]
    assert sorted(accounts) == sorted(START_ACCOUNTS), sorted(accounts)
