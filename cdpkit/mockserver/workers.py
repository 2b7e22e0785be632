"""``cdpkit mock --workers N``: N processes serving one port, all on one shared store (Redis).

The supervisor (the process the command started) loads the start-up data once, reserves the port, forks
the workers and waits. Each worker opens its own connection to the store and listens on the same port
with ``SO_REUSEPORT``, so the kernel spreads connections across them. A worker that dies (``kill -9``,
an out-of-memory kill) is replaced; its acknowledged writes are already in the store. SIGINT or SIGTERM
to the supervisor stops every worker cleanly and then the supervisor.

Only a store other processes see is allowed (``Store.shared``): N memory or SQLite stores would each hold
their own state and silently disagree.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import select
import signal
import socket
import sys
import threading
import time
from typing import Callable

from aiohttp import web

from cdpkit.mockserver import event_loop
from cdpkit.mockserver.app import build_app, runner_for
from cdpkit.mockserver.lane_server import StaticHeaders
from cdpkit.mockserver.runtime import Mock, MockConfig

READY_TIMEOUT = 60.0  # seconds the supervisor waits for every worker to listen


def reserve(host: str, port: int) -> socket.socket:
    """A socket bound (not listening) to ``host:port`` with SO_REUSEPORT: fixes the port (0 picks one) for the
    workers to bind beside it; only listening sockets are given connections."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


WORKER_HEADER = "X-Cdpkit-Worker"  # on every answer of a worker: the pid of the process that served it


def url_of(host: str, port: int) -> str:
    """The base URL of a mock listening on ``host:port`` (an IPv6 address in brackets)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _worker_header() -> StaticHeaders:
    """The ``on_response_prepare`` hook that names this process (built after the fork: the worker's pid);
    a fixed header, which the fast lane sets too."""
    return StaticHeaders({WORKER_HEADER: str(os.getpid())})


async def serve_until_stopped(config: MockConfig, listening: Callable[[Mock, int], None], *, worker: bool = False) -> None:
    """Serve one process's mock on ``config.host:config.port`` until SIGINT/SIGTERM, then shut down cleanly
    (the store is closed by the app's cleanup). ``listening(mock, port)`` runs once the port accepts
    connections. ``worker``: one of several processes on the port (SO_REUSEPORT), and every answer names
    this process in ``X-Cdpkit-Worker``, so a client (and the tests) can tell which worker served it.
    ``cdpkit mock`` and each ``--workers`` process both run this, so they cannot drift apart."""
    mock = Mock(config)
    app = build_app(mock=mock)
    if worker:
        app.on_response_prepare.append(_worker_header())
    runner = runner_for(app, config)
    await runner.setup()
    try:
        await web.TCPSite(runner, config.host, config.port, reuse_port=worker or None).start()
        listening(mock, runner.addresses[0][1])
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def _ready(pipe: int) -> Callable[[Mock, int], None]:
    """A worker's ``listening`` callback: one byte on the supervisor's pipe."""
    def tell(mock: Mock, port: int) -> None:
        os.write(pipe, b"1")
        os.close(pipe)
    return tell


def _fork_worker(config: MockConfig, ready: int) -> int:
    pid = os.fork()
    if pid == 0:  # the worker
        code = 0
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            event_loop.run(serve_until_stopped(config, _ready(ready), worker=True), config.loop)
        except BaseException as exc:  # a worker that cannot serve says why; the supervisor sees it exit
            print(f"cdpkit mock worker {os.getpid()}: {exc!r}", file=sys.stderr, flush=True)
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return pid


def supervise(config: MockConfig, workers: int, announce: Callable[[Mock, str], str], quiet: bool = False) -> int:
    """Run ``workers`` processes on one port until SIGINT/SIGTERM; the exit status."""
    seeding = Mock(config)  # the start-up data, loaded once (the workers find it and keep it)
    if not seeding.store.shared:
        seeding.store.close()
        raise ValueError("--workers needs a shared store (--state redis://HOST:PORT/DB)")
    seeding.start()
    placeholder = reserve(config.host, config.port)
    port = placeholder.getsockname()[1]
    config.port = port
    url = url_of(config.host, port)
    text = announce(seeding, url)
    seeding.store.close()

    read_end, write_end = os.pipe()
    children: set[int] = set()
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for _ in range(workers):
        children.add(_fork_worker(config, write_end))
    os.close(write_end)
    started = b""
    deadline = time.monotonic() + READY_TIMEOUT
    while len(started) < workers and time.monotonic() < deadline:
        if not select.select([read_end], [], [], 0.2)[0]:
            if any(os.waitpid(pid, os.WNOHANG)[0] for pid in list(children)):
                break  # a worker exited before listening
            continue
        chunk = os.read(read_end, workers)
        if not chunk:
            break
        started += chunk
    os.close(read_end)
    placeholder.close()
    if len(started) < workers:
        stop(signal.SIGTERM, None)
        for pid in list(children):
            os.waitpid(pid, 0)
        print(f"cdpkit mock: {workers - len(started)} of {workers} workers could not start", file=sys.stderr)
        return 1
    print(url if quiet else text + f"\nworkers: {workers} processes on port {port}, supervisor {os.getpid()}", flush=True)

    status = 0
    while children:
        try:
            pid, _ = os.wait()
        except ChildProcessError:
            break
        children.discard(pid)
        if not stopping:  # a worker died under us: replace it (its acknowledged writes are in the store)
            print(f"cdpkit mock: worker {pid} exited; starting another", file=sys.stderr, flush=True)
            ready_r, ready_w = os.pipe()
            children.add(_fork_worker(config, ready_w))
            os.close(ready_w)
            os.read(ready_r, 1)
            os.close(ready_r)
    return status


def config_to_json(config: MockConfig) -> str:
    """``config`` as one JSON line, every field (what a child process started by ``serve_for_parent`` reads)."""
    return json.dumps(dataclasses.asdict(config)) + "\n"


def serve_for_parent(workers: int) -> int:
    """The supervisor ``MockServer(workers=N)`` starts (``python -c``): its whole MockConfig as a JSON line
    on stdin, not as flags, so every field carries over and an admin token never shows in ``ps``. Prints
    the URL line once every worker listens. stdin stays open: when it closes, because the parent stopped
    or died (even by ``kill -9``), the mock stops, so a test run that crashes leaves no mock behind."""
    raw = json.loads(sys.stdin.readline())
    config = MockConfig(**{**raw, "allowed_hosts": tuple(raw["allowed_hosts"])})

    def stop_when_orphaned() -> None:
        sys.stdin.read()  # returns at EOF: the parent closed its end or is gone
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop_when_orphaned, name="cdp-mock-parent", daemon=True).start()
    return supervise(config, workers, lambda mock, url: url, quiet=True)
