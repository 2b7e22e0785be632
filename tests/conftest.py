"""Shared helpers for the project's own tests."""

from __future__ import annotations

import pytest

from cdpkit.schemas import VENDORS, _root

pytest_plugins = ["pytester"]


def present_vendors() -> list[str]:
    """Vendors whose schema folder exists (all five once the foundation is complete)."""
    return [v for v in VENDORS if _root().joinpath(v, "operations.json").is_file()]


@pytest.fixture(params=present_vendors())
def vendor(request: pytest.FixtureRequest) -> str:
    return request.param
