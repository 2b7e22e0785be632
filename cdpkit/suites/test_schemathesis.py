"""The schemathesis run, generic over vendors: every operation of ``--cdp-vendor``, both modes.

Bounded by ``--cdp-max-examples`` (per operation and mode) and seeded by ``--cdp-seed`` so a CI run
is short and repeatable. See :mod:`cdpkit.suites.fuzz` for what is judged and why some checks are left out.
"""

from __future__ import annotations

import pytest
from hypothesis.errors import Unsatisfiable

from cdpkit.suites import fuzz
from cdpkit.suites.plugin import TARGET_KEY
from cdpkit.suites.registry import MARK_FUZZ
from cdpkit.suites.target import Target

pytestmark = getattr(pytest.mark, MARK_FUZZ)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "fuzz_operation" not in metafunc.fixturenames:
        return
    target = metafunc.config.stash.get(TARGET_KEY, None)
    ops = fuzz.operation_ids(target.vendor) if target is not None else []
    metafunc.parametrize("fuzz_operation", ops)
    metafunc.parametrize("fuzz_mode", fuzz.MODES)


def test_schemathesis(cdp: Target, fuzz_operation: str, fuzz_mode: str, pytestconfig: pytest.Config) -> None:
    reason = fuzz.skip_reason(cdp, fuzz_operation, fuzz_mode, pytestconfig.getoption("--cdp-fuzz-writes"))
    if reason:
        pytest.skip(reason)
    try:
        sent = fuzz.run(
            cdp,
            fuzz_operation,
            fuzz_mode,
            max_examples=pytestconfig.getoption("--cdp-max-examples"),
            seed=pytestconfig.getoption("--cdp-seed"),
        )
    except Unsatisfiable:
        pytest.skip(f"{fuzz_operation}: the document states no request constraint a {fuzz_mode} case could be "
                    "generated from" + ("" if cdp.strict else " (cdpkit's assumed ones count with --strict)"))
    if sent == 0:
        pytest.skip(f"{fuzz_operation}: no generated write broke a documented rule, and only such writes go to a "
                    "target that is not a cdpkit mock (the universal bad-input checks still ran)")
