"""The schemathesis run, generic over vendors: every operation of ``--cdp-vendor``, both modes.

Bounded by ``--cdp-max-examples`` (per operation and mode) and seeded by ``--cdp-seed`` so a CI run
is short and repeatable. See :mod:`suites.fuzz` for what is judged and why some checks are left out.
"""

from __future__ import annotations

import pytest

from suites import fuzz
from suites.plugin import TARGET_KEY
from suites.registry import MARK_FUZZ
from suites.target import Target

pytestmark = getattr(pytest.mark, MARK_FUZZ)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "fuzz_operation" not in metafunc.fixturenames:
        return
    target = metafunc.config.stash.get(TARGET_KEY, None)
    ops = fuzz.operation_ids(target.vendor) if target is not None else []
    metafunc.parametrize("fuzz_operation", ops)
    metafunc.parametrize("fuzz_mode", fuzz.MODES)


def test_schemathesis(cdp: Target, fuzz_operation: str, fuzz_mode: str, pytestconfig: pytest.Config) -> None:
    if not fuzz.safe_for(cdp, fuzz_operation):
        pytest.skip(f"{fuzz_operation} changes state: generated requests go only to a cdpkit mock, never to "
                    "data a real target's keys own (the requirement checks cover it with fresh ids)")
    fuzz.run(
        cdp,
        fuzz_operation,
        fuzz_mode,
        max_examples=pytestconfig.getoption("--cdp-max-examples"),
        seed=pytestconfig.getoption("--cdp-seed"),
    )
