"""Zebline mutants (one defect each, caught by the named requirement) and over-spec variants (pass)."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from mockserver import type_lock, zebline
from mockserver.vendor import Call, Handler, Rejection, Reply, Vendor
from tests.mutants import Mutant, erroring, on_refusal, replying, with_body, with_headers, wrapping

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
    """A realistic bug: the first attribute is read unconditionally (an empty object makes the pipeline answer 500)."""
    def handler(call: Call) -> Reply:
        reply = original(call)
        next(iter(call.body["attributes"]))  # the defect: StopIteration on {}
        return reply
    return handler


def _drop_track_id(call: Call, reply: Reply) -> Reply:
    if reply.status < 300:
        reply.body["response"].pop("trackID", None)
    return reply


def _same_track_id(call: Call, reply: Reply) -> Reply:
    if reply.status < 300:
        reply.body["response"]["trackID"] = "bfb7428a-f017-4b4b-b8f5-fd39c4bad20f"  # the document's example, every time
    return reply


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
    Mutant("untyped-custom-values-dropped", "zebline", ("ZEB-CUSTOM-TYPES",), wrapping(OP, _body_fix(_drop_untyped_attributes)),
           "null/array/object custom values are silently dropped"),
    Mutant("system-types-unchecked", "zebline", ("ZEB-SYSTEM-TYPES",), wrapping(OP, _body_fix(_drop_mistyped_columns)),
           "mistyped system attributes are silently dropped"),
    Mutant("type-lock-ignored", "zebline", ("ZEB-TYPE-LOCK", "ZEB-CUSTOM-ATTR-STORED"), wrapping(OP, _forget_locks),
           "a custom attribute may change type"),
    Mutant("create-only", "zebline", ("ZEB-UPSERT-UPDATE",), wrapping(OP, _existing_user_conflicts), "an existing userId answers 409"),
    Mutant("merge-refused", "zebline", ("ZEB-MERGE",), wrapping(OP, _no_merge), "userId with anonymousId answers 400"),
    Mutant("envelope-without-track-id", "zebline", ("ZEB-RESP-QUEUED",), replying(OP, _drop_track_id), "the queued answer lacks trackID"),
    Mutant("one-track-id-for-all", "zebline", ("ZEB-RESP-QUEUED",), replying(OP, _same_track_id), "every request gets the same trackID"),
    Mutant("malformed-json-422", "zebline", ("ZEB-STATUS-400",), _malformed_json_422, "invalid JSON answers 422, not 400"),
    Mutant("crash-on-empty-attributes", "zebline", ("test_schemathesis",), wrapping(OP, _crash_on_empty_attributes),
           "attributes: {} answers 500", fuzz_only=True),
]

VARIANTS = [
    Mutant("accepted-202-extra-fields", "zebline", (), replying(OP, _accepted_202), "202 with extra fields in the queued body"),
    Mutant("other-error-body", "zebline", (), erroring(_other_error_body), "errors as {error: {code, message}}"),
    Mutant("type-change-409", "zebline", (), wrapping(OP, on_refusal("ZEB-TYPE-LOCK", _as_409)), "a type change answers 409"),
    Mutant("type-lock-per-user", "zebline", (), wrapping(OP, _lock_per_user), "locks per profile, not per account"),
]
