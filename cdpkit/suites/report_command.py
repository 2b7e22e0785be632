"""Results as data: the ``cdpkit check --json`` document, baselines, and the reports drawn from it.

``cdpkit check`` builds one *run* document (:data:`RUN_FORMAT`, see :meth:`cdpkit.suites.report.Results.data`):
the target, the vendor, the versions, the date, and every requirement with its tier, features,
status, reason, the document's sentence and, per check, the failure and the exchanges (credentials
shown as ``${key}``). Everything here works on that document alone, so a report drawn today from last
month's JSON says what that run saw:

* :func:`html_report` / :func:`markdown_report`: one run, for a person (summary first, failures first
  and expanded, passes and skips folded, filters by tier and feature; the HTML is one file, no CDN);
* :func:`html_matrix` / :func:`markdown_matrix`: several runs side by side, requirement ×
  implementation (``cdpkit report``), the way wpt.fyi and Bowtie compare implementations;
* :func:`read_baseline` / :func:`compare_baseline`: the known failures of one implementation, so a run
  fails only on a new failure and says which listed failure now passes.

No pytest here: ``cdpkit report`` starts fast and runs where the suites are not installed.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

RUN_FORMAT = "cdpkit-check-run/1"
PROPERTY_TIER = "property"  # the schemathesis run: no 5xx, documented schemas, documented refusals
TIER_ORDER = ("documented", "documented, through cdpkit's model", "assumption (--strict)", PROPERTY_TIER)
TIER_NOTE = ("Tiers: documented = the document states it; documented, through cdpkit's model = a documented rule seen "
             "through an HTTP surface cdpkit models where the document has none; assumption = cdpkit's choice where the "
             "document is silent (only with --strict); property = the schemathesis run.")
STATUS_ORDER = {"fail": 0, "pass": 1, "skip": 2}
DOT = " \u00b7 "

HELP = "compare check runs (--json files) side by side, or render one run, as HTML or Markdown"
DESCRIPTION = """\
Draw reports from the JSON that `cdpkit check --json FILE` writes. Given one run: the same report as
`check --report` (summary first, failures first with the request, what was Received, what is
Documented and the document's sentence in its language and in English; passes and skips folded; in
HTML, filters by tier and feature). Given several runs: a matrix of requirement x implementation, the
way wpt.fyi and Bowtie show implementations side by side: each column one run (named by the
`check --name` given, else by its target), each row a requirement with its tier, the document's
sentence, and pass, FAIL or skip (the reason on hover, the failure folded in the cell). Runs of several
vendors may share a matrix; a requirement of another vendor's API shows as "-".

Useful to a platform team comparing vendors' sandboxes, several versions of one service, or an
implementation against the cdpkit mock. The HTML is one self-contained file (no CDN, no network): keep
it as a CI artifact or open it offline. --write-baseline keeps the failing requirement IDs of a run,
one a line: the file `check --baseline` takes, to adopt cdpkit on an implementation that does not
conform yet and fail only on what gets worse.

Exit status: 0 written, 2 a usage error (a file that is missing or not a `check --json` run).

examples:
  cdpkit check --vendor zebline --target http://127.0.0.1:8080 --name mock --json mock.json
  cdpkit check --vendor zebline --target https://staging.example --name staging --cred license_code=L --cred access_token=T --json staging.json
  cdpkit report mock.json staging.json --html compare.html --md compare.md
  cdpkit report staging.json --html staging.html                one run: the detailed report
  cdpkit report staging.json --write-baseline known-failures.txt
"""


# --- reading runs --------------------------------------------------------------------------------------


class RunProblem(ValueError):
    """A file that is not a readable ``cdpkit check --json`` run (a usage error)."""


def read_named_file(path: str | Path, label: str, problem: type[ValueError] = RunProblem) -> str:
    """A file a user named on the command line, as text; ``problem(label: …)`` saying why it cannot be read
    (every file option of ``check`` and ``report`` words it the same way)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise problem(f"{label}: no such file") from None
    except OSError as exc:
        raise problem(f"{label}: cannot read it: {exc.strerror or exc}") from None


def load_run(path: str | Path) -> dict[str, Any]:
    text = read_named_file(path, str(path))
    try:
        run = json.loads(text)
    except ValueError as exc:
        raise RunProblem(f"{path} is not JSON ({exc}); give the file `cdpkit check --json FILE` wrote") from None
    if not isinstance(run, dict) or run.get("format") != RUN_FORMAT:
        raise RunProblem(f"{path} is not a `cdpkit check --json` run (expected \"format\": \"{RUN_FORMAT}\")")
    return run


def failing_ids(run: dict[str, Any]) -> list[str]:
    return [r["id"] for r in run.get("requirements", []) if r.get("status") == "fail"]


# --- baselines -----------------------------------------------------------------------------------------


def read_baseline(path: str | Path, vendor: str | None = None) -> list[str]:
    """The known-failing requirement IDs of a baseline file: a previous ``--json`` run (its failures),
    a JSON list of IDs, or text with one ID a line (``#`` starts a comment). A usage error otherwise."""
    text = read_named_file(path, f"--baseline {path}")
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise RunProblem(f"--baseline {path} is not valid JSON: {exc}") from None
        if isinstance(data, list) and all(isinstance(x, str) for x in data):
            return [x.strip() for x in data if x.strip()]
        if isinstance(data, dict) and data.get("format") == RUN_FORMAT:
            if vendor and data.get("vendor") and data["vendor"] != vendor:
                raise RunProblem(f"--baseline {path} is a run of {data['vendor']}; this run checks {vendor}")
            return failing_ids(data)
        raise RunProblem(f"--baseline {path}: expected a `cdpkit check --json` run or a JSON list of requirement IDs")
    ids = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            ids.append(line)
    return ids


@dataclass
class BaselineVerdict:
    """A run judged against the known failures: only ``new`` fails it."""

    file: str
    new: list[str] = field(default_factory=list)  # failed, not listed: what makes the run fail
    known: list[str] = field(default_factory=list)  # listed and still failing
    fixed: list[str] = field(default_factory=list)  # listed and now passing: remove them from the baseline
    not_run: list[str] = field(default_factory=list)  # listed, skipped or absent in this run

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "new_failures": self.new, "known_failures": self.known, "fixed": self.fixed,
                "not_run": self.not_run}

    def lines(self) -> list[str]:
        out = [f"Baseline {self.file}: {len(self.known)} known failure{'s' * (len(self.known) != 1)} still fail, "
               f"{len(self.new)} new, {len(self.fixed)} fixed."]
        if self.new:
            out.append("NEW FAILURES (not in the baseline; these fail the run): " + ", ".join(self.new))
        for rid in self.fixed:
            out.append(f"FIXED: {rid} now passes: remove it from the baseline")
        if self.not_run:
            out.append("Listed in the baseline but not run here (skipped or unknown): " + ", ".join(self.not_run))
        return out


def compare_baseline(run: dict[str, Any], baseline: Iterable[str], file: str) -> BaselineVerdict:
    listed = list(dict.fromkeys(baseline))
    status = {r["id"]: r.get("status") for r in run.get("requirements", [])}
    verdict = BaselineVerdict(file)
    verdict.new = [rid for rid, s in status.items() if s == "fail" and rid not in listed]
    for rid in listed:
        s = status.get(rid)
        (verdict.known if s == "fail" else verdict.fixed if s == "pass" else verdict.not_run).append(rid)
    return verdict


# --- helpers -------------------------------------------------------------------------------------------

_SCRIPTS = (("zh", re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")), ("th", re.compile(r"[\u0e00-\u0e7f]")))


def _lang(text: str) -> str:
    """The language of a document's sentence, for ``lang=`` (fonts, screen readers): the documents are
    Chinese, Thai or English."""
    return next((lang for lang, script in _SCRIPTS if script.search(text or "")), "en")


def _short(text: str, width: int = 110) -> str:
    """``text`` on one line, cut at a word boundary with an ellipsis when longer than ``width``."""
    text = " ".join(str(text or "").split())
    if len(text) <= width:
        return text
    cut = text[: width - 1].rsplit(" ", 1)[0]
    return (cut if len(cut) > width // 2 else text[: width - 1]) + "\u2026"


def _esc(value: Any) -> str:
    return html.escape(str(value if value is not None else ""), quote=True)


def run_name(run: dict[str, Any]) -> str:
    return str(run.get("name") or run.get("target") or "run")


def _tiers(rows: Iterable[dict[str, Any]]) -> list[str]:
    present = {r.get("tier") or PROPERTY_TIER for r in rows}
    return [t for t in TIER_ORDER if t in present] + sorted(present - set(TIER_ORDER))


def _features(rows: Iterable[dict[str, Any]]) -> list[str]:
    return sorted({f for r in rows for f in r.get("features", [])})


def _date(run: dict[str, Any]) -> str:
    started = str(run.get("started") or "")
    return started[:19].replace("T", " ") + (" UTC" if started else "")


def _versions(run: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in (run.get("versions") or {}).items())


def _counts(run: dict[str, Any]) -> dict[str, int]:
    out = {"fail": 0, "pass": 0, "skip": 0}
    for r in run.get("requirements", []):
        out[r.get("status", "skip")] = out.get(r.get("status", "skip"), 0) + 1
    return out


def _sorted(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (STATUS_ORDER.get(r.get("status", "skip"), 3), r["id"]))


def _title(run: dict[str, Any]) -> str:
    return f"cdpkit check: {run.get('vendor', '?')} at {run.get('target', '?')}"


def _headline(run: dict[str, Any]) -> str:
    c = _counts(run)
    if c["fail"]:
        return f"{c['fail']} requirement{'s' * (c['fail'] != 1)} failed"
    return "every requirement checked passed"


# --- HTML ----------------------------------------------------------------------------------------------

CSS = """
:root{--fail:#b42318;--fail-bg:#fef3f2;--pass:#067647;--pass-bg:#ecfdf3;--skip:#667085;--skip-bg:#f2f4f7;
--line:#e4e7ec;--ink:#101828;--soft:#475467;--accent:#1d4ed8}
*{box-sizing:border-box}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC",sans-serif;color:var(--ink);
margin:0;background:#f9fafb}
main{max-width:1180px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:0}
code,pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{white-space:pre-wrap;word-break:break-word;margin:2px 0 10px;padding:8px 10px;background:#f8fafc;border:1px solid var(--line);border-radius:6px}
.meta{color:var(--soft);margin:0 0 14px}.meta b{color:var(--ink);font-weight:600}
.tiles{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}
.tile{flex:1 1 150px;border-radius:10px;padding:10px 14px;border:1px solid var(--line);background:#fff}
.tile .n{font-size:30px;font-weight:700;line-height:1.1}.tile .l{color:var(--soft);font-size:13px}
.tile.fail .n{color:var(--fail)}.tile.pass .n{color:var(--pass)}.tile.skip .n{color:var(--skip)}
.bar{display:flex;height:10px;border-radius:5px;overflow:hidden;background:var(--skip-bg);margin:4px 0 14px}
.bar span.fail{background:var(--fail)}.bar span.pass{background:var(--pass)}.bar span.skip{background:#c0c5cf}
.note{border-left:4px solid #f79009;background:#fffaeb;padding:8px 12px;border-radius:4px;margin:8px 0}
.filters{position:sticky;top:0;z-index:2;background:#f9fafbee;backdrop-filter:blur(4px);border-bottom:1px solid var(--line);
padding:8px 0;margin:8px 0 16px;display:flex;gap:18px;flex-wrap:wrap;align-items:center;font-size:14px}
.filters fieldset{border:0;padding:0;margin:0;display:flex;gap:10px;flex-wrap:wrap;align-items:center}
.filters legend{float:left;font-weight:600;margin-right:4px}
.filters input[type=search]{padding:4px 8px;border:1px solid var(--line);border-radius:6px;min-width:200px}
section{margin:0 0 22px}
details.req{background:#fff;border:1px solid var(--line);border-radius:10px;margin:10px 0;padding:0}
details.req>summary{cursor:pointer;padding:10px 14px;list-style:none;display:flex;gap:10px;align-items:baseline;flex-wrap:wrap}
details.req>summary::-webkit-details-marker{display:none}
details.req>summary:before{content:"\\25B8";color:var(--soft)}details.req[open]>summary:before{content:"\\25BE"}
details.req .body{padding:0 16px 12px 34px}
details.req.fail{border-left:5px solid var(--fail)}
.badge{display:inline-block;font-size:12px;font-weight:700;padding:1px 8px;border-radius:10px;letter-spacing:.02em}
.badge.fail{background:var(--fail);color:#fff}.badge.pass{background:var(--pass-bg);color:var(--pass)}
.badge.skip{background:var(--skip-bg);color:var(--skip)}
.reason{color:var(--soft);font-size:14px}
.tier,.feat{white-space:nowrap}
.tier{font-size:12px;color:var(--soft);border:1px solid var(--line);border-radius:10px;padding:0 7px}
.feat{font-size:12px;color:var(--accent);background:#eff4ff;border-radius:10px;padding:0 7px}
.english{color:var(--soft)}
blockquote{margin:6px 0 10px;padding:6px 12px;border-left:3px solid var(--accent);background:#f5f8ff;border-radius:0 6px 6px 0}
blockquote .src{display:block;color:var(--soft);font-size:12px;margin-top:2px}
dl.exchange{display:grid;grid-template-columns:110px 1fr;gap:0 10px;margin:4px 0}
dl.exchange dt{font-weight:600;padding-top:9px}dl.exchange dd{margin:0}
dt.received{color:var(--fail)}dt.documented{color:var(--pass)}
details.group{background:#fff;border:1px solid var(--line);border-radius:10px;margin:10px 0}
details.group>summary{cursor:pointer;padding:10px 14px;font-weight:600;font-size:17px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;vertical-align:top;padding:6px 10px;border-top:1px solid var(--line)}
th{font-size:13px;color:var(--soft);font-weight:600;background:#f8fafc;position:sticky;top:46px}
td.reason{color:var(--soft);font-size:14px}
.matrix td.cell{text-align:center;white-space:nowrap;font-weight:600;min-width:90px}
.matrix td.cell.fail{background:var(--fail-bg);color:var(--fail)}.matrix td.cell.pass{background:var(--pass-bg);color:var(--pass)}
.matrix td.cell.skip{background:var(--skip-bg);color:var(--skip);font-weight:400}.matrix td.cell.na{color:#c0c5cf}
.matrix td.cell details{text-align:left;font-weight:400}.matrix td.cell summary{cursor:pointer;font-weight:700;text-align:center}
.matrix td.cell pre{white-space:pre-wrap;min-width:260px;max-width:420px;color:var(--ink)}
.matrix th.impl{text-align:center;white-space:nowrap}.matrix th.impl small{display:block;font-weight:400}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{flex:1 1 240px;background:#fff;border:1px solid var(--line);border-radius:10px;padding:10px 14px}
.card h3{margin:0 0 2px;font-size:16px}.card .meta{margin:0;font-size:13px}
footer{color:var(--soft);font-size:13px;margin-top:26px}
.hidden{display:none!important}
"""

# Filters: a row shows when its tier is ticked, one of its features is ticked (rows of no feature always),
# its status is ticked (matrix: the "only where they differ" box), and it contains the search text.
JS = """
(function(){
  const boxes = sel => Array.from(document.querySelectorAll(sel));
  function apply(){
    const tiers = new Set(boxes('input[name=tier]:checked').map(b => b.value));
    const feats = new Set(boxes('input[name=feature]:checked').map(b => b.value));
    const differ = document.querySelector('input[name=differ]');
    const q = (document.querySelector('input[type=search]') || {value: ''}).value.trim().toLowerCase();
    boxes('[data-tier]').forEach(el => {
      const f = (el.dataset.features || '').split(' ').filter(Boolean);
      const show = tiers.has(el.dataset.tier) && (!f.length || f.some(x => feats.has(x)))
        && (!differ || !differ.checked || el.dataset.differ === '1')
        && (!q || el.textContent.toLowerCase().includes(q));
      el.classList.toggle('hidden', !show);
    });
    boxes('[data-count]').forEach(el => {
      const scope = document.getElementById(el.dataset.count);
      el.textContent = scope.querySelectorAll('[data-tier]:not(.hidden)').length;
    });
  }
  document.addEventListener('input', apply);
  apply();
})();
"""


def _filters(rows: list[dict[str, Any]], *, matrix: bool = False) -> str:
    tiers = "".join(f"<label><input type=checkbox name=tier value='{_esc(t)}' checked> {_esc(t)}</label>" for t in _tiers(rows))
    feats = _features(rows)
    feat_box = "".join(f"<label><input type=checkbox name=feature value='{_esc(f)}' checked> {_esc(f)}</label>" for f in feats)
    out = [f"<nav class=filters aria-label='filters'><fieldset><legend>Tier</legend>{tiers}</fieldset>"]
    if feats:
        out.append(f"<fieldset><legend>Feature</legend>{feat_box}</fieldset>")
    if matrix:
        out.append("<fieldset><label><input type=checkbox name=differ> only where the implementations differ</label></fieldset>")
    out.append("<input type=search placeholder='filter by ID or text' aria-label='search'></nav>")
    return "".join(out)


def _row_attrs(row: dict[str, Any], extra: str = "") -> str:
    return (f"data-tier='{_esc(row.get('tier') or PROPERTY_TIER)}' data-features='{_esc(' '.join(row.get('features', [])))}'"
            f" id='req-{_esc(row['id'])}'{extra}")


def _labels(row: dict[str, Any]) -> str:
    feats = "".join(f"<span class=feat>{_esc(f)}</span>" for f in row.get("features", []))
    return f"<span class=tier>{_esc(row.get('tier') or PROPERTY_TIER)}</span>{feats}"


def _sentence_html(doc: dict[str, Any] | None) -> str:
    """The document's own sentence (in its language) and the catalog's English."""
    if not doc:
        return ""
    quote, english = doc.get("quote", ""), doc.get("english", "")
    where = ", ".join(x for x in (doc.get("seed"), doc.get("section")) if x)
    out = ""
    if quote:
        out += (f"<blockquote lang='{_lang(quote)}'>{_esc(quote)}<span class=src lang=en>the document: {_esc(where)}</span>"
                "</blockquote>")
    if english and english != quote:
        out += f"<p class=english lang=en><b>In English:</b> {_esc(english)}</p>"
    return out


def _check_html(check: dict[str, Any]) -> str:
    failure = check.get("failure")
    out = [f"<p><code>{_esc(check.get('name'))}</code></p>"]
    if failure:
        items = [("request", "Request:", failure.get("request") or "(no request recorded)"),
                 ("received", "Received:", failure.get("received", "")),
                 ("documented", "Documented:", failure.get("documented", ""))]
        if failure.get("requirement_id") and failure["requirement_id"] not in check.get("requirement_ids", []):
            out.append(f"<p>The failing assertion names <code>{_esc(failure['requirement_id'])}</code>.</p>")
    else:
        items = [("received", "Received:", check.get("reason") or "(no detail)")]
    out.append("<dl class=exchange>" + "".join(f"<dt class={c}>{_esc(label)}</dt><dd><pre>{_esc(text)}</pre></dd>"
                                                  for c, label, text in items) + "</dl>")
    exchanges = check.get("exchanges") or []
    if len(exchanges) > 1 or (exchanges and not failure):
        shown = "\n\n".join(f"{e.get('request', '')}\n\u2192 {e.get('response', '')}" for e in exchanges)
        out.append(f"<details><summary>every exchange of this check ({len(exchanges)})</summary><pre>{_esc(shown)}</pre></details>")
    return "".join(out)


def _failure_html(row: dict[str, Any]) -> str:
    reason = row.get("reason", "")
    checks = "".join(_check_html(c) for c in row.get("checks", []) if c.get("status") == "fail")
    return (f"<details class='req fail' open {_row_attrs(row)}><summary><span class='badge fail'>FAIL</span>"
            f"<code><b>{_esc(row['id'])}</b></code>{_labels(row)}<span class=reason>{_esc(_short(reason))}</span></summary>"
            f"<div class=body>{_sentence_html(row.get('document'))}{checks}</div></details>")


def _other_table(rows: list[dict[str, Any]], status: str) -> str:
    body = []
    for row in rows:
        doc = row.get("document") or {}
        text = row.get("reason") if status == "skip" else doc.get("english", "")
        quote = doc.get("quote", "")
        sentence = (f"<details><summary>{_esc(text)}</summary>{_sentence_html(doc)}</details>" if quote and status != "skip"
                    else _esc(text))
        body.append(f"<tr {_row_attrs(row)}><td><span class='badge {status}'>{status}</span> <code>{_esc(row['id'])}</code></td>"
                    f"<td>{_labels(row)}</td><td class=reason>{sentence}</td></tr>")
    head = "what the document says" if status == "pass" else "why it did not run (and what would run it)"
    return f"<table><tr><th>requirement</th><th>tier, features</th><th>{head}</th></tr>{''.join(body)}</table>"


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content='width=device-width'>"
            f"<title>{_esc(title)}</title><style>{CSS}</style></head><body><main>{body}</main><script>{JS}</script></body></html>\n")


def _summary_html(run: dict[str, Any]) -> str:
    c = _counts(run)
    total = sum(c.values()) or 1
    checks = run.get("counts", {}).get("checks", {})
    meta = [f"<b>{_esc(run.get('vendor'))}</b> at <b>{_esc(run.get('target'))}</b>"
            + (" (a cdpkit mock)" if run.get("target_is_mock") else ""),
            _esc(_date(run)), _esc(_versions(run)), "--strict" if run.get("strict") else "without --strict (assumptions skipped)"]
    if run.get("name") and run.get("name") != run.get("target"):
        meta.insert(0, f"<b>{_esc(run['name'])}</b>")
    tiles = "".join(f"<div class='tile {s}'><div class=n>{c[s]}</div><div class=l>{label}</div></div>"
                    for s, label in (("fail", "requirements failed"), ("pass", "passed"), ("skip", "skipped")))
    bar = "".join(f"<span class={s} style='width:{100 * c[s] / total:.2f}%'></span>" for s in ("fail", "pass", "skip"))
    out = [f"<h1>{_esc(_headline(run))}</h1><p class=meta>{DOT.join(meta)}</p>",
           f"<div class=tiles>{tiles}</div><div class=bar role=img aria-label='{c['fail']} failed, {c['pass']} passed, "
           f"{c['skip']} skipped'>{bar}</div>",
           f"<p class=meta>{checks.get('passed', 0)} checks passed, {checks.get('failed', 0)} failed, "
           f"{checks.get('skipped', 0)} skipped. Features checked: {_esc(', '.join(run.get('features_checked', [])) or '-')}.</p>"]
    for note in run.get("notes", []):
        out.append(f"<p class=note>{_esc(note)}</p>")
    baseline = run.get("baseline")
    if baseline:
        out.append(f"<p class=note>Baseline {_esc(baseline.get('file'))}: new failures: "
                   f"{_esc(', '.join(baseline.get('new_failures', [])) or 'none')}; known failures still failing: "
                   f"{len(baseline.get('known_failures', []))}; fixed (remove from the baseline): "
                   f"{_esc(', '.join(baseline.get('fixed', [])) or 'none')}.</p>")
    unchecked = run.get("features_not_checked", [])
    if unchecked:
        out.append("<p class=note>Features not checked (the target was said not to implement them; --features to change): "
                   + _esc("; ".join(unchecked)) + "</p>")
    for error in run.get("errors", []):
        out.append(f"<pre class=note>{_esc(error)}</pre>")
    return "<header>" + "".join(out) + "</header>"


def html_report(run: dict[str, Any]) -> str:
    """One run as a page a person wants to read (see the module docstring)."""
    rows = _sorted(run.get("requirements", []))
    failed = [r for r in rows if r.get("status") == "fail"]
    passed = [r for r in rows if r.get("status") == "pass"]
    skipped = [r for r in rows if r.get("status") == "skip"]
    parts = [_summary_html(run), _filters(rows)]
    parts.append(f"<section id=failures><h2>Failures (<span data-count=failures>{len(failed)}</span>)</h2>"
                 + ("".join(_failure_html(r) for r in failed) or "<p>None: every requirement that ran passed.</p>") + "</section>")
    for status, rows_, label in (("pass", passed, "Passed"), ("skip", skipped, "Skipped")):
        parts.append(f"<section id={status}ed><details class=group><summary>{label} (<span data-count={status}ed>{len(rows_)}</span>)"
                     f"</summary>{_other_table(rows_, status)}</details></section>")
    parts.append(f"<footer><p>{_esc(TIER_NOTE)}</p><p>Written by cdpkit from the run's JSON; credential values are shown "
                 "as ${key}, the --cred key that supplied them.</p></footer>")
    return _page(_title(run), "".join(parts))


def _matrix_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per requirement ID of any run: its tier, features and sentence, and each run's result."""
    merged: dict[str, dict[str, Any]] = {}
    for index, run in enumerate(runs):
        for row in run.get("requirements", []):
            entry = merged.setdefault(row["id"], {"id": row["id"], "vendor": run.get("vendor"), "tier": row.get("tier"),
                                                  "features": list(row.get("features", [])), "document": row.get("document"),
                                                  "results": {}})
            entry["document"] = entry["document"] or row.get("document")
            entry["results"][index] = row
    for entry in merged.values():
        statuses = {r.get("status") for r in entry["results"].values()}
        entry["differ"] = len(statuses) > 1 or len(entry["results"]) < len([r for r in runs if r.get("vendor") == entry["vendor"]])
    return sorted(merged.values(), key=lambda e: (e["vendor"] or "", e["id"]))


def _cell_html(row: dict[str, Any] | None, run: dict[str, Any], vendor: str | None) -> str:
    if row is None:
        return ("<td class='cell na' title='another vendor&#39;s API'>-</td>" if run.get("vendor") != vendor
                else "<td class='cell na' title='not in this run'>-</td>")
    status = row.get("status", "skip")
    if status == "fail":
        detail = "\n\n".join(
            f"Request:    {(c.get('failure') or {}).get('request') or ''}\nReceived:   {(c.get('failure') or {}).get('received') or c.get('reason', '')}"
            f"\nDocumented: {(c.get('failure') or {}).get('documented') or ''}"
            for c in row.get("checks", []) if c.get("status") == "fail")
        return (f"<td class='cell fail' title='{_esc(row.get('reason'))}'><details><summary>FAIL</summary>"
                f"<pre>{_esc(detail)}</pre></details></td>")
    return f"<td class='cell {status}' title='{_esc(row.get('reason') or status)}'>{status}</td>"


def html_matrix(runs: list[dict[str, Any]]) -> str:
    """Several runs side by side: requirement x implementation."""
    rows = _matrix_rows(runs)
    names = unique_names(runs)
    cards = []
    for name, run in zip(names, runs):
        c = _counts(run)
        cards.append(f"<div class=card><h3>{_esc(name)}</h3><p class=meta>{_esc(run.get('vendor'))} at {_esc(run.get('target'))}"
                     f"{' (a cdpkit mock)' if run.get('target_is_mock') else ''}<br>{_esc(_date(run))} \u00b7 "
                     f"{'--strict' if run.get('strict') else 'documented tiers'}<br>{_esc(_versions(run))}</p>"
                     f"<p><span class='badge fail'>{c['fail']} failed</span> <span class='badge pass'>{c['pass']} passed</span> "
                     f"<span class='badge skip'>{c['skip']} skipped</span></p></div>")
    head = "".join(f"<th class=impl>{_esc(n)}<small>{_esc(r.get('vendor'))}</small></th>" for n, r in zip(names, runs))
    body = []
    for row in rows:
        doc = row.get("document") or {}
        sentence = (f"<details><summary class=english>{_esc(doc.get('english', ''))}</summary>{_sentence_html(doc)}</details>"
                    if doc else "")
        cells = "".join(_cell_html(row["results"].get(i), run, row["vendor"]) for i, run in enumerate(runs))
        body.append(f"<tr {_row_attrs(row, ' data-differ=' + ('1' if row['differ'] else '0'))}><td><code><b>{_esc(row['id'])}</b></code>"
                    f"{sentence}</td><td>{_labels(row)}</td>{cells}</tr>")
    differ = sum(r["differ"] for r in rows)
    vendors = sorted({str(r.get("vendor")) for r in runs})
    title = f"cdpkit: {len(runs)} implementations of {', '.join(vendors)} compared"
    parts = [f"<header><h1>{_esc(title)}</h1><p class=meta>{len(rows)} requirements; the implementations differ on {differ}. "
             "Each column is one `cdpkit check --json` run; hover a cell for its reason, open a FAIL for what was received.</p>"
             f"<div class=cards>{''.join(cards)}</div></header>", _filters(rows, matrix=True),
             f"<section id=matrix><table class=matrix><tr><th>requirement and the document's sentence</th><th>tier, features</th>{head}</tr>"
             f"{''.join(body)}</table></section>",
             f"<footer><p>{_esc(TIER_NOTE)}</p><p>- : the requirement is not part of that run (another vendor's API).</p></footer>"]
    return _page(title, "".join(parts))


def unique_names(runs: list[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for run in runs:
        name = run_name(run)
        base, n = name, 2
        while name in names:
            name, n = f"{base} ({n})", n + 1
        names.append(name)
    return names


# --- Markdown ------------------------------------------------------------------------------------------


def _md(text: Any) -> str:
    return " ".join(str(text or "").split()).replace("|", "\\|")


def _fence(text: str) -> str:
    return text.replace("```", "`\u200b``")


def markdown_report(run: dict[str, Any]) -> str:
    rows = _sorted(run.get("requirements", []))
    c = _counts(run)
    checks = run.get("counts", {}).get("checks", {})
    out = [f"# {_title(run)}", "",
           f"**{_headline(run)}**: {c['fail']} failed, {c['pass']} passed, {c['skip']} skipped "
           f"({checks.get('passed', 0)} checks passed, {checks.get('failed', 0)} failed, {checks.get('skipped', 0)} skipped).", "",
           f"- target: {run.get('target')}{' (a cdpkit mock)' if run.get('target_is_mock') else ''}"
           + (f", named {run['name']}" if run.get("name") and run.get("name") != run.get("target") else ""),
           f"- date: {_date(run)}; {_versions(run)}",
           f"- {'--strict' if run.get('strict') else 'without --strict: assumption checks skipped'}; "
           f"features checked: {', '.join(run.get('features_checked', [])) or '-'}"]
    out += [f"- Feature not checked: {f}" for f in run.get("features_not_checked", [])]
    out += [""] + [f"> **Note:** {n}" for n in run.get("notes", [])]
    baseline = run.get("baseline")
    if baseline:
        out += ["", f"Baseline `{baseline.get('file')}`: new failures: {', '.join(baseline.get('new_failures', [])) or 'none'}; "
                f"known failures still failing: {len(baseline.get('known_failures', []))}; "
                f"fixed (remove from the baseline): {', '.join(baseline.get('fixed', [])) or 'none'}."]
    out += [f"\n```\n{_fence(e)}\n```" for e in run.get("errors", [])]
    failed = [r for r in rows if r.get("status") == "fail"]
    out += ["", f"## Failures ({len(failed)})"]
    if not failed:
        out += ["", "None: every requirement that ran passed."]
    for row in failed:
        doc = row.get("document") or {}
        out += ["", f"### {row['id']}: FAILED ({row.get('tier')}{'; ' + ', '.join(row['features']) if row.get('features') else ''})", ""]
        if doc.get("quote"):
            out += [f"> {_md(doc['quote'])}", f"> ({doc.get('seed')}, {doc.get('section')})", ""]
        if doc.get("english") and doc.get("english") != doc.get("quote"):
            out += [f"In English: {doc['english']}", ""]
        for check in row.get("checks", []):
            if check.get("status") != "fail":
                continue
            failure = check.get("failure") or {}
            out += [f"`{check.get('name')}`", "", "```",
                    _fence(f"Request:    {failure.get('request') or '(no request recorded)'}\n"
                           f"Received:   {failure.get('received') or check.get('reason', '')}\n"
                           f"Documented: {failure.get('documented', '')}"), "```", ""]
    out += ["", "## Every requirement", "", "| requirement | tier | result | detail | features |", "|---|---|---|---|---|"]
    for row in rows:
        detail = row.get("reason") if row.get("status") != "pass" else ""
        label = "**FAIL**" if row.get("status") == "fail" else row.get("status")
        out.append(f"| {row['id']} | {row.get('tier')} | {label} | {_md(detail)[:300]} | {', '.join(row.get('features', []))} |")
    passed = [r for r in rows if r.get("status") == "pass"]
    if passed:
        out += ["", f"<details><summary>What the document says, for the {len(passed)} requirements that passed</summary>", ""]
        out += [f"- **{r['id']}**: {_md((r.get('document') or {}).get('english', ''))}" for r in passed]
        out += ["", "</details>"]
    out += ["", TIER_NOTE]
    return "\n".join(out) + "\n"


def markdown_matrix(runs: list[dict[str, Any]]) -> str:
    rows = _matrix_rows(runs)
    names = unique_names(runs)
    out = [f"# cdpkit: {len(runs)} implementations compared", "",
           "| implementation | vendor | target | date | failed | passed | skipped |", "|---|---|---|---|---|---|---|"]
    for name, run in zip(names, runs):
        c = _counts(run)
        out.append(f"| {_md(name)} | {run.get('vendor')} | {_md(run.get('target'))} | {_date(run)} | {c['fail']} | {c['pass']} | {c['skip']} |")
    label = {"fail": "**FAIL**", "pass": "pass", "skip": "skip"}
    out += ["", "| requirement | tier | " + " | ".join(_md(n) for n in names) + " | what the document says |",
            "|---|---|" + "---|" * len(names) + "---|"]
    for row in rows:
        cells = [label.get(row["results"][i].get("status"), "?") if i in row["results"] else "-" for i in range(len(runs))]
        out.append(f"| {row['id']} | {row.get('tier')} | {' | '.join(cells)} | {_md((row.get('document') or {}).get('english', ''))} |")
    for name, run in zip(names, runs):
        failed = [r for r in _sorted(run.get("requirements", [])) if r.get("status") == "fail"]
        if not failed:
            continue
        out += ["", f"## Failures of {name}", ""]
        for row in failed:
            doc = row.get("document") or {}
            out += [f"<details><summary><b>{row['id']}</b>: {html.escape(doc.get('english', ''))}</summary>", ""]
            if doc.get("quote"):
                out += [f"> {_md(doc['quote'])}", ""]
            for check in row.get("checks", []):
                failure = check.get("failure") or {}
                if check.get("status") == "fail":
                    out += ["```", _fence(f"Request:    {failure.get('request') or ''}\nReceived:   "
                                          f"{failure.get('received') or check.get('reason', '')}\nDocumented: {failure.get('documented', '')}"),
                            "```", ""]
            out += ["</details>", ""]
    out += ["", TIER_NOTE, "", "- : the requirement is not part of that run (another vendor's API)."]
    return "\n".join(out) + "\n"


def write_report(run: dict[str, Any], path: str | Path) -> None:
    """``check --report``: the one-run report in the format the extension names."""
    text = markdown_report(run) if Path(path).suffix.lower() == ".md" else html_report(run)
    Path(path).write_text(text, encoding="utf-8")


# --- the command ---------------------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", metavar="RUN.json", nargs="+", help="files written by `cdpkit check --json` (one or more)")
    parser.add_argument("--html", metavar="OUT", default=None, help="write the HTML report (one self-contained file)")
    parser.add_argument("--md", metavar="OUT", default=None, help="write the Markdown report")
    parser.add_argument("--write-baseline", metavar="OUT", default=None,
                        help="write the failing requirement IDs of one run, one a line: a `check --baseline` file")


def run(args: argparse.Namespace) -> int:
    if not (args.html or args.md or args.write_baseline):
        print("cdpkit report: say what to write: --html OUT, --md OUT and/or --write-baseline OUT", file=sys.stderr)
        return 2
    try:
        runs = [load_run(p) for p in args.runs]
    except RunProblem as exc:
        print(f"cdpkit report: {exc}", file=sys.stderr)
        return 2
    if args.write_baseline and len(runs) != 1:
        print("cdpkit report: --write-baseline takes the failures of one run; give one RUN.json", file=sys.stderr)
        return 2
    single = len(runs) == 1
    if args.html:
        Path(args.html).write_text(html_report(runs[0]) if single else html_matrix(runs), encoding="utf-8")
    if args.md:
        Path(args.md).write_text(markdown_report(runs[0]) if single else markdown_matrix(runs), encoding="utf-8")
    if args.write_baseline:
        run_ = runs[0]
        lines = [f"# known failures of {run_name(run_)} ({run_.get('vendor')} at {run_.get('target')}), {_date(run_)}",
                 "# `cdpkit check --baseline` fails only on a failure not listed here; remove a line when it passes"]
        Path(args.write_baseline).write_text("\n".join(lines + failing_ids(run_)) + "\n", encoding="utf-8")
    written = [p for p in (args.html, args.md, args.write_baseline) if p]
    print(f"cdpkit report: {len(runs)} run{'s' * (not single)} -> {', '.join(written)}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cdpkit report", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    configure(parser)
    return run(parser.parse_args(argv))
