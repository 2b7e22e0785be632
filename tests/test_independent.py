"""`cdpkit check` judged by implementations written without any sight of cdpkit (``tests/independent``).

* each passes the whole default run (schemathesis included), with every feature it serves checked;
* under ``--strict`` each fails exactly the assumptions where it chose differently (its CHOICES say so), so
  a check of a documented rule that leaned on an assumption would show here as a default-run failure;
* a second run against the same target, whose disposable tag the first run deleted, skips the delete
  check instead of failing a correct implementation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import pytest
from aiohttp import web

from tests.cleanroom import AppServer
from tests.independent import (gptbots, gptbots_divergent, quickaudience, quickaudience_divergent, sensors,
                               sensors_divergent, tto, tto_divergent, zebline, zebline_divergent)
from tests.mutants import CheckRun, run_check_at

# kept as written: the independent Sensors keys its application with strings, which aiohttp warns of
pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

SENSORS_CREDS = ("api_key", "organization_id", "project", "tag_name", "disposable_tag_name", "distinct_id")


Maker = Callable[..., tuple[web.Application, dict[str, str]]]  # (defects=frozenset()) -> a fresh app, its credentials


def sensors_creds(own: dict[str, str], other: dict[str, str], other_tag: str) -> dict[str, str]:
    """A Sensors implementation's ``--cred`` keys: its first tenant's, and its second tenant as ``other_*``
    (both authors provisioned one, with a running tag only that tenant has)."""
    theirs = {"other_api_key": other["api_key"], "other_organization_id": other["organization_id"],
              "other_project": other["project"], "other_tag_name": other_tag}
    return {**{k: own[k] for k in SENSORS_CREDS}, **theirs}


def sensors_app(defects: frozenset[str] = frozenset()) -> tuple[web.Application, dict[str, str]]:
    app = sensors.build_app(compute_seconds=0.2, defects=defects)
    second = app["creds"]["second_tenant"]
    return app, sensors_creds(app["creds"], second, second["tag_name"])


def _sensors_divergent(defects: frozenset[str] = frozenset()) -> tuple[web.Application, dict[str, str]]:
    return sensors_divergent.make_app(defects), sensors_creds(sensors_divergent.CREDS, sensors_divergent.CREDS_B,
                                                              "user_rt_tag_b_secret")


def _plain(module: ModuleType) -> Maker:
    return lambda defects=frozenset(): (module.make_app(defects), dict(module.CREDS))


@dataclass(frozen=True)
class Implementation:
    vendor: str
    make: Maker  # a fresh app (with the named DEFECTS of its module switched on) and its credentials
    features: str | None  # --features: every feature it serves (None: the default)
    strict_differences: dict[str, str]  # what --strict fails (no schemathesis run): where it chose differently


# Written plainly (the obvious reading where the document is open), and "divergent": told to take, wherever
# the document leaves room, a defensible choice other than the obvious one (their *_CHOICES.md say which).
IMPLEMENTATIONS: dict[str, Implementation] = {
    "tto": Implementation("tto", _plain(tto), None, {
        "TTO-BAD-INPUT": "reads a JSON body whatever its Content-Type",
        "TTO-ERROR-BODY": "errors are {success: false, error: {code, message, field}}",
        "TTO-SETTINGS-BODY": "settings answers {success, source: {id, name, type, enabled, created_at}, destinations}",
    }),
    "tto_divergent": Implementation("tto", _plain(tto_divergent), None, {
        "TTO-API-KEY-STATUS": "an unknown api_key is 403",
        "TTO-BAD-INPUT": "another Content-Type is 415",
        "TTO-DATA-OBJECT-TYPE": "takes track's properties and traits as a string too",
        "TTO-DEDUP-REPLAY-ACK": "a replay answers 200 {duplicate: true}, the first 202",
        "TTO-ERROR-BODY": "errors are application/problem+json",
        "TTO-ID-TYPES": "integer ids are taken",
        "TTO-PAYLOAD-LIMIT": "bodies up to 64 KiB",
        "TTO-RESPONSE-SUCCESS": "answers 202 with extra fields",
        "TTO-SETTINGS-BODY": "settings has its own body",
    }),
    "gptbots": Implementation("gptbots", _plain(gptbots), None, {}),  # an empty parameter taken as absent: fuzz only
    "gptbots_divergent": Implementation("gptbots", _plain(gptbots_divergent), None, {
        "GPT-ANON-ENTRIES-FILTERED": "an anonymous_id query lists each user's every anonymous id",
        "GPT-AUTH-SCHEME": "a bare key without Bearer is taken",
    }),
    "quickaudience": Implementation("quickaudience", _plain(quickaudience), None,
                                    {"QA-BAD-INPUT": "a body that is not JSON is 400 whatever its Content-Type"}),
    "quickaudience_divergent": Implementation("quickaudience", _plain(quickaudience_divergent), None, {
        "QA-CHANNEL-NAME-BLANK": "a name is trimmed, then judged",
        "QA-COLLECT-APPKEY": "a missing appkey is 422",
        "QA-COLLECT-BODY": "invalid event fields are 422",
        "QA-COLLECT-ORIGIN": "a missing Origin is taken",
        "QA-COLLECT-PLATFORM": "an undeclared platform is 422, a missing one taken",
        "QA-COLLECTED-NO-REJECTED": "invalid fields are 422",
        "QA-DOMAIN-ORIGIN-FORM": "a domain with a path is taken",
        "QA-DOMAIN-UNIQUE": "repeated domains are merged",
        "QA-EDIT-EMPTY": "an empty edit succeeds",
        "QA-ENUM-SPELLING": "platform spellings are loose, and more are known",
        "QA-ENVELOPE": "create and rotate answer 201, remove 202",
        "QA-FIELDS-PER-TYPE": "the other type's field is ignored",
        "QA-PLATFORM-MATCHES-TYPE": "invalid fields are 422",
        "QA-PLATFORM-UNIQUE": "repeated platforms are merged",
        "QA-SIGNATURE": "a bad signature is 403",
        "QA-TENANT-ISOLATION": "another organization's record is 403",
    }),
    "zebline": Implementation("zebline", _plain(zebline), "-readback",  # it serves a GET at the modeled path, another one
                              {"ZEB-ERROR-BODY": "errors are {response: {status: error, error, message}}"}),
    "zebline_divergent": Implementation("zebline", _plain(zebline_divergent), None, {
        "ZEB-CUSTOM-TYPES-ONLY": "a null custom value clears it",
        "ZEB-ERROR-BODY": "errors are application/problem+json",
        "ZEB-SUCCESS-STATUS": "answers 202",
        "ZEB-SYSTEM-TYPES-EXACT": "3.0 is a whole number",
        "ZEB-TRACKID-UUID": "trackIDs are ULIDs",
        "ZEB-TYPE-LOCK-PER-ACCOUNT": "types lock per user",
    }),
    "sensors": Implementation("sensors", sensors_app, "+h5", {
        "SF-BAD-INPUT": "reads a body sent as text/plain",
        "SF-ERROR-HTTP-STATUS": "answers failures at HTTP 200 with a code",
        "SF-H5-ERRORS": "the page shows its form for an unknown project",
        "SF-QUOTA-BODY": "ignores any body on the quota call",
        "SF-TAG-NOT-FOUND": "an unknown tag is NOT_FOUND at HTTP 200",
    }),
    "sensors_divergent": Implementation("sensors", _sensors_divergent, None, {
        "SF-AUTH-ERRORS": "authentication failures at HTTP 200 with a code",
        "SF-BAD-INPUT": "unreadable bodies at HTTP 200 with a code",
        "SF-ERROR-CODES": "its own failure codes",
        "SF-ERROR-HTTP-STATUS": "every failure at HTTP 200",
        "SF-H5-ERRORS": "an unknown tag's page is a 200 showing an error",
        "SF-IDEMPOTENT": "starting a running tag is an error",
        "SF-ONLINE-ATTR-ORDER": "entries sorted by name",
        "SF-QUOTA-BODY": "ignores any body on the quota call",
        "SF-QUOTA-MODEL": "every existing tag holds a unit, of 50",
        "SF-REQUEST-ID": "request ids are dashed UUIDs",
        "SF-TAG-NOT-FOUND": "an unknown tag is REAL_TIME_TAG_NOT_EXIST at HTTP 200",
    }),
}


def _check(server: AppServer, impl: Implementation, creds: dict[str, Any], workdir: Path, name: str, **kw: Any) -> CheckRun:
    return run_check_at(server.url, impl.vendor, workdir / f"{name}.xml", creds=creds, features=impl.features,
                        max_examples=10, **kw)


@pytest.mark.parametrize("name", list(IMPLEMENTATIONS))
def test_an_implementation_written_without_cdpkit_passes(name: str, tmp_path: Path) -> None:
    impl = IMPLEMENTATIONS[name]
    app, creds = impl.make()
    with AppServer(app) as server:
        run = _check(server, impl, creds, tmp_path, "default")
        assert run.exit_code == 0 and run.failed == [], [(f["name"], f["message"][:400]) for f in run.failed]
        if impl.vendor == "sensors":
            # the first run deleted the disposable tag; a second run cannot judge the delete, and says so
            again = _check(server, impl, creds, tmp_path, "again", fuzz=False)
            assert again.exit_code == 0 and again.failed == [], [(f["name"], f["message"][:400]) for f in again.failed]
            assert any("test_a_deleted_tag_is_gone" in s["name"] and "does not exist" in s["message"]
                       for s in again.skipped), again.skipped


@pytest.mark.parametrize("name", list(IMPLEMENTATIONS))
def test_under_strict_it_fails_only_where_it_chose_differently(name: str, tmp_path: Path) -> None:
    impl = IMPLEMENTATIONS[name]
    app, creds = impl.make()
    with AppServer(app) as server:
        run = _check(server, impl, creds, tmp_path, "strict", strict=True, fuzz=False)
    assert all(f["kind"] == "failure" and f["caught_by"] for f in run.failed), run.failed
    failed, expected = {f["caught_by"] for f in run.failed}, set(impl.strict_differences)
    assert failed == expected, (f"{name} under --strict: unexpected {sorted(failed - expected)}, "
                                f"no longer failing {sorted(expected - failed)}")
