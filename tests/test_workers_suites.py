"""``cdpkit mock --workers 2 --state redis://…`` as a user meets it: the conformance suites and the ``cdp_mock``
fixture work unchanged against two worker processes on one port.

* ``cdpkit check --strict`` passes for every vendor against one two-worker mock. Every request of the run
  goes on a fresh connection (``Connection: close``), so the kernel spreads them over both workers and a
  check's write and its read-back usually land on different processes: each stateful rule the suite checks
  holds across processes, not only within one. The ``X-Cdpkit-Worker`` header of every answer proves both
  workers served a good share of the run.
* The ``cdp_mock`` fixture, configured with ``cdp_mock_state = redis://…`` and ``cdp_mock_workers = 2``,
  keeps its API: reset before each test, credentials, seed, journal reads, whichever worker served.
* A ``MockServer(workers=2)`` whose test process dies (``kill -9``) leaves no mock behind.

Like test_redis_workers.py these start their own ``redis-server`` (skipped without one unless
``CDPKIT_REQUIRE_REDIS``, which CI sets).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from cdpkit.mockserver.runtime import MockConfig
from cdpkit.mockserver.server import MockServer
from cdpkit.mockserver.workers import WORKER_HEADER
from cdpkit.schemas import VENDORS
from tests.mutants import run_check_at
from tests.test_redis_workers import redis_server  # noqa: F401  (the session's redis-server fixture)

MAX_EXAMPLES = 5  # schemathesis examples per operation and mode: the run stays bounded (~30 s for all five)
FAIR_SHARE = 0.2  # each of the two workers serves at least this share of a run's requests


@pytest.fixture(scope="module")
def two_workers(redis_server) -> Iterator[MockServer]:  # noqa: F811
    with MockServer(MockConfig(port=0, state=redis_server.url()), workers=2) as server:
        assert len(server.worker_pids()) == 2
        yield server


@pytest.fixture
def served_by(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The ``X-Cdpkit-Worker`` of every answer to a ``requests.Session`` made during the test (the suites'
    target and their schemathesis run use one), each request sent on a fresh connection."""
    seen: list[str | None] = []
    original = requests.Session.__init__

    def init(self: requests.Session, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.headers["Connection"] = "close"
        self.hooks["response"].append(lambda response, *a, **k: seen.append(response.headers.get(WORKER_HEADER)))

    monkeypatch.setattr(requests.Session, "__init__", init)
    return seen


@pytest.mark.parametrize("vendor", VENDORS)
def test_cdpkit_check_passes_against_two_workers(vendor: str, two_workers: MockServer, served_by: list[str | None],
                                                 tmp_path: Path) -> None:
    run = run_check_at(two_workers.url, vendor, tmp_path / "junit.xml", strict=True, max_examples=MAX_EXAMPLES)
    assert run.exit_code == 0 and run.failed == [], run.failed
    assert run.skipped == [], f"a check skipped against the mock: {run.skipped}"
    counts = Counter(served_by)
    assert set(counts) == {str(pid) for pid in two_workers.worker_pids()}, counts  # every answer from a worker
    total = sum(counts.values())
    assert total > 20 and min(counts.values()) >= FAIR_SHARE * total, f"requests were not spread: {counts}"


# -- the cdp_mock fixture -------------------------------------------------------------------------------

FIXTURE_TESTS = """
import requests

GPTBOTS = "/v1/user/get-user-cdp"


def ask(cdp_mock, user_id):
    token = cdp_mock.credentials()["gptbots"]["check"]["token"]
    # a fresh connection each time: the kernel spreads them over the workers
    return requests.get(cdp_mock.url + GPTBOTS, params={"user_id": user_id}, headers={"Authorization": "Bearer " + token},
                        timeout=10)


def test_every_worker_journals_into_one_journal(cdp_mock):
    workers = {str(pid) for pid in cdp_mock.worker_pids()}
    assert len(workers) == 2
    served = []
    while set(served) != workers:
        assert len(served) < 60, served
        answer = ask(cdp_mock, "BC123")
        assert answer.status_code == 200, answer.text
        served.append(answer.headers["X-Cdpkit-Worker"])
    journal = cdp_mock.requests(vendor="gptbots")
    assert len(journal) == len(served) and {e["verdict"] for e in journal} == {"good"}
    assert cdp_mock.summary()["total"]["good"] == len(served)


def test_seeded_data_is_seen_by_both_workers(cdp_mock):
    gptbots = cdp_mock.credentials()["gptbots"]
    agent = next(t["agent"] for t in gptbots["tenants"] if t["token"] == gptbots["check"]["token"])
    cdp_mock.seed({"gptbots": {"agents": {agent: {"users": {"seeded-user": ["seeded-anon"]}}}}})
    assert "seeded-user" in cdp_mock.state("gptbots")[f"users:{agent}"]
    served = set()
    for _ in range(60):
        answer = ask(cdp_mock, "seeded-user")
        assert answer.json()["data"]["seeded-user"]["anonymous_ids"][0]["anonymous_id"] == "seeded-anon", answer.text
        served.add(answer.headers["X-Cdpkit-Worker"])
        if len(served) == 2:
            break
    assert len(served) == 2


def test_reset_before_each_test_on_every_worker(cdp_mock):
    assert cdp_mock.requests() == []
    served = set()
    for _ in range(60):  # whichever worker answers, the user seeded by the test before is gone (an unknown user: no data)
        answer = ask(cdp_mock, "seeded-user")
        assert answer.status_code == 200 and answer.json()["data"] == {}, answer.text
        served.add(answer.headers["X-Cdpkit-Worker"])
        if len(served) == 2:
            break
    assert len(served) == 2


def test_there_is_no_in_process_mock(cdp_mock):
    import pytest

    with pytest.raises(RuntimeError, match="2 worker processes"):
        cdp_mock.mock
"""


def test_the_cdp_mock_fixture_serves_two_workers(pytester: pytest.Pytester, redis_server) -> None:  # noqa: F811
    pytester.makepyfile(FIXTURE_TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider", "-o", f"cdp_mock_state={redis_server.url()}",
                                           "-o", "cdp_mock_workers=2")
    result.assert_outcomes(passed=4)


def test_the_fixture_refuses_workers_without_a_shared_store(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(cdp_mock):\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-o", "cdp_mock_workers=2")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*cdp_mock_workers = 2: 2 workers need a store they all share, state='redis://*"])


# -- a test process that dies leaves no mock behind ---------------------------------------------------

ORPHAN = """
import sys, time
from cdpkit.mockserver.runtime import MockConfig
from cdpkit.mockserver.server import MockServer
server = MockServer(MockConfig(port=0, state=sys.argv[1]), workers=2).start()
print(server.url, server.supervisor_pid, *server.worker_pids(), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return status != "Z"  # a zombie has exited; whoever adopted it reaps it


def test_a_killed_test_process_leaves_no_mock_behind(redis_server) -> None:  # noqa: F811
    parent = subprocess.Popen([sys.executable, "-c", ORPHAN, redis_server.url()], stdout=subprocess.PIPE, text=True)
    try:
        url, *pids = parent.stdout.readline().split()  # type: ignore[union-attr]
        processes = [int(p) for p in pids]
        assert len(processes) == 3 and requests.get(url + "/__mock/summary", timeout=10).status_code == 200
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 20
        while any(_alive(p) for p in processes):
            assert time.monotonic() < deadline, f"still running: {[p for p in processes if _alive(p)]}"
            time.sleep(0.1)
        with pytest.raises(requests.ConnectionError):
            requests.get(url + "/__mock/summary", timeout=5)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
