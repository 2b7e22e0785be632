"""The ``cdp_mock`` pytest fixture, in the spirit of pytest-httpserver.

The mock starts once per test session on a free port in a background thread and is reset before
each test that uses it::

    def test_signup(cdp_mock):
        my_client = MyClient(base_url=cdp_mock.url)
        my_client.signup("u1")
        assert cdp_mock.requests(vendor="zebline")[0]["verdict"] == "good"
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Iterator

import pytest
from aiohttp import web

from mockserver.app import build_app, runner_for
from mockserver.client import MockClient
from mockserver.runtime import Mock, MockConfig


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


@pytest.fixture(scope="session")
def cdp_mock_server() -> Iterator[MockServer]:
    """The session's mock server (not reset between tests; prefer ``cdp_mock``)."""
    server = MockServer().start()
    yield server
    server.stop()


@pytest.fixture
def cdp_mock(cdp_mock_server: MockServer) -> MockServer:
    """The session's mock, reset to its start-up state before the test."""
    cdp_mock_server.reset()
    return cdp_mock_server
