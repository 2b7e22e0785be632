"""With ``--state sqlite:``, every acknowledged write survives ``kill -9``: the short form of the review's
durability run (16 writers, 15,834 acknowledged writes, none lost), kept in CI.

Concurrent writers upsert Zebline users with unique ids for a few seconds; the mock is killed with
SIGKILL while they write; a new mock on the same file must hold every user whose upsert was answered
2xx, and the file must open cleanly (nothing half-written).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import requests

WRITERS = 8
SECONDS = 3.0


def start(db: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "cdpkit", "mock", "--port", "0", "--quiet", "--vendors", "zebline",
                             "--state", f"sqlite:{db}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    assert url.startswith("http://"), proc.stderr.read()
    return proc, url


def test_every_acknowledged_write_survives_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "durable.sqlite"
    proc, url = start(db)
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + SECONDS
    users = f"{url}/v1/accounts/LICENSE_CODE/users"

    def writer() -> None:
        session = requests.Session()
        while time.monotonic() < stop:
            user_id = f"durable-{uuid.uuid4().hex}"
            try:
                answer = session.post(users, json={"userId": user_id, "attributes": {"n": 1}},
                                      headers={"authorization": "ACCESS_TOKEN"}, timeout=5)
            except requests.RequestException:
                return  # the mock was killed under us
            if 200 <= answer.status_code < 300:
                with lock:
                    acknowledged.append(user_id)

    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    for t in threads:
        t.start()
    time.sleep(SECONDS * 0.7)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    for t in threads:
        t.join(timeout=10)
    assert len(acknowledged) > 100, "the writers got too few answers to prove anything"

    proc, url = start(db)
    try:
        session = requests.Session()
        missing = [u for u in acknowledged
                   if session.get(f"{url}/v1/accounts/LICENSE_CODE/users", params={"userId": u},
                                  headers={"authorization": "ACCESS_TOKEN"}, timeout=5).status_code != 200]
        assert missing == [], f"{len(missing)} of {len(acknowledged)} acknowledged writes lost"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
