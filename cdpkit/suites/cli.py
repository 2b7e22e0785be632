"""``cdpkit check``: run a vendor's conformance suite against a URL; exit 0 pass, 1 fail, 2 usage error.

It is ``pytest --pyargs cdpkit.suites`` with the cdpkit plugin, run in-process, with cdpkit's own output: a
live progress line, the summary table by requirement, JUnit XML, the run as JSON (``--json``, judged
against known failures with ``--baseline``) and an optional Markdown/HTML report. Several vendors
(``--vendor all``) run each in a process of its own: :mod:`cdpkit.suites.several_vendors`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tomllib
from pathlib import Path
from typing import Any, Iterator, Sequence

import pytest

from cdpkit.cli import join_signed_values
from cdpkit.schemas import VENDORS
from cdpkit.suites.plugin import DEFAULT_MAX_EXAMPLES, DEFAULT_SEED
from cdpkit.suites.report import REPORT_FORMATS, Results
from cdpkit.suites.report_command import RunProblem, compare_baseline, read_baseline, read_named_file
from cdpkit.suites.target import EXAMPLE_URL, unreachable, url_problem

HELP = "check an implementation of a vendor API against its conformance suite"
DESCRIPTION = """\
Run the conformance suite of one vendor API against any implementation's base URL: one check per
requirement of the vendor document (catalog IDs such as GPT-AUTH-BEARER), plus a bounded, seeded
schemathesis run over the vendor's OpenAPI document (no 5xx, documented answers match their schemas,
requests that break a documented rule are refused).

Credentials (--cred KEY=VALUE, repeatable; optional keys enable more checks, and a skipped check
names the key that would enable it):
  tto            api_key [other_api_key: a source of another project: isolation]
  zebline        license_code, access_token [other_license_code, other_access_token: a second tenant]
  gptbots        token [user_id + anonymous_id: a known user and one of its anonymous ids;
                 other_token: an agent other than the token's]
  sensors        api_key, organization_id, project [tag_name: a tag it may start and stop;
                 disposable_tag_name: one it may delete; distinct_id: an existing user;
                 other_api_key, other_organization_id, other_project, other_tag_name:
                 another organization and a running tag of its project: isolation]
  quickaudience  console_token [other_console_token: another organization: isolation]
Against a cdpkit mock, the keys not given with --cred come from GET /__mock/credentials and checks
may seed fresh fixtures through the control API (CDPKIT_ADMIN_TOKEN: the token of a mock started
with --admin-token). Against anything else only the documented API is used, with fresh unique ids,
and nothing is deleted unless a key names it as disposable.

Every verdict has a tier. documented: the document states it, so any implementation must do it.
documented, through cdpkit's model: a documented rule seen through an HTTP surface cdpkit models where
the document has none (all of Quick Audience, whose document describes console steps; Zebline's
read-back GETs; the Sensors H5 save call): it holds for implementations of that model. assumption:
cdpkit's choice where the document is silent; such checks run only with --strict. Without --strict
the suite accepts every reasonable answer (any 2xx for an accepted call, any 4xx for a refused one),
and the schemathesis run judges requests and answers only by what the documents state.

Every target, every operation: a client's mistakes (malformed JSON, a body of another JSON type, a
documented field of the wrong type or missing, a query value that is not UTF-8) must never get a 5xx.
Generated writes reach a target that is not a cdpkit mock only when they break a documented rule (a
correct server refuses them and stores nothing); --fuzz-writes sends generated valid writes too,
except to operations that delete.

FEATURES (--features): a target may implement part of a vendor API; checks of the others are skipped
and the summary lists them. Defaults: every feature on a cdpkit mock; elsewhere all but the modeled
read-back of Zebline.
  tto            tracking, settings
  quickaudience  channels, collection
  sensors        tags, online, h5 (the look-ups and the H5 page may live on other hosts than the target:
                 --cred online_url=URL, --cred h5_url=URL; every suite sends them there)
  gptbots        users
  zebline        upsert, readback (cdpkit's model; off unless the target is a cdpkit mock: +readback)
Checks that read state no documented call can read back (TTO's de-duplication and merges) run on a
cdpkit mock only, through its control API, and never count as coverage of another target.

Reading the output: the progress line counts checks as they run; the table lists every requirement
with pass, FAIL or skip (and why). Each failure shows the request as sent (credential values
replaced by ${key}), what was Received and what is Documented, and the catalog entry with the
document's own sentence. --junit-xml names every test case after its requirement ID
(test_x[GPT-AUTH-BEARER]) for CI; --report writes the same as Markdown (.md) or HTML (.html): the
summary first, failures first and expanded, passes and skips folded, filters by tier and feature.

Results as data: --json FILE writes every result (requirement ID, tier, features, status, reason,
the failure and the exchanges with credentials as ${key}), the target, the vendor, the versions
and the date; --name LABEL names the run (default: the target URL). `cdpkit report A.json B.json
--html OUT` puts several runs side by side, requirement x implementation.

Baselines (adopting cdpkit on an implementation that does not conform yet): --baseline FILE lists
the known failures, as a previous --json run or one requirement ID a line (# comments). The run then
fails only on a failure not listed, and names each listed failure that now passes ("FIXED: ...
remove it from the baseline") so the list only shrinks. JUnit still records every failure.

SEVERAL VENDORS: --vendor repeated (--vendor tto --vendor zebline) or --vendor all checks each vendor
in a process of its own, --jobs N at a time (default: the number of CPUs). Each vendor's run is the run
of that vendor alone: the same checks, the same schemathesis cases for the same --seed. Each summary is
printed in the order given, then one table of all; the exit status is the worst of theirs. A file
option names one file per vendor: {vendor} in its path is replaced by the vendor's name
(--json runs/{vendor}.json), or the name goes before the extension (--junit-xml junit.xml writes
junit.tto.xml, junit.zebline.xml). A --baseline without {vendor} is one list for all: each vendor
takes the IDs of its own prefix. --cred is for one vendor's run (a cdpkit mock needs none).

Exit status: 0 every check that ran passed (skips allowed), or with --baseline every failure is a
known one; 1 a check failed (with --baseline: a new failure); 2 a usage error or a target that
cannot be reached (said once, before any check runs).

examples:
  cdpkit mock --port 8080 &  cdpkit check --vendor gptbots --target http://127.0.0.1:8080
  cdpkit check --vendor gptbots --target https://api-sg.gptbots.ai \\
      --cred token=$GPTBOTS_KEY --cred user_id=u-42 --cred anonymous_id=a-42 \\
      --cred other_token=$OTHER_AGENT_KEY --junit-xml gptbots.xml --report gptbots.md
  cdpkit check --vendor zebline --target http://127.0.0.1:8080 --name mock --json mock.json --report mock.html
  cdpkit check --vendor all --target http://127.0.0.1:8080 --junit-xml junit.xml --json runs/{vendor}.json
  cdpkit check --vendor zebline --target http://127.0.0.1:8080 --baseline known-failures.txt --json run.json
  cdpkit check --vendor sensors --target https://sf.example --features -h5 --cred api_key=… …
  cdpkit check --profile staging.toml --strict      keys as below, from a TOML or JSON file
      # staging.toml:  vendor = "zebline"   target = "https://staging.example"
      #                seed = 7   [cred]  license_code = "…"  access_token = "…"
  pytest --pyargs cdpkit.suites --cdp-target URL --cdp-vendor gptbots --cdp-cred token=…   (pytest's own options)
"""

PROFILE_KEYS = {"vendor", "target", "cred", "strict", "junit_xml", "report", "seed", "max_examples", "features", "fuzz_writes",
                "json", "baseline", "name", "jobs"}
ALL = "all"  # --vendor all: every vendor


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vendor", choices=(*VENDORS, ALL), action="append", default=None,
                        help="which vendor API the target implements; repeat it, or 'all', to check several at once "
                             "(see SEVERAL VENDORS above)")
    parser.add_argument("--target", metavar="URL", default=None, help="base URL of the implementation under test")
    parser.add_argument("--cred", metavar="KEY=VALUE", action="append", default=None, help="a credential (repeatable)")
    parser.add_argument("--profile", metavar="FILE", default=None, help="TOML or JSON file with the same keys (flags win)")
    parser.add_argument("--strict", action="store_true", default=None, help="also check the mock's assumptions")
    parser.add_argument("--features", metavar="LIST", default=None,
                        help="features the target implements: 'tags,online' (only these) or '+readback,-h5' (adjust the "
                             "defaults); see FEATURES above")
    parser.add_argument("--fuzz-writes", action="store_true", default=None,
                        help="also send generated valid writes to a target that is not a cdpkit mock (they create records)")
    parser.add_argument("--junit-xml", metavar="PATH", default=None, help="write JUnit XML for CI")
    parser.add_argument("--report", metavar="PATH", default=None, help="write a report: .md (Markdown) or .html")
    parser.add_argument("--json", metavar="PATH", default=None,
                        help="write every result as JSON (for `cdpkit report`, for a later --baseline, for your tools)")
    parser.add_argument("--baseline", metavar="FILE", default=None,
                        help="known failures (a previous --json, or one requirement ID a line): fail only on new ones")
    parser.add_argument("--name", metavar="LABEL", default=None,
                        help="name of this run in --json and in `cdpkit report` columns (default: the target URL)")
    parser.add_argument("--seed", type=int, default=None, help=f"seed of the schemathesis run (default {DEFAULT_SEED})")
    parser.add_argument("--max-examples", type=int, default=None,
                        help=f"schemathesis examples per operation and mode (default {DEFAULT_MAX_EXAMPLES})")
    parser.add_argument("--jobs", type=int, default=None, metavar="N",
                        help="with several vendors: how many run at once, each in its own process (default: the "
                             "number of CPUs, at most one per vendor)")


class UsageProblem(ValueError):
    pass


def _read_profile(path: str) -> dict[str, Any]:
    text = read_named_file(path, f"--profile {path}", UsageProblem)
    try:
        data = tomllib.loads(text) if path.endswith(".toml") else json.loads(text)
    except ValueError as exc:
        raise UsageProblem(f"--profile {path} is not valid {'TOML' if path.endswith('.toml') else 'JSON'}: {exc}") from None
    if not isinstance(data, dict):
        raise UsageProblem(f"--profile {path}: expected a table/object of option names")
    data = {k.replace("-", "_"): v for k, v in data.items()}
    if "creds" in data:
        data["cred"] = data.pop("creds")
    unknown = set(data) - PROFILE_KEYS
    if unknown:
        raise UsageProblem(f"--profile {path}: unknown keys {sorted(unknown)}; known: {sorted(PROFILE_KEYS)}")
    if not isinstance(data.get("cred", {}), dict):
        raise UsageProblem(f"--profile {path}: cred must be a table of KEY = VALUE")
    return data


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """The profile file merged with the flags (flags win), validated."""
    merged: dict[str, Any] = _read_profile(args.profile) if args.profile else {}
    creds = {str(k): str(v) for k, v in merged.get("cred", {}).items()}
    for text in args.cred or []:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise UsageProblem(f"--cred takes KEY=VALUE, not {text!r}")
        creds[key] = value
    merged["cred"] = creds
    for key in PROFILE_KEYS - {"cred"}:
        if getattr(args, key, None) is not None:
            merged[key] = getattr(args, key)
    merged["vendors"] = vendors = _vendors(merged.get("vendor"))
    merged["vendor"] = vendors[0]
    if not merged.get("target"):
        raise UsageProblem(f"--target URL is required (the implementation's base URL, such as {EXAMPLE_URL})")
    problem = url_problem(str(merged["target"]), "--target")
    if problem:
        raise UsageProblem(problem)
    report = merged.get("report")
    if report and Path(report).suffix.lower() not in REPORT_FORMATS:
        raise UsageProblem(f"--report {report}: the extension picks the format: .md or .html")
    if int(merged.get("max_examples", DEFAULT_MAX_EXAMPLES)) < 1:
        raise UsageProblem("--max-examples must be at least 1")
    if merged.get("jobs") is not None and int(merged["jobs"]) < 1:
        raise UsageProblem("--jobs must be at least 1")
    if len(vendors) > 1 and creds:
        # Each vendor takes its own keys (api_key means another thing to TTO and to Sensors): one vendor a run.
        raise UsageProblem("--cred names one vendor's credentials: check each vendor in its own run "
                           "(against a cdpkit mock, several vendors need no --cred)")
    return merged


def _vendors(value: Any) -> list[str]:
    """The vendors a run checks, in the order given, from --vendor (repeated), a profile's string or list, or 'all'."""
    given = [value] if isinstance(value, str) else list(value or [])
    vendors: list[str] = []
    for name in given:
        if name not in (*VENDORS, ALL):
            raise UsageProblem(f"--vendor {name!r}: one of {', '.join(VENDORS)}, or {ALL}")
        vendors += VENDORS if name == ALL else [name]
    if not vendors:
        raise UsageProblem(f"--vendor is required: one of {', '.join(VENDORS)} (repeat it, or {ALL}, for several)")
    return list(dict.fromkeys(vendors))


GENERIC_SUITES = ("test_bad_input", "test_schemathesis")  # suite modules that serve every vendor


def suite_modules(vendor: str) -> list[str]:
    """The suite modules a run of ``vendor`` needs: its own and the generic ones (another vendor's
    module is never imported, so it can neither slow nor break this vendor's run)."""
    import pkgutil

    from cdpkit import suites
    names = [m.name for m in pkgutil.iter_modules(suites.__path__)]
    return [f"cdpkit.suites.{n}" for n in names if n in GENERIC_SUITES or n == f"test_{vendor}" or n.startswith(f"test_{vendor}_")]


# pytest 8.4 added the flag; before it only the environment variable (set around the run) says the same.
AUTOLOAD_FLAG = tuple(pytest.version_tuple[:2]) >= (8, 4)
AUTOLOAD_ENV = "PYTEST_DISABLE_PLUGIN_AUTOLOAD"


def pytest_args(opts: dict[str, Any]) -> list[str]:
    """The pytest command line of one vendor's run.

    Our own plugin, no conftest, no ini file and no plugin of the environment's (no ``pytest11`` entry
    point is loaded): neither the user's project configuration nor what else is installed may change the
    verdict (pytest-randomly would reorder and reseed). It is also half of a run's CPU: pytest rewrites
    the asserts of every module of a distribution that declares a plugin (all of Faker, schemathesis and
    cdpkit), compiling ~400 modules afresh in every run where bytecode is not cached."""
    autoload = ["--disable-plugin-autoload"] if AUTOLOAD_FLAG else []
    out = ["--pyargs", *suite_modules(opts["vendor"]), *autoload, "-p", "cdpkit.suites.plugin", "--noconftest", "-p", "no:terminal",
           "-p", "no:cacheprovider", "-c", os.devnull,
           "--cdp-target", opts["target"], "--cdp-vendor", opts["vendor"],
           "--cdp-seed", str(opts.get("seed", DEFAULT_SEED)), "--cdp-max-examples", str(opts.get("max_examples", DEFAULT_MAX_EXAMPLES))]
    for key, value in opts["cred"].items():
        out += ["--cdp-cred", f"{key}={value}"]
    if opts.get("strict"):
        out.append("--cdp-strict")
    if opts.get("features"):
        out.append(f"--cdp-features={opts['features']}")  # one word: a value may start with "-"
    if opts.get("fuzz_writes"):
        out.append("--cdp-fuzz-writes")
    if opts.get("junit_xml"):
        out += [f"--junitxml={opts['junit_xml']}", "-o", "junit_family=xunit1"]
    return out


@contextlib.contextmanager
def _plugin_autoload_off() -> Iterator[None]:
    """On a pytest without ``--disable-plugin-autoload``, its environment variable for the run's duration."""
    if AUTOLOAD_FLAG or os.environ.get(AUTOLOAD_ENV):
        yield
        return
    os.environ[AUTOLOAD_ENV] = "1"
    try:
        yield
    finally:
        os.environ.pop(AUTOLOAD_ENV, None)


# pytest exit codes -> cdpkit check's: usage errors and "no tests collected" are usage errors (2).
EXIT_CODES = {pytest.ExitCode.OK: 0, pytest.ExitCode.TESTS_FAILED: 1, pytest.ExitCode.USAGE_ERROR: 2, pytest.ExitCode.NO_TESTS_COLLECTED: 2}


def main(argv: Sequence[str] | None = None, extra_pytest_args: Sequence[str] = (), live: Any = None) -> int:
    """Programmatic entry (tests use it): parse ``argv`` as ``cdpkit check`` does and run."""
    parser = argparse.ArgumentParser(prog="cdpkit check", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    configure(parser)
    try:
        args = parser.parse_args(join_signed_values(list(sys.argv[1:] if argv is None else argv)))
    except SystemExit as exc:
        return 2 if exc.code else 0
    return run(args, extra_pytest_args=extra_pytest_args, live=live)


def run(args: argparse.Namespace, extra_pytest_args: Sequence[str] = (), live: Any = None) -> int:
    try:
        opts = settings(args)
    except UsageProblem as exc:
        print(f"cdpkit check: {exc}", file=sys.stderr)
        return 2
    if len(opts["vendors"]) > 1:
        from cdpkit.suites.several_vendors import run_several
        return run_several(opts, extra_pytest_args)
    return run_one(with_vendor_paths(opts, opts["vendor"], several=False), extra_pytest_args, live)


OUTPUT_KEYS = ("junit_xml", "json", "report", "baseline")  # options naming a file: {vendor} in them is replaced


def with_vendor_paths(opts: dict[str, Any], vendor: str, *, several: bool) -> dict[str, Any]:
    """The options of ``vendor``'s run: ``{vendor}`` in a file option replaced by its name; with several
    vendors, an output file without it gets the name before its extension (run.json -> run.tto.json).
    A --baseline without it is one file for all: each vendor takes the IDs of its own catalog prefix."""
    out = {**opts, "vendor": vendor, "vendors": [vendor]}
    for key in OUTPUT_KEYS:
        path = opts.get(key)
        if not path:
            continue
        if "{vendor}" in str(path):
            out[key] = str(path).replace("{vendor}", vendor)
        elif several and key != "baseline":
            named = Path(path)
            out[key] = str(named.with_name(f"{named.stem}.{vendor}{named.suffix}"))
    return out


def run_one(opts: dict[str, Any], extra_pytest_args: Sequence[str] = (), live: Any = None) -> int:
    """One vendor's run (``opts`` from :func:`settings`, its paths from :func:`with_vendor_paths`): the exit status."""
    try:
        # read before any check runs (a file the reader names; settings() only validates the options)
        baseline_ids = opts.get("baseline_ids")
        if baseline_ids is None:
            baseline_ids = read_baseline(str(opts["baseline"]), opts["vendor"]) if opts.get("baseline") else []
    except RunProblem as exc:
        print(f"cdpkit check: {exc}", file=sys.stderr)
        return 2
    down = unreachable(opts["target"])
    if down:  # once, before any check: not one connection error per check
        print(f"cdpkit check: {down}", file=sys.stderr)
        return 2
    results = Results(None, live=live if live is not None else sys.stderr)
    with _plugin_autoload_off():
        code = pytest.main(pytest_args(opts) + list(extra_pytest_args), plugins=[results])
    status = EXIT_CODES.get(code, 1)
    if code in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.NO_TESTS_COLLECTED):
        if code == pytest.ExitCode.NO_TESTS_COLLECTED:
            print(f"cdpkit check: no checks collected for {opts['vendor']}", file=sys.stderr)
        return status
    sys.stdout.write(results.summary())  # the 401/403 note, if any, comes first in it
    if code not in EXIT_CODES:
        print(f"cdpkit check: the run stopped early (pytest exit code {int(code)})", file=sys.stderr)
    run_data = results.data(name=opts.get("name"))
    if opts.get("baseline"):
        verdict = compare_baseline(run_data, baseline_ids, str(opts["baseline"]))
        run_data["baseline"] = verdict.as_dict()
        sys.stdout.write("\n" + "\n".join(verdict.lines()) + "\n")
        if code == pytest.ExitCode.TESTS_FAILED and not verdict.new and not results.errors:
            status = 0  # every failure is a known one: the run may pass while the list shrinks
    run_data["exit_code"] = status
    for key in ("json", "report"):  # like --junit-xml (pytest's), a missing directory is created
        if opts.get(key):
            Path(opts[key]).parent.mkdir(parents=True, exist_ok=True)
    if opts.get("json"):
        Path(opts["json"]).write_text(json.dumps(run_data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if opts.get("report"):
        results.write_report(opts["report"], run_data)
    return status
