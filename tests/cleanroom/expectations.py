"""What `cdpkit check` must say of each clean-room implementation: tests as data.

Per vendor: the ``--features`` the implementation serves (the Sensors one does not serve the H5 page;
the Zebline one serves the modeled read-back) and, per defect of its ``DEFECTS``, the requirement IDs a
failing check may name (any one of them kills it) and whether the defect breaks a documented rule
(caught without ``--strict``) or only an assumption (caught with ``--strict``, and the default run
must still pass, since the documents leave that behaviour open).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Defect:
    ids: tuple[str, ...]
    strict: bool = False  # True: the broken rule is cdpkit's assumption; only --strict may catch it


FEATURES = {"sensors": "-h5", "zebline": "+readback"}

DEFECTS: dict[str, dict[str, Defect]] = {
    "tto": {
        "crash_on_bad_json": Defect(("TTO-NO-5XX",)),
        "track_without_identity_ignored": Defect(("TTO-IDENTITY-REQUIRED",), strict=True),
        "bad_api_key_ignored": Defect(("TTO-API-KEY-AUTH",)),
        "settings_other_source": Defect(("TTO-SOURCE-ISOLATION", "TTO-SETTINGS-ENDPOINT")),
        "alias_without_previous_id_ignored": Defect(("TTO-ALIAS-IDS",), strict=True),
    },
    "gptbots": {
        "crash_on_unknown_user": Defect(("GPT-NO-5XX", "GPT-QUERY-USER-ONLY")),
        "anon_filter_too_broad": Defect(("GPT-QUERY-ANON-ONLY",)),
        "no_query_ignored": Defect(("GPT-QUERY-ONE-REQUIRED",)),
        "agents_not_isolated": Defect(("GPT-PER-AGENT",)),
        "precise_ignores_anon": Defect(("GPT-QUERY-BOTH",)),
        "auth_not_checked": Defect(("GPT-AUTH-BEARER", "GPT-STATUS-401")),
    },
    "zebline": {
        "crash_on_bad_json": Defect(("ZEB-NO-5XX", "ZEB-STATUS-400")),
        "type_lock_ignored": Defect(("ZEB-TYPE-LOCK",)),
        "missing_id_ignored": Defect(("ZEB-ID-REQUIRED",)),
        "merge_lost": Defect(("ZEB-MERGE",)),
        "accounts_not_isolated": Defect(("ZEB-TENANT-ISOLATION",), strict=True),
        "upsert_replaces": Defect(("ZEB-UPSERT-UPDATE",)),
    },
    "sensors": {
        "crash_on_bad_json": Defect(("SF-NO-5XX",)),
        "deleted_tag_still_readable": Defect(("SF-DELETE",)),
        "quota_not_enforced": Defect(("SF-QUOTA-MODEL",), strict=True),
        "batch_returns_extra_users": Defect(("SF-BATCH-RESPONSE",)),
        "headers_ignored": Defect(("SF-HEADERS-ENFORCED",), strict=True),
        "unknown_user_not_refused": Defect(("SF-ONLINE-UNKNOWN-USER",)),
    },
    "quickaudience": {
        "crash_on_bad_json": Defect(("QA-NO-5XX",)),
        "type_change_ignored": Defect(("QA-APP-TYPE-IMMUTABLE",)),
        "old_secret_still_valid": Defect(("QA-SECRET-ROTATE-INVALIDATES",)),
        "removed_api_still_works": Defect(("QA-REMOVE",)),
        "orgs_not_isolated": Defect(("QA-TENANT-ISOLATION",), strict=True),
        "domain_scheme_ignored": Defect(("QA-DOMAIN-HTTP",)),
    },
}


# What each correct clean-room implementation fails under --strict: the assumptions where it chose
# differently from the mock (its CHOICES say so), kept as an expectation file in the spirit of
# web-platform-tests: a run that fails more, or less, than this changes the picture and must say why.
STRICT_DIFFERENCES: dict[str, dict[str, str]] = {
    "tto": {
        "TTO-BAD-INPUT": "refuses unreadable bodies with its own 400 body and accepts any Content-Type",
        "TTO-DATA-OBJECT-TYPE": "accepts traits and properties sent as strings, as track's table types them",
        "TTO-DEDUP-REPLAY-ACK": "acknowledges a replay with duplicate: true instead of the first answer",
        "TTO-ERROR-BODY": "errors are {error: {code, message}}",
        "TTO-ID-TYPES": "coerces numeric ids to strings",
        "TTO-RESPONSE-SUCCESS": "answers 202 {status: queued, ...}",
        "TTO-SETTINGS-BODY": "its settings body has its own shape",
    },
    "gptbots": {
        "GPT-ANON-ENTRIES-FILTERED": "an anonymous_id query lists each user's every anonymous id",
    },
    "zebline": {
        "ZEB-ERROR-BODY": "errors are {ok: false, error: {...}}",
        "ZEB-ID-NONEMPTY": "ids up to 1024 characters",
        "ZEB-INPUT-LIMITS": "does not check the Content-Type",
        "ZEB-MERGE-PRECEDENCE": "on merge the user's stored values, defaults included, win over the anonymous profile's",
        "ZEB-SUCCESS-STATUS": "answers 202",
        "ZEB-SYSTEM-TYPES-EXACT": "coerces numbers into text columns",
        "ZEB-TIMESTAMPTZ-FORMAT": "stores TIMESTAMPTZ values as sent",
        "ZEB-TYPE-LOCK-STATUS": "refuses a type change with 409",
    },
    "sensors": {
        "SF-ERROR-CODES": "its own failure codes (TAG_NOT_EXIST, USER_NOT_EXIST, ...)",
        "SF-IDEMPOTENT": "refuses to stop a tag that is not running",
        "SF-ONLINE-ATTR-ORDER": "sorts attributes by name",
        "SF-QUOTA-BODY": "accepts any JSON body on the quota call",
        "SF-REQUEST-FORMS": "takes a bare string as a one-name list",
        "SF-TAG-NOT-FOUND": "answers errors at HTTP 200 with a failure code",
    },
    "quickaudience": {
        "QA-BAD-INPUT": "does not check the Content-Type",
        "QA-COLLECT-PLATFORM": "compares platforms case-insensitively and refuses a missing one with 403",
        "QA-ENVELOPE": "success envelopes carry requestTime and create answers 201",
    },
}
