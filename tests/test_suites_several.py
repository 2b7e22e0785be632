"""How `cdpkit check` runs: no plugin of the environment's, several vendors at once with the same verdicts."""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Iterator

import pytest

from cdpkit.mockserver.pytest_plugin import MockServer
from cdpkit.mockserver.runtime import MockConfig
from cdpkit.schemas import VENDORS
from cdpkit.suites import cli
from cdpkit.suites.several_vendors import vendor_baselines


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    server = MockServer(MockConfig(port=0, vendors=["gptbots", "zebline"])).start()
    yield server
    server.stop()


def test_check_loads_no_plugin_of_the_environment(mock: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Installed pytest plugins (Faker's, schemathesis', hypothesis', cdpkit's own cdp_mock) neither run in
    a check nor cost it their import and assert rewriting; the suites' plugin still loads."""
    loaded: set[str] = set()

    class Probe:
        def pytest_configure(self, config: pytest.Config) -> None:
            loaded.update(name for name, _ in config.pluginmanager.list_name_plugin())

    real_main = pytest.main

    def main_with_probe(args: list[str], plugins: list[Any]) -> Any:
        return real_main(args, plugins=[*plugins, Probe()])

    monkeypatch.setattr(cli.pytest, "main", main_with_probe)
    code = cli.main(["--vendor", "gptbots", "--target", mock.url], extra_pytest_args=["-m", "not cdp_fuzz"], live=io.StringIO())
    assert code == 0
    installed = {ep.name for ep in entry_points(group="pytest11")}
    assert "cdp_mock" in installed  # the probe would prove nothing in an environment without plugins
    assert "cdpkit.suites.plugin" in loaded
    assert not installed & loaded, installed & loaded


def _settings(*argv: str) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    cli.configure(parser)
    return cli.settings(parser.parse_args(list(argv)))


def test_vendor_all_and_repeats_name_the_vendors_in_the_order_given() -> None:
    opts = _settings("--vendor", "zebline", "--vendor", "all", "--target", "http://127.0.0.1:1")
    assert opts["vendors"] == ["zebline", *[v for v in VENDORS if v != "zebline"]]
    assert _settings("--vendor", "gptbots", "--target", "http://127.0.0.1:1")["vendors"] == ["gptbots"]


def test_a_profile_names_several_vendors_as_a_list_or_all(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text('vendor = ["gptbots", "tto"]\ntarget = "http://127.0.0.1:1"\njobs = 1\n')
    assert _settings("--profile", str(profile))["vendors"] == ["gptbots", "tto"]
    assert _settings("--profile", str(profile), "--vendor", "all")["vendors"] == list(VENDORS)  # flags win
    profile.write_text('vendor = "nope"\ntarget = "http://127.0.0.1:1"\n')
    with pytest.raises(cli.UsageProblem, match="nope"):
        _settings("--profile", str(profile))


@pytest.mark.parametrize("argv", [
    ["--vendor", "tto", "--vendor", "sensors", "--cred", "api_key=k"],  # api_key is a key of both: whose?
    ["--vendor", "all", "--jobs", "0"],
])
def test_several_vendors_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([*argv, "--target", "http://127.0.0.1:1"], live=io.StringIO()) == 2
    assert "cdpkit check: --" in capsys.readouterr().err


def test_file_options_name_a_file_per_vendor() -> None:
    opts = {"vendor": "tto", "vendors": ["tto", "zebline"], "json": "runs/{vendor}.json", "junit_xml": "out/junit.xml",
            "report": "r.md", "baseline": "known.txt"}
    tto = cli.with_vendor_paths(opts, "tto", several=True)
    assert (tto["json"], tto["junit_xml"], tto["report"], tto["baseline"]) == ("runs/tto.json", "out/junit.tto.xml", "r.tto.md", "known.txt")
    alone = cli.with_vendor_paths({**opts, "vendors": ["tto"]}, "tto", several=False)
    assert (alone["json"], alone["junit_xml"]) == ("runs/tto.json", "out/junit.xml")


def test_one_baseline_list_gives_each_vendor_its_own_ids(tmp_path: Path) -> None:
    known = tmp_path / "known.txt"
    known.write_text("GPT-AUTH-BEARER\nZEB-STATUS-400  # a comment\n")
    baselines = vendor_baselines({"vendors": ["gptbots", "zebline", "tto"], "baseline": str(known)})
    assert baselines == {"gptbots": ["GPT-AUTH-BEARER"], "zebline": ["ZEB-STATUS-400"], "tto": []}


def test_several_vendors_each_get_their_own_verdict_and_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """GPTBots answers 503 to everything (an injected fault), Zebline is fine: the run fails (the worst
    status), GPTBots' files say why, Zebline's say pass; the summaries come in the order given."""
    server = MockServer(MockConfig(port=0, vendors=["gptbots", "zebline"])).start()
    try:
        server.fault("/v1/user*", status=503)
        code = cli.main(["--vendor", "zebline", "--vendor", "gptbots", "--target", server.url, "--json", str(tmp_path / "{vendor}.json"),
                         "--junit-xml", str(tmp_path / "junit.xml")], extra_pytest_args=["-m", "not cdp_fuzz"], live=io.StringIO())
    finally:
        server.stop()
    out = capsys.readouterr().out
    assert code == 1
    runs = {v: json.loads((tmp_path / f"{v}.json").read_text()) for v in ("gptbots", "zebline")}
    assert runs["gptbots"]["vendor"] == "gptbots" and runs["gptbots"]["exit_code"] == 1
    assert "GPT-NO-5XX" in {r["id"] for r in runs["gptbots"]["requirements"] if r["status"] == "fail"}
    assert runs["zebline"]["exit_code"] == 0 and runs["zebline"]["counts"]["requirements"]["pass"] > 10
    assert (tmp_path / "junit.gptbots.xml").exists() and (tmp_path / "junit.zebline.xml").exists()
    assert out.index("=== zebline") < out.index("=== gptbots") < out.index("VENDOR ")
    assert "2 vendors in" in out and "exit 1" in out.splitlines()[-1]


def test_a_vendor_not_served_is_its_usage_error_only(mock: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["--vendor", "gptbots", "--vendor", "tto", "--target", mock.url], extra_pytest_args=["-m", "not cdp_fuzz"],
                    live=io.StringIO())
    captured = capsys.readouterr()
    assert code == 2
    assert "[tto] " in captured.err and "api_key" in captured.err  # tto's reason, named as tto's
    table = captured.out[captured.out.index("VENDOR "):]
    assert re.search(r"^gptbots\s+0 ", table, re.M) and re.search(r"^tto\s+2 ", table, re.M)


LOG_REQUESTS = """
import io, multiprocessing, re, sys
import requests
from cdpkit.suites.cli import main
send, log = requests.Session.send, sys.argv[1]
def logged(self, request, **kw):
    body = request.body.encode() if isinstance(request.body, str) else request.body
    name = multiprocessing.current_process().name
    with open(f"{log}.{name}", "a") as f:
        f.write(f"{request.method} {re.sub('//[^/]+', '//HOST', request.url)} {body!r}\\n")
    return send(self, request, **kw)
requests.Session.send = logged
sys.exit(main(sys.argv[2:], extra_pytest_args=["-m", "cdp_fuzz"], live=io.StringIO()))
"""


def test_a_vendor_checked_with_others_gets_the_cases_it_gets_alone(mock: MockServer, tmp_path: Path) -> None:
    """The schemathesis cases of a vendor run beside others are, request for request, those of its run
    alone with the same seed (hypothesis draws from the constants of the local modules a process loaded,
    so a process that loaded more would send other cases)."""
    def run(log: str, *vendors: str) -> None:
        argv = [a for v in vendors for a in ("--vendor", v)]
        done = subprocess.run([sys.executable, "-c", LOG_REQUESTS, str(tmp_path / log), *argv, "--target", mock.url],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr

    run("alone", "gptbots")
    run("alone", "zebline")
    run("together", "gptbots", "zebline")
    alone = (tmp_path / "alone.MainProcess").read_text().splitlines()
    together = {v: (tmp_path / f"together.cdpkit-check-{v}").read_text().splitlines() for v in ("gptbots", "zebline")}
    assert len(alone) > 100
    assert alone == together["gptbots"] + together["zebline"]


LOCAL_CONSTANTS = "\n".join(f"C{i} = {s!r}" for i, s in enumerate(
    ["1.5", "-0.25", "0x1F", "true", "null", "'; DROP TABLE users; --", "\u0000", "9" * 40, "ünïcødé", "%00%ff"]))


def test_the_same_seed_sends_the_same_cases_whatever_the_process_has_loaded(mock: MockServer, tmp_path: Path) -> None:
    """Hypothesis draws constants from the local modules a process loaded; `cdpkit check` turns that off for
    its run, so a second run in one process, after importing a local module full of tempting constants,
    sends request for request the cases of the first (without the fix the second run differs)."""
    (tmp_path / "lots_of_local_constants.py").write_text(LOCAL_CONSTANTS + "\n")
    run_twice = LOG_REQUESTS.replace("sys.exit(main(sys.argv[2:]", "code = (main(sys.argv[3:]") + (
        "sys.path.insert(0, sys.argv[2])\nimport lots_of_local_constants\nlog = sys.argv[1] + '.second'\n"
        "sys.exit(code or main(sys.argv[3:], extra_pytest_args=['-m', 'cdp_fuzz'], live=io.StringIO()))\n")
    done = subprocess.run([sys.executable, "-c", run_twice, str(tmp_path / "log"), str(tmp_path), "--vendor", "gptbots",
                           "--target", mock.url], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    first = (tmp_path / "log.MainProcess").read_text().splitlines()
    second = (tmp_path / "log.second.MainProcess").read_text().splitlines()
    assert len(first) > 20
    assert first == second
