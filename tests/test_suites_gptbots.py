"""GPTBots beyond the shared mutant table (tests/test_mutants.py): defects of the mock's own assumptions,
caught only with --strict, and the per-agent isolation check's positive control."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mockserver import gptbots
from mockserver.vendor import Call, Handler, Rejection, Reply
from tests.mutants import Mutant, run_check, wrapping
from tests.mutants.gptbots import STRICT_MUTANTS

V = "gptbots"


@pytest.mark.parametrize("mutant", STRICT_MUTANTS, ids=[m.name for m in STRICT_MUTANTS])
def test_strict_mutant_is_caught_only_with_strict(mutant: Mutant, tmp_path: Path) -> None:
    """A defect of the mock's own assumption passes the default run and fails its check with --strict."""
    assert run_check(mutant, V, tmp_path, fuzz=False).exit_code == 0, f"{mutant.name} fails a documented check"
    run = run_check(mutant, V, tmp_path, fuzz=False, strict=True)
    assert run.exit_code == 1, f"{mutant.name} ({mutant.description}) was not caught with --strict"
    assert any(run.caught_by(rid) for rid in mutant.expected_ids), [(f["name"], f["kind"], f["caught_by"]) for f in run.failed]


def _other_token_refused(original: Handler) -> Handler:
    def handler(call: Call) -> Reply:
        if call.headers.get("Authorization", "") == f"Bearer {gptbots.OTHER_TOKEN}":
            raise Rejection(401, "this key is disabled", ("GPT-STATUS-401",))
        return original(call)
    return handler


def test_isolation_without_a_working_second_agent_proves_nothing(tmp_path: Path) -> None:
    """An other_token refused on its own data makes the per-agent check skip and say so, not pass."""
    mutant = Mutant("other-token-refused", V, (), wrapping("get_user_cdp", _other_token_refused))
    run = run_check(mutant, V, tmp_path, fuzz=False)
    cases = {c.get("name", ""): c for c in ET.parse(tmp_path / "other-token-refused.xml").iter("testcase")}
    case = cases["test_another_agent_does_not_see_the_user[GPT-PER-AGENT]"]
    skip = case.find("skipped")
    assert skip is not None and "proved nothing" in (skip.get("message") or ""), ET.tostring(case, "unicode")
    assert run.exit_code == 0, run.failed
