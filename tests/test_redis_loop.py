"""No Redis call holds a Redis mock's event loop for long: whatever waits on Redis, other requests are answered.

Four waits used to run synchronously on the loop, so that while they lasted the mock answered nobody:

* a fault change (``POST``/``DELETE /__mock/faults``) waiting for every other process to acknowledge it (up to
  2 s for a process that does not answer; :mod:`cdpkit.mockserver.redis_faults`);
* the first control call to meet a Redis that does not answer (:func:`cdpkit.mockserver.control.store_outage`);
* the first vendor request to meet one, through the fault list's per-request check while its listener is not
  live yet (:meth:`cdpkit.mockserver.redis_faults.RedisFaults.take`);
* every vendor request matching a fault during a known outage, which tried to record the fault's use in Redis.

"Does not answer" is a *blackholed* Redis: packets dropped, so nothing fails, everything waits for a timeout (a
stopped one refuses at once and never held the loop long). :class:`Relay` stands between the mock and the tests'
Redis and can start dropping everything, then cut every connection so the waits end and the test can see how
they were answered. Meanwhile a probe asks the store-free ``GET /__mock/`` again and again: each answer must
come promptly, where before the loop was held for the whole timeout (30 s on an open connection).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
import redis
import requests

from cdpkit.mockserver.redis_faults import ACK_TIMEOUT
from cdpkit.mockserver.runtime import MockConfig
from cdpkit.mockserver.server import MockServer
from tests.test_store import redis_server  # noqa: F401  (the session's redis-server fixture)

AUTH = {"authorization": "ACCESS_TOKEN"}
USERS = "/v1/accounts/LICENSE_CODE/users"
PROMPT = 0.5  # seconds: an answer from a free loop takes milliseconds; a held one, the whole timeout (>= 2 s)
PROBE_TIMEOUT = 3.0  # seconds a probe waits before it counts as unanswered


class Relay:
    """A TCP relay to the tests' Redis that can drop everything, as a firewall dropping packets does (:meth:`drop`:
    open connections stay open and nothing arrives; a new one is accepted, never answered), refuse every
    connection, as a stopped Redis does (:meth:`refuse`), drop again on the same port (:meth:`hold`), and cut
    every connection (:meth:`cut`: what was waiting fails at once; new connections are refused)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.dropping = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.port = 0
        self._listen()

    def url(self, prefix: str) -> str:
        return f"redis://127.0.0.1:{self.port}/0?prefix={prefix}"

    def _listen(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR: the same port again
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, args=(self.listener,), name="relay", daemon=True).start()

    def _keep(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.append(sock)
        return sock

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client = self._keep(listener.accept()[0])
            except OSError:
                return  # refused or cut
            upstream = None
            if not self.dropping:
                upstream = self._keep(socket.create_connection(("127.0.0.1", self.target_port)))
                threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket | None) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                return
            if not data:
                if sink is not None:
                    try:
                        sink.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                return
            if sink is not None and not self.dropping:
                try:
                    sink.sendall(data)
                except OSError:
                    return

    def drop(self) -> None:
        self.dropping = True

    def refuse(self) -> None:
        """End every connection and refuse new ones: what waited on one fails at once."""
        self.cut()

    def hold(self) -> None:
        """After :meth:`refuse`: accept connections on the same port again, and never answer them."""
        self.dropping = True
        self._listen()

    def cut(self) -> None:
        with self._lock:
            open_now, self._sockets = self._sockets, []
        for sock in [self.listener, *open_now]:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked on it, and the peer reads an end
            except OSError:
                pass
            sock.close()


@pytest.fixture
def relay(redis_server) -> Iterator[Relay]:  # noqa: F811
    relay = Relay(redis_server.port)
    yield relay
    relay.cut()


def probe_while(server: MockServer, waiting: Future[Any], at_least: float = 0.0) -> list[float]:
    """Ask ``GET /__mock/`` (which reads no store) again and again while ``waiting`` runs (and for ``at_least``
    seconds); how long each answer took (an unanswered probe counts as ``inf``)."""
    took: list[float] = []
    session = requests.Session()
    started = time.monotonic()
    while len(took) < 5 or (not waiting.done() and time.monotonic() - started < at_least):
        sent = time.monotonic()
        try:
            answer = session.get(server.url + "/__mock/", timeout=PROBE_TIMEOUT)
            assert answer.status_code == 200, answer.text
            took.append(time.monotonic() - sent)
        except requests.exceptions.Timeout:
            took.append(float("inf"))
        time.sleep(0.02)
    return took


def in_background(call: Callable[[], requests.Response]) -> Future[requests.Response]:
    pool = ThreadPoolExecutor(1)
    future = pool.submit(call)
    pool.shutdown(wait=False)
    return future


def test_a_fault_change_waiting_for_a_silent_process_leaves_the_loop_free(redis_server) -> None:  # noqa: F811
    """A process subscribed to the fault channel that never acknowledges: each change waits for it (the promise:
    the control API answers once every listening process has the change, here bounded by ACK_TIMEOUT), and
    meanwhile the mock answers other requests, a vendor request through Redis included."""
    prefix = f"loop{time.monotonic_ns()}"
    config = MockConfig(port=0, vendors=["zebline"], state=redis_server.url(prefix))
    with MockServer(config) as server, redis.Redis(port=redis_server.port) as other:
        session = requests.Session()
        created = session.post(server.url + USERS, json={"userId": "u", "attributes": {"n": 1}}, headers=AUTH)
        assert created.status_code == 200, created.text
        silent = other.pubsub()
        silent.subscribe(f"{prefix}:fchan")  # counted by PUBLISH as a receiver; never reads, never acknowledges
        faults = server.url + "/__mock/faults"
        try:
            for change in (lambda: requests.post(faults, json={"path": "/nowhere", "status": 500}, timeout=30),
                           lambda: requests.delete(faults, json={}, timeout=30)):
                sent = time.monotonic()
                waiting = in_background(change)
                took = probe_while(server, waiting, at_least=ACK_TIMEOUT / 2)
                vendor_sent = time.monotonic()
                vendor = session.get(server.url + USERS, params={"userId": "u"}, headers=AUTH, timeout=PROBE_TIMEOUT)
                vendor_took = time.monotonic() - vendor_sent
                answer = waiting.result(timeout=30)
                answered_after = time.monotonic() - sent
                assert answer.status_code in (200, 201), answer.text
                assert max(took) < PROMPT, f"the loop was held while a fault change waited: probes took {took}"
                assert vendor.status_code == 200 and vendor_took < PROMPT, (vendor_took, vendor.text)
                assert answered_after >= ACK_TIMEOUT * 0.9, "the change was answered before the silent process's wait"
            # a reset clears the faults too, with the same wait for every process's acknowledgement
            sent = time.monotonic()
            waiting = in_background(lambda: requests.post(server.url + "/__mock/reset", json={}, timeout=30))
            took = probe_while(server, waiting, at_least=ACK_TIMEOUT / 2)
            assert waiting.result(timeout=30).status_code == 200
            assert max(took) < PROMPT, f"the loop was held while a reset waited: probes took {took}"
            assert time.monotonic() - sent >= ACK_TIMEOUT * 0.9, "the reset was answered before the silent process's wait"
        finally:
            silent.close()


def test_a_control_call_meeting_a_blackholed_redis_leaves_the_loop_free(relay) -> None:
    with MockServer(MockConfig(port=0, vendors=["zebline"], state=relay.url(f"loop{time.monotonic_ns()}"))) as server:
        assert requests.get(server.url + "/__mock/summary").status_code == 200  # the connections are open
        relay.drop()
        waiting = in_background(lambda: requests.get(server.url + "/__mock/summary", timeout=60))
        took = probe_while(server, waiting, at_least=1.0)
        relay.cut()
        answer = waiting.result(timeout=60)
        assert max(took) < PROMPT, f"the loop was held while a control call waited on Redis: probes took {took}"
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "1", answer.text
        assert "is unreachable" in answer.json()["error"]


def test_the_first_vendor_request_meeting_a_blackholed_redis_leaves_the_loop_free(relay) -> None:
    """No vendor request before: the fault listener has not started, so the first request checks the fault list
    itself; that check must not hold the loop for the timeout of a Redis that does not answer."""
    with MockServer(MockConfig(port=0, vendors=["zebline"], state=relay.url(f"loop{time.monotonic_ns()}"))) as server:
        assert requests.get(server.url + "/__mock/summary").status_code == 200
        relay.drop()
        body = {"userId": "blackholed", "attributes": {"n": 1}}
        waiting = in_background(lambda: requests.post(server.url + USERS, json=body, headers=AUTH, timeout=60))
        took = probe_while(server, waiting, at_least=1.0)
        relay.cut()
        answer = waiting.result(timeout=60)
        assert max(took) < PROMPT, f"the loop was held while a vendor request waited on Redis: probes took {took}"
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "1", answer.text


def test_a_fault_during_a_known_outage_of_a_blackholed_redis_leaves_the_loop_free(relay) -> None:
    """The outage is known (connections refused) and Redis now answers nothing: a request matching a fault
    must not try to record the fault's use, which held the loop for the timeout at every such request."""
    with MockServer(MockConfig(port=0, vendors=["zebline"], state=relay.url(f"loop{time.monotonic_ns()}"))) as server:
        session = requests.Session()
        added = session.post(server.url + "/__mock/faults", json={"path": USERS, "method": "GET", "latency_ms": 1})
        assert added.status_code == 201, added.text
        assert session.get(server.url + USERS, params={"userId": "nobody"}, headers=AUTH).status_code == 404
        relay.refuse()
        body = {"userId": "during", "attributes": {"n": 1}}
        answer = session.post(server.url + USERS, json=body, headers=AUTH, timeout=PROBE_TIMEOUT)
        assert answer.status_code == 503, answer.text  # the outage is known
        relay.hold()  # and Redis now answers nothing: a new connection waits for its timeout
        waiting = in_background(lambda: requests.get(server.url + USERS, params={"userId": "nobody"}, headers=AUTH,
                                                     timeout=60))
        took = probe_while(server, waiting, at_least=1.0)
        relay.cut()
        answer = waiting.result(timeout=60)
        assert max(took) < PROMPT, f"the loop was held while a faulted request waited on Redis: probes took {took}"
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "1", answer.text
