"""Realistic bugs in the independent implementations, each caught on its requirement, or left on purpose.

The bugs were written into the plain ``tests/independent/<vendor>.py`` (``DEFECTS``, each with the document's
sentence it breaks) by developers who never saw cdpkit, to find checks that pass a broken implementation.
Their first runs found nine: a key or token one character off (or one longer) accepted, a replayed msg_id under
an unknown key accepted, a boolean on a numeric-locked attribute, a merge answered without trackID, a refused
type change that locked the attribute riding along, an anonymous_id matched by prefix, and a 500 on a list of
objects where platform types belong. Tests as data: each bug is expected caught (without ``--strict`` where it
breaks a documented rule; with it where cdpkit reads the rule as its assumption), or named here with the
reason cdpkit does not judge it, so a check that stops catching a bug, or starts failing a choice, shows here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cleanroom import AppServer
from tests.independent import gptbots, quickaudience, sensors, tto, zebline
from tests.mutants import run_check_at
from tests.test_independent import IMPLEMENTATIONS, sensors_app

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")


@dataclass(frozen=True)
class Caught:
    ids: tuple[str, ...]  # a check failing on any one of these kills the bug
    strict: bool = False  # the rule is cdpkit's assumption: only --strict may catch it
    fuzz: bool = False  # only the schemathesis run sees it (a 5xx)


@dataclass(frozen=True)
class NotJudged:
    reason: str  # why a correct cdpkit passes it: the default run must pass it


EXPECTED: dict[str, dict[str, Caught | NotJudged]] = {
    "tto": {
        "settings_cached_source": Caught(("TTO-SETTINGS-ENDPOINT",)),
        "settings_query_key_ignored": Caught(("TTO-SETTINGS-QUERY-KEY", "TTO-SETTINGS-ENDPOINT")),
        "settings_empty_body_400": Caught(("TTO-SETTINGS-ENDPOINT", "TTO-SETTINGS-QUERY-KEY")),
        "alias_default_source": Caught(("TTO-API-KEY-BODY",)),
        "api_key_prefix_match": Caught(("TTO-API-KEY-AUTH",)),
        "dedup_before_auth": Caught(("TTO-API-KEY-AUTH",)),
        "timestamp_as_millis": Caught(("TTO-TRACK-ENDPOINT", "TTO-PROPERTIES", "TTO-IDENTIFY-ENDPOINT")),
        "track_properties_missing_500": Caught(("TTO-PROPERTIES",)),
        "identify_non_ascii_500": Caught(("TTO-IDENTIFY-ENDPOINT",)),
        "identify_without_identity": Caught(("TTO-IDENTITY-REQUIRED",), strict=True),
        "alias_missing_previous_id": Caught(("TTO-ALIAS-IDS",), strict=True),
        "track_key_from_query": NotJudged("the document tells senders to put the key in the body; a server that also "
                                          "reads it from the query refuses nothing the document says it refuses"),
    },
    "zebline": {
        "auth_cross_account_token": Caught(("ZEB-STATUS-401",)),
        "auth_token_prefix_match": Caught(("ZEB-STATUS-401",)),
        "attributes_optional_with_userid": Caught(("ZEB-ATTRIBUTES-REQUIRED",)),
        "type_lock_bool_as_number": Caught(("ZEB-TYPE-LOCK",)),
        "type_lock_skipped_on_update": Caught(("ZEB-TYPE-LOCK",)),
        "userid_number_coerced": Caught(("ZEB-ID-STRING",)),
        "merge_response_missing_trackid": Caught(("ZEB-MERGE", "ZEB-RESP-QUEUED")),
        "type_lock_per_user": Caught(("ZEB-TYPE-LOCK-PER-ACCOUNT",), strict=True),
        "type_lock_partial_commit": Caught(("ZEB-TYPE-LOCK-STATUS",), strict=True),
        "int_field_accepts_numeric_string": Caught(("ZEB-SYSTEM-TYPES-EXACT",), strict=True),
        "birth_date_invalid_500": Caught(("ZEB-TIMESTAMPTZ-FORMAT",), strict=True),  # the document's own 500: data
        # the service cannot process (ZEB-STATUS-500), so only cdpkit's reading of a calendar day judges it
        "custom_key_case_folded": NotJudged("lowercase keys are what the document asks senders for (a convention, "
                                            "not a refusal the server owes)"),
    },
    "gptbots": {
        "token_prefix_match": Caught(("GPT-STATUS-401",)),
        "cross_agent_leak": Caught(("GPT-PER-AGENT",)),
        "precise_ignores_anonymous_id": Caught(("GPT-QUERY-BOTH",)),
        "anonymous_id_prefix_match": Caught(("GPT-QUERY-ANON-ONLY",)),
        "user_query_latest_binding_only": Caught(("GPT-QUERY-USER-ONLY",)),
        "missing_params_500": Caught(("GPT-QUERY-ONE-REQUIRED", "GPT-ERROR-BODY")),
        "unauthorized_http_200": Caught(("GPT-STATUS-401", "GPT-AUTH-BEARER")),
        "data_keyed_by_anonymous_id": Caught(("GPT-RESP-KEYED-BY-USER", "GPT-QUERY-ANON-ONLY")),
        "error_code_as_string": Caught(("GPT-ERROR-BODY",)),
        "source_id_omitted_when_null": NotJudged("the field table lists source_id and the example shows it null; an "
                                                 "answer that leaves a null field out carries the same data"),
    },
    "quickaudience": {
        "rotated_secret_still_valid": Caught(("QA-SECRET-ROTATE-INVALIDATES",)),
        "removed_key_still_works": Caught(("QA-REMOVE",)),
        "web_domain_without_scheme": Caught(("QA-DOMAIN-HTTP",)),
        "app_type_changeable": Caught(("QA-APP-TYPE-IMMUTABLE",)),
        "edit_rotates_secret": Caught(("QA-REST-SURFACE",)),
        "only_first_platform_saved": Caught(("QA-PLATFORM-MULTI", "QA-ONE-CHANNEL-MANY-PLATFORMS")),
        "platform_object_500": Caught(("QA-NO-5XX",)),
        "collected_no_accepted": Caught(("QA-COLLECTED-NO-REJECTED",), strict=True),
        "list_shows_other_orgs": Caught(("QA-TENANT-ISOLATION",), strict=True),
    },
    "sensors": {
        "start_returns_data": Caught(("SF-EMPTY-DATA-SUCCESS",)),
        "stop_ignores_computing_tag": Caught(("SF-TAG-STATUS",)),
        "deleted_tag_still_readable": Caught(("SF-DELETE",)),
        "unknown_user_success": Caught(("SF-ONLINE-UNKNOWN-USER",)),
        "entity_name_default_missing": Caught(("SF-ONLINE-RESPONSE", "SF-BATCH-RESPONSE")),
        "h5_rejects_zh_tw": Caught(("SF-H5-LANGUAGE",)),
        "get_missing_name_500": Caught(("test_schemathesis",), fuzz=True),
        "quota_leak_on_stop": Caught(("SF-QUOTA-MODEL",), strict=True),
        "batch_ignores_attribute_names": Caught(("SF-BATCH-UNKNOWN-TAG",), strict=True),
        "stopped_tag_value_served": Caught(("SF-ONLINE-STALE-TAG",), strict=True),
        "cross_tenant_tag_value": Caught(("SF-TENANT-ISOLATION",), strict=True),
        "h5_edit_posts_create_success": NotJudged("the page posts the type its save call answers; cdpkit reads pages, "
                                                  "it does not run them (SF-H5-POSTMESSAGE says so in a skip)"),
    },
}
MODULES = {"tto": tto, "zebline": zebline, "gptbots": gptbots, "quickaudience": quickaudience, "sensors": sensors}
CASES = [(vendor, name) for vendor, table in EXPECTED.items() for name in table]


def _app(vendor: str, defect: str) -> tuple[object, dict[str, str]]:
    if vendor == "sensors":
        return sensors_app(frozenset([defect]))
    module = MODULES[vendor]
    return module.make_app(frozenset([defect])), dict(module.CREDS)


@pytest.mark.parametrize("vendor", list(EXPECTED))
def test_every_declared_bug_has_an_expectation(vendor: str) -> None:
    assert set(EXPECTED[vendor]) == set(MODULES[vendor].DEFECTS)


@pytest.mark.parametrize(("vendor", "defect"), CASES, ids=[f"{v}:{d}" for v, d in CASES])
def test_each_bug_is_caught_on_its_requirement_or_left_for_its_reason(vendor: str, defect: str, tmp_path: Path) -> None:
    expected = EXPECTED[vendor][defect]
    features = IMPLEMENTATIONS[vendor].features

    def run(strict: bool, fuzz: bool | None) -> object:
        app, creds = _app(vendor, defect)
        with AppServer(app) as server:
            return run_check_at(server.url, vendor, tmp_path / f"{defect}-{strict}.xml", creds=creds, strict=strict,
                                fuzz=fuzz, features=features, max_examples=10)

    if isinstance(expected, NotJudged):
        default = run(False, False)
        assert default.exit_code == 0, f"{defect} is left ({expected.reason}), yet the default run failed: {default.failed}"
        return
    caught = run(expected.strict, True if expected.fuzz else False)
    assert caught.exit_code == 1, f"{vendor}:{defect} was not caught" + (" with --strict" if expected.strict else "")
    if expected.fuzz:
        assert caught.server_error(), f"{defect}: the schemathesis run did not fail on a 5xx: {caught.failed}"
    else:
        assert any(caught.caught_by(rid) for rid in expected.ids), (
            f"{vendor}:{defect}: no check failed on {expected.ids}; failing: {[(f['name'], f['caught_by']) for f in caught.failed]}")
    if expected.strict:
        default = run(False, False)
        assert default.exit_code == 0, f"{defect} breaks only an assumption, yet the default run failed: {default.failed}"
