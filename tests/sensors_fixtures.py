"""The Sensors mock the three ``tests/test_mock_sensors*.py`` modules share: one server per module, reset
before every test. Import the fixtures by name (pytest registers a fixture where it is imported)."""

from __future__ import annotations

from typing import Iterator

import pytest

from cdpkit.mockserver.runtime import MockConfig
from cdpkit.mockserver.server import MockServer


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(MockConfig(port=0, vendors=["sensors"])) as srv:
        yield srv


@pytest.fixture(autouse=True)
def fresh(server: MockServer) -> None:
    server.reset()
