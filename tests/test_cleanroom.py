"""The suites judged by implementations that are not the mock (see ``tests/cleanroom/__init__.py``).

* every clean-room implementation passes the whole of `cdpkit check` (schemathesis included);
* every defect of every implementation is caught on its exact requirement ID: without ``--strict``
  where it breaks a documented rule; where it breaks only cdpkit's assumption, the default run still
  passes it (the documents leave that open) and ``--strict`` catches it;
* the table of expectations covers every defect each implementation declares;
* under ``--strict`` each correct implementation fails exactly the assumptions where it chose
  differently from the mock (``STRICT_DIFFERENCES``), and passes every other.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cleanroom import AppServer, module
from tests.cleanroom.expectations import DEFECTS, FEATURES, STRICT_DIFFERENCES, Defect
from tests.mutants import CheckRun, run_check_at

CASES = [(vendor, name, defect) for vendor, table in DEFECTS.items() for name, defect in table.items()]


def check(vendor: str, defects: frozenset[str], workdir: Path, *, strict: bool = False, fuzz: bool | None = None) -> CheckRun:
    impl = module(vendor)
    with AppServer(impl.make_app(defects)) as server:
        name = "-".join(sorted(defects)) or "correct"
        return run_check_at(server.url, vendor, workdir / f"{vendor}-{name}{'-strict' if strict else ''}.xml",
                            creds=impl.CREDS, features=FEATURES.get(vendor), strict=strict, fuzz=fuzz, max_examples=10)


@pytest.mark.parametrize("vendor", list(DEFECTS))
def test_the_expectations_cover_every_declared_defect(vendor: str) -> None:
    assert set(DEFECTS[vendor]) == set(module(vendor).DEFECTS)
    assert module(vendor).CHOICES, "a clean-room implementation says where it chose differently"


@pytest.mark.parametrize("vendor", list(DEFECTS))
def test_a_correct_independent_implementation_passes(vendor: str, tmp_path: Path) -> None:
    run = check(vendor, frozenset(), tmp_path)
    assert run.exit_code == 0 and run.failed == [], [(f["name"], f["message"][:400]) for f in run.failed]


@pytest.mark.parametrize(("vendor", "name", "defect"), CASES, ids=[f"{v}:{n}" for v, n, _ in CASES])
def test_each_defect_is_caught_on_its_exact_id(vendor: str, name: str, defect: Defect, tmp_path: Path) -> None:
    run = check(vendor, frozenset([name]), tmp_path, strict=defect.strict, fuzz=False)
    assert run.exit_code == 1, f"{vendor}:{name} was not caught" + (" with --strict" if defect.strict else "")
    assert any(run.caught_by(rid) for rid in defect.ids), (
        f"{vendor}:{name}: no check failed on {defect.ids}; failing: {[(f['name'], f['kind'], f['caught_by']) for f in run.failed]}")
    if defect.strict:
        default = check(vendor, frozenset([name]), tmp_path, fuzz=False)
        assert default.exit_code == 0, f"{vendor}:{name} breaks only an assumption, yet the default run failed: {default.failed}"
        # the assumption check fails because of the defect, not because this implementation chose differently
        correct = strict_run_of_correct(vendor, tmp_path)
        assert not any(correct.caught_by(rid) for rid in defect.ids if run.caught_by(rid)), (
            f"{vendor}: the correct implementation fails {defect.ids} with --strict too, so it proves nothing")


@pytest.mark.parametrize("vendor", list(DEFECTS))
def test_under_strict_a_correct_implementation_fails_only_where_it_chose_differently(vendor: str, tmp_path: Path) -> None:
    run = strict_run_of_correct(vendor, tmp_path)
    assert all(f["kind"] == "failure" and f["caught_by"] for f in run.failed), run.failed
    failed = {f["caught_by"] for f in run.failed}
    assert failed == set(STRICT_DIFFERENCES.get(vendor, {})), (
        f"{vendor} under --strict: unexpected {sorted(failed - set(STRICT_DIFFERENCES.get(vendor, {})))}, "
        f"no longer failing {sorted(set(STRICT_DIFFERENCES.get(vendor, {})) - failed)}")


_STRICT_RUNS: dict[str, CheckRun] = {}


def strict_run_of_correct(vendor: str, workdir: Path) -> CheckRun:
    """The correct implementation under --strict, once per vendor (it may fail assumptions it chose differently)."""
    if vendor not in _STRICT_RUNS:
        _STRICT_RUNS[vendor] = check(vendor, frozenset(), workdir, strict=True, fuzz=False)
    return _STRICT_RUNS[vendor]
