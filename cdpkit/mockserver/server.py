"""``MockServer``: a cdpkit mock on a free port, in a background thread of this process or as N worker processes.

The ``cdp_mock`` fixture (:mod:`cdpkit.mockserver.pytest_plugin`) serves one; tests and scripts may start their own::

    with MockServer(MockConfig(port=0, vendors=["zebline"])) as server:
        requests.post(server.url + "/v1/accounts/LICENSE_CODE/users", ...)

``MockServer(MockConfig(port=0, state="redis://127.0.0.1:6379/0"), workers=2)`` runs what
``cdpkit mock --workers 2 --state redis://…`` runs, in child processes: the same control API through
``url``, so a test written against a one-process mock runs unchanged against several (only ``mock``, the
in-process :class:`Mock` that a test may patch, is not there: the workers are other processes).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from aiohttp import web

from cdpkit.mockserver import event_loop
from cdpkit.mockserver.app import build_app, runner_for
from cdpkit.mockserver.client import MockClient
from cdpkit.mockserver.runtime import Mock, MockConfig
from cdpkit.mockserver.workers import config_to_json, url_of

START_TIMEOUT = 60.0  # seconds to wait for N workers to listen (each loads the vendor modules)
SHARED_STATES = ("redis://", "rediss://")


class MockServer(MockClient):
    """A mock: ``url``, ``requests()``, ``seed()``, ``fault()``, ``reset()``… ``workers`` > 1 serves the port
    from that many processes (``cdpkit mock --workers N``), which needs a store they all share (Redis)."""

    def __init__(self, config: MockConfig | None = None, *, workers: int = 1) -> None:
        self.config = config or MockConfig(port=0)
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        if workers > 1 and not self.config.state.startswith(SHARED_STATES):
            raise ValueError(f"{workers} workers need a store they all share, state='redis://HOST:PORT/DB', "
                             f"not {self.config.state!r} ({workers} of those would each hold their own state)")
        self.workers = workers
        self._mock = Mock(self.config) if workers == 1 else None
        # the loop `cdpkit mock` would serve on (uvloop when installed): a test meets the mock its users run
        self._loop = event_loop.loop_factory(self.config.loop)() if workers == 1 else None
        self._thread = (threading.Thread(target=self._loop.run_forever, name="cdp-mock", daemon=True)
                        if self._loop is not None else None)
        self._runner: web.AppRunner | None = None
        self._process: subprocess.Popen[bytes] | None = None
        super().__init__("http://unset")

    @property
    def mock(self) -> Mock:
        """The in-process mock (a test may patch its vendors before ``start``); one process only."""
        if self._mock is None:
            raise RuntimeError(f"this MockServer runs {self.workers} worker processes: there is no in-process Mock "
                               "to patch; use the control API (url, seed(), fault(), reset()…)")
        return self._mock

    def start(self) -> "MockServer":
        if self._loop is None or self._thread is None:
            self._start_workers()
            return self
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    async def _start(self) -> None:
        self._runner = runner_for(build_app(mock=self.mock), self.config)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        self.url = url_of(self.config.host, self._runner.addresses[0][1])

    def _start_workers(self) -> None:
        """Start the supervisor of :func:`cdpkit.mockserver.workers.serve_for_parent` and wait for its URL line.
        Its stderr goes to a file (read when it fails to start), never to a pipe no one drains."""
        self._errors = tempfile.TemporaryFile()
        code = f"import sys; from cdpkit.mockserver.workers import serve_for_parent; sys.exit(serve_for_parent({self.workers}))"
        self._process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=self._errors)
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(config_to_json(self.config).encode())
        self._process.stdin.flush()  # and kept open: closing it stops the mock (stop(), or this process dying)
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(self._process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(START_TIMEOUT)
        url = line[0].decode().strip() if line else ""
        if not url.startswith("http"):
            self._errors.seek(0)
            why = self._errors.read().decode(errors="replace").strip() or f"no URL within {START_TIMEOUT:.0f} s"
            self.stop()
            raise RuntimeError(f"the {self.workers}-worker mock did not start: {why[-2000:]}")
        self.url = url

    @property
    def supervisor_pid(self) -> int | None:
        """The pid of the process that runs the workers (``cdpkit mock --workers N``'s own), or None: one process."""
        return self._process.pid if self._process is not None else None

    def worker_pids(self) -> list[int]:
        """The processes serving the port: the workers' pids (Linux: the supervisor's children), or this one's."""
        if self._process is None:
            return [os.getpid()]
        pid = self._process.pid
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

    def stop(self) -> None:
        if self._process is not None:
            self._stop_workers(self._process)
            self._process = None
            return
        if self._loop is None or self._thread is None or self._thread.ident is None:
            return  # never started
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
            self._runner = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive() and not self._loop.is_closed():
            self._loop.close()  # a thread runs once, so this loop is never run again: release it now, not at GC

    def _stop_workers(self, process: subprocess.Popen[bytes]) -> None:
        """SIGTERM the supervisor (it stops its workers, each finishing what is in flight); if it is stuck, kill
        it and the workers it had."""
        if process.poll() is None:
            try:
                workers = self.worker_pids()
            except OSError:
                workers = []
            process.terminate()
            try:
                process.wait(timeout=self.config.shutdown_timeout + 15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                for pid in workers:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
        self._errors.close()

    def __enter__(self) -> "MockServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
