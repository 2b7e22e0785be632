"""Zebline beyond the shared mutant table (tests/test_mutants.py, strict-only mutants included): the
isolation checks' positive control, and the generator's
bodies reaching the mock through ``cdpkit gen --send`` with the mock's credentials."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cdpkit.mockserver.pytest_plugin import MockServer
from cdpkit.mockserver.runtime import MockConfig
from cdpkit.mockserver.zebline import DEMO_LICENSE, DEMO_TOKEN, OTHER_LICENSE
from tests.mutants import run_check_at

V = "zebline"


def _skipped(junit: Path) -> dict[str, str]:
    out = {}
    for case in ET.parse(junit).iter("testcase"):
        skipped = case.find("skipped")
        if skipped is not None:
            out[case.get("name", "")] = (skipped.get("message") or "") + (skipped.text or "")
    return out


def test_isolation_checks_without_a_working_second_account_prove_nothing_and_say_so(tmp_path: Path) -> None:
    """Positive control: another account's credentials that do not work on their own account make the
    isolation checks skip ("proved nothing"), never pass: a 401 or 404 under wrong credentials shows nothing."""
    with MockServer(MockConfig(port=0, vendors=[V])) as server:
        creds = {"license_code": DEMO_LICENSE, "access_token": DEMO_TOKEN,
                 "other_license_code": OTHER_LICENSE, "other_access_token": "not-the-other-accounts-token"}
        junit = tmp_path / "isolation.xml"
        run = run_check_at(server.url, V, junit, creds=creds, fuzz=False, strict=True, features="upsert,readback")
    assert run.exit_code == 0, run.failed
    skipped = _skipped(junit)
    for name in ("test_other_accounts_token_is_401_on_this_license[ZEB-STATUS-401]",
                 "test_accounts_share_no_profiles_locks_or_track_ids[ZEB-TENANT-ISOLATION]"):
        assert "proved nothing" in skipped.get(name, ""), (name, skipped)












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
