"""Collects check results during the pytest run; prints the live progress line and the summary
table by requirement; builds the run document (``cdpkit check --json``) the reports are drawn from.

One row per requirement (and one per schemathesis run): a requirement fails when any of its checks
failed, passes when one passed and none failed, and is skipped otherwise, with the reason (usually the
``--cred`` key that would enable it). A failure keeps the request, the expected and the received answer;
every check keeps its exchanges, credentials shown as ``${key}``.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from cdpkit.suites.checks import CheckFailure
from cdpkit.suites.registry import MARK_FUZZ, lookup
from cdpkit.suites.report_command import PROPERTY_TIER, RUN_FORMAT, TIER_NOTE, write_report

if TYPE_CHECKING:
    from cdpkit.suites.target import Target

REPORT_FORMATS = (".md", ".html", ".htm")
MAX_EXCHANGES = 12  # per check in the run document (the last ones: a failure's request is the last sent)


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
    tier: str = ""  # documented | documented, through cdpkit's model | assumption (--strict) | property
    features: tuple[str, ...] = ()
    failure_id: str | None = None  # the requirement the failing CheckFailure names
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    duration: float = 0.0


@dataclass
class Row:
    key: str
    kind: str
    result: str
    detail: str
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def features(self) -> list[str]:
        return sorted({f for o in self.outcomes for f in o.features})


def _row_key(outcome: Outcome) -> str:
    if outcome.requirement_ids:
        return outcome.requirement_ids[0]
    name, _, params = outcome.name.partition("[")
    return f"schemathesis {params.rstrip(']')}" if name == "test_schemathesis" else outcome.name


def versions() -> dict[str, str]:
    from cdpkit import __version__

    out = {"cdpkit": __version__, "python": platform.python_version()}
    for dist in ("schemathesis", "hypothesis", "pytest"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def shown_url(url: str) -> str:
    """A URL as reports show it: a password in it replaced by ``****``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:****@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _exchange(exchange: Any) -> dict[str, Any]:
    return {"request": exchange.describe_request(), "status": exchange.status, "response": exchange.describe_response()}


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
        self.started = _now()
        self.finished = ""
        self._failure: dict[str, CheckFailure] = {}
        self._seen: dict[str, dict[str, Any]] = {}  # nodeid -> what only the item knows (fuzz mark, exchanges)

    # pytest hooks -------------------------------------------------------------------------------
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.started = _now()

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.finished = _now()

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.total = len(session.items)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.errors.append(f"collecting {report.nodeid}: {report.longreprtext}")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        seen = self._seen.setdefault(item.nodeid, {"fuzz": item.get_closest_marker(MARK_FUZZ) is not None})
        cdp = getattr(item, "funcargs", {}).get("cdp")
        if call.when == "call" and cdp is not None:  # the `cdp` fixture gives each check a fresh list
            seen["exchanges"] = [_exchange(e) for e in cdp.exchanges[-MAX_EXCHANGES:]]
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
        seen = self._seen.get(report.nodeid, {})
        tier = PROPERTY_TIER if seen.get("fuzz") else next((v for k, v in report.user_properties if k == "tier"), "")
        feats = next((v for k, v in report.user_properties if k == "features"), "")
        outcome = Outcome(report.nodeid, name, ids, report.outcome, tier=tier, features=tuple(f for f in feats.split(",") if f),
                          exchanges=list(seen.get("exchanges", [])), duration=round(report.duration, 3))
        if report.skipped:
            longrepr = report.longrepr
            outcome.detail = longrepr[2].removeprefix("Skipped: ") if isinstance(longrepr, tuple) else str(longrepr)
        elif report.failed:
            failure = self._failure.get(report.nodeid)
            if failure is not None:
                outcome.request = failure.request or ""
                outcome.received, outcome.documented = failure.received, failure.documented
                outcome.failure_id = failure.requirement_id
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

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.finished = self.finished or _now()

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
        hint = self.credentials_hint()
        lines = [hint, ""] if hint else []  # before the table and pages of failures, where a reader looks first
        lines.append(f"{'REQUIREMENT':<{width}}  {'TIER':<{tier_width}}  RESULT  DETAIL")
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
                        if entry.english != entry.quote:
                            lines.append(f"  In English: {entry.english}")
        lines += self.errors
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
        return self._masked("\n".join(lines) + "\n")  # credential values as ${key}, as in the reports

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
        from cdpkit.suites.plugin import features_not_checked
        return features_not_checked(self.target)

    def write_report(self, path: str, run: dict[str, Any] | None = None) -> None:
        """The one-run report, Markdown (``.md``) or HTML, drawn from the run document."""
        write_report(run if run is not None else self.data(), path)

    def markdown(self) -> str:
        from cdpkit.suites.report_command import markdown_report
        return markdown_report(self.data())

    def html(self) -> str:
        from cdpkit.suites.report_command import html_report
        return html_report(self.data())

    def data(self, *, name: str | None = None, exit_code: int | None = None) -> dict[str, Any]:
        """The run document (``cdpkit check --json``): every requirement and check of the run with its
        tier, features, status, reason, the document's sentence, the failure and the exchanges; the target,
        the versions and the date. Credential values appear only as ``${key}``."""
        target = self.target
        counts = self.counts()
        requirements = []
        for row in self.rows():
            entry = lookup(row.key)
            requirements.append({
                "id": row.key,
                "tier": row.kind,
                "features": row.features,
                "status": {"FAIL": "fail", "pass": "pass", "skip": "skip"}[row.result],
                "reason": row.detail,
                "document": None if entry is None else {
                    "seed": entry.seed, "section": entry.section, "kind": entry.kind, "quote": entry.quote,
                    "english": entry.english},
                "checks": [self._check_data(o) for o in row.outcomes],
            })
        url = shown_url(target.url) if target is not None else ""
        run: dict[str, Any] = {
            "format": RUN_FORMAT,
            "name": name or url,
            "vendor": target.vendor if target is not None else None,
            "target": url,
            "target_is_mock": bool(target is not None and target.is_mock),
            "strict": bool(target is not None and target.strict),
            "features_checked": sorted(target.features) if target is not None else [],
            "features_not_checked": self.features_not_checked(),
            "started": self.started,
            "finished": self.finished or _now(),
            "versions": versions(),
            "exit_code": exit_code,
            "counts": {
                "requirements": {s: sum(r["status"] == s for r in requirements) for s in ("fail", "pass", "skip")},
                "checks": {"passed": counts["passed"], "failed": counts["failed"], "skipped": counts["skipped"]},
            },
            "notes": [n for n in (self.credentials_hint(),) if n],
            "errors": self._masked(list(self.errors)),
            "requirements": self._masked(requirements),
        }
        return run

    @staticmethod
    def _check_data(o: Outcome) -> dict[str, Any]:
        return {
            "name": o.name,
            "nodeid": o.nodeid,
            "requirement_ids": o.requirement_ids,
            "status": {"passed": "pass", "failed": "fail", "skipped": "skip"}.get(o.outcome, o.outcome),
            "reason": o.detail,
            "tier": o.tier or PROPERTY_TIER,
            "features": list(o.features),
            "duration_s": o.duration,
            "failure": None if o.outcome != "failed" else {
                "requirement_id": o.failure_id, "request": o.request, "received": o.received, "documented": o.documented},
            "exchanges": o.exchanges,
        }

    def _masked(self, value: Any) -> Any:
        """Every credential value replaced by ``${key}``, as the failure messages show them (also in text
        no exchange produced, such as a fixture's traceback)."""
        secrets = sorted(((k, v) for k, v in (self.target.creds.items() if self.target else ()) if v and len(v) >= 4),
                         key=lambda kv: -len(kv[1]))
        if not secrets:
            return value

        def mask(v: Any) -> Any:
            if isinstance(v, str):
                for key, secret in secrets:
                    if secret in v:
                        v = v.replace(secret, "${" + key + "}")
                return v
            if isinstance(v, list):
                return [mask(x) for x in v]
            if isinstance(v, dict):
                return {k: mask(x) for k, x in v.items()}
            return v

        return mask(value)


def _cut(text: str, width: int) -> str:
    """``text`` on one line, cut at a word boundary with an ellipsis when longer than ``width``."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    cut = text[: width - 1].rsplit(" ", 1)[0]
    return (cut if len(cut) > width // 2 else text[: width - 1]) + "\u2026"


def _last_error_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("E ")]
    return lines[0][2:].strip() if lines else (text.strip().splitlines() or [""])[-1]

