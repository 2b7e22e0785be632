"""Quick Audience (seed 001): data-collection APIs (channels) of an organization, and signed event collection.

The seed describes console steps only; cdpkit models them as a REST surface under
``/quickaudience/v1/`` (QA-REST-SURFACE). State, per scope:

* ``tokens``: console token -> {organization}                               (QA-MGMT-AUTH)
* ``apis:<org>``: apiId -> the record, keys included                        (QA-CREATE-RETURNS-KEYS)
* ``keys``: AccessKeyId -> {organization, apiId}, how a collection call finds its channel
* ``retired:<org>``: "<apiId>/<n>" -> a secret that stopped working (rotated or removed)
* ``events:<org>``: "<apiId>/<n>" -> one accepted event, the newest EVENTS_PER_CHANNEL (QA-EVENTS-STORED)
* ``counters``: "<kind>:<org>:<apiId>" -> last sequence number used
"""

from __future__ import annotations

import secrets
import string
import uuid
from typing import Any

from cdpkit.schemas import qa_signing
from cdpkit.mockserver.quickaudience_demo import CONFIG_FIELDS, DEMO_CONSOLE_TOKEN, demo, record_problems
from cdpkit.mockserver.ids import uuid4_hex
from cdpkit.mockserver.store import Scope
from cdpkit.mockserver.vendor import Call, InputErrors, Rejection, Reply, Vendor, seed_string

NAME = "quickaudience"
# QA-ERROR-ENVELOPE (assumption): errorCode per status when the refusal names none.
ERROR_CODES = {
    400: "InvalidParameter",
    401: "Unauthorized",
    403: "Forbidden",
    404: "ApiNotFound",
    405: "MethodNotAllowed",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
}
PLATFORM_CHANNELS = ("APP", "MINI_PROGRAM")
# QA-EVENTS-STORED (assumption): the events a channel keeps; storing event n forgets event n - N.
EVENTS_PER_CHANNEL = 1_000
RETIRED_PER_CHANNEL = 20  # retired secrets a channel remembers for the state view and the precise 401
# Plain words for schema failures whose validator message would only show the schema keyword.
HINTS = {
    "QA-FIELDS-PER-TYPE": "platformTypes belong to APP and MINI_PROGRAM channels, networkDomains to WEB channels",
    "QA-EDIT-EMPTY": "an edit names at least one of " + ", ".join(CONFIG_FIELDS),
    "QA-COLLECT-BODY": "an event carries id, ts (epoch ms), sdk_type \"httpapi\" and at least one of umid and puid",
}
_ALNUM = string.ascii_letters + string.digits


def _envelope(data: Any) -> dict[str, Any]:
    """QA-ENVELOPE: Quick Audience's event-reporting answer shape."""
    return {"data": data, "errorCode": None, "errorDesc": None, "success": True, "traceId": uuid4_hex()}


def ok(data: Any) -> Reply:
    return Reply(200, _envelope(data))


def render_error(rejection: Rejection, call: Call | None) -> Reply:
    """QA-ERROR-ENVELOPE: success false with errorCode/errorDesc; the requirement IDs say which rule."""
    code = rejection.detail.get("code") or ERROR_CODES.get(rejection.status, "Error")
    located = [
        f"{v['location']}: {v['message']}" + (f" ({HINTS[v['requirement']]})" if v["requirement"] in HINTS else "")
        for v in rejection.detail.get("violations", ())
    ]
    body = {**_envelope(None), "errorCode": code, "errorDesc": "; ".join(located) or rejection.message, "success": False}
    if rejection.requirement_ids:
        body["requirements"] = list(rejection.requirement_ids)
    return Reply(rejection.status, body)


# -- management API ----------------------------------------------------------------------------
def organization_of(call: Call) -> str:
    """QA-MGMT-AUTH: the organization the bearer console token belongs to."""
    call.require_valid("headers", status=401)
    token = call.bearer_token()
    record = call.state.get("tokens", token)
    if record is None:
        raise Rejection(401, "unknown console token", ("QA-MGMT-AUTH",), {"code": "Unauthorized"})
    return record["organization"]


def api_record(call: Call, org: str) -> dict[str, Any]:
    """QA-NOT-FOUND / QA-TENANT-ISOLATION: another organization's id is as unknown as a removed one."""
    api_id = call.path_params["apiId"]
    record = call.state.get(f"apis:{org}", api_id)
    if record is None:
        raise Rejection(404, f"no data-collection API {api_id!r} in this organization", ("QA-NOT-FOUND",))
    return record


def _new_key(prefix: str, length: int, alphabet: str = _ALNUM) -> str:
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def _next(call: Call, counter: str) -> int:
    n = (call.state.get("counters", counter) or 0) + 1
    call.state.put("counters", counter, n)
    return n


def _retire(call: Call, org: str, record: dict[str, Any], reason: str) -> None:
    """Keep a secret that stopped working, for the state view and for a precise 401 message: the newest
    RETIRED_PER_CHANNEL of each channel (an older one is refused all the same, with the plain signature
    message), so rotations neither grow the state nor the HMACs a refused collection call tries."""
    n = _next(call, f"retired:{org}:{record['apiId']}")
    if n > RETIRED_PER_CHANNEL:
        call.state.delete(f"retired:{org}", f"{record['apiId']}/{n - RETIRED_PER_CHANNEL:06d}")
    call.state.put(
        f"retired:{org}",
        f"{record['apiId']}/{n:06d}",
        {"apiId": record["apiId"], "accessKeyId": record["accessKeyId"], "accessKeySecret": record["accessKeySecret"],
         "reason": reason, "retiredAt": int(call.now * 1000)},
    )


def configuration(body: dict[str, Any]) -> dict[str, Any]:
    return {k: body[k] for k in CONFIG_FIELDS if k in body}


def create_api(call: Call) -> Reply:
    org = organization_of(call)
    # QA-CHANNEL-NAME, QA-CHANNEL-NAME-BLANK, QA-COLLECTED-NO-REJECTED, QA-APP-TYPE, QA-PLATFORM-REQUIRED,
    # QA-PLATFORM-UNIQUE, QA-DOMAIN-HTTP, QA-DOMAIN-UNIQUE, QA-FIELDS-PER-TYPE …
    call.require_valid("body")
    now = int(call.now * 1000)
    record = {
        "apiId": f"qa-api-{uuid.uuid4().hex[:12]}",
        **configuration(call.body),
        # QA-CREATE-RETURNS-KEYS: the record carries an AccessKey pair and an APPKEY.
        "accessKeyId": _new_key("LTAIqa", 16),
        "accessKeySecret": _new_key("", 30),
        "appKey": _new_key("", 23, string.ascii_lowercase + string.digits),
        "createdAt": now,
        "updatedAt": now,
    }
    call.state.put(f"apis:{org}", record["apiId"], record)  # QA-CREATE-SAVES
    call.state.put("keys", record["accessKeyId"], {"organization": org, "apiId": record["apiId"]})
    return ok(record)


def list_apis(call: Call) -> Reply:
    org = organization_of(call)  # QA-TENANT-ISOLATION: only this organization's records
    items = sorted((r for _, r in call.state.items(f"apis:{org}")), key=lambda r: (r.get("createdAt", 0), r["apiId"]))
    return ok({"items": items, "total": len(items)})


def get_api(call: Call) -> Reply:
    org = organization_of(call)
    return ok(api_record(call, org))  # QA-ACCESSKEYID-VIEW, QA-SECRET-VIEW-UPDATE


def update_api(call: Call) -> Reply:
    org = organization_of(call)
    record = api_record(call, org)
    call.require_valid("body")  # QA-EDIT-EMPTY: at least one known field; each well formed
    wanted = call.body.get("applicationType", record["applicationType"])
    if wanted != record["applicationType"]:
        raise Rejection(
            400,
            f"the application type cannot be changed ({record['applicationType']} -> {wanted})",
            ("QA-APP-TYPE-IMMUTABLE",),
            {"code": "ApplicationTypeImmutable"},
        )
    merged = {**configuration(record), **configuration(call.body)}
    # The edited configuration obeys the create rules (QA-FIELDS-PER-TYPE, QA-PLATFORM-MATCHES-TYPE, …).
    found = call.validators.violations(NAME, "create_api", "body", merged)
    if found:
        raise Rejection(
            400,
            "the edited configuration is invalid: " + "; ".join(v.message for v in found),
            tuple(dict.fromkeys(v.requirement_id for v in found)),
            {"violations": [v.as_dict() for v in found]},
        )
    updated = {**record, **merged, "updatedAt": int(call.now * 1000)}  # QA-KEYS-STABLE: keys untouched
    call.state.put(f"apis:{org}", record["apiId"], updated)
    return ok(updated)


def delete_api(call: Call) -> Reply:
    org = organization_of(call)
    record = api_record(call, org)
    call.state.delete(f"apis:{org}", record["apiId"])  # QA-REMOVE: its keys authenticate nothing now
    call.state.delete("keys", record["accessKeyId"])
    _retire(call, org, record, "removed")
    return ok(True)


def rotate_secret(call: Call) -> Reply:
    org = organization_of(call)
    record = api_record(call, org)
    _retire(call, org, record, "rotated")  # QA-SECRET-ROTATE-INVALIDATES: the old secret stops at once
    secret = _new_key("", 30)
    while secret == record["accessKeySecret"]:
        secret = _new_key("", 30)
    updated = {**record, "accessKeySecret": secret, "updatedAt": int(call.now * 1000)}  # QA-KEYS-STABLE
    call.state.put(f"apis:{org}", record["apiId"], updated)
    return ok({"apiId": record["apiId"], "accessKeyId": record["accessKeyId"], "accessKeySecret": secret})


# -- collection --------------------------------------------------------------------------------
def _signed_by_retired(call: Call, org: str, record: dict[str, Any], signature: str) -> bool:
    return any(
        old["apiId"] == record["apiId"]
        and qa_signing.verify(old["accessKeySecret"], qa_signing.COLLECT_SERVICE, call.query, call.raw_body, signature)
        for _, old in call.state.items(f"retired:{org}")
    )


def _same_origin(origin: str, domain: str) -> bool:
    scheme_o, _, rest_o = origin.strip().rstrip("/").partition("://")
    scheme_d, _, rest_d = domain.strip().rstrip("/").partition("://")
    return scheme_o.lower() == scheme_d.lower() and rest_o.lower() == rest_d.lower()


def _check_source(call: Call, record: dict[str, Any]) -> dict[str, Any]:
    """QA-COLLECT-PLATFORM / QA-COLLECT-ORIGIN: the event comes from a platform or domain of the channel."""
    if record["applicationType"] in PLATFORM_CHANNELS:
        platform = call.body.get("platform")
        if platform is None:
            raise Rejection(400, f"an event of a {record['applicationType']} channel names its platform "
                            f"(one of {record['platformTypes']})", ("QA-COLLECT-PLATFORM",))
        if platform not in record["platformTypes"]:
            raise Rejection(403, f"platform {platform!r} is not declared by this channel "
                            f"({record['platformTypes']})", ("QA-COLLECT-PLATFORM",), {"code": "PlatformNotDeclared"})
        return {"platform": platform}
    origin = call.headers.get("Origin")
    if origin is None or not any(_same_origin(origin, d) for d in record["networkDomains"]):
        raise Rejection(403, f"Origin {origin!r} is not one of this WEB channel's network domains "
                        f"({record['networkDomains']})", ("QA-COLLECT-ORIGIN",), {"code": "OriginNotAllowed"})
    return {"origin": origin}


def collect_event(call: Call) -> Reply:
    call.require_valid("query", status=401)  # QA-KEYS-AUTHENTICATE, QA-SIGNATURE: both present
    key_id = call.query[qa_signing.ACCESS_KEY_ID_PARAM]
    signature = call.query[qa_signing.SIGNATURE_PARAM]
    owner = call.state.get("keys", key_id)
    record = owner and call.state.get(f"apis:{owner['organization']}", owner["apiId"])
    if not record:  # QA-REMOVE: a removed API's keys fail like unknown ones
        raise Rejection(401, f"unknown AccessKeyId {key_id!r}", ("QA-KEYS-AUTHENTICATE",), {"code": "InvalidAccessKeyId"})
    org = owner["organization"]
    if not qa_signing.verify(record["accessKeySecret"], qa_signing.COLLECT_SERVICE, call.query, call.raw_body, signature):
        if _signed_by_retired(call, org, record, signature):
            raise Rejection(401, "signed with a previous AccessKeySecret, which became invalid when it was updated",
                            ("QA-SECRET-ROTATE-INVALIDATES",), {"code": "AccessKeySecretRotated"})
        canonical = qa_signing.canonical_string(qa_signing.COLLECT_SERVICE, call.query, b"<body>")
        raise Rejection(401, "signature does not match: expected hex HMAC-SHA1 of "
                        f"{canonical.decode('utf-8', 'replace')!r} keyed by the AccessKeySecret",
                        ("QA-SIGNATURE",), {"code": "SignatureDoesNotMatch"})
    call.require_valid("body")  # QA-COLLECT-BODY
    if call.body["appkey"] != record["appKey"]:
        raise Rejection(403, "appkey is not this channel's APPKEY", ("QA-COLLECT-APPKEY",), {"code": "AppKeyMismatch"})
    source = _check_source(call, record)
    n = _next(call, f"events:{org}:{record['apiId']}")
    call.state.put(f"events:{org}", f"{record['apiId']}/{n:08d}",  # QA-EVENTS-STORED
                   {"apiId": record["apiId"], "accessKeyId": key_id, "receivedAt": int(call.now * 1000),
                    **source, "event": call.body})
    if n > EVENTS_PER_CHANNEL:  # QA-EVENTS-STORED: the channel keeps its newest EVENTS_PER_CHANNEL events
        call.state.delete(f"events:{org}", f"{record['apiId']}/{n - EVENTS_PER_CHANNEL:08d}")
    return ok(True)


# -- seeding, credentials, state ---------------------------------------------------------------
def load_seed(scope: Scope, section: dict[str, Any]) -> None:
    """``{tokens: {token: {organization}}, organizations: {org: {apis: {apiId: record}}}}``; see quickaudience_demo."""
    for token, record in (section.get("tokens") or {}).items():
        owner = seed_string(record, "organization", f"quickaudience: console token {token!r} needs {{organization: NAME}}")
        scope.put("tokens", token, {"organization": owner})
    for org, body in (section.get("organizations") or {}).items():
        for api_id, raw in ((body or {}).get("apis") or {}).items():
            record = {"apiId": api_id, "collectedByQuickTracking": True, "createdAt": 0, "updatedAt": 0, **(raw or {})}
            problems = record_problems(record)
            if problems:
                raise ValueError(f"quickaudience: API {org}/{api_id}: {problems}")
            owner = scope.get("keys", record["accessKeyId"])
            if owner and owner != {"organization": org, "apiId": api_id}:
                raise ValueError(f"quickaudience: AccessKeyId {record['accessKeyId']!r} already belongs to {owner}")
            scope.put(f"apis:{org}", api_id, record)
            scope.put("keys", record["accessKeyId"], {"organization": org, "apiId": api_id})


def _organizations(scope: Scope) -> dict[str, list[str]]:
    orgs: dict[str, list[str]] = {}
    for token, record in scope.items("tokens"):
        orgs.setdefault(record["organization"], []).append(token)
    return orgs


def credentials(scope: Scope) -> dict[str, Any]:
    """check: ``console_token`` (the demo organization's) and ``other_console_token`` (another organization's)."""
    orgs = _organizations(scope)
    tenants = [
        {"organization": org, "console_tokens": tokens, "apis": [r for _, r in scope.items(f"apis:{org}")]}
        for org, tokens in orgs.items()
    ]
    ordered = sorted(orgs.items(), key=lambda item: DEMO_CONSOLE_TOKEN not in item[1])
    check: dict[str, Any] = {}
    if ordered:
        first = ordered[0][1]
        check["console_token"] = DEMO_CONSOLE_TOKEN if DEMO_CONSOLE_TOKEN in first else first[0]
    if len(ordered) > 1:
        check["other_console_token"] = ordered[1][1][0]
    return {"tenants": tenants, "check": check}


def state_view(scope: Scope) -> dict[str, Any]:
    """Per organization: console tokens, channels with their keys, collected events, retired secrets."""
    orgs = _organizations(scope)
    for kind in scope.kinds():
        prefix, _, org = kind.partition(":")
        if prefix in ("apis", "events", "retired") and org:
            orgs.setdefault(org, [])
    view: dict[str, Any] = {}
    for org, tokens in sorted(orgs.items()):
        events: dict[str, list[Any]] = {}
        for key, event in scope.items(f"events:{org}"):
            events.setdefault(key.split("/", 1)[0], []).append(event)
        view[org] = {
            "console_tokens": tokens,
            "channels": dict(scope.items(f"apis:{org}")),
            "events": events,
            "retired_secrets": [r for _, r in scope.items(f"retired:{org}")],
        }
    return {"organizations": view}


VENDOR = Vendor(
    name=NAME,
    title="Alibaba Cloud Quick Audience data-collection APIs (modeled)",
    handlers={
        "create_api": create_api,
        "list_apis": list_apis,
        "get_api": get_api,
        "update_api": update_api,
        "delete_api": delete_api,
        "rotate_secret": rotate_secret,
        "collect_event": collect_event,
    },
    render_error=render_error,
    input_errors=InputErrors(  # QA-BAD-INPUT
        malformed_json=("QA-BAD-INPUT", 400),
        wrong_content_type=("QA-BAD-INPUT", 415),
        too_large=("QA-BAD-INPUT", 413),
        too_deep=("QA-BAD-INPUT", 400),
    ),
    demo=demo,
    load_seed=load_seed,
    credentials=credentials,
    state_view=state_view,
    notes=["paths already start with /quickaudience/v1/, so the /<vendor> copy is /quickaudience/quickaudience/v1/…"],
)
