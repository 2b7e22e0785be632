"""`cdpkit check` judged by implementations written without any sight of cdpkit (``tests/independent``).

* each passes the whole default run (schemathesis included), with every feature it serves checked;
* under ``--strict`` each fails exactly the assumptions where it chose differently (its CHOICES say so);
* a second run against the same target, whose disposable tag the first run deleted, skips the delete
  check instead of failing a correct implementation.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import pytest
from aiohttp import web

from tests.cleanroom import AppServer
from tests.independent import gptbots, quickaudience, sensors, tto, zebline
from tests.mutants import CheckRun, run_check_at

# kept as written: the independent Sensors keys its application with strings, which aiohttp warns of
pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

SENSORS_CREDS = ("api_key", "organization_id", "project", "tag_name", "disposable_tag_name", "distinct_id")


def _sensors() -> tuple[web.Application, dict[str, str]]:
    app = sensors.build_app(compute_seconds=0.2)
    return app, {k: app["creds"][k] for k in SENSORS_CREDS}


def _plain(module: ModuleType) -> Callable[[], tuple[web.Application, dict[str, str]]]:
    return lambda: (module.make_app(), dict(module.CREDS))


# vendor -> (a fresh app and its credentials, --features: every feature it serves; None: the default)
IMPLEMENTATIONS: dict[str, tuple[Callable[[], tuple[web.Application, dict[str, str]]], str | None]] = {
    "tto": (_plain(tto), None),
    "gptbots": (_plain(gptbots), None),
    "quickaudience": (_plain(quickaudience), None),
    "zebline": (_plain(zebline), "-readback"),  # it serves a GET at the modeled path, but another one
    "sensors": (_sensors, "+h5"),
}

# What each fails under --strict (without the schemathesis run): where it chose differently from the mock
# (its *_CHOICES.md)
STRICT_DIFFERENCES: dict[str, dict[str, str]] = {
    "tto": {
        "TTO-BAD-INPUT": "reads a JSON body whatever its Content-Type",
        "TTO-DATA-OBJECT-TYPE": "takes track's properties and traits as a string holding a JSON object too",
        "TTO-ERROR-BODY": "errors are {success: false, error: {code, message, field}}",
        "TTO-SETTINGS-BODY": "settings answers {success, source: {id, name, type, enabled, created_at}, destinations}",
    },
    "gptbots": {},  # its one difference, an empty parameter taken as absent, only the schemathesis run finds
    "quickaudience": {"QA-BAD-INPUT": "a body that is not JSON is 400 whatever its Content-Type"},
    "zebline": {"ZEB-ERROR-BODY": "errors are {response: {status: error, error, message}}"},
    "sensors": {
        "SF-BAD-INPUT": "reads a body sent as text/plain",
        "SF-ERROR-HTTP-STATUS": "answers failures at HTTP 200 with a code",
        "SF-H5-ERRORS": "the page shows its form for an unknown project",
        "SF-QUOTA-BODY": "ignores any body on the quota call",
        "SF-TAG-NOT-FOUND": "an unknown tag is NOT_FOUND at HTTP 200",
    },
}


def _check(server: AppServer, vendor: str, creds: dict[str, Any], workdir: Path, name: str, **kw: Any) -> CheckRun:
    return run_check_at(server.url, vendor, workdir / f"{vendor}-{name}.xml", creds=creds,
                        features=IMPLEMENTATIONS[vendor][1], max_examples=10, **kw)


@pytest.mark.parametrize("vendor", list(IMPLEMENTATIONS))
def test_an_implementation_written_without_cdpkit_passes(vendor: str, tmp_path: Path) -> None:
    app, creds = IMPLEMENTATIONS[vendor][0]()
    with AppServer(app) as server:
        run = _check(server, vendor, creds, tmp_path, "default")
        assert run.exit_code == 0 and run.failed == [], [(f["name"], f["message"][:400]) for f in run.failed]
        if vendor == "sensors":
            # the first run deleted the disposable tag; a second run cannot judge the delete, and says so
            again = _check(server, vendor, creds, tmp_path, "again", fuzz=False)
            assert again.exit_code == 0 and again.failed == [], [(f["name"], f["message"][:400]) for f in again.failed]
            assert any("test_a_deleted_tag_is_gone" in s["name"] and "does not exist" in s["message"]
                       for s in again.skipped), again.skipped


@pytest.mark.parametrize("vendor", list(IMPLEMENTATIONS))
def test_under_strict_it_fails_only_where_it_chose_differently(vendor: str, tmp_path: Path) -> None:
    app, creds = IMPLEMENTATIONS[vendor][0]()
    with AppServer(app) as server:
        run = _check(server, vendor, creds, tmp_path, "strict", strict=True, fuzz=False)
    assert all(f["kind"] == "failure" and f["caught_by"] for f in run.failed), run.failed
    failed = {f["caught_by"] for f in run.failed}
    assert failed == set(STRICT_DIFFERENCES[vendor]), (
        f"{vendor} under --strict: unexpected {sorted(failed - set(STRICT_DIFFERENCES[vendor]))}, "
        f"no longer failing {sorted(set(STRICT_DIFFERENCES[vendor]) - failed)}")
