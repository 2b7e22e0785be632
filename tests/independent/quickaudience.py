"""Independent implementation of the modeled Quick Audience data-collection API surface.

Start:  /work/main/.venv/bin/python /tmp/indep/quickaudience/app.py --port 8080
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import re
import secrets
import string
import time
import uuid
from urllib.parse import parse_qsl, quote

from aiohttp import web

CREDS = {
    "console_token": "qa-console-token-org-alpha-7f3c9e21",
    "other_console_token": "qa-console-token-org-beta-4b8d02aa",
}

# console token -> organization id
_ORGS = {
    CREDS["console_token"]: "org-alpha",
    CREDS["other_console_token"]: "org-beta",
}

APP_TYPES = ("APP", "MINI_PROGRAM", "WEB")
PLATFORMS_BY_TYPE = {
    "APP": ("ANDROID", "IOS"),
    "MINI_PROGRAM": ("WECHAT_MINI_PROGRAM", "ALIPAY_MINI_PROGRAM"),
}
EDITABLE_FIELDS = ("channelName", "collectedByQuickTracking", "applicationType",
                   "platformTypes", "networkDomains")
SIGN_SERVICE = "quickaudience.collect"

_DOMAIN_RE = re.compile(
    r"^(?P<scheme>[hH][tT][tT][pP][sS]?)://"
    r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)"
    r"(?::(?P<port>[0-9]{1,5}))?/?$"
)
_HEX40 = re.compile(r"^[0-9a-fA-F]{40}$")
_TS_STR = re.compile(r"^[0-9]{1,16}$")

STATE_KEY = web.AppKey("qa_state", dict)
DEFECTS_KEY = web.AppKey("qa_defects", frozenset)

DEFECTS: dict[str, dict[str, str]] = {
    "rotated_secret_still_valid": {
        "sentence": "After you update the AccessKeySecret, the previous secret becomes invalid.",
        "english": "After you update the AccessKeySecret, the previous secret becomes invalid.",
        "bug": "After a secret rotation, collect calls signed with the previous AccessKeySecret are still accepted (200) alongside the new one.",
    },
    "removed_key_still_works": {
        "sentence": "If you no longer need the API, click Remove to delete it.",
        "english": "If you no longer need the API, click Remove to delete it.",
        "bug": "Remove hides the record (GET 404) but its AccessKeyId stays in the key index, so signed collect calls with the removed channel's keys still return 200.",
    },
    "web_domain_without_scheme": {
        "sentence": "For web applications, enter the full network domain that starts with http or https.",
        "english": "For web applications, enter the full network domain that starts with http or https.",
        "bug": "A WEB channel's network domain without http:// or https:// (e.g. 'www.example.com') is accepted on create and edit instead of 400.",
    },
    "app_type_changeable": {
        "sentence": "Click Edit to modify the API configuration. The application type cannot be changed.",
        "english": "Click Edit to modify the API configuration. The application type cannot be changed.",
        "bug": "An edit giving a different applicationType (with a valid platform/domain list for it) is accepted (200) and the channel's type changes.",
    },
    "edit_rotates_secret": {
        "sentence": "Click Edit to modify the API configuration. The application type cannot be changed.",
        "english": "Click Edit to modify the API configuration. The application type cannot be changed.",
        "bug": "Editing the configuration (e.g. only the channel name) silently regenerates the AccessKeySecret, so the edit answer and later reads show a different secret and the data collection program's old secret stops working.",
    },
    "only_first_platform_saved": {
        "sentence": "Click New Platform Configuration to add another platform type.",
        "english": "Click New Platform Configuration to add another platform type.",
        "bug": "Create accepts several platform types but stores only the first; the record lists one platform and events from the second platform are refused with 403.",
    },
    "collected_no_accepted": {
        "sentence": "Do not select No. You do not need to configure this API if data is not collected by Quick Tracking.",
        "english": "Do not select No. You do not need to configure this API if data is not collected by Quick Tracking.",
        "bug": "collectedByQuickTracking=false is accepted on create (200, record saved with false) instead of being refused with 400.",
    },
    "list_shows_other_orgs": {
        "sentence": "In the upper-right corner of the page, click image and choose Organization Management > API Management. Then, in the upper-right corner, click Create API > Create App API.",
        "english": "In the upper-right corner of the page, click the icon and choose Organization Management > API Management. Then, in the upper-right corner, click Create API > Create App API.",
        "bug": "The API Management list returns every organization's channels (with their AccessKeySecrets), not only the calling organization's.",
    },
    "platform_object_500": {
        "sentence": "For apps and Mini Programs, select the platform type, such as Android, iOS, WeChat mini program, or Alipay mini program.",
        "english": "For apps and Mini Programs, select the platform type, such as Android, iOS, WeChat mini program, or Alipay mini program.",
        "bug": "A platformTypes entry that is a JSON object/array (not a platform name) crashes the create handler: 500 Internal Server Error instead of a 400 refusal.",
    },
}


def _on(request: web.Request, name: str) -> bool:
    return name in request.app[DEFECTS_KEY]


# --------------------------------------------------------------------------- helpers

class ApiError(Exception):
    def __init__(self, status: int, code: str, desc: str):
        super().__init__(desc)
        self.status = status
        self.code = code
        self.desc = desc


def _trace_id() -> str:
    return uuid.uuid4().hex[:30]


def ok(data, status: int = 200) -> web.Response:
    return web.json_response(
        {"data": data, "errorCode": None, "errorDesc": None, "success": True, "traceId": _trace_id()},
        status=status,
    )


def fail(status: int, code: str, desc: str) -> web.Response:
    return web.json_response(
        {"data": None, "errorCode": code, "errorDesc": desc, "success": False, "traceId": _trace_id()},
        status=status,
    )


def _now_ms() -> int:
    return int(time.time() * 1000)


def _rand(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


_ALNUM = string.ascii_letters + string.digits


def _new_access_key_id() -> str:
    return "LTAI" + _rand(_ALNUM, 20)


def _new_secret() -> str:
    return _rand(_ALNUM, 30)


def _new_app_key() -> str:
    return _rand(string.ascii_lowercase + string.digits, 24)


def _reject_constant(name):
    raise ValueError(f"invalid JSON constant {name}")


def _parse_json_bytes(raw: bytes):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "InvalidJson", "the body is not UTF-8 text")
    if not text.strip():
        raise ApiError(400, "MissingBody", "a JSON body is required")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise ApiError(400, "InvalidJson", "the body is not valid JSON")


async def _json_object(request: web.Request) -> dict:
    raw = await request.read()
    body = _parse_json_bytes(raw)
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidParameter", "the body must be a JSON object")
    return body


def _org_of(request: web.Request) -> str:
    auth = request.headers.get("Authorization")
    if not auth:
        raise ApiError(401, "MissingAuthorization", "Authorization: Bearer <console token> is required")
    parts = auth.strip().split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise ApiError(401, "InvalidAuthorization", "the Authorization header must be 'Bearer <console token>'")
    org = _ORGS.get(parts[1].strip())
    if org is None:
        raise ApiError(401, "InvalidToken", "unknown console token")
    return org


def _parse_domain(value):
    """Return (scheme, host, port) normalized, or None when not scheme://host[:port][/]."""
    if not isinstance(value, str):
        return None
    m = _DOMAIN_RE.match(value)
    if not m:
        return None
    scheme = m.group("scheme").lower()
    host = m.group("host").lower()
    port = m.group("port")
    if port is not None:
        port = int(port)
        if port < 1 or port > 65535:
            return None
    else:
        port = 443 if scheme == "https" else 80
    return scheme, host, port


def _is_bool(v) -> bool:
    return isinstance(v, bool)


# --------------------------------------------------------------------------- validation

class _Crash(Exception):
    """Unhandled server error (defect)."""

def _validate_config(cfg: dict, defects: frozenset = frozenset()) -> None:
    """Validate a complete channel configuration (create body, or merged edit)."""
    # Channel Name
    if "channelName" not in cfg:
        raise ApiError(400, "MissingParameter", "channelName is required")
    name = cfg["channelName"]
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "InvalidParameter", "channelName must be a non-blank string")

    # Collected by Quick Tracking: Yes
    if "collectedByQuickTracking" not in cfg:
        raise ApiError(400, "MissingParameter", "collectedByQuickTracking is required")
    cbqt = cfg["collectedByQuickTracking"]
    if not _is_bool(cbqt):
        raise ApiError(400, "InvalidParameter", "collectedByQuickTracking must be a boolean")
    if cbqt is not True and "collected_no_accepted" not in defects:
        raise ApiError(400, "InvalidParameter",
                       "collectedByQuickTracking must be true: this API is only for data collected by Quick Tracking")

    # Application Type
    if "applicationType" not in cfg:
        raise ApiError(400, "MissingParameter", "applicationType is required")
    app_type = cfg["applicationType"]
    if app_type not in APP_TYPES or not isinstance(app_type, str):
        raise ApiError(400, "InvalidParameter", "applicationType must be one of APP, MINI_PROGRAM, WEB")

    if app_type in PLATFORMS_BY_TYPE:
        if "networkDomains" in cfg:
            raise ApiError(400, "InvalidParameter",
                           f"networkDomains applies to WEB channels only, not to {app_type}")
        if "platformTypes" not in cfg:
            raise ApiError(400, "MissingParameter", f"platformTypes is required for {app_type} channels")
        pts = cfg["platformTypes"]
        if not isinstance(pts, list) or not pts:
            raise ApiError(400, "InvalidParameter", "platformTypes must be a non-empty array")
        allowed = PLATFORMS_BY_TYPE[app_type]
        seen = set()
        for p in pts:
            if "platform_object_500" in defects and isinstance(p, (dict, list)):
                raise _Crash()
            if not isinstance(p, str) or p not in allowed:
                raise ApiError(400, "InvalidParameter",
                               f"platform type {p!r} is not valid for {app_type} (allowed: {', '.join(allowed)})")
            if p in seen:
                raise ApiError(400, "InvalidParameter", f"platform type {p} is listed twice")
            seen.add(p)
    else:  # WEB
        if "platformTypes" in cfg:
            raise ApiError(400, "InvalidParameter", "platformTypes applies to APP and MINI_PROGRAM channels, not to WEB")
        if "networkDomains" not in cfg:
            raise ApiError(400, "MissingParameter", "networkDomains is required for WEB channels")
        nds = cfg["networkDomains"]
        if not isinstance(nds, list) or not nds:
            raise ApiError(400, "InvalidParameter", "networkDomains must be a non-empty array")
        seen = set()
        for d in nds:
            parsed = _parse_domain(d)
            if parsed is None and "web_domain_without_scheme" in defects and isinstance(d, str) \
                    and "://" not in d:
                parsed = _parse_domain("http://" + d)
            if parsed is None:
                raise ApiError(400, "InvalidParameter",
                               f"network domain {d!r} must be a full domain starting with http:// or https:// "
                               "(scheme://host[:port], no path)")
            if parsed in seen:
                raise ApiError(400, "InvalidParameter", f"network domain {d!r} is listed twice")
            seen.add(parsed)


def _public(rec: dict) -> dict:
    out = {
        "apiId": rec["apiId"],
        "channelName": rec["channelName"],
        "collectedByQuickTracking": rec["collectedByQuickTracking"],
        "applicationType": rec["applicationType"],
    }
    if rec["applicationType"] == "WEB":
        out["networkDomains"] = list(rec["networkDomains"])
    else:
        out["platformTypes"] = list(rec["platformTypes"])
    out.update({
        "accessKeyId": rec["accessKeyId"],
        "accessKeySecret": rec["accessKeySecret"],
        "appKey": rec["appKey"],
        "createdAt": rec["createdAt"],
        "updatedAt": rec["updatedAt"],
    })
    return out


def _config_fields(rec: dict) -> dict:
    cfg = {k: rec[k] for k in ("channelName", "collectedByQuickTracking", "applicationType")}
    if rec["applicationType"] == "WEB":
        cfg["networkDomains"] = rec["networkDomains"]
    else:
        cfg["platformTypes"] = rec["platformTypes"]
    return cfg


def _lookup(state: dict, org: str, api_id: str) -> dict:
    rec = state["apis"].get(api_id)
    if rec is None or rec["org"] != org:
        raise ApiError(404, "ApiNotFound", f"no data collection API {api_id!r} in this organization")
    return rec


# --------------------------------------------------------------------------- handlers

async def create_api(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    org = _org_of(request)
    body = await _json_object(request)
    defects = request.app[DEFECTS_KEY]
    _validate_config(body, defects)
    now = _now_ms()
    api_id = "qa-api-" + uuid.uuid4().hex[:16]
    while True:
        key_id = _new_access_key_id()
        if key_id not in state["by_key"]:
            break
    rec = {
        "org": org,
        "apiId": api_id,
        "channelName": body["channelName"],
        "collectedByQuickTracking": body["collectedByQuickTracking"] if "collected_no_accepted" in defects else True,
        "applicationType": body["applicationType"],
        "accessKeyId": key_id,
        "accessKeySecret": _new_secret(),
        "appKey": _new_app_key(),
        "createdAt": now,
        "updatedAt": now,
        "events": [],
    }
    if rec["applicationType"] == "WEB":
        rec["networkDomains"] = list(body["networkDomains"])
    else:
        rec["platformTypes"] = list(body["platformTypes"])
        if "only_first_platform_saved" in defects:
            rec["platformTypes"] = rec["platformTypes"][:1]
    state["apis"][api_id] = rec
    state["by_key"][key_id] = api_id
    return ok(_public(rec))


async def list_apis(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    org = _org_of(request)
    items = [_public(r) for r in state["apis"].values()
             if r["org"] == org or _on(request, "list_shows_other_orgs")]
    return ok({"items": items, "total": len(items)})


async def get_api(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    org = _org_of(request)
    rec = _lookup(state, org, request.match_info["apiId"])
    return ok(_public(rec))


async def update_api(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    org = _org_of(request)
    rec = _lookup(state, org, request.match_info["apiId"])
    body = await _json_object(request)
    given = {k: body[k] for k in EDITABLE_FIELDS if k in body}
    if not given:
        raise ApiError(400, "InvalidParameter",
                       "nothing to edit: give at least one of " + ", ".join(EDITABLE_FIELDS))
    type_change = False
    if "applicationType" in given and given["applicationType"] != rec["applicationType"] \
            and _on(request, "app_type_changeable") and given["applicationType"] in APP_TYPES:
        type_change = True
    elif "applicationType" in given and given["applicationType"] != rec["applicationType"]:
        raise ApiError(400, "ApplicationTypeImmutable",
                       f"the application type cannot be changed ({rec['applicationType']} -> "
                       f"{given['applicationType']!r})")
    merged = _config_fields(rec)
    if type_change:
        merged.pop("platformTypes", None)
        merged.pop("networkDomains", None)
    merged.update(given)
    _validate_config(merged, request.app[DEFECTS_KEY])
    if type_change:
        rec.pop("platformTypes", None)
        rec.pop("networkDomains", None)
        rec["applicationType"] = merged["applicationType"]
    if _on(request, "edit_rotates_secret"):
        rec["accessKeySecret"] = _new_secret()
    rec["channelName"] = merged["channelName"]
    if rec["applicationType"] == "WEB":
        rec["networkDomains"] = list(merged["networkDomains"])
    else:
        rec["platformTypes"] = list(merged["platformTypes"])
    rec["updatedAt"] = max(_now_ms(), rec["updatedAt"])
    return ok(_public(rec))


async def delete_api(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    org = _org_of(request)
    rec = _lookup(state, org, request.match_info["apiId"])
    del state["apis"][rec["apiId"]]
    if _on(request, "removed_key_still_works"):
        state["removed"][rec["accessKeyId"]] = rec
    else:
        state["by_key"].pop(rec["accessKeyId"], None)
    return ok(True)


async def rotate_secret(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    org = _org_of(request)
    rec = _lookup(state, org, request.match_info["apiId"])
    old = rec["accessKeySecret"]
    new = _new_secret()
    while new == old:
        new = _new_secret()
    rec["accessKeySecret"] = new
    if _on(request, "rotated_secret_still_valid"):
        rec.setdefault("oldSecrets", []).append(old)
    rec["updatedAt"] = max(_now_ms(), rec["updatedAt"])
    return ok({
        "apiId": rec["apiId"],
        "accessKeyId": rec["accessKeyId"],
        "accessKeySecret": new,
        "appKey": rec["appKey"],
    })


def _canonical_queries(pairs):
    """The canonical 'sorted query without signature' strings accepted for signing.

    Primary form: decoded key=value pairs sorted by key (then value), joined with '&'.
    Also accepted: the same with keys and values percent-encoded per RFC 3986.
    """
    rest = sorted((k, v) for k, v in pairs if k != "signature")
    plain = "&".join(f"{k}={v}" for k, v in rest)
    enc = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in rest)
    return [plain] if plain == enc else [plain, enc]


def compute_signature(secret: str, canonical_query: str, body: bytes) -> str:
    msg = SIGN_SERVICE.encode() + b"\n" + canonical_query.encode("utf-8") + b"\n" + body
    return hmac.new(secret.encode("utf-8"), msg, hashlib.sha1).hexdigest()


def sign_request(secret: str, params: dict, body: bytes) -> str:
    """Client helper: the signature for query params (without signature) and body bytes."""
    canon = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "signature")
    return compute_signature(secret, canon, body)


def _validate_event(ev) -> None:
    if not isinstance(ev, dict):
        raise ApiError(400, "InvalidParameter", "the event must be a JSON object")
    for f in ("appkey", "id", "ts", "sdk_type"):
        if f not in ev:
            raise ApiError(400, "MissingParameter", f"{f} is required")
    for f in ("appkey", "id"):
        if not isinstance(ev[f], str) or not ev[f]:
            raise ApiError(400, "InvalidParameter", f"{f} must be a non-empty string")
    ts = ev["ts"]
    if isinstance(ts, bool) or not (
        (isinstance(ts, int) and ts >= 0) or (isinstance(ts, str) and _TS_STR.match(ts))
    ):
        raise ApiError(400, "InvalidParameter", "ts must be epoch milliseconds (digits or a non-negative integer)")
    if ev["sdk_type"] != "httpapi":
        raise ApiError(400, "InvalidParameter", "sdk_type must be 'httpapi'")
    if "umid" not in ev and "puid" not in ev:
        raise ApiError(400, "MissingParameter", "at least one of umid or puid is required")
    for f in ("umid", "puid", "platform"):
        if f in ev and (not isinstance(ev[f], str) or not ev[f]):
            raise ApiError(400, "InvalidParameter", f"{f} must be a non-empty string")
    if "page_name" in ev and not isinstance(ev["page_name"], str):
        raise ApiError(400, "InvalidParameter", "page_name must be a string")
    for f in ("cusp", "gp"):
        if f in ev and not isinstance(ev[f], dict):
            raise ApiError(400, "InvalidParameter", f"{f} must be a JSON object")


async def collect_event(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    try:
        pairs = parse_qsl(request.query_string, keep_blank_values=True, strict_parsing=False,
                          errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "InvalidParameter", "the query string is malformed")
    key_ids = [v for k, v in pairs if k == "accessKeyId"]
    sigs = [v for k, v in pairs if k == "signature"]
    if not key_ids or not key_ids[0]:
        raise ApiError(401, "MissingAccessKeyId", "the accessKeyId query parameter is required")
    if not sigs or not sigs[0]:
        raise ApiError(401, "MissingSignature", "the signature query parameter is required")
    if len(key_ids) > 1 or len(sigs) > 1:
        raise ApiError(400, "InvalidParameter", "accessKeyId and signature must each be given once")
    key_id, sig = key_ids[0], sigs[0]
    api_id = state["by_key"].get(key_id)
    rec = state["apis"].get(api_id) if api_id else None
    if rec is None and _on(request, "removed_key_still_works"):
        rec = state["removed"].get(key_id)
    if rec is None:
        raise ApiError(401, "InvalidAccessKeyId", "unknown AccessKeyId")
    body = await request.read()
    if not _HEX40.match(sig):
        raise ApiError(401, "SignatureDoesNotMatch", "the signature must be 40 hex digits (HMAC-SHA1)")
    good = False
    for canon in _canonical_queries(pairs):
        for secret in [rec["accessKeySecret"]] + list(rec.get("oldSecrets", [])):
            expected = compute_signature(secret, canon, body)
            if hmac.compare_digest(expected, sig.lower()):
                good = True
    if not good:
        raise ApiError(401, "SignatureDoesNotMatch", "the signature does not match")

    ev = _parse_json_bytes(body)
    _validate_event(ev)
    if ev["appkey"] != rec["appKey"]:
        raise ApiError(403, "AppKeyMismatch", "appkey is not the APPKEY of this AccessKey's channel")
    if rec["applicationType"] in PLATFORMS_BY_TYPE:
        if "platform" not in ev:
            raise ApiError(400, "MissingParameter",
                           f"platform is required for {rec['applicationType']} channels")
        if ev["platform"] not in rec["platformTypes"]:
            raise ApiError(403, "PlatformNotAllowed",
                           f"platform {ev['platform']!r} is not configured on this channel")
    else:
        origin = request.headers.get("Origin")
        parsed = _parse_domain(origin.strip()) if origin else None
        allowed = {_parse_domain(d) for d in rec["networkDomains"]}
        if parsed is None or parsed not in allowed:
            raise ApiError(403, "OriginNotAllowed",
                           "the Origin is not one of this channel's network domains")
    rec["events"].append({"receivedAt": _now_ms(), "event": ev})
    return ok(True)


# --------------------------------------------------------------------------- app

@web.middleware
async def _errors(request: web.Request, handler):
    try:
        return await handler(request)
    except ApiError as e:
        return fail(e.status, e.code, e.desc)
    except _Crash:
        return web.Response(status=500, text="500 Internal Server Error\n\nServer got itself in trouble",
                            content_type="text/plain")
    except web.HTTPException as e:
        if e.status < 400:
            raise
        codes = {404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}
        status = e.status if e.status < 500 else 400
        resp = fail(status, codes.get(status, "InvalidRequest"), e.reason or "request refused")
        if status == 405 and "Allow" in e.headers:
            resp.headers["Allow"] = e.headers["Allow"]
        return resp
    except Exception as e:  # never 5xx for what a client sent
        return fail(400, "InvalidRequest", f"the request could not be processed ({type(e).__name__})")


def make_app(defects: frozenset[str] = frozenset()) -> web.Application:
    defects = frozenset(defects)
    unknown = defects - set(DEFECTS)
    if unknown:
        raise ValueError(f"unknown defects: {', '.join(sorted(unknown))}")
    app = web.Application(middlewares=[_errors], client_max_size=1024 * 1024)
    app[STATE_KEY] = {"apis": {}, "by_key": {}, "removed": {}}
    app[DEFECTS_KEY] = defects
    for prefix in ("/quickaudience/v1", "/quickaudience/quickaudience/v1"):
        app.router.add_route("POST", prefix + "/apis", create_api)
        app.router.add_route("GET", prefix + "/apis", list_apis)
        app.router.add_route("GET", prefix + "/apis/{apiId}", get_api)
        app.router.add_route("PATCH", prefix + "/apis/{apiId}", update_api)
        app.router.add_route("DELETE", prefix + "/apis/{apiId}", delete_api)
        app.router.add_route("POST", prefix + "/apis/{apiId}/secret", rotate_secret)
        app.router.add_route("POST", prefix + "/collect", collect_event)
    return app


def main() -> None:
    ap = argparse.ArgumentParser(description="Quick Audience data-collection API (modeled) server")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args()
    web.run_app(make_app(), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
