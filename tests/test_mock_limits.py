"""Slow clients and shutdown are bounded (issue 10): each test stood for a defect found before the fix.

200 slowloris connections holding half-sent headers were kept for ever; a latency range of
``[0, 1e300]`` was accepted although a single value was capped at 60 s; SIGTERM waited 60 s for
requests held by a latency fault.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests

from cdpkit.mockserver.pytest_plugin import MockServer
from cdpkit.mockserver.runtime import MockConfig

PATH = "/v1/user/get-user-cdp"


def _closed_by_server(sock: socket.socket, deadline: float) -> bool:
    sock.settimeout(max(0.1, deadline - time.monotonic()))
    try:
        sock.recv(1024)  # the server's close (or its last answer before closing) arrived in time
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def test_half_sent_requests_are_closed_after_the_idle_timeout() -> None:
    with MockServer(MockConfig(port=0, vendors=["gptbots"], idle_timeout=1.0)) as server:
        host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
        slow = []
        for _ in range(50):
            sock = socket.create_connection((host, port), timeout=5)
            sock.sendall(b"GET " + PATH.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # never finished
            slow.append(sock)
        answer = requests.get(server.url + PATH, params={"user_id": "BC123"},
                              headers={"Authorization": "Bearer ${token}"}, timeout=5)
        assert answer.status_code == 200, "the mock serves others while slow clients hang"
        deadline = time.monotonic() + 6
        closed = sum(_closed_by_server(s, deadline) for s in slow)
        for s in slow:
            s.close()
        assert closed == 50


@pytest.mark.parametrize("latency", [[0, 1e300], 60_001, [10, 5], True, [1, 2, 3]])
def test_every_latency_is_capped(latency: object) -> None:
    with MockServer(MockConfig(port=0, vendors=["gptbots"])) as server:
        answer = requests.post(server.url + "/__mock/faults", json={"path": "*", "latency_ms": latency}, timeout=5)
        assert answer.status_code == 400 and "60000" in answer.json()["error"]


def test_sigterm_ends_the_mock_within_seconds_even_with_requests_held(tmp_path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "cdpkit", "mock", "--port", "0", "--quiet", "--vendors", "gptbots"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), proc.stderr.read()
        requests.post(url + "/__mock/faults", json={"path": "*", "latency_ms": 60_000}, timeout=5)

        def held() -> None:
            try:
                requests.get(url + PATH, params={"user_id": "BC123"}, headers={"Authorization": "Bearer ${token}"}, timeout=90)
            except requests.RequestException:
                pass

        threads = [threading.Thread(target=held, daemon=True) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        assert time.monotonic() - started < 8, "shutdown waited for the latency fault"
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
