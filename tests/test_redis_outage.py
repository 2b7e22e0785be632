"""Redis unreachable under a running mock: a deliberate 503 naming the cause, then service again, no restart.

The test's own ``redis-server`` (append-only, synced before every answer) is stopped under a mock serving
Zebline and started again on the same port and data. Meanwhile every request that needs the state is answered
503 with ``Retry-After`` and a body naming the store, nothing of them is applied, the control API still
answers, and the outage is logged once, without a traceback.
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


def test_redis_unreachable_answers_503_and_recovers_without_a_restart(own_redis, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="cdpkit.mock")
    config = MockConfig(port=0, vendors=["zebline"], state=own_redis.url("outage"))
    with MockServer(config) as server:
        session = requests.Session()
        users = server.url + USERS
        assert session.post(users, json={"userId": "before", "attributes": {"n": 1}}, headers=AUTH).status_code == 200

        own_redis.stop()
        answers = []
        for i in range(6):
            answers.append(session.post(users, json={"userId": f"during-{i}", "attributes": {"n": 2}}, headers=AUTH))
            answers.append(session.get(users, params={"userId": "before"}, headers=AUTH))
        for answer in answers:
            assert answer.status_code == 503, answer.text
            assert answer.headers["Retry-After"] == "1"
            message = answer.json()["error"]
            assert message.startswith(f"cdpkit mock: its state store redis://127.0.0.1:{own_redis.port}/0 is "
                                      "unreachable: "), message
        assert session.get(server.url + "/__mock/").status_code == 200, "the control API stopped answering"
        store = server.mock.store
        assert store.outage.cause is not None and store.outage.answered == len(answers)

        own_redis.start()  # same port, same append-only file
        deadline = time.monotonic() + 15
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

    text = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert sum("is unreachable" in line for line in text) == 1, text
    assert sum("is reachable again" in line for line in text) == 1, text
    assert not any("mock bug" in line or "Traceback" in line for line in text), text
    assert not any(record.exc_info for record in caplog.records), "a traceback was logged"
