"""Quick Audience mutants (one defect each, caught by the named requirement) and over-spec variants (pass).

``MUTANTS`` are caught by the default run (documented checks); ``STRICT_MUTANTS`` break an assumption
of the mock and are caught only with ``--strict``.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from datetime import datetime
from typing import Any, Callable

from cdpkit.mockserver import quickaudience as qa
from cdpkit.mockserver.vendor import Call, Handler, Rejection, Reply, Vendor
from tests.mutants import Mutant, erroring, on_refusal, replying, with_body, with_headers, without_field, wrapping


def _accept_unknown_key(original: Handler) -> Handler:
    """Any AccessKeyId is taken: an unknown one is answered as accepted."""
    def handler(call: Call) -> Reply:
        key = call.query.get("accessKeyId")
        if key and call.state.get("keys", key) is None:
            return qa.ok(True)
        return original(call)
    return handler


def _remove_does_nothing(call: Call) -> Reply:
    qa.api_record(call, qa.organization_of(call))
    return qa.ok(True)


def _type_changeable(original: Handler) -> Handler:
    """An edit naming another application type replaces the type and its platform/domain fields."""
    def handler(call: Call) -> Reply:
        org = qa.organization_of(call)
        record = qa.api_record(call, org)
        wanted = (call.body or {}).get("applicationType") if isinstance(call.body, dict) else None
        if wanted in ("APP", "MINI_PROGRAM", "WEB") and wanted != record["applicationType"]:
            kept = {k: v for k, v in record.items() if k not in ("platformTypes", "networkDomains")}
            updated = {**kept, **qa.configuration(call.body)}
            call.state.put(f"apis:{org}", record["apiId"], updated)
            return qa.ok(updated)
        return original(call)
    return handler


def _edit_not_saved(original: Handler) -> Handler:
    """The edit answers the new record but the stored one stays as it was."""
    def handler(call: Call) -> Reply:
        org = qa.organization_of(call)
        before = qa.api_record(call, org)
        reply = original(call)
        call.state.put(f"apis:{org}", before["apiId"], before)
        return reply
    return handler


def _with_scheme(domain: Any) -> Any:
    if isinstance(domain, str) and not domain.lower().startswith(("http://", "https://")):
        return "https://" + domain.split("://", 1)[-1]
    return domain


def _any_scheme(original: Handler) -> Handler:
    """Domains without http(s) are taken (validated as if they had https)."""
    def handler(call: Call) -> Reply:
        body = call.body
        if isinstance(body, dict) and isinstance(body.get("networkDomains"), list):
            call = with_body(call, {**body, "networkDomains": [_with_scheme(d) for d in body["networkDomains"]]})
        return original(call)
    return handler


def _name_optional(original: Handler) -> Handler:
    def handler(call: Call) -> Reply:
        body = call.body
        if isinstance(body, dict) and not str(body.get("channelName") or "").strip():
            call = with_body(call, {**body, "channelName": "Untitled channel"})
        return original(call)
    return handler


def _platforms_optional(original: Handler) -> Handler:
    def handler(call: Call) -> Reply:
        body = call.body
        if isinstance(body, dict) and body.get("applicationType") in qa.PLATFORM_CHANNELS and not body.get("platformTypes"):
            default = ["ANDROID"] if body["applicationType"] == "APP" else ["WECHAT_MINI_PROGRAM"]
            call = with_body(call, {**body, "platformTypes": default})
        return original(call)
    return handler


def _rotate_keeps_secret(call: Call) -> Reply:
    record = qa.api_record(call, qa.organization_of(call))
    return qa.ok({"apiId": record["apiId"], "accessKeyId": record["accessKeyId"], "accessKeySecret": record["accessKeySecret"]})


def _drop_appkey(call: Call, reply: Reply) -> Reply:
    if reply.status == 200:
        reply.body["data"].pop("appKey", None)
    return reply


def _crash_on_unknown_api(original: Handler) -> Handler:
    """A realistic bug: the read assumes the apiId exists (an unknown one makes the pipeline answer 500)."""
    def handler(call: Call) -> Reply:
        org = qa.organization_of(call)
        record: dict[str, Any] = call.state.get(f"apis:{org}", call.path_params["apiId"])  # None when unknown
        return qa.ok({**record})  # the defect: unpacks None
    return handler


# -- strict-only defects -------------------------------------------------------------------------
def _one_organization(original: Handler) -> Handler:
    """Every known console token manages the demo organization: isolation broken."""
    def handler(call: Call) -> Reply:
        token = call.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if token and call.state.get("tokens", token) is not None:
            call = with_headers(call, Authorization=f"Bearer {qa.DEMO_CONSOLE_TOKEN}")
        return original(call)
    return handler




# -- over-specification variants: other reasonable choices where the document is silent ---------
def _created_201_with_extras(call: Call, reply: Reply) -> Reply:
    if reply.status == 200:
        reply.body["data"] = {**reply.body["data"], "status": "ENABLED", "creator": "cdpkit"}
        reply.body["requestId"] = "req-1"
        return Reply(201, reply.body)
    return reply


def _other_error_body(rejection: Rejection, reply: Reply) -> Reply:
    return Reply(reply.status, {"code": f"QA{reply.status}", "message": rejection.message, "request_id": "r-1"})


def _other_refusal_statuses(original: Handler) -> Handler:
    """A changed application type answers 409, a rotated or wrong secret 403 instead of 401."""
    def handler(call: Call) -> Reply:
        try:
            return original(call)
        except Rejection as rejection:
            ids = set(rejection.requirement_ids)
            if "QA-APP-TYPE-IMMUTABLE" in ids:
                raise Rejection(409, rejection.message, rejection.requirement_ids, rejection.detail) from None
            if ids & {"QA-SECRET-ROTATE-INVALIDATES", "QA-SIGNATURE", "QA-KEYS-AUTHENTICATE"}:
                raise Rejection(403, rejection.message, rejection.requirement_ids, rejection.detail) from None
            raise
    return handler


def _type_field_refused(original: Handler) -> Handler:
    """An edit may not name the application type at all, not even unchanged."""
    def handler(call: Call) -> Reply:
        if isinstance(call.body, dict) and "applicationType" in call.body:
            raise Rejection(400, "the application type cannot be edited", ("QA-APP-TYPE-IMMUTABLE",))
        return original(call)
    return handler


def _domains_reordered(original: Handler) -> Handler:
    """Network domains are stored (and shown) sorted, not in the order sent."""
    def handler(call: Call) -> Reply:
        body = call.body
        if isinstance(body, dict) and isinstance(body.get("networkDomains"), list):
            domains = body["networkDomains"]
            call = with_body(call, {**body, "networkDomains": sorted(domains, key=str, reverse=True)})
        return original(call)
    return handler


def _dedupe(body: Any) -> Any:
    if not isinstance(body, dict):
        return body
    out = dict(body)
    for key in ("platformTypes", "networkDomains"):
        if isinstance(out.get(key), list):
            kept: list[Any] = []
            for value in out[key]:
                if value not in kept:
                    kept.append(value)
            out[key] = kept
    return out


def _repeats_folded(original: Handler) -> Handler:
    """A platform type or domain listed twice is kept once, not refused (QA-PLATFORM-UNIQUE / QA-DOMAIN-UNIQUE)."""
    return lambda call: original(with_body(call, _dedupe(call.body)))


def _blank_name_kept(original: Handler) -> Handler:
    """A channel name of only whitespace is stored as sent (QA-CHANNEL-NAME-BLANK is the mock's choice)."""
    def handler(call: Call) -> Reply:
        name = call.body.get("channelName") if isinstance(call.body, dict) else None
        if not (isinstance(name, str) and name and not name.strip()):
            return original(call)
        reply = original(with_body(call, {**call.body, "channelName": "blank"}))
        if reply.status == 200 and isinstance(reply.body.get("data"), dict):
            record = {**reply.body["data"], "channelName": name}
            call.state.put(f"apis:{qa.organization_of(call)}", record["apiId"], record)
            reply.body["data"] = record
        return reply
    return handler


def _status_for(requirement_id: str, status: int) -> Callable[[Handler], Handler]:
    """A handler wrap: a refusal naming ``requirement_id`` answers ``status`` instead."""
    def answer(rejection: Rejection) -> Reply:
        raise Rejection(status, rejection.message, rejection.requirement_ids, rejection.detail)
    return on_refusal(requirement_id, answer)


def _organizations(call: Call) -> set[str]:
    return {record["organization"] for _, record in call.state.items("tokens")}


def _foreign_api_403(original: Handler) -> Handler:
    """Another organization's apiId answers 403 (it exists, but is not yours) instead of 404."""
    def handler(call: Call) -> Reply:
        try:
            return original(call)
        except Rejection as rejection:
            if "QA-NOT-FOUND" in rejection.requirement_ids:
                mine = qa.organization_of(call)
                if any(call.state.get(f"apis:{org}", call.path_params["apiId"]) for org in _organizations(call) - {mine}):
                    raise Rejection(403, "this API belongs to another organization", ("QA-TENANT-ISOLATION",)) from None
            raise
    return handler


def _channel_type(call: Call) -> str | None:
    """The application type a create or edit is about: the body's, else the stored record's."""
    body = call.body if isinstance(call.body, dict) else {}
    if "applicationType" in body or call.operation_id == "create_api":
        return body.get("applicationType") if isinstance(body.get("applicationType"), str) else None
    try:
        return qa.api_record(call, qa.organization_of(call))["applicationType"]
    except Rejection:
        return None


def _stored_as_sent(substitute: Callable[[Call, dict[str, Any]], dict[str, Any] | None]) -> Callable[[Handler], Handler]:
    """A handler wrap for create/edit: where ``substitute`` gives a body the mock will take in place of the
    one sent, the mock handles that one and the record then holds the fields as they were sent."""
    def wrap(original: Handler) -> Handler:
        def handler(call: Call) -> Reply:
            stand_in = substitute(call, dict(call.body)) if isinstance(call.body, dict) else None
            if stand_in is None:
                return original(call)
            reply = original(with_body(call, stand_in))
            if reply.status < 300 and isinstance(reply.body.get("data"), dict):
                sent = {k: call.body[k] for k in ("collectedByQuickTracking", "platformTypes", "networkDomains") if k in call.body}
                record = {**reply.body["data"], **sent}
                call.state.put(f"apis:{qa.organization_of(call)}", record["apiId"], record)
                reply.body["data"] = record
            return reply
        return handler
    return wrap


def _collected_no_kept(call: Call, body: dict[str, Any]) -> dict[str, Any] | None:
    """collectedByQuickTracking false is stored as sent (the document asks senders not to choose No)."""
    return {**body, "collectedByQuickTracking": True} if body.get("collectedByQuickTracking") is False else None


def _collected_default_yes(original: Handler) -> Handler:
    """A create without collectedByQuickTracking takes the console's default, Yes."""
    def handler(call: Call) -> Reply:
        if isinstance(call.body, dict) and "collectedByQuickTracking" not in call.body:
            call = with_body(call, {**call.body, "collectedByQuickTracking": True})
        return original(call)
    return handler


KNOWN_PLATFORMS = {"APP": ("ANDROID", "IOS"), "MINI_PROGRAM": ("WECHAT_MINI_PROGRAM", "ALIPAY_MINI_PROGRAM")}
PLATFORM_WORD = re.compile(r"[A-Z][A-Z0-9_]*")


def _platform_stand_in(call: Call, body: dict[str, Any], keep: Callable[[str, str], bool]) -> dict[str, Any] | None:
    """platformTypes without the entries ``keep(type, platform)`` refuses to drop; None when nothing changes."""
    kind, platforms = _channel_type(call), body.get("platformTypes")
    if kind not in KNOWN_PLATFORMS or not isinstance(platforms, list):
        return None
    if all(not isinstance(p, str) or keep(kind, p) for p in platforms):
        return None
    kept = [p for p in platforms if not isinstance(p, str) or keep(kind, p)]
    return {**body, "platformTypes": kept or [KNOWN_PLATFORMS[kind][0]]}


def _open_platform_list(call: Call, body: dict[str, Any]) -> dict[str, Any] | None:
    """'such as' leaves the platform list open: any upper-case platform word (HARMONYOS, BAIDU_MINI_PROGRAM) is kept."""
    known = {p for pair in KNOWN_PLATFORMS.values() for p in pair}
    return _platform_stand_in(call, body, lambda kind, p: p in known or not PLATFORM_WORD.fullmatch(p))


def _platforms_any_type(call: Call, body: dict[str, Any]) -> dict[str, Any] | None:
    """Any known platform goes with either platform channel (an APP may declare WECHAT_MINI_PROGRAM)."""
    return _platform_stand_in(call, body, lambda kind, p: p in KNOWN_PLATFORMS[kind] or
                              not any(p in pair for pair in KNOWN_PLATFORMS.values()))


ORIGIN_WITH_PATH = re.compile(r"(https?://[^/?#\s]+)/[^?#\s]+")


def _domain_paths_kept(call: Call, body: dict[str, Any]) -> dict[str, Any] | None:
    """A network domain with a path (https://shop.example.com/store) is kept as sent; its origin is what counts."""
    domains = body.get("networkDomains")
    if not isinstance(domains, list) or not any(isinstance(d, str) and ORIGIN_WITH_PATH.fullmatch(d) for d in domains):
        return None
    return {**body, "networkDomains": [m[1] if isinstance(d, str) and (m := ORIGIN_WITH_PATH.fullmatch(d)) else d for d in domains]}


def _origin_of_stored_domain(original: Handler) -> Handler:
    """Collection compares the Origin with each stored domain's origin (scheme, host, port)."""
    def handler(call: Call) -> Reply:
        origin, record = call.headers.get("Origin"), _collecting_channel(call)
        for domain in (record or {}).get("networkDomains") or []:
            match = ORIGIN_WITH_PATH.fullmatch(domain)
            if origin and match and origin.rstrip("/").lower() == match[1].lower():
                return original(with_headers(call, Origin=domain))
        return original(call)
    return handler


def _collecting_channel(call: Call) -> dict[str, Any] | None:
    owner = call.state.get("keys", call.query.get("accessKeyId", ""))
    return call.state.get(f"apis:{owner['organization']}", owner["apiId"]) if owner else None


def _well_formed(field: str, value: Any) -> bool:
    """The field's own documented shape: http(s) domains, or platform types of the four."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        return False
    if field == "networkDomains":
        return all(v.lower().startswith(("http://", "https://")) for v in value)
    return all(any(v in pair for pair in KNOWN_PLATFORMS.values()) for v in value)


def _other_type_fields_ignored(original: Handler) -> Handler:
    """networkDomains on an APP/MINI_PROGRAM channel, platformTypes on a WEB one: ignored whatever they
    hold, not refused (the document describes each field for its own application types only)."""
    def handler(call: Call) -> Reply:
        kind = _channel_type(call)
        if isinstance(call.body, dict) and kind in ("APP", "MINI_PROGRAM", "WEB"):
            foreign = "networkDomains" if kind in KNOWN_PLATFORMS else "platformTypes"
            if foreign in call.body:
                call = with_body(call, {k: v for k, v in call.body.items() if k != foreign})
        return original(call)
    return handler


def _rotate_new_key_pair(original: Handler) -> Handler:
    """Updating the secret issues a new AccessKey pair: a new AccessKeyId too (the old one stops working)."""
    def handler(call: Call) -> Reply:
        reply = original(call)
        if reply.status < 300 and isinstance(reply.body.get("data"), dict):
            org = qa.organization_of(call)
            record = call.state.get(f"apis:{org}", reply.body["data"]["apiId"])
            key_id = "LTAIqa" + secrets.token_hex(8)
            call.state.delete("keys", record["accessKeyId"])
            call.state.put("keys", key_id, {"organization": org, "apiId": record["apiId"]})
            call.state.put(f"apis:{org}", record["apiId"], {**record, "accessKeyId": key_id})
            reply.body["data"] = {**reply.body["data"], "accessKeyId": key_id}
        return reply
    return handler


def _empty_edit_no_op(original: Handler) -> Handler:
    """An edit naming no configuration field changes nothing and answers the record."""
    def handler(call: Call) -> Reply:
        try:
            return original(call)
        except Rejection as rejection:
            if set(rejection.requirement_ids) == {"QA-EDIT-EMPTY"}:
                return qa.ok(qa.api_record(call, qa.organization_of(call)))
            raise
    return handler


def _iso_ts_and_default_sdk_type(original: Handler) -> Handler:
    """An event's ts may also be ISO-8601 text, and sdk_type defaults to httpapi."""
    def handler(call: Call) -> Reply:
        body = call.body
        if isinstance(body, dict):
            body = {"sdk_type": "httpapi", **body}
            if isinstance(body.get("ts"), str) and "T" in body["ts"]:
                try:
                    body["ts"] = int(datetime.fromisoformat(body["ts"]).timestamp() * 1000)
                except ValueError:
                    pass
            call = with_body(call, body)
        return original(call)
    return handler


def _appkey_optional_mismatch_401(original: Handler) -> Handler:
    """The AccessKey names the channel, so a missing appkey is the channel's; a wrong one answers 401."""
    def handler(call: Call) -> Reply:
        record = _collecting_channel(call)
        if record and isinstance(call.body, dict) and "appkey" not in call.body:
            call = with_body(call, {**call.body, "appkey": record["appKey"]})
        return original(call)
    return _status_for("QA-COLLECT-APPKEY", 401)(handler)


def _platform_optional(original: Handler) -> Handler:
    """An event of a platform channel that names no platform is taken (one that names an undeclared one is not)."""
    def handler(call: Call) -> Reply:
        record = _collecting_channel(call)
        if record and record.get("platformTypes") and isinstance(call.body, dict) and "platform" not in call.body:
            call = with_body(call, {**call.body, "platform": record["platformTypes"][0]})
        return original(call)
    return handler


def _origin_optional(original: Handler) -> Handler:
    """An event of a WEB channel without an Origin header (a server, not a browser) is taken; a foreign Origin is not."""
    def handler(call: Call) -> Reply:
        record = _collecting_channel(call)
        if record and record.get("networkDomains") and call.headers.get("Origin") is None:
            call = with_headers(call, Origin=record["networkDomains"][0])
        return original(call)
    return handler


def _bad_input_all_400(vendor: Vendor) -> Vendor:
    """Every unreadable body answers 400: another content type and an oversized body too."""
    errors = dataclasses.replace(vendor.input_errors, wrong_content_type=("QA-BAD-INPUT", 400), too_large=("QA-BAD-INPUT", 400))
    return dataclasses.replace(vendor, input_errors=errors)


def _both(*patches: Callable[[Vendor], Vendor]) -> Callable[[Vendor], Vendor]:
    def patch(vendor: Vendor) -> Vendor:
        for one in patches:
            vendor = one(vendor)
        return vendor
    return patch


# Assumption entries (server, not a model) with no variant, and why no other reasonable choice exists.
NO_VARIANT: dict[str, str] = {
    "QA-EVENTS-STORED": "it defines what the cdpkit mock shows of accepted events in its own state view (/__mock/state); "
                        "no documented call reads events back, so no other implementation makes a choice here",
}


def _replace(op: str, handler: Handler) -> Any:
    return wrapping(op, lambda _original: handler)


MANAGEMENT = ("create_api", "list_apis", "get_api", "update_api", "delete_api", "rotate_secret")
EDITS = ("create_api", "update_api")
BY_ID = ("get_api", "update_api", "delete_api", "rotate_secret")
V = "quickaudience"

MUTANTS = [
    Mutant("rotated-secret-still-works", V, ("QA-SECRET-ROTATE-INVALIDATES",), wrapping("collect_event", on_refusal("QA-SECRET-ROTATE-INVALIDATES", lambda _: qa.ok(True))),
           "a collection signed with the previous secret is accepted"),
    Mutant("unknown-access-key-accepted", V, ("QA-KEYS-AUTHENTICATE",), wrapping("collect_event", _accept_unknown_key),
           "an AccessKeyId no API has is accepted"),
    Mutant("remove-does-nothing", V, ("QA-REMOVE",), _replace("delete_api", _remove_does_nothing),
           "remove answers success and keeps the API and its keys"),
    Mutant("application-type-changeable", V, ("QA-APP-TYPE-IMMUTABLE",), wrapping("update_api", _type_changeable),
           "an edit may change the application type"),
    Mutant("edit-not-saved", V, ("QA-EDIT",), wrapping("update_api", _edit_not_saved), "the edit answer is not stored"),
    Mutant("web-domain-any-scheme", V, ("QA-DOMAIN-HTTP",), wrapping(("create_api", "update_api"), _any_scheme),
           "network domains without http(s) are taken"),
    Mutant("channel-name-optional", V, ("QA-CHANNEL-NAME",), wrapping("create_api", _name_optional), "no or blank channel name is taken"),
    Mutant("platforms-optional", V, ("QA-PLATFORM-REQUIRED",), wrapping("create_api", _platforms_optional),
           "an APP / Mini Program channel without platform types is taken"),
    Mutant("rotate-keeps-secret", V, ("QA-SECRET-VIEW-UPDATE", "QA-SECRET-ROTATE-INVALIDATES"), _replace("rotate_secret", _rotate_keeps_secret),
           "the secret update answers the same secret"),
    Mutant("create-answer-without-appkey", V, ("QA-CREATE-RETURNS-KEYS",), replying("create_api", _drop_appkey),
           "the create answer lacks the APPKEY"),
    Mutant("crash-on-unknown-api", V, ("test_schemathesis",), wrapping("get_api", _crash_on_unknown_api),
           "an unknown apiId answers 500", fuzz_only=True),
]

STRICT_MUTANTS = [
    Mutant("isolation-broken", V, ("QA-TENANT-ISOLATION",), wrapping(MANAGEMENT, _one_organization),
           "every console token manages the demo organization"),
    Mutant("envelope-without-success", V, ("QA-ENVELOPE",), replying(MANAGEMENT, without_field("success")),
           "success answers lack success: true"),
    Mutant("origin-not-checked", V, ("QA-COLLECT-ORIGIN",), wrapping("collect_event", on_refusal("QA-COLLECT-ORIGIN", lambda _: qa.ok(True))), "WEB events from any Origin"),
    Mutant("blank-name-accepted", V, ("QA-CHANNEL-NAME-BLANK",), wrapping(("create_api", "update_api"), _blank_name_kept),
           "a channel name of only whitespace is stored"),
    Mutant("repeated-platform-accepted", V, ("QA-PLATFORM-UNIQUE",), wrapping("create_api", _repeats_folded),
           "a platform type listed twice is taken"),
    Mutant("repeated-domain-accepted", V, ("QA-DOMAIN-UNIQUE",), wrapping("create_api", _repeats_folded),
           "a network domain listed twice is taken"),
]

VARIANTS = [
    Mutant("created-201-with-extra-fields", V, (), replying("create_api", _created_201_with_extras),
           "create answers 201 with extra fields in the record and envelope", varies=("QA-ENVELOPE",)),
    Mutant("other-error-body", V, (), erroring(_other_error_body), "errors as {code, message, request_id}", varies=("QA-ERROR-ENVELOPE",)),
    Mutant("other-refusal-statuses", V, (), wrapping(("update_api", "collect_event"), _other_refusal_statuses),
           "409 for a type change, 403 for a rotated or wrong secret", varies=("QA-ERROR-ENVELOPE", "QA-SIGNATURE")),
    Mutant("type-field-refused-domains-reordered", V, (),
           lambda vendor: wrapping("update_api", _type_field_refused)(wrapping(("create_api", "update_api"), _domains_reordered)(vendor)),
           "an edit naming the unchanged application type is refused; domains are kept in another order"),
    Mutant("blank-names-kept-repeats-folded", V, (),
           lambda vendor: wrapping(("create_api", "update_api"), _blank_name_kept)(wrapping(("create_api", "update_api"), _repeats_folded)(vendor)),
           "a blank channel name is stored as sent; a platform type or domain listed twice is kept once",
           varies=("QA-CHANNEL-NAME-BLANK", "QA-PLATFORM-UNIQUE", "QA-DOMAIN-UNIQUE")),
    Mutant("console-auth-403", V, (), wrapping(MANAGEMENT, _status_for("QA-MGMT-AUTH", 403)),
           "a missing or unknown console token answers 403", varies=("QA-MGMT-AUTH",)),
    Mutant("foreign-api-403", V, (), wrapping(BY_ID, _foreign_api_403),
           "another organization's apiId answers 403, not 404", varies=("QA-TENANT-ISOLATION",)),
    Mutant("collected-no-stored", V, (), _both(wrapping(EDITS, _stored_as_sent(_collected_no_kept)), wrapping("create_api", _collected_default_yes)),
           "collectedByQuickTracking false is stored as sent; missing on create means Yes", varies=("QA-COLLECTED-NO-REJECTED",)),
    Mutant("open-platform-list", V, (), wrapping(EDITS, _stored_as_sent(_open_platform_list)),
           "platform types beyond the four (HARMONYOS, BAIDU_MINI_PROGRAM) are kept", varies=("QA-ENUM-SPELLING",)),
    Mutant("platforms-any-type", V, (), wrapping(EDITS, _stored_as_sent(_platforms_any_type)),
           "an APP channel may declare a Mini Program platform and the reverse", varies=("QA-PLATFORM-MATCHES-TYPE",)),
    Mutant("domain-paths-kept", V, (), _both(wrapping(EDITS, _stored_as_sent(_domain_paths_kept)),
                                             wrapping("collect_event", _origin_of_stored_domain)),
           "a network domain with a path is kept; collection compares origins", varies=("QA-DOMAIN-ORIGIN-FORM",)),
    Mutant("other-type-fields-ignored", V, (), wrapping(EDITS, _other_type_fields_ignored),
           "networkDomains on an APP channel (platformTypes on a WEB one) are ignored, not refused", varies=("QA-FIELDS-PER-TYPE",)),
    Mutant("rotate-new-key-pair", V, (), wrapping("rotate_secret", _rotate_new_key_pair),
           "updating the secret issues a new AccessKeyId too", varies=("QA-KEYS-STABLE",)),
    Mutant("empty-edit-no-op", V, (), wrapping("update_api", _empty_edit_no_op),
           "an edit naming no configuration field answers the unchanged record", varies=("QA-EDIT-EMPTY",)),
    Mutant("remove-idempotent", V, (), wrapping("delete_api", on_refusal("QA-NOT-FOUND", lambda _: qa.ok(True))),
           "removing an apiId the organization does not have answers success (DELETE is idempotent)", varies=("QA-NOT-FOUND",)),
    Mutant("iso-ts-default-sdk-type", V, (), wrapping("collect_event", _iso_ts_and_default_sdk_type),
           "an event's ts may be ISO-8601 text; sdk_type defaults to httpapi", varies=("QA-COLLECT-BODY",)),
    Mutant("appkey-optional-mismatch-401", V, (), wrapping("collect_event", _appkey_optional_mismatch_401),
           "a missing appkey is the AccessKey's channel's; a wrong one answers 401", varies=("QA-COLLECT-APPKEY",)),
    Mutant("collect-platform-optional", V, (), wrapping("collect_event", _platform_optional),
           "an event of a platform channel may leave out its platform", varies=("QA-COLLECT-PLATFORM",)),
    Mutant("collect-origin-optional", V, (), wrapping("collect_event", _origin_optional),
           "an event of a WEB channel without an Origin header (sent by a server) is taken", varies=("QA-COLLECT-ORIGIN",)),
    Mutant("bad-input-all-400", V, (), _bad_input_all_400,
           "another content type and an oversized body answer 400, not 415/413", varies=("QA-BAD-INPUT",)),
]
