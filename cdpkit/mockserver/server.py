"""``MockServer``: a cdpkit mock running in this process, in a background thread, on a free port.

The ``cdp_mock`` fixture (:mod:`cdpkit.mockserver.pytest_plugin`) serves one; tests and scripts may start their own::

    with MockServer(MockConfig(port=0, vendors=["zebline"])) as server:
        requests.post(server.url + "/v1/accounts/LICENSE_CODE/users", ...)
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aiohttp import web

from cdpkit.mockserver.app import build_app, runner_for
from cdpkit.mockserver.client import MockClient
from cdpkit.mockserver.runtime import Mock, MockConfig


class MockServer(MockClient):
    """A mock running in this process: ``url``, ``requests()``, ``seed()``, ``fault()``, ``reset()``…"""

    def __init__(self, config: MockConfig | None = None) -> None:
        self.config = config or MockConfig(port=0)
        self.mock = Mock(self.config)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="cdp-mock", daemon=True)
        self._runner: web.AppRunner | None = None
        super().__init__("http://unset")

    def start(self) -> "MockServer":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    async def _start(self) -> None:
        self._runner = runner_for(build_app(mock=self.mock), self.config)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://{self.config.host}:{port}"

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
            self._runner = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> "MockServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
