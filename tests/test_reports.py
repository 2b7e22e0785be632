"""Results as data: `cdpkit check --json`, `--baseline`, `cdpkit report` (one run, and the matrix of
several), and the HTML report as a person sees it in a real browser.

* the JSON run document says, for every requirement and check: tier, features, status, reason, the
  failure and the exchanges, with credentials only as ``${key}``; plus the target, vendor, versions, date;
* a baseline run against a mutant of the mock fails only on a failure the baseline does not list, and
  names each listed failure that now passes;
* the matrix compares the mock with a clean-room implementation (tests/cleanroom) requirement by
  requirement, with the documents' sentences and tiers;
* the HTML report, rendered in Debian's Chromium (Playwright, as tests/test_sensors_h5_browser.py):
  summary first, failures open with Received and Documented, passes and skips folded, the tier and
  feature filters work (a row shows while its tier and one of its features are ticked), and it loads nothing from the network. ``CDPKIT_UPDATE_SCREENSHOTS=1`` writes the
  README's screenshot, docs/report.png.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

import pytest

from cdpkit.cli import main as cdpkit_main
from cdpkit.mockserver.pytest_plugin import MockServer
from cdpkit.mockserver.runtime import MockConfig
from cdpkit.schemas.tiers import TIER_LABELS
from cdpkit.suites import cli
from cdpkit.suites.report_command import PROPERTY_TIER, RUN_FORMAT
from tests.browser import CHROMIUM_ARGS, PLAYWRIGHT_MISSING, chromium_path, unavailable
from tests.cleanroom import AppServer, module
from tests.cleanroom.expectations import FEATURES
from tests.mutants.gptbots import MUTANTS

DOCS = Path(__file__).resolve().parents[1] / "docs"
TIERS = set(TIER_LABELS.values()) | {PROPERTY_TIER}
NOTE = "failures are the target answering 401/403 to the credentials given"


def check(*argv: str, fuzz: bool = False) -> tuple[int, str]:
    """`cdpkit check` in-process: (exit status, what it printed on stdout)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(list(argv), extra_pytest_args=[] if fuzz else ["-m", "not cdp_fuzz"], live=io.StringIO())
    return code, out.getvalue()


def mutant(name: str):
    return next(m for m in MUTANTS if m.name == name)


@contextlib.contextmanager
def serve_mock(vendor: str, patch: Any = None) -> Iterator[MockServer]:
    server = MockServer(MockConfig(port=0, vendors=[vendor]))
    if patch is not None:
        server.mock.vendors[vendor] = patch.patch(server.mock.vendors[vendor])  # routes bind at start
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- --json ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gptbots_failing_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, str], str, str]:
    """A run against the mock with another agent's token as `token`: the user checks see no such user."""
    out = tmp_path_factory.mktemp("json")
    with serve_mock("gptbots") as server:
        creds = server.credentials()["gptbots"]["check"]
        code, printed = check("--vendor", "gptbots", "--target", server.url, "--json", str(out / "run.json"),
                              "--cred", f"token={creds['other_token']}", "--cred", f"user_id={creds['user_id']}",
                              "--cred", f"anonymous_id={creds['anonymous_id']}", "--name", "agent B", "--max-examples", "3",
                              fuzz=True)
    assert code == 1, printed
    text = (out / "run.json").read_text("utf-8")
    return json.loads(text), creds, text, printed


def test_json_has_every_result_with_its_tier_features_status_reason_and_exchange(gptbots_failing_run) -> None:
    run, _, _, _ = gptbots_failing_run
    assert run["format"] == RUN_FORMAT and run["vendor"] == "gptbots" and run["name"] == "agent B"
    assert run["target"].startswith("http://127.0.0.1:") and run["exit_code"] == 1
    assert {"cdpkit", "python", "schemathesis"} <= set(run["versions"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", run["started"]), run["started"]
    reqs = {r["id"]: r for r in run["requirements"]}
    assert all(r["tier"] in TIERS and r["status"] in ("pass", "fail", "skip") and r["checks"] for r in reqs.values())
    assert reqs["GPT-QUERY-USER-ONLY"]["features"] == ["users"]
    assert reqs["GPT-QUERY-USER-ONLY"]["document"]["quote"] and reqs["GPT-QUERY-USER-ONLY"]["document"]["english"]
    assert reqs["GPT-STATUS-403"]["status"] == "skip" and "--strict" in reqs["GPT-STATUS-403"]["reason"]
    assert {r["tier"] for r in reqs.values() if r["id"].startswith("schemathesis")} == {PROPERTY_TIER}
    failed = [r for r in reqs.values() if r["status"] == "fail"]
    assert failed and run["counts"]["requirements"]["fail"] == len(failed)
    for row in failed:
        [first] = [c for c in row["checks"] if c["status"] == "fail"][:1]
        failure = first["failure"]
        assert failure["received"] and failure["documented"] and failure["request"].startswith("GET "), row["id"]
        assert first["exchanges"] and first["exchanges"][-1]["request"] == failure["request"]
        assert isinstance(first["exchanges"][-1]["status"], int)
    passed = next(c for r in reqs.values() if r["status"] == "pass" and not r["id"].startswith("schemathesis")
                  for c in r["checks"])
    assert passed["exchanges"] and passed["failure"] is None


def test_json_shows_credentials_only_as_their_keys(gptbots_failing_run) -> None:
    _, creds, text, printed = gptbots_failing_run
    given = {"token": creds["other_token"], "user_id": creds["user_id"], "anonymous_id": creds["anonymous_id"]}
    assert "Bearer ${token}" in text and "${user_id}" in text
    for key, value in given.items():
        assert value not in text, f"--cred {key} leaked into the JSON"
        assert value not in printed, f"--cred {key} printed in the summary"


def test_a_terminal_failure_shows_the_documents_sentence_and_its_english(gptbots_failing_run) -> None:
    printed = gptbots_failing_run[3]
    block = printed[printed.index("FAILED GPT-QUERY-USER-ONLY"):].split("\n\n")[0]
    for label in ("Request:", "Documented:", "Received:", "Source:", "In English:"):
        assert f"\n  {label}" in block, (label, block)


def test_the_credentials_note_comes_once_before_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    with serve_mock("gptbots") as server:
        code, out = check("--vendor", "gptbots", "--target", server.url, "--cred", "token=not-a-key")
    assert code == 1
    assert out.count(NOTE) == 1 and out.index(NOTE) < out.index("REQUIREMENT"), out[:600]


# --- --baseline ------------------------------------------------------------------------------------------


def test_a_baseline_fails_only_on_new_failures_and_names_the_fixed_ones(tmp_path: Path) -> None:
    first = tmp_path / "first.json"
    with serve_mock("gptbots", mutant("no-query-accepted")) as server:
        code, _ = check("--vendor", "gptbots", "--target", server.url, "--json", str(first))
        assert code == 1
        known = [r["id"] for r in json.loads(first.read_text())["requirements"] if r["status"] == "fail"]
        assert "GPT-QUERY-ONE-REQUIRED" in known

        # the same failures, listed by the previous run: the run passes, JUnit still records them
        again, junit = tmp_path / "again.json", tmp_path / "again.xml"
        code, out = check("--vendor", "gptbots", "--target", server.url, "--baseline", str(first), "--json", str(again),
                          "--junit-xml", str(junit))
        assert code == 0, out
        assert "0 new" in out and "GPT-QUERY-ONE-REQUIRED" in json.loads(again.read_text())["baseline"]["known_failures"]
        assert "GPT-QUERY-ONE-REQUIRED" in junit.read_text()

        # a text baseline without it: that failure is new, and the run fails
        listed = tmp_path / "known.txt"
        listed.write_text("# known failures\n" + "\n".join(k for k in known if k != "GPT-QUERY-ONE-REQUIRED") + "\n")
        code, out = check("--vendor", "gptbots", "--target", server.url, "--baseline", str(listed))
        assert code == 1 and "NEW FAILURES (not in the baseline; these fail the run): GPT-QUERY-ONE-REQUIRED" in out

    # the defect fixed: the run passes and says to take it off the list
    with serve_mock("gptbots") as server:
        fixed = tmp_path / "fixed.json"
        code, out = check("--vendor", "gptbots", "--target", server.url, "--baseline", str(first), "--json", str(fixed))
    assert code == 0
    assert "FIXED: GPT-QUERY-ONE-REQUIRED now passes: remove it from the baseline" in out
    assert json.loads(fixed.read_text())["baseline"]["fixed"] == known


def test_a_baseline_that_cannot_be_read_is_a_usage_error(tmp_path: Path, gptbots_failing_run) -> None:
    run, _, text, _ = gptbots_failing_run
    other = tmp_path / "zebline.json"
    other.write_text(text.replace('"vendor": "gptbots"', '"vendor": "zebline"', 1))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    for baseline in (tmp_path / "missing.txt", other, broken):
        code, _ = check("--vendor", "gptbots", "--target", run["target"], "--baseline", str(baseline))
        assert code == 2, baseline


# --- cdpkit report: the matrix ---------------------------------------------------------------------------

MATRIX_VENDOR = "tto"
MATRIX_DEFECT = "bad_api_key_ignored"  # TTO-API-KEY-AUTH, documented


@pytest.fixture(scope="module")
def tto_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The mock and a clean-room implementation with one defect, each checked once (--json)."""
    out = tmp_path_factory.mktemp("matrix")
    runs = {"mock": out / "mock.json", "cleanroom": out / "cleanroom.json"}
    with serve_mock(MATRIX_VENDOR) as server:
        code, printed = check("--vendor", MATRIX_VENDOR, "--target", server.url, "--name", "cdpkit mock",
                              "--json", str(runs["mock"]), "--max-examples", "2", fuzz=True)
        assert code == 0, printed
    impl = module(MATRIX_VENDOR)
    with AppServer(impl.make_app(frozenset([MATRIX_DEFECT]))) as server:
        args = ["--vendor", MATRIX_VENDOR, "--target", server.url, "--name", "clean-room", "--json", str(runs["cleanroom"]),
                "--report", str(out / "cleanroom.html"), "--max-examples", "2"]
        args += [a for k, v in impl.CREDS.items() for a in ("--cred", f"{k}={v}")]
        args += ["--features", FEATURES[MATRIX_VENDOR]] if MATRIX_VENDOR in FEATURES else []
        code, printed = check(*args, fuzz=True)
        assert code == 1, printed
    return runs


def test_the_matrix_compares_implementations_requirement_by_requirement(tto_runs: dict[str, Path], tmp_path: Path) -> None:
    html, md = tmp_path / "m.html", tmp_path / "m.md"
    assert cdpkit_main(["report", str(tto_runs["mock"]), str(tto_runs["cleanroom"]), "--html", str(html), "--md", str(md)]) == 0
    text = md.read_text("utf-8")
    assert "| requirement | tier | cdpkit mock | clean-room | what the document says |" in text
    assert re.search(r"^\| TTO-API-KEY-AUTH \| documented \| pass \| \*\*FAIL\*\* \| .+ \|$", text, re.M), text[:2000]
    mock = json.loads(tto_runs["mock"].read_text())
    for row in mock["requirements"]:  # every requirement is a row, with its tier
        assert re.search(rf"^\| {re.escape(row['id'])} \| {re.escape(row['tier'])} \|", text, re.M), row["id"]
    assert "## Failures of clean-room" in text and "Received:" in text
    page = html.read_text("utf-8")
    assert "cdpkit mock" in page and "clean-room" in page and "TTO-API-KEY-AUTH" in page
    quote = next(r["document"]["quote"] for r in mock["requirements"] if r["id"] == "TTO-API-KEY-AUTH")
    assert quote in page and "lang='zh'" in page  # the document's own sentence, in its language


def test_report_of_one_run_and_its_baseline(tto_runs: dict[str, Path], tmp_path: Path) -> None:
    md, baseline = tmp_path / "one.md", tmp_path / "known.txt"
    assert cdpkit_main(["report", str(tto_runs["cleanroom"]), "--md", str(md), "--write-baseline", str(baseline)]) == 0
    text = md.read_text("utf-8")
    assert text.index("## Failures") < text.index("## Every requirement")  # failures first
    assert "### TTO-API-KEY-AUTH: FAILED" in text and "In English:" in text and "Documented:" in text
    ids = [line for line in baseline.read_text().splitlines() if line and not line.startswith("#")]
    assert "TTO-API-KEY-AUTH" in ids


@pytest.mark.parametrize("content", ["{not json", '{"format": "something else"}'])
def test_report_refuses_what_is_not_a_run(tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    assert cdpkit_main(["report", str(bad), "--html", str(tmp_path / "x.html")]) == 2
    assert cdpkit_main(["report", str(tmp_path / "missing.json"), "--md", str(tmp_path / "x.md")]) == 2
    assert "cdpkit report:" in capsys.readouterr().err


# --- the HTML report in a real browser -------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable(PLAYWRIGHT_MISSING, module_level=False)
    executable = chromium_path()

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, timeout=30_000)
        yield launched
        launched.close()


def _open(browser: Any, path: Path, requested: list[str]) -> Any:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.set_default_timeout(10_000)
    page.on("request", lambda request: requested.append(request.url))
    page.goto(path.as_uri())
    return page


def test_the_html_report_reads_well_in_chromium(browser: Any, tto_runs: dict[str, Path]) -> None:
    report = tto_runs["cleanroom"].with_suffix(".html")  # written by `check --report`
    requested: list[str] = []
    page = _open(browser, report, requested)
    try:
        # the summary first: the headline and the counts above everything else
        assert re.match(r"\d+ requirements? failed", page.locator("h1").inner_text())
        assert page.locator(".tile.fail .n").bounding_box()["y"] < page.locator("#failures").bounding_box()["y"]
        # failures open, with what was sent, received and documented, and the sentence in Chinese and English
        card = page.locator("details.req.fail#req-TTO-API-KEY-AUTH")
        assert card.get_attribute("open") is not None
        for label in ("Request:", "Received:", "Documented:"):
            assert card.locator("dt", has_text=label).first.is_visible(), label
        assert card.locator("blockquote[lang=zh]").is_visible() and card.locator(".english").is_visible()
        # passes and skips folded until opened
        first_pass = page.locator("#passed tr[data-tier]").first
        assert not first_pass.is_visible()
        page.locator("#passed summary").first.click()
        assert first_pass.is_visible()
        # filters: untick the tier, the card goes; untick the feature, it goes too
        tier = card.get_attribute("data-tier")
        page.locator(f"input[name=tier][value='{tier}']").uncheck()
        assert not card.is_visible()
        page.locator(f"input[name=tier][value='{tier}']").check()
        assert card.is_visible()
        features = card.get_attribute("data-features").split()  # shown while one of its features is ticked
        for feature in features:
            assert card.is_visible()
            page.locator(f"input[name=feature][value='{feature}']").uncheck()
        assert features and not card.is_visible()
        for feature in features:
            page.locator(f"input[name=feature][value='{feature}']").check()
        page.locator("input[type=search]").fill("TTO-API-KEY-AUTH")
        assert card.is_visible() and page.locator("#failures [data-tier]:visible").count() == 1
        page.locator("input[type=search]").fill("")
        page.locator("#passed summary").first.click()
        if os.environ.get("CDPKIT_UPDATE_SCREENSHOTS") == "1":
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(DOCS / "report.png"))
    finally:
        page.close()
    assert requested == [report.as_uri()], f"the report loaded more than itself: {requested}"


def test_the_matrix_reads_well_in_chromium(browser: Any, tto_runs: dict[str, Path], tmp_path: Path) -> None:
    html = tmp_path / "matrix.html"
    assert cdpkit_main(["report", str(tto_runs["mock"]), str(tto_runs["cleanroom"]), "--html", str(html)]) == 0
    requested: list[str] = []
    page = _open(browser, html, requested)
    try:
        heads = page.locator("th.impl").all_inner_texts()
        assert [h.splitlines()[0] for h in heads] == ["cdpkit mock", "clean-room"]
        row = page.locator("tr#req-TTO-API-KEY-AUTH")
        assert row.locator("td.cell").all_inner_texts()[0] == "pass"
        assert row.locator("td.cell.fail summary").inner_text() == "FAIL"
        page.locator("input[name=differ]").check()
        assert row.is_visible()
        same = page.locator("tr[data-differ='0']").first
        assert not same.is_visible()
        if os.environ.get("CDPKIT_UPDATE_SCREENSHOTS") == "1":
            page.locator("input[name=differ]").uncheck()
            page.screenshot(path=str(DOCS / "report-matrix.png"))
    finally:
        page.close()
    assert requested == [html.as_uri()]
