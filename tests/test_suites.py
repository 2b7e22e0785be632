"""The conformance-suite framework: registry, coverage of the catalog, `cdpkit check` usage, output."""

from __future__ import annotations

import io
import json
import socket
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterator

import pytest

from cdpkit.cli import main as cdpkit_main
from cdpkit.mockserver.pytest_plugin import MockServer
from cdpkit.mockserver.runtime import MockConfig
from cdpkit.schemas import VENDORS
from cdpkit.suites import cli, registry
from cdpkit.suites.checks import CheckFailure, Exchange
from cdpkit.suites.target import has_suite, load_profile


@pytest.fixture(scope="module")
def gptbots_mock() -> Iterator[MockServer]:
    server = MockServer(MockConfig(port=0, vendors=["gptbots"])).start()
    yield server
    server.stop()


def check(*argv: str) -> int:
    return cli.main(list(argv), extra_pytest_args=["-m", "not cdp_fuzz"], live=io.StringIO())


def test_registry_refuses_unknown_ids() -> None:
    with pytest.raises(KeyError, match="GPT-NO-SUCH-THING"):
        registry.requirement("GPT-NO-SUCH-THING")
    with pytest.raises(KeyError):
        registry.requirement("NOPE-1")


@pytest.mark.parametrize("rid", ["GPT-STATUS-500", "GPT-ANON-ID-ORIGIN"])
def test_registry_refuses_what_no_black_box_test_can_see(rid: str) -> None:
    with pytest.raises(ValueError, match="observable"):
        registry.requirement(rid)


def test_assumption_checks_are_marked_strict_only() -> None:
    @registry.requirement("GPT-QUERY-EMPTY-VALUE")
    def probe() -> None: ...

    names = {m.name for m in probe.pytestmark}
    assert {registry.MARK_REQUIREMENT, registry.MARK_VENDOR, registry.MARK_ASSUMPTION} <= names


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_documented_observable_entry_has_a_check(vendor: str) -> None:
    if not has_suite(vendor):
        pytest.skip(f"cdpkit/suites/test_{vendor}.py not written yet")
    import importlib

    from cdpkit.suites.cli import suite_modules

    for name in suite_modules(vendor):  # importing a suite module registers its checks
        importlib.import_module(name)
    assert registry.missing(vendor) == []
    assert all(c.vendor == vendor for found in registry.checks(vendor).values() for c in found)


def test_failure_message_shows_request_received_documented_and_hides_credentials() -> None:
    exchange = Exchange("GET", "http://x/v1/user/get-user-cdp", {"Authorization": "Bearer s3cr3t-token"}, None,
                        200, {}, "", {"code": 0}, secrets={"token": "s3cr3t-token"})
    failure = CheckFailure("GPT-QUERY-ONE-REQUIRED", exchange.describe_response(), "400", exchange.describe_request())
    text = str(failure)
    assert "Received:   200" in text and "Documented: 400" in text and "[GPT-QUERY-ONE-REQUIRED]" in text
    assert "s3cr3t-token" not in text and "Bearer ${token}" in text


def test_help_teaches_credentials_exit_codes_and_report() -> None:
    for needle in ("--cred token=", "Exit status", "Received", "--report", "--strict", "/__mock/credentials"):
        assert needle in cli.DESCRIPTION


def _free_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize(
    "argv",
    [
        ["--vendor", "gptbots"],  # no target
        ["--target", "http://127.0.0.1:1"],  # no vendor
        ["--vendor", "nope", "--target", "http://127.0.0.1:1"],
        ["--vendor", "gptbots", "--target", "http://127.0.0.1:1", "--report", "out.pdf"],
        ["--vendor", "gptbots", "--target", "http://127.0.0.1:1", "--cred", "novalue"],
        ["--vendor", "gptbots", "--target", "http://127.0.0.1:1", "--max-examples", "0"],
    ],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    assert check(*argv) == 2


def test_not_a_mock_without_credentials_is_a_usage_error() -> None:
    assert check("--vendor", "gptbots", "--target", _free_port_url()) == 2


def test_unknown_and_missing_credential_keys_are_usage_errors(gptbots_mock: MockServer) -> None:
    assert check("--vendor", "gptbots", "--target", gptbots_mock.url, "--cred", "bogus=1") == 2


def test_profile_file_and_reports(gptbots_mock: MockServer, tmp_path: Path) -> None:
    creds = gptbots_mock.credentials()["gptbots"]["check"]
    profile = tmp_path / "p.toml"
    lines = ['vendor = "gptbots"', f'target = "{gptbots_mock.url}"', "[cred]"] + [f'{k} = {json.dumps(v)}' for k, v in creds.items()]
    profile.write_text("\n".join(lines) + "\n")
    junit, md = tmp_path / "j.xml", tmp_path / "r.md"
    assert check("--profile", str(profile), "--junit-xml", str(junit), "--report", str(md)) == 0
    names = [c.get("name") for c in ET.parse(junit).iter("testcase")]
    assert "test_no_query_parameter_is_400[GPT-QUERY-ONE-REQUIRED]" in names
    text = md.read_text()
    assert "| GPT-QUERY-ONE-REQUIRED | documented | pass |" in text
    # the 403 needs a key without the permission, which only the mock can seed, and what triggers 403 is assumed
    assert "| GPT-STATUS-403 | assumption (--strict) | skip | checks an assumption" in text


def test_html_report_and_failure_detail(gptbots_mock: MockServer, tmp_path: Path) -> None:
    report = tmp_path / "r.html"
    # a token of another agent as `token`, and the first agent's user: every user check sees no such user
    creds = gptbots_mock.credentials()["gptbots"]["check"]
    code = check("--vendor", "gptbots", "--target", gptbots_mock.url, "--cred", f"token={creds['other_token']}",
                 "--cred", f"user_id={creds['user_id']}", "--cred", f"anonymous_id={creds['anonymous_id']}", "--report", str(report))
    assert code == 1
    text = report.read_text()
    assert "<table>" in text and "FAIL" in text and "Received:" in text and "Documented:" in text


def test_cdpkit_command_table_runs_check(gptbots_mock: MockServer) -> None:
    assert cdpkit_main(["check", "--vendor", "gptbots", "--target", gptbots_mock.url, "--max-examples", "2"]) == 0


def test_pytest_entry_rejects_suites_without_target(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_inprocess("--pyargs", "cdpkit.suites", "--noconftest", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_fuzzing_a_real_target_sends_valid_writes_only_when_asked() -> None:
    from types import SimpleNamespace

    from cdpkit.suites import fuzz

    from cdpkit.schemas.tiers import features

    every = {v: frozenset(f.name for f in features(v)) for v in VENDORS}  # only the write guard decides here
    real = {v: SimpleNamespace(vendor=v, is_mock=False, features=every[v]) for v in VENDORS}
    guarded = {v: {o for o in fuzz.operation_ids(v) if fuzz.writes_guarded(real[v], o)} for v in VENDORS}
    assert guarded["sensors"] == {"start_realtime_tag", "stop_realtime_tag", "delete_realtime_tag", "h5_save_realtime_tag"}
    assert guarded["zebline"] == {"upsert_user"}
    assert guarded["tto"] == {"track", "identify", "alias"}
    assert guarded["quickaudience"] == {"create_api", "update_api", "delete_api", "rotate_secret", "collect_event"}
    assert guarded["gptbots"] == set()
    for vendor, ops in guarded.items():
        for op in ops:
            assert fuzz.skip_reason(real[vendor], op, "positive", False) is not None
            assert fuzz.skip_reason(real[vendor], op, "negative", False) is None
            deletes = op.startswith("delete_")
            assert (fuzz.skip_reason(real[vendor], op, "positive", True) is not None) == deletes, op
    mock = SimpleNamespace(vendor="sensors", is_mock=True)
    assert not any(fuzz.writes_guarded(mock, o) for o in fuzz.operation_ids("sensors"))
    # an operation of a feature the target does not serve gets no generated requests, in either mode
    no_readback = SimpleNamespace(vendor="zebline", is_mock=False, features=every["zebline"] - {"readback"})
    for op in ("modeled_get_user", "modeled_get_track"):
        for mode in ("positive", "negative"):
            assert fuzz.skip_reason(no_readback, op, mode, True) == "feature not checked: readback"
    assert fuzz.skip_reason(no_readback, "upsert_user", "negative", True) is None


def test_a_guarded_write_is_sent_only_when_it_breaks_a_documented_rule() -> None:
    """On a real target a negative write goes out only if a correct server must refuse it."""
    from types import SimpleNamespace

    from cdpkit.suites import fuzz

    real = SimpleNamespace(vendor="zebline", is_mock=False, strict=False)
    base = {"query": {}, "headers": {"authorization": "t"}, "path_params": {"license_code": "L"}}
    assert fuzz.must_reject(real, "upsert_user", {**base, "body": {"attributes": {}}})  # no identifier: documented
    assert not fuzz.must_reject(real, "upsert_user", {**base, "body": {"userId": "u", "attributes": {}}})


def test_fuzzing_never_replays_the_documents_examples() -> None:
    from cdpkit.suites import fuzz

    for vendor in VENDORS:
        assert '"examples"' not in json.dumps(fuzz.openapi_schema(vendor).raw_schema), vendor


def test_refused_credentials_get_one_clear_note(gptbots_mock: MockServer, tmp_path: Path, capsys) -> None:
    report = tmp_path / "r.md"
    code = check("--vendor", "gptbots", "--target", gptbots_mock.url, "--cred", "token=not-a-key", "--report", str(report))
    assert code == 1
    out = capsys.readouterr().out
    assert "failures are the target answering 401/403 to the credentials given" in out


def test_no_note_when_failures_are_not_about_credentials(gptbots_mock: MockServer, capsys) -> None:
    creds = gptbots_mock.credentials()["gptbots"]["check"]
    check("--vendor", "gptbots", "--target", gptbots_mock.url, "--cred", f"token={creds['other_token']}",
          "--cred", f"user_id={creds['user_id']}", "--cred", f"anonymous_id={creds['anonymous_id']}")
    assert "401/403 to the credentials" not in capsys.readouterr().out


def test_check_help_names_every_feature_of_every_vendor() -> None:
    from cdpkit.schemas.tiers import features
    from cdpkit.suites.cli import DESCRIPTION

    lines = {line.split()[0]: line for line in DESCRIPTION.split("FEATURES")[1].splitlines()[3:9] if line.strip()}
    for vendor in VENDORS:
        assert all(f.name in lines.get(vendor, "") for f in features(vendor)), vendor


def test_features_left_out_are_skipped_and_listed(tmp_path: Path, capsys) -> None:
    server = MockServer(MockConfig(port=0, vendors=["zebline"])).start()
    try:
        junit = tmp_path / "z.xml"
        code = check("--vendor", "zebline", "--target", server.url, "--features", "-readback", "--junit-xml", str(junit))
        assert check("--vendor", "zebline", "--target", server.url, "--features", "nosuch") == 2
    finally:
        server.stop()
    out = capsys.readouterr().out
    assert code == 0
    assert "Features not checked" in out and "readback (" in out
    cases = ET.parse(junit).findall(".//testcase")
    modeled = [c for c in cases if any(p.get("value", "").startswith("documented, through") for p in c.iter("property"))]
    assert modeled, "Zebline's read-back checks are tiered as documented through cdpkit's model"
    for case in modeled:  # every one of them was left out, saying why
        skipped = case.find("skipped")
        assert skipped is not None and "feature not checked: readback" in skipped.get("message", ""), case.get("name")


def test_every_result_says_its_tier(gptbots_mock: MockServer, tmp_path: Path) -> None:
    junit, report = tmp_path / "g.xml", tmp_path / "g.md"
    assert check("--vendor", "gptbots", "--target", gptbots_mock.url, "--junit-xml", str(junit), "--report", str(report)) == 0
    cases = ET.parse(junit).findall(".//testcase")
    assert cases and all(any(p.get("name") == "tier" for p in c.iter("property")) for c in cases)
    assert "| tier |" in report.read_text() and "assumption (--strict)" in report.read_text()
