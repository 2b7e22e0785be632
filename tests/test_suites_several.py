"""How `cdpkit check` runs: no plugin of the environment's, several vendors at once with the same verdicts."""

from __future__ import annotations

import io
from importlib.metadata import entry_points
from typing import Any, Iterator

import pytest

from cdpkit.mockserver.pytest_plugin import MockServer
from cdpkit.mockserver.runtime import MockConfig
from cdpkit.suites import cli


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    server = MockServer(MockConfig(port=0, vendors=["gptbots", "zebline"])).start()
    yield server
    server.stop()


def test_check_loads_no_plugin_of_the_environment(mock: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Installed pytest plugins (Faker's, schemathesis', hypothesis', cdpkit's own cdp_mock) neither run in
    a check nor cost it their import and assert rewriting; the suites' plugin still loads."""
    loaded: set[str] = set()

    class Probe:
        def pytest_configure(self, config: pytest.Config) -> None:
            loaded.update(name for name, _ in config.pluginmanager.list_name_plugin())

    real_main = pytest.main

    def main_with_probe(args: list[str], plugins: list[Any]) -> Any:
        return real_main(args, plugins=[*plugins, Probe()])

    monkeypatch.setattr(cli.pytest, "main", main_with_probe)
    code = cli.main(["--vendor", "gptbots", "--target", mock.url], extra_pytest_args=["-m", "not cdp_fuzz"], live=io.StringIO())
    assert code == 0
    installed = {ep.name for ep in entry_points(group="pytest11")}
    assert "cdp_mock" in installed  # the probe would prove nothing in an environment without plugins
    assert "cdpkit.suites.plugin" in loaded
    assert not installed & loaded, installed & loaded
