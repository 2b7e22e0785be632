"""Errors a person can act on: one line that names the option or file and what to do, never a traceback;
usage errors exit 2 in every command."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdpkit.mockserver.pytest_plugin import MockServer
from cdpkit.mockserver.runtime import MockConfig
from cdpkit.suites import cli as check_cli

MOCK_USAGE_ERRORS = [
    # (arguments, what the one line must say)
    (["--state", "sqlite:/nonexistent/dir/x.db"], "--state sqlite:/nonexistent/dir/x.db: the directory '/nonexistent/dir' does not exist"),
    (["--port", "70000"], "--port must be from 0 to 65535, not 70000"),
    (["--port", "-1"], "--port must be from 0 to 65535, not -1"),
    (["--journal-limit", "-5"], "--journal-limit must be at least 0"),
    (["--vendors", "nosuch"], "--vendors: unknown vendor(s) nosuch"),
    (["--seed", "{tmp}/missing.yaml"], "--seed {tmp}/missing.yaml: no such file"),
    (["--config", "{tmp}/missing.toml"], "--config {tmp}/missing.toml: no such file"),
    (["--seed", "{tmp}/broken.yaml"], "--seed {tmp}/broken.yaml is not valid YAML: "),
    (["--seed", "{tmp}/broken.json"], "--seed {tmp}/broken.json is not valid JSON: "),
    (["--seed", "{tmp}/list.yaml"], "a seed file is a mapping of vendor name to its data"),
    (["--seed", "{tmp}/other.yaml"], "--seed {tmp}/other.yaml: seed names vendors not served"),
    (["--config", "{tmp}/broken.toml"], "--config {tmp}/broken.toml is not valid TOML: "),
    (["--config", "{tmp}/broken-config.yaml"], "--config {tmp}/broken-config.yaml is not valid YAML or JSON: "),
    (["--config", "{tmp}/port.toml"], "--port takes a whole number, not 'x'"),
    (["--config", "{tmp}/colour.toml"], "unknown option(s) in --config"),
    (["--state", "sqlite:{tmp}/not-a-database.sqlite", "--port", "0"], "cannot use the database: file is not a database"),
]

BROKEN_FILES = {
    "broken.yaml": "gptbots: [unclosed\n  - x: : :\n",
    "broken.json": '{"gptbots": [1, 2',
    "list.yaml": "- gptbots\n",
    "other.yaml": "nosuch: {}\n",
    "broken.toml": "port = [\n",
    "broken-config.yaml": "port: 8080\n foo: [\n",
    "port.toml": 'port = "x"\n',
    "colour.toml": "colour = 'red'\n",
    "not-a-database.sqlite": "this is not a database\n",
}


def test_mock_usage_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    """Each bad option or file: exit 2 and one line naming it, no traceback, before anything listens."""
    for name, text in BROKEN_FILES.items():
        (tmp_path / name).write_text(text)
    runs = []
    for argv, _ in MOCK_USAGE_ERRORS:  # all at once: each is a fresh interpreter
        args = [a.replace("{tmp}", str(tmp_path)) for a in argv]
        runs.append(subprocess.Popen([sys.executable, "-m", "cdpkit", "mock", "--quiet", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for (argv, expected), proc in zip(MOCK_USAGE_ERRORS, runs):
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"cdpkit mock {' '.join(argv)} started instead of refusing")
        expected = expected.replace("{tmp}", str(tmp_path))
        assert proc.returncode == 2, (argv, proc.returncode, err)
        assert "Traceback" not in err and out == "", (argv, err)
        assert err.startswith("cdpkit mock: ") and err.count("\n") == 1, (argv, err)
        assert expected in err, (argv, err)


def test_a_port_in_use_is_named_and_exits_1() -> None:
    """Not a usage error: the options are right, the machine is busy."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "cdpkit", "mock", "--quiet", "--port", str(port)],
                                capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"cdpkit mock: cannot listen on 127.0.0.1:{port}: ")


# cdpkit check ------------------------------------------------------------------------------------------

def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def check(*argv: str) -> int:
    return check_cli.main(list(argv), extra_pytest_args=["-m", "not cdp_fuzz"], live=io.StringIO())


def skip_reasons(junit: Path) -> dict[str, str]:
    """JUnit case name -> skip message."""
    return {case.get("name"): skipped.get("message", "")
            for case in ET.parse(junit).iter("testcase") for skipped in case.iter("skipped")}


@pytest.fixture(scope="module")
def gptbots_mock() -> Iterator[MockServer]:
    with MockServer(MockConfig(port=0, vendors=["gptbots"])) as server:
        yield server


@pytest.mark.parametrize("creds", [[], ["--cred", "token=x"]])
def test_check_says_once_that_the_target_is_unreachable_and_exits_2(creds: list[str], capsys) -> None:
    url = closed_port_url()
    assert check("--vendor", "gptbots", "--target", url, *creds) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"cdpkit check: cannot reach {url}: Connection refused. Is the server running, and are the host and port right?\n"


def test_check_names_its_own_option_and_the_url_meant(capsys) -> None:
    assert check("--vendor", "gptbots", "--target", "127.0.0.1:8080", "--cred", "token=x") == 2
    err = capsys.readouterr().err
    assert "--cdp-" not in err
    assert err.strip() == ("cdpkit check: --target takes an http(s) base URL such as http://127.0.0.1:8080, not "
                           "'127.0.0.1:8080': did you mean --target http://127.0.0.1:8080?")
    assert check("--vendor", "gptbots", "--target", "ftp://example.com") == 2
    assert "did you mean" not in capsys.readouterr().err


def test_the_pytest_entry_names_its_own_options(pytester: pytest.Pytester) -> None:
    for target, expected in (("127.0.0.1:8080", "--cdp-target takes an http(s) base URL"), (closed_port_url(), "cannot reach")):
        result = pytester.runpytest_inprocess("--pyargs", "cdpkit.suites.test_gptbots", "--noconftest", "-p", "no:cacheprovider",
                                              "--cdp-target", target, "--cdp-vendor", "gptbots")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        assert expected in result.stderr.str()


def test_a_request_that_gets_no_answer_fails_in_one_line() -> None:
    """A target that goes away mid-run: each check says so in a line, not the HTTP library's traceback."""
    from cdpkit.suites.target import Target, load_profile

    url = closed_port_url()
    target = Target(url, load_profile("gptbots"), {"token": "t"}, strict=False)
    with pytest.raises(pytest.fail.Exception) as failed:
        target.request("GET", "/v1/user/get-user-cdp")
    assert str(failed.value) == f"no answer from {url} to GET /v1/user/get-user-cdp: Connection refused"
    assert not failed.value.pytrace


def test_a_partial_cred_against_a_mock_fills_in_the_rest(gptbots_mock: MockServer, tmp_path: Path, capsys) -> None:
    own = gptbots_mock.credentials()["gptbots"]["check"]
    junit = tmp_path / "j.xml"
    assert check("--vendor", "gptbots", "--target", gptbots_mock.url, "--cred", f"other_token={own['other_token']}",
                 "--junit-xml", str(junit)) == 0
    err = capsys.readouterr().err
    filled = sorted(set(own) - {"other_token"})
    assert f"read from the mock's /__mock/credentials: {', '.join(filled)}" in err
    reasons = skip_reasons(junit)
    assert reasons and not [r for r in reasons.values() if "--cred" in r or "cdpkit mock" in r], reasons


def test_skip_reasons_agree_with_a_mock_given_other_credentials(gptbots_mock: MockServer, tmp_path: Path, capsys) -> None:
    """The mock's second agent as `token`: the mock's other keys do not belong with it, so none is filled in
    and its control API is not used, and every reason says so of this mock (never 'not a cdpkit mock')."""
    own = gptbots_mock.credentials()["gptbots"]["check"]
    junit = tmp_path / "j.xml"
    check("--vendor", "gptbots", "--target", gptbots_mock.url, "--cred", f"token={own['other_token']}", "--strict",
          "--junit-xml", str(junit))
    assert ("cdpkit will not use its control API: cdpkit uses it with the mock's own credentials only, and --cred token "
            "differs") in capsys.readouterr().err
    reasons = skip_reasons(junit).values()
    assert not [r for r in reasons if "not a cdpkit mock" in r]
    assert [r for r in reasons if "this cdpkit mock's control API" in r and "--cred token differs" in r]


def test_a_mock_that_needs_its_admin_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv("CDPKIT_ADMIN_TOKEN", raising=False)
    with MockServer(MockConfig(port=0, vendors=["tto"], admin_token="s3cret")) as server:
        assert check("--vendor", "tto", "--target", server.url) == 2
        err = capsys.readouterr().err
        assert "is a cdpkit mock, but its control API refused" in err and "CDPKIT_ADMIN_TOKEN" in err
        junit = tmp_path / "j.xml"
        assert check("--vendor", "tto", "--target", server.url, "--cred", "api_key=your_api_key_here", "--junit-xml", str(junit)) == 0
        control_only = {n: r for n, r in skip_reasons(junit).items() if "control API" in r}
        assert control_only and all("set CDPKIT_ADMIN_TOKEN" in r and "not a cdpkit mock" not in r for r in control_only.values())
        monkeypatch.setenv("CDPKIT_ADMIN_TOKEN", "s3cret")
        assert check("--vendor", "tto", "--target", server.url, "--junit-xml", str(junit)) == 0
        assert not [n for n, r in skip_reasons(junit).items() if "control API" in r]


def test_the_credentials_note_comes_before_the_table(gptbots_mock: MockServer, capsys) -> None:
    assert check("--vendor", "gptbots", "--target", gptbots_mock.url, "--cred", "token=not-a-key") == 1
    out = capsys.readouterr().out
    assert out.startswith("NOTE: ") and "401/403 to the credentials given" in out.splitlines()[0]
    assert out.index("REQUIREMENT") > out.index("NOTE: ")


def test_usage_errors_exit_2_in_every_command() -> None:
    runs = {
        "mock": ["mock", "--vendors", "nosuch"],
        "check": ["check", "--vendor", "gptbots"],
        "gen": ["gen", "nosuch.op"],
        "openapi": ["openapi", "--vendor", "nosuch"],
        "catalog": ["catalog", "--id", "NOPE-1"],
        "cdpkit": ["nosuch-command"],
    }
    procs = {name: subprocess.Popen([sys.executable, "-m", "cdpkit", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name, argv in runs.items()}
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 2 and "Traceback" not in err and err.strip(), (name, proc.returncode, err)


def test_a_subcommand_that_raises_a_message_exits_2(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    from cdpkit import cli

    def refuse(args) -> int:
        raise SystemExit("cdpkit openapi: something the user must change")

    monkeypatch.setattr("cdpkit.openapi_command.run", refuse)
    assert cli.main(["openapi", "--vendor", "gptbots"]) == 2
    assert capsys.readouterr().err == "cdpkit openapi: something the user must change\n"
