"""The GPTBots suite has teeth: it passes the mock, fails every one-defect mutant on the right
requirement, and passes variants that choose differently where the document is silent."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mutants import Mutant, assert_caught, run_check
from tests.mutants.gptbots import MUTANTS, VARIANTS


def test_mock_passes_everything(tmp_path: Path) -> None:
    run = run_check(None, "gptbots", tmp_path)
    assert run.exit_code == 0, run.failed
    assert run.failed == []


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_is_caught_by_its_requirement(mutant: Mutant, tmp_path: Path) -> None:
    run = run_check(mutant, "gptbots", tmp_path, fuzz=True if mutant.fuzz_only else False)
    assert_caught(run, mutant)


@pytest.mark.parametrize("variant", VARIANTS, ids=[m.name for m in VARIANTS])
def test_over_specification_variant_passes(variant: Mutant, tmp_path: Path) -> None:
    run = run_check(variant, "gptbots", tmp_path)
    assert run.exit_code == 0, f"{variant.name} ({variant.description}) failed: {run.failed}"


def test_at_least_five_mutants_and_one_fuzz_mutant() -> None:
    assert len([m for m in MUTANTS if not m.fuzz_only]) >= 5
    assert any(m.fuzz_only for m in MUTANTS)
    assert len(VARIANTS) >= 2
