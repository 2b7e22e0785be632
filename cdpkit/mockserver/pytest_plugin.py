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

Two ini options (``pytest.ini``/``pyproject.toml``, or ``-o NAME=VALUE``) choose how it runs, so a project can
run its tests against what it deploys: ``cdp_mock_state`` (``memory``, ``sqlite:PATH`` or
``redis://HOST:PORT/DB[?prefix=NAME]``) and ``cdp_mock_workers`` (N processes on the port, as
``cdpkit mock --workers N``; more than one needs a ``redis://`` state). The fixture's API is the same
either way: ``url``, ``requests()``, ``credentials()``, ``seed()``, ``fault()``, a reset before each test.

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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("cdp_mock_state", "the cdp_mock fixture's store: memory (default), sqlite:PATH or "
                  "redis://HOST:PORT/DB[?prefix=NAME]", default="memory")
    # an int where pytest has the type (8.4+), so `cdp_mock_workers = 2` works in a native [tool.pytest] table too
    typed = tuple(pytest.version_tuple[:2]) >= (8, 4)
    parser.addini("cdp_mock_workers", "processes serving the cdp_mock fixture's port (default 1; more needs "
                  "cdp_mock_state = redis://…)", type="int" if typed else "string", default=1 if typed else "1")


@pytest.fixture(scope="session")
def cdp_mock_server(pytestconfig: pytest.Config) -> Iterator[MockServer]:
    """The session's mock server (not reset between tests; prefer ``cdp_mock``), as the ini options say."""
    from cdpkit.mockserver.runtime import MockConfig
    from cdpkit.mockserver.server import MockServer

    state = str(pytestconfig.getini("cdp_mock_state")).strip() or "memory"
    workers = str(pytestconfig.getini("cdp_mock_workers")).strip() or "1"  # an int or a string (pytest < 8.4)
    if not workers.isdigit() or int(workers) < 1:
        pytest.fail(f"cdp_mock_workers must be a whole number of at least 1, not {workers!r}", pytrace=False)
    try:
        server = MockServer(MockConfig(port=0, state=state), workers=int(workers)).start()
    except ValueError as exc:  # a state the store refuses, or several workers on a store they would not share
        pytest.fail(f"cdp_mock_state = {state}, cdp_mock_workers = {workers}: {exc}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def cdp_mock(cdp_mock_server: MockServer) -> MockServer:
    """The session's mock, reset to its start-up state before the test."""
    cdp_mock_server.reset()
    return cdp_mock_server
