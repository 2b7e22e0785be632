"""Collects check results during the pytest run; prints the live progress line and the summary
table by requirement; writes the Markdown or HTML report.

One row per requirement (and one per schemathesis run): a requirement fails when any of its checks
failed, passes when one passed and none failed, and is skipped otherwise, with the reason (usually the
``--cred`` key that would enable it). A failure keeps the request, the expected and the received answer.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pytest

from suites.checks import CheckFailure
from suites.registry import lookup

if TYPE_CHECKING:
    from suites.target import Target

REPORT_FORMATS = (".md", ".html", ".htm")
PROPERTY_TIER = "property"  # the schemathesis run: no 5xx, documented schemas, documented refusals
TIER_NOTE = ("Tiers: documented = the document states it; documented, through cdpkit's model = a documented rule seen "
             "through an HTTP surface cdpkit models where the document has none; assumption = cdpkit's choice where the "
             "document is silent (only with --strict); property = the schemathesis run.")


@dataclass
class Outcome:
    nodeid: str
    name: str
    requirement_ids: list[str]
    outcome: str  # passed | failed | skipped
    detail: str = ""
    request: str = ""
    received: str = ""
    documented: str = ""
    tier: str = ""  # documented | documented, through cdpkit's model | assumption (--strict); "" for schemathesis


@dataclass
class Row:
    key: str
    kind: str
    result: str
    detail: str
    outcomes: list[Outcome] = field(default_factory=list)


def _row_key(outcome: Outcome) -> str:
    if outcome.requirement_ids:
        return outcome.requirement_ids[0]
    name, _, params = outcome.name.partition("[")
    return f"schemathesis {params.rstrip(']')}" if name == "test_schemathesis" else outcome.name


class Results:
    """A pytest plugin object; ``cdpkit check`` registers its own, the plugin one for plain pytest."""

    def __init__(self, target: "Target | None", report_path: str | None = None, *, live: IO[str] | None = None, print_summary: bool = False) -> None:
        self.target = target
        self.report_path = report_path
        self.live = live
        self.print_summary = print_summary
        self.outcomes: list[Outcome] = []
        self.errors: list[str] = []
        self.total = 0
        self._failure: dict[str, CheckFailure] = {}

    # pytest hooks -------------------------------------------------------------------------------
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.total = len(session.items)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.errors.append(f"collecting {report.nodeid}: {report.longreprtext}")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        if call.excinfo is not None and isinstance(call.excinfo.value, CheckFailure):
            self._failure[item.nodeid] = call.excinfo.value
            # JUnit then says which requirement's check failed (a fixture error or a crash names none)
            item.user_properties.append(("check_failure", call.excinfo.value.requirement_id or ""))
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not (report.when == "call" or (report.when == "setup" and not report.passed) or (report.when == "teardown" and report.failed)):
            return
        ids = [v for k, v in report.user_properties if k == "requirement"]
        name = report.nodeid.split("::")[-1]
        tier = next((v for k, v in report.user_properties if k == "tier"), "")
        outcome = Outcome(report.nodeid, name, ids, report.outcome, tier=tier)
        if report.skipped:
            longrepr = report.longrepr
            outcome.detail = longrepr[2].removeprefix("Skipped: ") if isinstance(longrepr, tuple) else str(longrepr)
        elif report.failed:
            failure = self._failure.get(report.nodeid)
            if failure is not None:
                outcome.request = failure.request or ""
                outcome.received, outcome.documented = failure.received, failure.documented
                tag = f"[{failure.requirement_id}] " if failure.requirement_id and failure.requirement_id not in ids else ""
                outcome.detail = f"{tag}Received: " + failure.received.splitlines()[0]
            else:
                text = report.longreprtext
                outcome.detail = _last_error_line(text)
                outcome.received = text[-3000:]
            if report.when != "call":
                outcome.detail = f"({report.when}) {outcome.detail}"
        self.outcomes.append(outcome)
        self._progress(outcome)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.print_summary:
            terminalreporter.write_line("")
            terminalreporter.write(self.summary())
        if self.report_path:
            self.write_report(self.report_path)

    # output -------------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        out = {"passed": 0, "failed": 0, "skipped": 0}
        for o in self.outcomes:
            out[o.outcome] = out.get(o.outcome, 0) + 1
        return out

    def _progress(self, outcome: Outcome) -> None:
        if self.live is None:
            return
        c = self.counts()
        line = f"[{len(self.outcomes)}/{self.total}] pass {c['passed']}  fail {c['failed']}  skip {c['skipped']}  {outcome.name}"
        if self.live.isatty():
            self.live.write("\r\033[K" + line[:150])
            if len(self.outcomes) >= self.total:
                self.live.write("\n")
        else:
            self.live.write(line + "\n")
        self.live.flush()

    def rows(self) -> list[Row]:
        grouped: dict[str, list[Outcome]] = {}
        for o in self.outcomes:
            grouped.setdefault(_row_key(o), []).append(o)
        rows = []
        for key, outcomes in grouped.items():
            kind = next((o.tier for o in outcomes if o.tier), "") or PROPERTY_TIER
            failed = [o for o in outcomes if o.outcome == "failed"]
            passed = [o for o in outcomes if o.outcome == "passed"]
            if failed:
                result, detail = "FAIL", failed[0].detail
            elif passed:
                result, detail = "pass", ""
            else:
                result, detail = "skip", outcomes[0].detail
            rows.append(Row(key, kind, result, detail, outcomes))
        order = {"FAIL": 0, "pass": 1, "skip": 2}
        return sorted(rows, key=lambda r: (order[r.result], r.key))

    def summary(self) -> str:
        rows = self.rows()
        width = max([len(r.key) for r in rows] + [11])
        tier_width = max([len(r.kind) for r in rows] + [4])
        lines = [f"{'REQUIREMENT':<{width}}  {'TIER':<{tier_width}}  RESULT  DETAIL"]
        for r in rows:
            lines.append(f"{r.key:<{width}}  {r.kind:<{tier_width}}  {r.result:<6}  {_cut(r.detail, 110)}")
        for r in rows:
            for o in r.outcomes:
                if o.outcome == "failed":
                    lines += ["", f"FAILED {r.key}  [{r.kind}]  ({o.nodeid})"]
                    if o.request:
                        lines.append(f"  Request:    {o.request}")
                    if o.documented:
                        lines.append(f"  Documented: {o.documented}")
                    lines.append("  Received:   " + o.received.replace("\n", "\n              "))
                    entry = lookup(r.key)
                    if entry is not None:
                        lines.append(f"  Source:     {entry.seed}: \u201c{entry.quote}\u201d")
        lines += self.errors
        hint = self.credentials_hint()
        if hint:
            lines += ["", hint]
        unchecked = self.features_not_checked()
        if unchecked:
            lines += ["", "Features not checked (the target was said not to implement them; --features to change):"]
            lines += [f"  - {f}" for f in unchecked]
        lines += ["", TIER_NOTE]
        c = self.counts()
        lines.append("")
        lines.append(f"{len(rows)} requirements: {sum(r.result == 'FAIL' for r in rows)} failed, "
                     f"{sum(r.result == 'pass' for r in rows)} passed, {sum(r.result == 'skip' for r in rows)} skipped "
                     f"({c['passed']} checks passed, {c['failed']} failed, {c['skipped']} skipped)")
        return "\n".join(lines) + "\n"

    def credentials_hint(self) -> str:
        """When most failures are the target refusing our credentials, say so once instead of leaving a
        reader to spot the same 401 in every failure (it may be the keys, or the implementation)."""
        failed = [o for o in self.outcomes if o.outcome == "failed"]
        refused = [o for o in failed if o.received.startswith(("401", "403"))]
        if not refused or len(refused) * 2 < len(failed):
            return ""
        return (f"NOTE: {len(refused)} of {len(failed)} failures are the target answering 401/403 to the credentials "
                "given. Check the --cred values (and that they belong together); if they are right, the "
                "implementation refuses valid credentials.")

    def features_not_checked(self) -> list[str]:
        if self.target is None:
            return []
        from suites.plugin import features_not_checked
        return features_not_checked(self.target)

    def write_report(self, path: str) -> None:
        suffix = Path(path).suffix.lower()
        text = self.markdown() if suffix == ".md" else self.html()
        Path(path).write_text(text, encoding="utf-8")

    def _title(self) -> str:
        if self.target is None:
            return "cdpkit conformance report"
        return f"cdpkit conformance report: {self.target.vendor} at {self.target.url}"

    def markdown(self) -> str:
        out = [f"# {self._title()}", "", TIER_NOTE, ""]
        out += [f"Feature not checked: {f}" for f in self.features_not_checked()]
        out += ["", "| requirement | tier | result | detail |", "|---|---|---|---|"]
        for r in self.rows():
            out.append(f"| {r.key} | {r.kind} | {r.result} | {_md_cell(r.detail)} |")
        for r in self.rows():
            for o in r.outcomes:
                if o.outcome == "failed":
                    entry = lookup(r.key)
                    out += ["", f"## {r.key}: FAILED", ""]
                    if entry:
                        out += [f"{entry.english}", "", f"> {entry.quote} ({entry.seed}, {entry.section})", ""]
                    out += ["```", f"Request:    {o.request}", f"Documented: {o.documented}", f"Received:   {o.received}", "```"]
        return "\n".join(out) + "\n"

    def html(self) -> str:
        esc = html.escape
        rows = "".join(
            f"<tr class='{esc(r.result.lower())}'><td>{esc(r.key)}</td><td>{esc(r.kind)}</td><td>{esc(r.result)}</td><td>{esc(r.detail)}</td></tr>"
            for r in self.rows()
        )
        failures = "".join(
            f"<h2>{esc(r.key)}: FAILED</h2><pre>Request:    {esc(o.request)}\nDocumented: {esc(o.documented)}\nReceived:   {esc(o.received)}</pre>"
            for r in self.rows() for o in r.outcomes if o.outcome == "failed"
        )
        style = "td,th{border:1px solid #ccc;padding:4px;text-align:left} .fail td{background:#fdd} .skip td{color:#777}"
        return (f"<!doctype html><meta charset='utf-8'><title>{esc(self._title())}</title><style>{style}</style>"
                f"<h1>{esc(self._title())}</h1><p>{esc(TIER_NOTE)}</p>"
                + "".join(f"<p>Feature not checked: {esc(f)}</p>" for f in self.features_not_checked())
                + "<table><tr><th>requirement</th><th>tier</th><th>result</th><th>detail</th></tr>"
                f"{rows}</table>{failures}\n")


def _cut(text: str, width: int) -> str:
    """``text`` on one line, cut at a word boundary with an ellipsis when longer than ``width``."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    cut = text[: width - 1].rsplit(" ", 1)[0]
    return (cut if len(cut) > width // 2 else text[: width - 1]) + "\u2026"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:200]


def _last_error_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("E ")]
    return lines[0][2:].strip() if lines else (text.strip().splitlines() or [""])[-1]

