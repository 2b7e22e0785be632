"""One vendor's mock per test module, reset before every test: what the ``tests/test_mock_<vendor>*.py``
modules share. In a module: ``server, fresh = one_vendor_mock("tto")`` (pytest registers a fixture where it is
assigned; a module with a ``fresh`` of its own takes ``server = one_vendor_mock("sensors")[0]``)."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from cdpkit.mockserver.runtime import MockConfig
from cdpkit.mockserver.server import MockServer


def one_vendor_mock(vendor: str, **config: Any) -> tuple[Any, Any]:
    """The module-scoped ``server`` fixture serving ``vendor`` (``config``: more MockConfig fields) and the
    autouse ``fresh`` fixture that resets it before each test."""
    @pytest.fixture(scope="module")
    def server() -> Iterator[MockServer]:
        with MockServer(MockConfig(port=0, vendors=[vendor], **config)) as running:
            yield running

    @pytest.fixture(autouse=True)
    def fresh(server: MockServer) -> None:
        server.reset()

    return server, fresh
