"""Zebline mutants (one defect each, caught by the named requirement) and over-spec variants (pass).

``MUTANTS`` are caught by the default run (documented checks, and those through cdpkit's model, which
run by default on a mock); ``STRICT_MUTANTS`` break an assumption of the mock and are caught only with
``--strict`` (tests/test_suites_zebline.py runs them). ``VARIANTS`` make another reasonable choice where
the document is silent, one per assumption entry that has one, and must pass ``cdpkit check``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import uuid
from datetime import datetime, timezone
from typing import Any

from cdpkit.mockserver import type_lock, zebline
from cdpkit.mockserver.vendor import Call, Handler, Rejection, Reply, Vendor
from tests.mutants import Mutant, erroring, on_refusal, replying, with_body, with_headers, wrap_handler, wrapping

OP = "upsert_user"


def _own_token(call: Call) -> str | None:
    account = call.state.get("accounts", call.path_params.get("license_code", ""))
    return account["access_token"] if account else None


def _skip_auth(original: Handler) -> Handler:
    """No (or an empty) authorization header: served as the license's own token."""
    def handler(call: Call) -> Reply:
        if not call.headers.get("authorization", "").strip() and _own_token(call):
            call = with_headers(call, authorization=_own_token(call))
        return original(call)
    return handler


def _any_tenants_token(original: Handler) -> Handler:
    """A token of any account works on every license code: tenant isolation broken."""
    def handler(call: Call) -> Reply:
        tokens = {a["access_token"] for _, a in call.state.items("accounts")}
        if call.headers.get("authorization", "").strip() in tokens and _own_token(call):
            call = with_headers(call, authorization=_own_token(call))
        return original(call)
    return handler


def _unauthorized_as_403(original: Handler) -> Handler:
    def handler(call: Call) -> Reply:
        try:
            return original(call)
        except Rejection as rejection:
            if rejection.status == 401:
                raise Rejection(403, rejection.message, rejection.requirement_ids) from None
            raise
    return handler


def _body_fix(fix: Any) -> Any:
    """A handler that quietly 'repairs' the body with ``fix(body)`` before the real handler sees it."""
    def wrap(original: Handler) -> Handler:
        return lambda call: original(with_body(call, fix(dict(call.body))) if isinstance(call.body, dict) else call)
    return wrap


def _default_attributes(body: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(body.get("attributes"), dict):
        body["attributes"] = {}
    return body


def _invent_user_id(body: dict[str, Any]) -> dict[str, Any]:
    if "userId" not in body and "anonymousId" not in body:
        body["userId"] = str(uuid.uuid4())
    return body


def _stringify_ids(body: dict[str, Any]) -> dict[str, Any]:
    for key in ("userId", "anonymousId"):
        if key in body and not isinstance(body[key], str):
            body[key] = str(body[key])
    return body


def _drop_untyped_attributes(body: dict[str, Any]) -> dict[str, Any]:
    if isinstance(body.get("attributes"), dict):
        body["attributes"] = {k: v for k, v in body["attributes"].items() if type_lock.type_of(v) is not None}
    return body


COLUMN_TYPE_OK = {"STRING": lambda v: isinstance(v, str), "INT": lambda v: isinstance(v, int) and not isinstance(v, bool),
                  "INT4": lambda v: isinstance(v, int) and not isinstance(v, bool), "BOOL": lambda v: isinstance(v, bool),
                  "TIMESTAMPTZ": lambda v: isinstance(v, str)}


def _drop_mistyped_columns(body: dict[str, Any]) -> dict[str, Any]:
    def fits(key: str, value: Any) -> bool:
        column = zebline.ALIASES.get(key)
        return column is None or column in ("userid", "anonymousid") or COLUMN_TYPE_OK[zebline.COLUMN_TYPES[column]](value)
    return {k: v for k, v in body.items() if k == "attributes" or fits(k, v)}


def _forget_locks(original: Handler) -> Handler:
    """The type lock is never checked: the last type sent wins."""
    def handler(call: Call) -> Reply:
        attributes = call.body.get("attributes") if isinstance(call.body, dict) else None
        if isinstance(attributes, dict):
            for name in attributes:
                call.state.delete(f"locks:{call.path_params['license_code']}", name)
        return original(call)
    return handler


def _existing_user_conflicts(original: Handler) -> Handler:
    """Create-only: a userId already stored answers 409 instead of being updated."""
    def handler(call: Call) -> Reply:
        user = call.body.get("userId") if isinstance(call.body, dict) else None
        if isinstance(user, str) and call.state.get(f"users:{call.path_params['license_code']}", user) is not None:
            raise Rejection(409, "user already exists", ("ZEB-UPSERT-UPDATE",))
        return original(call)
    return handler


def _no_merge(original: Handler) -> Handler:
    def handler(call: Call) -> Reply:
        if isinstance(call.body, dict) and "userId" in call.body and "anonymousId" in call.body:
            raise Rejection(400, "send userId or anonymousId, not both", ("ZEB-MERGE",))
        return original(call)
    return handler


def _crash_on_empty_attributes(original: Handler) -> Handler:
    """A realistic bug: the first attribute is read before anything is validated (an empty object makes the
    pipeline answer 500, whatever else the body holds)."""
    def handler(call: Call) -> Reply:
        attributes = call.body.get("attributes") if isinstance(call.body, dict) else None
        if isinstance(attributes, dict):
            next(iter(attributes))  # the defect: StopIteration on {}
        return original(call)
    return handler


def _drop_track_id(call: Call, reply: Reply) -> Reply:
    if reply.status < 300:
        reply.body["response"].pop("trackID", None)
    return reply


def _same_track_id(call: Call, reply: Reply) -> Reply:
    if reply.status < 300:
        reply.body["response"]["trackID"] = "bfb7428a-f017-4b4b-b8f5-fd39c4bad20f"  # the document's example, every time
    return reply


def _hex_track_ids(original: Handler) -> Handler:
    """trackIDs as 32 hex digits, no dashes (not a UUID's form), on the queued answer and the read-back alike."""
    def handler(call: Call) -> Reply:
        given = call.path_params.get("track_id", "")
        if len(given) == 32 and all(c in "0123456789abcdef" for c in given):
            call.path_params["track_id"] = str(uuid.UUID(given))
        reply = original(call)
        if reply.status < 300 and isinstance(reply.body.get("response", {}).get("trackID"), str):
            reply.body["response"]["trackID"] = reply.body["response"]["trackID"].replace("-", "")
        return reply
    return handler


def _malformed_json_422(vendor: Vendor) -> Vendor:
    errors = dataclasses.replace(vendor.input_errors, malformed_json=("ZEB-STATUS-400", 422))
    return dataclasses.replace(vendor, input_errors=errors)


# Over-specification variants: other reasonable choices where the document is silent.
def _accepted_202(call: Call, reply: Reply) -> Reply:
    if reply.status == 200:
        return Reply(202, {"response": {**reply.body["response"], "received_at": "2024-02-10T12:30:00Z"}, "request_id": "r-1"})
    return reply


def _other_error_body(rejection: Rejection, reply: Reply) -> Reply:
    return Reply(reply.status, {"error": {"code": f"E{reply.status}", "message": rejection.message}})


def _as_409(rejection: Rejection) -> Reply:
    raise Rejection(409, rejection.message, rejection.requirement_ids, rejection.detail)


def _lock_per_user(original: Handler) -> Handler:
    """Locks kept per profile instead of per account: the document's warning read about one user's value."""
    def handler(call: Call) -> Reply:
        body = call.body if isinstance(call.body, dict) else {}
        attributes = body.get("attributes")
        who = body.get("userId") or body.get("anonymousId")
        if isinstance(attributes, dict) and isinstance(who, str):
            lic = call.path_params["license_code"]
            stored = call.state.get(f"users:{lic}", who) or call.state.get(f"anonymous:{lic}", who) or {}
            mine = stored.get("attributes", {})
            for name in attributes:
                if name not in mine:
                    call.state.delete(f"locks:{lic}", name)
        return original(call)
    return handler


def _refuse_boolean_customs(original: Handler) -> Handler:
    """Only numbers, strings and datetimes are taken: a boolean custom attribute answers 400."""
    def handler(call: Call) -> Reply:
        attributes = call.body.get("attributes") if isinstance(call.body, dict) else None
        if isinstance(attributes, dict) and any(isinstance(v, bool) for v in attributes.values()):
            raise Rejection(400, "boolean attributes are not supported", ("ZEB-CUSTOM-TYPES",))
        return original(call)
    return handler


def _refused_type_change_applied(vendor: Vendor) -> Vendor:
    """A non-transactional write: the type-change refusal is answered, but the request was applied first
    (the read-back shows the new value and the anonymous id the refused request named)."""
    applied: dict[tuple[str, str, str], dict[str, Any]] = {}

    def upsert(original: Handler) -> Handler:
        def handler(call: Call) -> Reply:
            try:
                return original(call)
            except Rejection as rejection:
                body = call.body if isinstance(call.body, dict) else {}
                if "ZEB-TYPE-LOCK" in rejection.requirement_ids and isinstance(body.get("attributes"), dict):
                    lic, user, anon = call.path_params["license_code"], body.get("userId"), body.get("anonymousId")
                    user, anon = (user if isinstance(user, str) else None), (anon if isinstance(anon, str) else None)
                    stored = call.state.get(f"users:{lic}", user) if user else None
                    profile = stored or zebline.new_profile(user, "2024-02-10T12:30:00.000Z", anon)
                    profile["attributes"].update(body["attributes"])
                    if anon and anon not in profile["anonymousIds"]:
                        profile["anonymousIds"].append(anon)
                    for key, value in (("userId", user), ("anonymousId", anon)):
                        if value:
                            applied[(lic, key, value)] = profile
                raise
        return handler

    def lookup(original: Handler) -> Handler:
        def handler(call: Call) -> Reply:
            lic = call.path_params.get("license_code", "")
            for key in ("userId", "anonymousId"):
                found = applied.get((lic, key, call.query.get(key, "")))
                if found is not None:
                    return Reply(200, {"response": {"status": "ok", "user": found}})
            return original(call)
        return handler

    return wrap_handler(wrap_handler(vendor, "upsert_user", upsert), "modeled_get_user", lookup)


def _merge_drops_anonymous_data(original: Handler) -> Handler:
    """A merge links the anonymous id but throws away what the anonymous profile was sent."""
    def handler(call: Call) -> Reply:
        body = call.body if isinstance(call.body, dict) else {}
        if isinstance(body.get("userId"), str) and isinstance(body.get("anonymousId"), str):
            lic = call.path_params.get("license_code", "")
            entry = call.state.get(f"anonymous:{lic}", body["anonymousId"])
            if entry is not None and "merged_into" not in entry:
                call.state.delete(f"anonymous:{lic}", body["anonymousId"])
        return original(call)
    return handler


def _upsert_replaces(original: Handler) -> Handler:
    """An upsert of a known userId replaces the profile wholesale: what the request did not send is lost."""
    def handler(call: Call) -> Reply:
        body = call.body if isinstance(call.body, dict) else {}
        lic, user = call.path_params.get("license_code", ""), body.get("userId")
        if isinstance(user, str) and isinstance(body.get("attributes"), dict):
            stored = call.state.get(f"users:{lic}", user)
            if stored is not None:
                fresh = zebline.new_profile(user, stored["created_at"])
                call.state.put(f"users:{lic}", user, {**fresh, "anonymousIds": stored["anonymousIds"]})
        return original(call)
    return handler


# -- strict-only defects (an assumption of the mock broken) ---------------------------------------
def _lookups_cross_accounts(original: Handler) -> Handler:
    """The read-back GETs search every account's store when their own has no match."""
    def handler(call: Call) -> Reply:
        try:
            return original(call)
        except Rejection as rejection:
            if rejection.status != 404:
                raise
            for lic, _account in call.state.items("accounts"):
                if "track_id" in call.path_params:
                    found = call.state.get(f"tracks:{lic}", call.path_params["track_id"])
                    if found is not None:
                        return Reply(200, {"response": found})
                elif isinstance(call.query.get("userId"), str):
                    found = call.state.get(f"users:{lic}", call.query["userId"])
                    if found is not None:
                        return Reply(200, {"response": {"status": "ok", "user": found}})
            raise
    return handler


def _merge_defaults_win(original: Handler) -> Handler:
    """The data bug of issue 8 put back: on a merge the user's table defaults overwrite what the
    anonymous profile was sent."""
    def handler(call: Call) -> Reply:
        body = call.body if isinstance(call.body, dict) else {}
        user, anon = body.get("userId"), body.get("anonymousId")
        lic = call.path_params.get("license_code", "")
        before = call.state.get(f"users:{lic}", user) if isinstance(user, str) and isinstance(anon, str) else None
        reply = original(call)
        if before is not None and reply.status < 300:
            merged = call.state.get(f"users:{lic}", user)
            sent = {zebline.ALIASES[k] for k in body if k in zebline.ALIASES}  # the request's own columns still win
            for column in before.get("defaulted", []):
                if column not in sent and column in before["system_attributes"]:
                    merged["system_attributes"][column] = before["system_attributes"][column]
            call.state.put(f"users:{lic}", user, merged)
        return reply
    return handler


# -- over-specification variants: other reasonable choices where the document is silent ----------
BOOL_WORDS = {"t": True, "true": True, "y": True, "yes": True, "on": True, "1": True,
              "f": False, "false": False, "n": False, "no": False, "off": False, "0": False}


def _coerce(column_type: str, value: Any) -> Any:
    """What a server that coerces into the table's types (as PostgreSQL does on insert) makes of ``value``;
    ``OMITTED`` for null (no value). A value no reading makes the type is left for the mock to refuse."""
    if value is None:
        return OMITTED
    if column_type == "STRING" and not isinstance(value, str):
        return json.dumps(value, ensure_ascii=False) if isinstance(value, (bool, list, dict)) else str(value)
    if column_type in ("INT", "INT4"):
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]+\s*", value):
            return int(value)
        if isinstance(value, (bool, float)):
            return round(value)
    if column_type == "BOOL":
        if isinstance(value, str) and value.strip().lower() in BOOL_WORDS:
            return BOOL_WORDS[value.strip().lower()]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value != 0
    if column_type == "TIMESTAMPTZ" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(max(0, min(value, 253402300799)), timezone.utc).isoformat().replace("+00:00", "Z")
    return value


OMITTED = object()


def _coerce_system_columns(body: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in body.items():
        column = zebline.ALIASES.get(key)
        if column is not None and column not in ("userid", "anonymousid"):
            value = _coerce(zebline.COLUMN_TYPES[column], value)
            if value is OMITTED:
                continue
        out[key] = value
    return out


def _odd_customs_as_text(body: dict[str, Any]) -> dict[str, Any]:
    if isinstance(body.get("attributes"), dict):
        body["attributes"] = {k: v if type_lock.type_of(v) is not None else json.dumps(v) for k, v in body["attributes"].items()}
    return body


def _datetimes_are_strings(original: Handler) -> Handler:
    """No datetime type apart from string: a string-locked attribute takes an ISO datetime and vice versa."""
    def handler(call: Call) -> Reply:
        attributes = call.body.get("attributes") if isinstance(call.body, dict) else None
        if isinstance(attributes, dict):
            lic = call.path_params["license_code"]
            for name, value in attributes.items():
                lock, sent = call.state.get(f"locks:{lic}", name), type_lock.type_of(value)
                if lock is not None and {lock["type"], sent} == {type_lock.STRING, type_lock.DATETIME}:
                    call.state.put(f"locks:{lic}", name, {**lock, "type": sent})
        return original(call)
    return handler


def _bearer_accepted(original: Handler) -> Handler:
    """'Bearer ACCESS_TOKEN' is taken as the raw token too."""
    def handler(call: Call) -> Reply:
        token = call.headers.get("authorization", "")
        if token.lower().startswith("bearer "):
            call = with_headers(call, authorization=token[7:].strip())
        return original(call)
    return handler


def _last_spelling_wins(body: dict[str, Any]) -> dict[str, Any]:
    """Two spellings of one column: the later key wins instead of a 400."""
    last = {zebline.ALIASES[k]: k for k in body if k in zebline.ALIASES}
    return {k: v for k, v in body.items() if k not in zebline.ALIASES or last[zebline.ALIASES[k]] == k}


def _unmapped_keys_dropped(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k == "attributes" or k in zebline.ALIASES}


def _long_ids_hashed(body: dict[str, Any]) -> dict[str, Any]:
    """Ids up to 1024 characters: a longer key column, stood in for by a stable digest of the id."""
    for key in ("userId", "anonymousId"):
        value = body.get(key)
        if isinstance(value, str) and 255 < len(value) <= 1024:
            body[key] = "sha256:" + hashlib.sha256(value.encode()).hexdigest()
    return body


def _bigint_columns(body: dict[str, Any]) -> dict[str, Any]:
    """INT columns as BIGINT: a 64-bit value is accepted (kept here at the INT4 edge; only acceptance is seen by default)."""
    for key, value in body.items():
        column = zebline.ALIASES.get(key)
        if column and zebline.COLUMN_TYPES[column] in ("INT", "INT4") and isinstance(value, int) and not isinstance(value, bool) \
                and -2**63 <= value < 2**63:
            body[key] = max(-2**31, min(value, 2**31 - 1))
    return body


def _us_dates_read(body: dict[str, Any]) -> dict[str, Any]:
    """TIMESTAMPTZ columns also read MM/DD/YYYY."""
    for key, value in body.items():
        column = zebline.ALIASES.get(key)
        if column and zebline.COLUMN_TYPES[column] == "TIMESTAMPTZ" and isinstance(value, str):
            match = re.fullmatch(r"(\d{2})/(\d{2})/(\d{4})", value.strip())
            if match:
                body[key] = f"{match[3]}-{match[1]}-{match[2]}"
    return body


def _anonymous_values_win(original: Handler) -> Handler:
    """On merge the anonymous profile's sent values win over the user's (the request's still win over both)."""
    def handler(call: Call) -> Reply:
        body = call.body if isinstance(call.body, dict) else None
        if body and isinstance(body.get("userId"), str) and isinstance(body.get("anonymousId"), str) \
                and isinstance(body.get("attributes"), dict):
            lic = call.path_params["license_code"]
            anon = call.state.get(f"anonymous:{lic}", body["anonymousId"])
            if anon is not None and "merged_into" not in anon and call.state.get(f"users:{lic}", body["userId"]) is not None:
                named = {zebline.ALIASES[k] for k in body if k in zebline.ALIASES}
                sent = {c: v for c, v in anon["system_attributes"].items() if c not in anon.get("defaulted", []) and c not in named}
                call = with_body(call, {**sent, **body, "attributes": {**anon["attributes"], **body["attributes"]}})
        return original(call)
    return handler


def _content_type_415(vendor: Vendor) -> Vendor:
    errors = dataclasses.replace(vendor.input_errors, wrong_content_type=("ZEB-INPUT-LIMITS", 415))
    return dataclasses.replace(vendor, input_errors=errors)


def _number_kind(value: Any) -> str | None:
    if type_lock.type_of(value) != type_lock.NUMBER:
        return None
    return "integer" if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and "." not in repr(value)) else "decimal"


def _integers_and_decimals_apart(original: Handler) -> Handler:
    """An attribute first sent an integer holds integers, one first sent a decimal decimals (a column typed by
    its first value, as a store inferring INTEGER or NUMERIC would): 5 then 4.5 is a type change (400)."""
    def handler(call: Call) -> Reply:
        attributes = call.body.get("attributes") if isinstance(call.body, dict) else None
        if not isinstance(attributes, dict):
            return original(call)
        lic, kinds = call.path_params["license_code"], f"number-kinds:{call.path_params['license_code']}"
        for name, value in attributes.items():
            kind, held = _number_kind(value), call.state.get(kinds, name)
            lock = call.state.get(f"locks:{lic}", name)
            if kind and held and held != kind and lock is not None and lock.get("type") == type_lock.NUMBER:
                raise Rejection(400, f"attribute {name!r} holds {held}s; got a {kind}; the user was not added",
                                ("ZEB-NUMBER-KINDS", "ZEB-TYPE-LOCK-STATUS"))
        reply = original(call)
        if reply.status < 300:
            for name, value in attributes.items():
                kind = _number_kind(value)
                if kind and call.state.get(kinds, name) is None:
                    call.state.put(kinds, name, kind)
        return reply
    return handler


# Assumption entries (server, not a model) with no variant, and why no other reasonable choice exists.
NO_VARIANT: dict[str, str] = {
    "ZEB-TENANT-ISOLATION": "the license code in the path names the account: one account's token reading or changing another's "
                            "profiles, locks or trackIDs is a leak, not another reading of the document",
}


MUTANTS = [
    Mutant("auth-skipped", "zebline", ("ZEB-AUTH-TOKEN",), wrapping(OP, _skip_auth), "no authorization header is served"),
    Mutant("token-of-any-tenant", "zebline", ("ZEB-STATUS-401",), wrapping(None, _any_tenants_token),
           "another account's token works on this license (isolation broken)"),
    Mutant("unauthorized-as-403", "zebline", ("ZEB-STATUS-401", "ZEB-AUTH-TOKEN"), wrapping(None, _unauthorized_as_403),
           "wrong credentials answer 403"),
    Mutant("attributes-optional", "zebline", ("ZEB-ATTRIBUTES-REQUIRED",), wrapping(OP, _body_fix(_default_attributes)),
           "a missing attributes key is taken as {}"),
    Mutant("id-optional", "zebline", ("ZEB-ID-REQUIRED",), wrapping(OP, _body_fix(_invent_user_id)), "a body without ids gets a new userId"),
    Mutant("numeric-ids-accepted", "zebline", ("ZEB-ID-STRING",), wrapping(OP, _body_fix(_stringify_ids)), "userId 40017 is taken as '40017'"),
    Mutant("custom-booleans-refused", "zebline", ("ZEB-CUSTOM-TYPES",), wrapping(OP, _refuse_boolean_customs),
           "a boolean custom attribute, one of the four documented types, answers 400"),
    Mutant("system-types-unchecked", "zebline", ("ZEB-SYSTEM-TYPES",), wrapping(OP, _body_fix(_drop_mistyped_columns)),
           "mistyped system attributes (children: 'two') are silently dropped"),
    Mutant("refused-type-change-applied", "zebline", ("ZEB-TYPE-LOCK",), _refused_type_change_applied,
           "the type-change refusal is answered after the request was applied (the read-back shows it)"),
    Mutant("type-lock-ignored", "zebline", ("ZEB-TYPE-LOCK", "ZEB-CUSTOM-ATTR-STORED"), wrapping(OP, _forget_locks),
           "a custom attribute may change type"),
    Mutant("create-only", "zebline", ("ZEB-UPSERT-UPDATE",), wrapping(OP, _existing_user_conflicts), "an existing userId answers 409"),
    Mutant("upsert-replaces", "zebline", ("ZEB-UPSERT-UPDATE",), wrapping(OP, _upsert_replaces),
           "an update replaces the profile: what was not sent again is lost (seen through the read-back)"),
    Mutant("merge-refused", "zebline", ("ZEB-MERGE",), wrapping(OP, _no_merge), "userId with anonymousId answers 400"),
    Mutant("merge-drops-anonymous-data", "zebline", ("ZEB-MERGE",), wrapping(OP, _merge_drops_anonymous_data),
           "the merge links the anonymous id but drops the anonymous profile's attributes (seen through the read-back)"),
    Mutant("envelope-without-track-id", "zebline", ("ZEB-RESP-QUEUED",), replying(OP, _drop_track_id), "the queued answer lacks trackID"),
    Mutant("one-track-id-for-all", "zebline", ("ZEB-RESP-QUEUED",), replying(OP, _same_track_id), "every request gets the same trackID"),
    Mutant("malformed-json-422", "zebline", ("ZEB-STATUS-400",), _malformed_json_422, "invalid JSON answers 422, not 400"),
    Mutant("crash-on-empty-attributes", "zebline", ("test_schemathesis",), wrapping(OP, _crash_on_empty_attributes),
           "attributes: {} answers 500", fuzz_only=True),
]

STRICT_MUTANTS = [
    Mutant("untyped-custom-values-dropped", "zebline", ("ZEB-CUSTOM-TYPES-ONLY",), wrapping(OP, _body_fix(_drop_untyped_attributes)),
           "null/array/object custom values are silently dropped"),
    Mutant("system-values-coerced", "zebline", ("ZEB-SYSTEM-TYPES-EXACT",), wrapping(OP, _body_fix(_coerce_system_columns)),
           "42 in a STRING column is taken as '42', '2' in an INT column as 2, null as no value"),
    Mutant("lookups-cross-accounts", "zebline", ("ZEB-TENANT-ISOLATION",), wrapping(("modeled_get_user", "modeled_get_track"), _lookups_cross_accounts),
           "the read-back GETs find another account's profiles and trackIDs"),
    Mutant("merge-defaults-win", "zebline", ("ZEB-MERGE-PRECEDENCE",), wrapping(OP, _merge_defaults_win),
           "on a merge the user's table defaults overwrite values the anonymous profile was sent"),
    Mutant("iso-and-plain-strings-one-type", "zebline", ("ZEB-DATETIME-DETECTION",), wrapping(OP, _datetimes_are_strings),
           "a datetime-locked attribute takes any string"),
    Mutant("track-ids-not-uuids", "zebline", ("ZEB-TRACKID-UUID",), wrapping((OP, "modeled_get_track"), _hex_track_ids),
           "trackIDs are 32 hex digits without dashes"),
]

VARIANTS = [
    Mutant("accepted-202-extra-fields", "zebline", (), replying(OP, _accepted_202), "202 with extra fields in the queued body",
           varies=("ZEB-SUCCESS-STATUS",)),
    Mutant("hex-track-ids", "zebline", (), wrapping((OP, "modeled_get_track"), _hex_track_ids),
           "trackIDs as 32 hex digits (an independent implementation answers ULIDs)", varies=("ZEB-TRACKID-UUID",)),
    Mutant("other-error-body", "zebline", (), erroring(_other_error_body), "errors as {error: {code, message}}",
           varies=("ZEB-ERROR-BODY",)),
    Mutant("type-change-409", "zebline", (), wrapping(OP, on_refusal("ZEB-TYPE-LOCK", _as_409)), "a type change answers 409",
           varies=("ZEB-TYPE-LOCK-STATUS",)),
    Mutant("type-lock-per-user", "zebline", (), wrapping(OP, _lock_per_user), "locks per profile, not per account",
           varies=("ZEB-TYPE-LOCK-PER-ACCOUNT",)),
    Mutant("system-values-coerced", "zebline", (), wrapping(OP, _body_fix(_coerce_system_columns)),
           "values of another JSON type coerced into the column's (42 -> '42', '2' -> 2, 'yes' -> true, null: no value)",
           varies=("ZEB-SYSTEM-TYPES-EXACT",)),
    Mutant("odd-custom-values-as-text", "zebline", (), wrapping(OP, _body_fix(_odd_customs_as_text)),
           "null/array/object custom values stored as JSON text instead of refused", varies=("ZEB-CUSTOM-TYPES-ONLY",)),
    Mutant("datetimes-are-strings", "zebline", (), wrapping(OP, _datetimes_are_strings), "no datetime type apart from string",
           varies=("ZEB-DATETIME-DETECTION",)),
    Mutant("bearer-accepted", "zebline", (), wrapping(None, _bearer_accepted), "'Bearer ACCESS_TOKEN' works too",
           varies=("ZEB-AUTH-RAW-TOKEN",)),
    Mutant("last-spelling-wins", "zebline", (), wrapping(OP, _body_fix(_last_spelling_wins)), "two spellings of a column: the later wins",
           varies=("ZEB-KEY-MAPPING",)),
    Mutant("unmapped-keys-dropped", "zebline", (), wrapping(OP, _body_fix(_unmapped_keys_dropped)), "unknown top-level keys ignored",
           varies=("ZEB-UNMAPPED-KEYS",)),
    Mutant("ids-up-to-1024", "zebline", (), wrapping(OP, _body_fix(_long_ids_hashed)), "ids up to 1024 characters",
           varies=("ZEB-ID-NONEMPTY",)),
    Mutant("bigint-columns", "zebline", (), wrapping(OP, _body_fix(_bigint_columns)), "INT columns take 64-bit integers",
           varies=("ZEB-INT-RANGE",)),
    Mutant("us-dates-read", "zebline", (), wrapping(OP, _body_fix(_us_dates_read)), "TIMESTAMPTZ columns also read MM/DD/YYYY",
           varies=("ZEB-TIMESTAMPTZ-FORMAT",)),
    Mutant("anonymous-values-win", "zebline", (), wrapping(OP, _anonymous_values_win), "on merge the anonymous profile's values win",
           varies=("ZEB-MERGE-PRECEDENCE",)),
    Mutant("wrong-content-type-415", "zebline", (), _content_type_415, "a body not sent as JSON answers 415",
           varies=("ZEB-INPUT-LIMITS",)),
    Mutant("integers-and-decimals-apart", "zebline", (), wrapping(OP, _integers_and_decimals_apart),
           "an attribute first sent an integer refuses a decimal and vice versa (5 then 4.5 is a type change)",
           varies=("ZEB-NUMBER-KINDS",)),
]
