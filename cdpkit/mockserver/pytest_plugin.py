"""The ``cdp_mock`` pytest fixture, in the spirit of pytest-httpserver.

The mock starts once per test session on a free port in a background thread and is reset before
each test that uses it::

    def test_signup(cdp_mock):
        my_client = MyClient(base_url=cdp_mock.url)
        my_client.signup("u1")
        assert cdp_mock.requests(vendor="zebline")[0]["verdict"] == "good"

pytest loads this module in every run of an environment where cdpkit is installed (the ``pytest11``
entry point ``cdp_mock``), so it imports nothing but pytest: aiohttp and the mock are imported when
a test first asks for the fixture, and a project that never does pays nothing for it.
``MockServer`` itself lives in :mod:`cdpkit.mockserver.server` (still importable from here).

It also loads the conformance suites' plugin (:mod:`cdpkit.suites.plugin`, which has no entry point of its
own) when, and only when, a command line asks for the suites: a ``--cdp-*`` option, or ``--pyargs``
naming cdpkit's ``suites`` package. pytest cannot find ``cdpkit/suites/conftest.py`` early enough for
``pytest --pyargs cdpkit.suites --cdp-target URL`` to parse, so that command works through this one test
of the arguments; no other run loads the suites, their options or their ``cdp_*`` markers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

import pytest

if TYPE_CHECKING:
    from cdpkit.mockserver.server import MockServer


def __getattr__(name: str) -> Any:
    # `from cdpkit.mockserver.pytest_plugin import MockServer` keeps working, without importing aiohttp on load.
    if name == "MockServer":
        from cdpkit.mockserver.server import MockServer

        return MockServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


SUITES_PLUGIN = "cdpkit.suites.plugin"


def asks_for_suites(args: list[str]) -> bool:
    """Whether a pytest command line asks for cdpkit's conformance suites."""
    if any(a.startswith("--cdp-") for a in args):
        return True
    if "--pyargs" not in args:
        return False
    named = {a.split("::")[0] for a in args if not a.startswith("-")}
    return any(n == "cdpkit.suites" or n.startswith("cdpkit.suites.") for n in named)


def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    if asks_for_suites(args) and not early_config.pluginmanager.has_plugin(SUITES_PLUGIN):
        early_config.pluginmanager.import_plugin(SUITES_PLUGIN)  # its options are added before the command line is parsed


@pytest.fixture(scope="session")
def cdp_mock_server() -> Iterator[MockServer]:
    """The session's mock server (not reset between tests; prefer ``cdp_mock``)."""
    from cdpkit.mockserver.server import MockServer

    server = MockServer().start()
    yield server
    server.stop()


@pytest.fixture
def cdp_mock(cdp_mock_server: MockServer) -> MockServer:
    """The session's mock, reset to its start-up state before the test."""
    cdp_mock_server.reset()
    return cdp_mock_server
