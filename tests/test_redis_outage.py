"""Redis unreachable under a running mock: a deliberate 503 naming the cause, then service again, no restart.

The test's own ``redis-server`` (append-only, synced before every answer) is stopped under a mock serving
Zebline and started again on the same port and data. Meanwhile every request that needs the state is answered
503 with ``Retry-After`` and a body naming the store, nothing of them is applied, the control API answers
the same 503 where it needs Redis (never a 500 with a traceback) and works again once Redis is back, and the
outage is logged once, without a traceback.
"""

from __future__ import annotations

import logging
import os
import shutil
import time

import pytest
import requests

from cdpkit.mockserver.runtime import MockConfig
from cdpkit.mockserver.server import MockServer
from tests.test_store import RedisServer

AUTH = {"authorization": "ACCESS_TOKEN"}
USERS = "/v1/accounts/LICENSE_CODE/users"


@pytest.fixture
def own_redis(tmp_path):
    if shutil.which("redis-server") is None:
        if os.environ.get("CDPKIT_REQUIRE_REDIS"):
            pytest.fail("CDPKIT_REQUIRE_REDIS is set but redis-server is not installed (apt-get install redis-server)")
        pytest.skip("redis-server is not installed (apt-get install redis-server); CI sets CDPKIT_REQUIRE_REDIS")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


# Every control route that reads or writes Redis (the index and the credentials read none)
CONTROL_CALLS = [
    lambda s, url: s.get(url + "/__mock/requests"),
    lambda s, url: s.get(url + "/__mock/summary"),
    lambda s, url: s.get(url + "/__mock/faults"),
    lambda s, url: s.post(url + "/__mock/faults", json={"path": "/nowhere", "status": 500}),
    lambda s, url: s.delete(url + "/__mock/faults", json={}),
    lambda s, url: s.get(url + "/__mock/state/zebline"),
    lambda s, url: s.get(url + "/__mock/ui/state/zebline"),
    lambda s, url: s.post(url + "/__mock/seed", json={"zebline": {"accounts": {"LICENSE_CODE": {
        "access_token": "ACCESS_TOKEN", "users": [{"userId": "seeded", "attributes": {"n": 4}}]}}}}),
    lambda s, url: s.post(url + "/__mock/reset", json={}),
]


def test_redis_unreachable_answers_503_and_recovers_without_a_restart(own_redis, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="cdpkit.mock")
    config = MockConfig(port=0, vendors=["zebline"], state=own_redis.url("outage"))
    with MockServer(config) as server:
        session = requests.Session()
        users = server.url + USERS
        assert session.post(users, json={"userId": "before", "attributes": {"n": 1}}, headers=AUTH).status_code == 200

        own_redis.stop()
        expected = f"cdpkit mock: its state store redis://127.0.0.1:{own_redis.port}/0 is unreachable: "
        control = [call(session, server.url) for call in CONTROL_CALLS]  # first: the control API meets the outage
        for answer in control:
            assert answer.status_code == 503, answer.text
            assert answer.headers["Retry-After"] == "1"
            assert answer.json()["error"].startswith(expected), answer.text
            assert "Traceback" not in answer.text
        answers = []
        for i in range(6):
            answers.append(session.post(users, json={"userId": f"during-{i}", "attributes": {"n": 2}}, headers=AUTH))
            answers.append(session.get(users, params={"userId": "before"}, headers=AUTH))
        for answer in answers:
            assert answer.status_code == 503, answer.text
            assert answer.headers["Retry-After"] == "1"
            message = answer.json()["error"]
            assert message.startswith(expected), message
        assert session.get(server.url + "/__mock/").status_code == 200, "the control API stopped answering"
        store = server.mock.store
        assert store.outage.cause is not None and store.outage.answered == len(answers) + len(control)

        own_redis.start()  # same port, same append-only file
        deadline = time.monotonic() + 15
        while True:  # the control API works again without a restart (its first call may still meet a closed
            summary = session.get(server.url + "/__mock/summary")  # connection)
            if summary.status_code == 200:
                break
            assert summary.status_code == 503 and time.monotonic() < deadline, summary.text
            time.sleep(0.1)
        while True:  # the first request after the restart may still meet a connection Redis closed
            answer = session.post(users, json={"userId": "after", "attributes": {"n": 3}}, headers=AUTH)
            if answer.status_code == 200:
                break
            assert answer.status_code == 503 and time.monotonic() < deadline, answer.text
            time.sleep(0.1)
        before = session.get(users, params={"userId": "before"}, headers=AUTH)
        assert before.status_code == 200 and before.json()["response"]["user"]["attributes"]["n"] == 1
        for i in range(6):  # nothing answered 503 was applied
            assert session.get(users, params={"userId": f"during-{i}"}, headers=AUTH).status_code == 404
        assert session.get(users, params={"userId": "after"}, headers=AUTH).status_code == 200
        assert store.outage.cause is None
        journal = session.get(server.url + "/__mock/requests").json()["requests"]
        assert journal[0]["response"]["status"] == 200, "the journal is not written again after the outage"
        assert not any("MOCK-BUG" in entry["violations"] for entry in journal), journal
        assert store.outage.unjournaled >= len(answers)  # the journal was in the Redis that was down: counted
        for call in CONTROL_CALLS:  # every control route works again (the reset last: it forgets the above)
            answer = call(session, server.url)
            assert answer.status_code in (200, 201), answer.text

    text = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert sum("is unreachable" in line for line in text) == 1, text
    assert sum("is reachable again" in line for line in text) == 1, text
    assert not any("mock bug" in line or "Traceback" in line for line in text), text
    assert not any(record.exc_info for record in caplog.records), "a traceback was logged"


def test_an_outage_only_the_control_api_met_ends_when_redis_is_back(own_redis, caplog) -> None:
    """No vendor request runs here, so neither the commit batches nor the fault listener (started by the first
    vendor request) can notice Redis is back: the control call that succeeds must, or the journal's writer would
    go on dropping entries as if Redis were still away."""
    caplog.set_level(logging.DEBUG, logger="cdpkit.mock")
    with MockServer(MockConfig(port=0, vendors=["zebline"], state=own_redis.url("control-only"))) as server:
        store = server.mock.store
        own_redis.stop()
        answer = requests.get(server.url + "/__mock/summary")
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "1", answer.text
        assert store.outage.cause is not None
        own_redis.start()
        deadline = time.monotonic() + 15
        while (answer := requests.get(server.url + "/__mock/summary")).status_code != 200:
            assert answer.status_code == 503 and time.monotonic() < deadline, answer.text
            time.sleep(0.1)
        assert store.outage.cause is None, "the outage outlived Redis's return"
    text = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert sum("is unreachable" in line for line in text) == 1, text
    assert sum("is reachable again" in line for line in text) == 1, text
