"""The suites have teeth, and are fair, for every vendor.

* the mock itself passes `cdpkit check` (schemathesis included) and `cdpkit check --strict`;
* each mutant of the mock (one defect) makes the whole of `cdpkit check` (every check, no
  pre-selection) exit 1 with a check failing on a CheckFailure whose requirement ID is exactly the
  expected one; a fixture error is not a kill. A mutant only the schemathesis run can see
  (`fuzz_only`) is judged by that run's server-error check;
* each strict-only mutant (a defect of the mock's own assumption, ``STRICT_MUTANTS``) passes the default
  run and fails with --strict on exactly its ID;
* each over-specified variant (another 2xx, another error body or refusal status, extra fields)
  passes the whole run, schemathesis included.

Mutants and variants live in ``tests/mutants/<vendor>.py``; vendor-specific extras stay in
``tests/test_suites_<vendor>.py``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from cdpkit import schemas
from cdpkit.schemas import VENDORS
from tests.mutants import Mutant, assert_caught, run_check

TABLES = {vendor: importlib.import_module(f"tests.mutants.{vendor}") for vendor in VENDORS}
MUTANTS = [(v, m) for v, table in TABLES.items() for m in table.MUTANTS]
VARIANTS = [(v, m) for v, table in TABLES.items() for m in table.VARIANTS]
# defects of the mock's own assumptions: the default run passes them, --strict fails them on exactly their ID
STRICT = [(v, m) for v, table in TABLES.items() for m in getattr(table, "STRICT_MUTANTS", [])]


def _ids(cases: list[tuple[str, Mutant]]) -> list[str]:
    return [f"{vendor}:{mutant.name}" for vendor, mutant in cases]


@pytest.mark.parametrize("vendor", VENDORS)
def test_the_mock_passes_everything(vendor: str, tmp_path: Path) -> None:
    run = run_check(None, vendor, tmp_path)
    assert run.exit_code == 0 and run.failed == [], run.failed


@pytest.mark.parametrize("vendor", VENDORS)
def test_the_mock_passes_its_own_assumptions_and_skips_nothing(vendor: str, tmp_path: Path) -> None:
    """Against the mock with --strict every check runs: the mock has every credential, feature and fixture."""
    run = run_check(None, vendor, tmp_path, fuzz=False, strict=True)
    assert run.exit_code == 0 and run.failed == [], run.failed
    assert run.skipped == [], run.skipped


@pytest.mark.parametrize(("vendor", "mutant"), MUTANTS, ids=_ids(MUTANTS))
def test_each_mutant_is_caught_by_its_requirement(vendor: str, mutant: Mutant, tmp_path: Path) -> None:
    run = run_check(mutant, vendor, tmp_path, fuzz=mutant.fuzz_only)
    assert_caught(run, mutant)


@pytest.mark.parametrize(("vendor", "mutant"), STRICT, ids=_ids(STRICT))
def test_each_strict_mutant_passes_the_default_run_and_is_caught_with_strict(vendor: str, mutant: Mutant,
                                                                             tmp_path: Path) -> None:
    default = run_check(mutant, vendor, tmp_path, fuzz=False)
    assert default.exit_code == 0, f"{mutant.name} fails a check of the default run: {default.failed}"
    run = run_check(mutant, vendor, tmp_path, fuzz=False, strict=True)
    assert run.exit_code == 1, f"{mutant.name} ({mutant.description}) was not caught with --strict"
    assert any(run.caught_by(rid) for rid in mutant.expected_ids), [(f["name"], f["kind"], f["caught_by"]) for f in run.failed]


@pytest.mark.parametrize(("vendor", "variant"), VARIANTS, ids=_ids(VARIANTS))
def test_each_over_specified_variant_passes(vendor: str, variant: Mutant, tmp_path: Path) -> None:
    run = run_check(variant, vendor, tmp_path, max_examples=5)
    assert run.exit_code == 0, f"{variant.name} ({variant.description}) failed: {run.failed}"


@pytest.mark.parametrize("vendor", VENDORS)
def test_each_vendor_has_enough_mutants_and_variants(vendor: str) -> None:
    table = TABLES[vendor]
    assert len([m for m in table.MUTANTS if not m.fuzz_only]) >= 6
    assert len(table.VARIANTS) >= 2


DECIDED_VENDORS = ("tto", "quickaudience", "sensors", "gptbots", "zebline")


@pytest.mark.parametrize("vendor", DECIDED_VENDORS)
def test_every_server_assumption_has_a_variant_or_a_reason(vendor: str) -> None:
    """Each server-side assumption the catalog holds (not a modeled surface) is either varied by some variant
    (another reasonable choice the default run must pass) or named in ``NO_VARIANT`` with the reason no other
    reasonable choice exists: a new assumption cannot be added without deciding."""
    entries = {e["id"]: e for e in schemas.load(vendor, "catalog.json")["requirements"]}
    assumptions = {i for i, e in entries.items() if e["kind"] == "assumption" and e["applies_to"] == "server" and not e.get("model")}
    table = TABLES[vendor]
    varied = {rid for variant in table.VARIANTS for rid in variant.varies}
    no_variant: dict[str, str] = table.NO_VARIANT
    assert not assumptions - varied - set(no_variant), f"undecided: {sorted(assumptions - varied - set(no_variant))}"
    assert set(no_variant) <= assumptions, f"NO_VARIANT names no server assumption: {sorted(set(no_variant) - assumptions)}"
    assert all(reason.strip() for reason in no_variant.values())
    assert varied <= assumptions, f"varies names no server assumption: {sorted(varied - assumptions)}"
    assert not varied & set(no_variant), f"both varied and without a variant: {sorted(varied & set(no_variant))}"
