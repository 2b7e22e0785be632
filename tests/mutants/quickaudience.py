"""Quick Audience mutants (one defect each, caught by the named requirement) and over-spec variants (pass).

``MUTANTS`` are caught by the default run (documented checks); ``STRICT_MUTANTS`` break an assumption
of the mock and are caught only with ``--strict``.
"""

from __future__ import annotations

from typing import Any

from mockserver import quickaudience as qa
from mockserver.vendor import Call, Handler, Rejection, Reply
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


def _replace(op: str, handler: Handler) -> Any:
    return wrapping(op, lambda _original: handler)


MANAGEMENT = ("create_api", "list_apis", "get_api", "update_api", "delete_api", "rotate_secret")
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
           "create answers 201 with extra fields in the record and envelope"),
    Mutant("other-error-body", V, (), erroring(_other_error_body), "errors as {code, message, request_id}"),
    Mutant("other-refusal-statuses", V, (), wrapping(("update_api", "collect_event"), _other_refusal_statuses),
           "409 for a type change, 403 for a rotated or wrong secret"),
    Mutant("type-field-refused-domains-reordered", V, (),
           lambda vendor: wrapping("update_api", _type_field_refused)(wrapping(("create_api", "update_api"), _domains_reordered)(vendor)),
           "an edit naming the unchanged application type is refused; domains are kept in another order"),
    Mutant("blank-names-kept-repeats-folded", V, (),
           lambda vendor: wrapping(("create_api", "update_api"), _blank_name_kept)(wrapping(("create_api", "update_api"), _repeats_folded)(vendor)),
           "a blank channel name is stored as sent; a platform type or domain listed twice is kept once"),
]
