"""GPTBots beyond the shared mutant table (tests/test_mutants.py): defects of the mock's own assumptions,
caught only with --strict, and the per-agent isolation check's positive control."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path


from cdpkit.mockserver import gptbots
from cdpkit.mockserver.vendor import Call, Handler, Rejection, Reply
from tests.mutants import Mutant, run_check, wrapping

V = "gptbots"


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
