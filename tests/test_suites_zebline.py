"""The Zebline suite has teeth: it passes the mock (also with --strict), fails every one-defect mutant
on the right requirement, and passes variants that choose differently where the document is silent.
Also: the generator's bodies reach the mock through ``cdpkit gen --send`` with the mock's credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from mockserver.pytest_plugin import MockServer
from mockserver.runtime import MockConfig
from tests.mutants import Mutant, assert_caught, run_check
from tests.mutants.zebline import MUTANTS, VARIANTS


def test_mock_passes_everything(tmp_path: Path) -> None:
    run = run_check(None, "zebline", tmp_path)
    assert run.exit_code == 0, run.failed
    assert run.failed == []


def test_mock_passes_strict_checks(tmp_path: Path) -> None:
    run = run_check(None, "zebline", tmp_path, fuzz=False, strict=True)
    assert run.exit_code == 0, run.failed


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_is_caught_by_its_requirement(mutant: Mutant, tmp_path: Path) -> None:
    run = run_check(mutant, "zebline", tmp_path, fuzz=True if mutant.fuzz_only else False)
    assert_caught(run, mutant)


@pytest.mark.parametrize("variant", VARIANTS, ids=[m.name for m in VARIANTS])
def test_over_specification_variant_passes(variant: Mutant, tmp_path: Path) -> None:
    run = run_check(variant, "zebline", tmp_path)
    assert run.exit_code == 0, f"{variant.name} ({variant.description}) failed: {run.failed}"


def test_at_least_six_mutants_and_one_fuzz_mutant() -> None:
    assert len([m for m in MUTANTS if not m.fuzz_only]) >= 6
    assert any(m.fuzz_only for m in MUTANTS)
    assert len(VARIANTS) >= 2


def test_gen_send_fills_the_mock_with_valid_and_invalid_bodies(capsys: pytest.CaptureFixture[str]) -> None:
    from cdpkit.cli import main

    with MockServer(MockConfig(port=0, vendors=["zebline"])) as server:
        code = main(["gen", "zebline.users", "--count", "60", "--seed", "3", "--locale", "market", "--send", server.url, "--quiet"])
        err = capsys.readouterr().err
        assert code == 0 and "answered as the payload calls for: 60/60" in err, err
        assert server.summary()["total"]["good"] >= 60
        code = main(["gen", "zebline.users", "--invalid", "all", "--count", "30", "--seed", "3", "--send", server.url, "--quiet"])
        err = capsys.readouterr().err
        assert code == 0 and "answered as the payload calls for: 30/30" in err, err
