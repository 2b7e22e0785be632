"""Quick Audience data-collection API channels -- a deliberately *divergent but
conforming* implementation of the modeled REST surface (see CHOICES.md).

Run:  /work/main/.venv/bin/python app.py --port 8080
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import time
import uuid
from urllib.parse import parse_qsl, quote, urlsplit

from aiohttp import web

CREDS = {
    "console_token": "qa-org-alpha-7c41e2b9d0f34a6b",
    "other_console_token": "qa-org-beta-1f8a53c6e2d94b07",
}

PREFIXES = ("/quickaudience/v1", "/quickaudience/quickaudience/v1")
MAX_BODY = 64 * 1024
NAME_MAX = 64

APP_TYPES = {"APP": "APP", "MINI_PROGRAM": "MINI_PROGRAM", "MINI_APP": "MINI_PROGRAM", "WEB": "WEB"}
PLATFORMS = {
    "APP": ["ANDROID", "IOS", "HARMONYOS"],
    "MINI_PROGRAM": ["WECHAT_MINI_PROGRAM", "ALIPAY_MINI_PROGRAM",
                     "BYTEDANCE_MINI_PROGRAM", "BAIDU_MINI_PROGRAM"],
}
FIELDS = ("channelName", "collectedByQuickTracking", "applicationType",
          "platformTypes", "networkDomains")
READ_ONLY = ("apiId", "accessKeyId", "accessKeySecret", "appKey", "createdAt",
             "updatedAt", "status", "organizationId")
SERVICE = "quickaudience.collect"
LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")

# Switchable, deliberately injected bugs (all off by default); see make_app(defects=...).
DEFECTS: dict[str, dict[str, str]] = {
    "rotated_secret_still_accepted": {
        "sentence": "After you update the AccessKeySecret, the previous secret becomes invalid.",
        "english": "Once the secret is rotated, the old secret must no longer authenticate.",
        "bug": "POST /collect signed with the secret that was current before the last POST /apis/{id}/secret "
               "is still accepted (200, data true) instead of 403 InvalidSignature (a 'grace' secret is kept).",
    },
    "app_type_change_between_app_and_mini_program": {
        "sentence": "Click Edit to modify the API configuration. The application type cannot be changed.",
        "english": "Editing an API may change its configuration, but never its application type.",
        "bug": "PATCH /apis/{id} on an APP channel with applicationType MINI_PROGRAM (or the reverse) answers 200 "
               "and stores the new type; only a change to or from WEB is refused with 409.",
    },
    "edit_domain_scheme_unchecked": {
        "sentence": "For web applications, enter the full network domain that starts with http or https.",
        "english": "A web channel's network domain must be a full domain beginning with http or https.",
        "bug": "PATCH /apis/{id} on a WEB channel accepts networkDomains such as 'www.example.com' (no http/https "
               "scheme) with 200 and stores them as sent; create still validates and answers 422.",
    },
    "edit_accepts_not_collected_by_quick_tracking": {
        "sentence": "Do not select No. You do not need to configure this API if data is not collected by Quick Tracking.",
        "english": "'Collected by Quick Tracking' must be Yes; an API whose data is not collected by Quick "
                   "Tracking is not configured here.",
        "bug": "PATCH /apis/{id} with collectedByQuickTracking false answers 200 and the record then shows "
               "collectedByQuickTracking false; create still refuses false with 422.",
    },
    "empty_platform_list_accepted": {
        "sentence": "For apps and Mini Programs, select the platform type, such as Android, iOS, WeChat mini "
                    "program, or Alipay mini program.",
        "english": "An APP or Mini Program channel must have a platform type selected.",
        "bug": "POST /apis (and PATCH) for an APP or MINI_PROGRAM channel with platformTypes [] is accepted "
               "(201 / 200) and the record has no platform type, instead of 422.",
    },
    "removed_api_still_listed": {
        "sentence": "If you no longer need the API, click Remove to delete it.",
        "english": "Removing an API deletes it.",
        "bug": "After DELETE /apis/{id} (202), GET /apis still lists the removed record and counts it in total "
               "(the list reads a copy that removal does not update); GET /apis/{id} correctly answers 410.",
    },
    "appkey_prefix_match": {
        "sentence": "You can obtain the AccessKey and APPKEY from the record for authentication in your data "
                    "collection program.",
        "english": "The data collection program authenticates with the AccessKey and the APPKEY shown on the "
                   "API record.",
        "bug": "POST /collect compares the event's appkey with the channel's APPKEY as a prefix: a truncated "
               "appkey (e.g. its first 8 characters) is accepted with 200 instead of 403 Forbidden.AppKeyMismatch.",
    },
    "only_first_network_domain_kept": {
        "sentence": "Click New Platform Configuration to add another network domain.",
        "english": "A web channel can be configured with several network domains.",
        "bug": "POST /apis (and PATCH) for a WEB channel with several networkDomains stores only the first one "
               "(the validation loop returns early); the answer and later reads show a single domain.",
    },
}
DEFECTS_KEY = web.AppKey("defects", frozenset)


def _defects(request) -> frozenset:
    return request.app[DEFECTS_KEY]


class ApiError(Exception):
    def __init__(self, status: int, code: str, desc: str):
        super().__init__(desc)
        self.status, self.code, self.desc = status, code, desc


def _now_ms() -> int:
    return int(time.time() * 1000)


def _envelope(data, success=True, code=None, desc=None):
    tid = str(uuid.uuid4())
    return {"data": data, "errorCode": code, "errorDesc": desc,
            "success": success, "traceId": tid, "requestId": tid}


def ok(data, status=200, headers=None):
    body = _envelope(data)
    h = {"X-Trace-Id": body["traceId"]}
    h.update(headers or {})
    return web.json_response(body, status=status, headers=h)


def fail(status, code, desc, headers=None):
    body = _envelope(None, False, code, desc)
    h = {"X-Trace-Id": body["traceId"]}
    h.update(headers or {})
    return web.json_response(body, status=status, headers=h)


# ---------------------------------------------------------------- parsing
def _reject_constant(name):
    raise ValueError(f"non-standard JSON constant {name}")


def _no_dupes(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError(f"duplicate key {k!r}")
        d[k] = v
    return d


def _check_ctype(request):
    ct = request.headers.get("Content-Type")
    if ct is None:
        return
    mime = ct.split(";")[0].strip().lower()
    if mime == "application/json" or (mime.startswith("application/") and mime.endswith("+json")):
        return
    raise ApiError(415, "UnsupportedMediaType",
                   f"Content-Type must be application/json, got {ct!r}")


def parse_json_object(raw: bytes, allow_empty=False):
    if not raw or not raw.strip():
        if allow_empty:
            return {}
        raise ApiError(400, "InvalidRequest.EmptyBody", "a JSON object body is required")
    try:
        text = raw.decode("utf-8")
        obj = json.loads(text, object_pairs_hook=_no_dupes, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ApiError(400, "InvalidRequest.MalformedJson", f"body is not valid JSON: {e}")
    if not isinstance(obj, dict):
        raise ApiError(400, "InvalidRequest.NotAnObject", "body must be a JSON object")
    return obj


async def read_body(request) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "RequestEntityTooLarge", f"body exceeds {MAX_BODY} bytes")


# ---------------------------------------------------------------- field validation
def v_channel_name(v):
    if not isinstance(v, str):
        raise ApiError(422, "InvalidParameter.ChannelName", "channelName must be a string")
    name = v.strip()
    if not name:
        raise ApiError(422, "InvalidParameter.ChannelName", "channelName must not be empty or blank")
    if len(name) > NAME_MAX:
        raise ApiError(422, "InvalidParameter.ChannelName",
                       f"channelName must be at most {NAME_MAX} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ApiError(422, "InvalidParameter.ChannelName", "channelName must not contain control characters")
    return name


def v_collected(v):
    if not isinstance(v, bool):
        raise ApiError(422, "InvalidParameter.CollectedByQuickTracking",
                       "collectedByQuickTracking must be a boolean")
    if v is not True:
        raise ApiError(422, "QuickTrackingRequired",
                       "only data collected by Quick Tracking needs this API: select Yes (true)")
    return True


def v_app_type(v):
    if not isinstance(v, str) or v.strip().upper() not in APP_TYPES:
        raise ApiError(422, "InvalidParameter.ApplicationType",
                       "applicationType must be APP, MINI_PROGRAM or WEB")
    return APP_TYPES[v.strip().upper()]


def v_platforms(v, app_type, defects=frozenset()):
    if not isinstance(v, list):
        raise ApiError(422, "InvalidParameter.PlatformTypes", "platformTypes must be an array")
    if not v and "empty_platform_list_accepted" not in defects:
        raise ApiError(422, "MissingParameter.PlatformTypes",
                       "at least one platform type is required for APP and Mini Program channels")
    allowed = PLATFORMS[app_type]
    out = []
    for p in v:
        if not isinstance(p, str):
            raise ApiError(422, "InvalidParameter.PlatformTypes", "each platform type must be a string")
        norm = re.sub(r"[\s-]+", "_", p.strip()).upper()
        if norm not in allowed:
            raise ApiError(422, "InvalidParameter.PlatformTypes",
                           f"platform type {p!r} is not valid for {app_type} (allowed: {', '.join(allowed)})")
        if norm not in out:
            out.append(norm)
    return out


def _norm_host(host: str):
    if host.startswith("["):
        if not host.endswith("]"):
            return None
        try:
            return "[" + ipaddress.IPv6Address(host[1:-1]).compressed + "]"
        except ValueError:
            return None
    host = host.lower()
    if host.endswith("."):
        host = host[:-1]
    if not host or len(host) > 253:
        return None
    if all(LABEL.match(lbl) for lbl in host.split(".")):
        return host
    return None


def _origin_parts(value: str):
    """Return (scheme, host, port-or-None, path) or None for anything not http(s)://host[:port][/path]."""
    if not isinstance(value, str) or value != value.strip() or not value:
        return None
    if any(c.isspace() for c in value):
        return None
    try:
        u = urlsplit(value)
        port = u.port
    except ValueError:
        return None
    scheme = u.scheme.lower()
    if scheme not in ("http", "https") or not u.netloc:
        return None
    if u.username is not None or u.password is not None or u.query or u.fragment or "#" in value or "?" in value:
        return None
    hostpart = u.netloc.rsplit("@", 1)[-1]
    if hostpart.startswith("["):
        host = hostpart[: hostpart.find("]") + 1]
    else:
        host = hostpart.split(":", 1)[0]
    host = _norm_host(host)
    if host is None:
        return None
    if port is not None and not (1 <= port <= 65535):
        return None
    if port == {"http": 80, "https": 443}[scheme]:
        port = None
    path = u.path.rstrip("/")
    return scheme, host, port, path


def _origin_key(parts):
    scheme, host, port, _ = parts
    return f"{scheme}://{host}" + (f":{port}" if port else "")


def v_domains(v, defects=frozenset()):
    if not isinstance(v, list):
        raise ApiError(422, "InvalidParameter.NetworkDomains", "networkDomains must be an array")
    if not v:
        raise ApiError(422, "MissingParameter.NetworkDomains",
                       "at least one network domain is required for WEB channels")
    out = []
    for d in v:
        parts = _origin_parts(d) if isinstance(d, str) else None
        if parts is None:
            raise ApiError(422, "InvalidParameter.NetworkDomains",
                           f"network domain {d!r} must be a full domain starting with http:// or https://")
        norm = _origin_key(parts) + parts[3]
        if norm not in out:
            out.append(norm)
        if "only_first_network_domain_kept" in defects:
            return out
    return out


# ---------------------------------------------------------------- state
class Store:
    def __init__(self):
        self.orgs = {CREDS["console_token"]: "org-alpha", CREDS["other_console_token"]: "org-beta"}
        self.apis: dict[str, dict] = {}       # apiId -> record (live)
        self.removed: dict[str, str] = {}     # apiId -> org
        self.by_key: dict[str, str] = {}      # accessKeyId -> apiId (live)
        self.events: dict[str, list] = {}
        self.prev_secret: dict[str, str] = {}  # apiId -> secret before the last rotation
        self.list_cache: dict[str, dict] = {}  # apiId -> record kept for listing
        self.seq = 0

    def new_id(self):
        self.seq += 1
        return f"{int(time.time())}{self.seq:06d}{secrets.randbelow(10**6):06d}"


def org_of(request) -> str:
    store: Store = request.app["store"]
    auth = request.headers.get("Authorization")
    if not auth or not auth.strip():
        raise ApiError(401, "Unauthorized.MissingToken", "a console token is required (Authorization: Bearer <token>)")
    parts = auth.strip().split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "bearer" or not parts[1].strip():
        raise ApiError(401, "Unauthorized.MalformedToken", "Authorization must be 'Bearer <console token>'")
    org = store.orgs.get(parts[1].strip())
    if org is None:
        raise ApiError(401, "Unauthorized.InvalidToken", "the console token is not recognized")
    return org


def lookup(request, org) -> dict:
    store: Store = request.app["store"]
    api_id = request.match_info["apiId"]
    rec = store.apis.get(api_id)
    if rec is not None:
        if rec["organizationId"] != org:
            raise ApiError(403, "Forbidden.NotOwner", "this API belongs to another organization")
        return rec
    if store.removed.get(api_id) == org:
        raise ApiError(410, "Gone.ApiRemoved", f"API {api_id} has been removed")
    raise ApiError(404, "NotFound.Api", f"no API {api_id!r} in this organization")


def public(rec: dict) -> dict:
    out = {k: v for k, v in rec.items()}
    out["platformTypes"] = list(rec.get("platformTypes") or [])
    out["networkDomains"] = list(rec.get("networkDomains") or [])
    return out


def _new_secret():
    return secrets.token_urlsafe(30)  # 40 chars, may contain - and _


# ---------------------------------------------------------------- handlers
async def create_api(request):
    store: Store = request.app["store"]
    org = org_of(request)
    _check_ctype(request)
    body = parse_json_object(await read_body(request))
    _unknown_fields(body)
    for f in ("applicationType", "collectedByQuickTracking", "channelName"):
        if f not in body or body[f] is None:
            raise ApiError(422, f"MissingParameter.{f[0].upper() + f[1:]}", f"{f} is required")
    app_type = v_app_type(body["applicationType"])
    v_collected(body["collectedByQuickTracking"])
    name = v_channel_name(body["channelName"])
    rec = {"apiId": store.new_id(), "organizationId": org, "channelName": name,
           "collectedByQuickTracking": True, "applicationType": app_type}
    if app_type == "WEB":
        if body.get("networkDomains") is None:
            raise ApiError(422, "MissingParameter.NetworkDomains", "networkDomains is required for WEB channels")
        rec["networkDomains"] = v_domains(body["networkDomains"], _defects(request))
        rec["platformTypes"] = []
    else:
        if body.get("platformTypes") is None:
            raise ApiError(422, "MissingParameter.PlatformTypes",
                           "platformTypes is required for APP and Mini Program channels")
        rec["platformTypes"] = v_platforms(body["platformTypes"], app_type, _defects(request))
        rec["networkDomains"] = []
    now = _now_ms()
    rec.update({"accessKeyId": "QTAK" + secrets.token_hex(10).upper(),
                "accessKeySecret": _new_secret(),
                "appKey": secrets.token_hex(16).upper(),
                "status": "ENABLED", "createdAt": now, "updatedAt": now})
    store.apis[rec["apiId"]] = rec
    store.by_key[rec["accessKeyId"]] = rec["apiId"]
    store.events[rec["apiId"]] = []
    return ok(public(rec), status=201, headers={"Location": f"{PREFIXES[0]}/apis/{rec['apiId']}"})


def _unknown_fields(body):
    ro = [k for k in body if k in READ_ONLY]
    if ro:
        raise ApiError(422, "InvalidParameter.ReadOnlyField", f"read-only field(s) cannot be set: {', '.join(ro)}")
    unk = [k for k in body if k not in FIELDS]
    if unk:
        raise ApiError(422, "InvalidParameter.UnknownField", f"unknown field(s): {', '.join(map(str, unk))}")


def _page_arg(request, name, default, lo, hi):
    raw = request.query.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,6}", raw) or not (lo <= int(raw) <= hi):
        raise ApiError(400, f"InvalidParameter.{name[0].upper() + name[1:]}", f"{name} must be an integer in [{lo}, {hi}]")
    return int(raw)


async def list_apis(request):
    store: Store = request.app["store"]
    org = org_of(request)
    page = _page_arg(request, "pageNumber", 1, 1, 100000)
    size = _page_arg(request, "pageSize", 100, 1, 100)
    recs = [r for r in store.apis.values() if r["organizationId"] == org]
    if "removed_api_still_listed" in _defects(request):
        recs += [r for i, r in store.list_cache.items() if i not in store.apis and r["organizationId"] == org]
    recs.sort(key=lambda r: (r["createdAt"], r["apiId"]), reverse=True)  # newest first
    items = [public(r) for r in recs[(page - 1) * size: page * size]]
    return ok({"items": items, "total": len(recs), "pageNumber": page, "pageSize": size})


async def get_api(request):
    org = org_of(request)
    return ok(public(lookup(request, org)))


async def update_api(request):
    defects = _defects(request)
    org = org_of(request)
    rec = lookup(request, org)
    _check_ctype(request)
    body = parse_json_object(await read_body(request), allow_empty=False)
    _unknown_fields(body)
    # values first (422), then immutability (409), then the merged configuration (422)
    new = {}
    if "channelName" in body:
        if body["channelName"] is None:
            raise ApiError(422, "MissingParameter.ChannelName", "channelName cannot be removed")
        new["channelName"] = v_channel_name(body["channelName"])
    if "collectedByQuickTracking" in body:
        if body["collectedByQuickTracking"] is None:
            raise ApiError(422, "MissingParameter.CollectedByQuickTracking",
                           "collectedByQuickTracking cannot be removed")
        if "edit_accepts_not_collected_by_quick_tracking" in defects and isinstance(
                body["collectedByQuickTracking"], bool):
            new["collectedByQuickTracking"] = body["collectedByQuickTracking"]
        else:
            v_collected(body["collectedByQuickTracking"])
    if "applicationType" in body:
        if body["applicationType"] is None:
            raise ApiError(422, "MissingParameter.ApplicationType", "applicationType cannot be removed")
        t = v_app_type(body["applicationType"])
        if "app_type_change_between_app_and_mini_program" in defects:
            if (t == "WEB") != (rec["applicationType"] == "WEB"):
                raise ApiError(409, "Conflict.ApplicationTypeImmutable",
                               f"the application type cannot be changed ({rec['applicationType']} -> {t})")
            new["applicationType"] = t
        elif t != rec["applicationType"]:
            raise ApiError(409, "Conflict.ApplicationTypeImmutable",
                           f"the application type cannot be changed ({rec['applicationType']} -> {t})")
    t = new.get("applicationType", rec["applicationType"])
    if t == "WEB":
        if "networkDomains" in body:
            if body["networkDomains"] is None:
                raise ApiError(422, "MissingParameter.NetworkDomains", "a WEB channel needs network domains")
            if "edit_domain_scheme_unchecked" in defects and isinstance(body["networkDomains"], list) \
                    and body["networkDomains"] and all(isinstance(d, str) and d.strip() for d in body["networkDomains"]):
                new["networkDomains"] = [d.strip() for d in body["networkDomains"]]
            else:
                new["networkDomains"] = v_domains(body["networkDomains"], defects)
    else:
        if "platformTypes" in body:
            if body["platformTypes"] is None:
                raise ApiError(422, "MissingParameter.PlatformTypes", "this channel needs platform types")
            new["platformTypes"] = v_platforms(body["platformTypes"], t, defects)
    changed = any(rec.get(k) != v for k, v in new.items())
    rec.update(new)
    if changed:
        rec["updatedAt"] = max(_now_ms(), rec["updatedAt"] + 1)
    return ok(public(rec))


async def delete_api(request):
    store: Store = request.app["store"]
    org = org_of(request)
    rec = lookup(request, org)
    if "removed_api_still_listed" in _defects(request):
        store.list_cache[rec["apiId"]] = rec
    del store.apis[rec["apiId"]]
    store.by_key.pop(rec["accessKeyId"], None)
    store.removed[rec["apiId"]] = org
    return ok(True, status=202)


async def rotate_secret(request):
    store: Store = request.app["store"]
    org = org_of(request)
    rec = lookup(request, org)
    old = rec["accessKeySecret"]
    if "rotated_secret_still_accepted" in _defects(request):
        store.prev_secret[rec["apiId"]] = old
    new = _new_secret()
    while new == old:
        new = _new_secret()
    rec["accessKeySecret"] = new
    rec["updatedAt"] = max(_now_ms(), rec["updatedAt"] + 1)
    return ok({"apiId": rec["apiId"], "accessKeyId": rec["accessKeyId"], "accessKeySecret": new,
               "appKey": rec["appKey"], "updatedAt": rec["updatedAt"]}, status=201)


# ---------------------------------------------------------------- collect
def _canonical_queries(request):
    """Canonical query strings that a signer may reasonably have produced."""
    raw_qs = request.rel_url.raw_query_string
    out = set()
    raw_pairs = [p for p in raw_qs.split("&") if p] if raw_qs else []
    raw_kept = sorted(p for p in raw_pairs if p.split("=", 1)[0] != "signature")
    out.add("&".join(raw_kept))
    dec = [(k, v) for k, v in parse_qsl(raw_qs, keep_blank_values=True) if k != "signature"]
    dec.sort()
    out.add("&".join(f"{k}={v}" for k, v in dec))
    out.add("&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in dec))
    return out


def _validate_event(ev):
    def need_str(k, code="InvalidParameter"):
        v = ev.get(k)
        if v is None:
            raise ApiError(422, f"MissingParameter.{k}", f"{k} is required")
        if not isinstance(v, str) or not v:
            raise ApiError(422, f"{code}.{k}", f"{k} must be a non-empty string")
        return v
    need_str("appkey")
    need_str("id")
    ts = ev.get("ts")
    if ts is None:
        raise ApiError(422, "MissingParameter.ts", "ts (epoch milliseconds) is required")
    if isinstance(ts, bool) or not (
            (isinstance(ts, str) and re.fullmatch(r"[0-9]{1,16}", ts))
            or (isinstance(ts, int) and 0 <= ts < 10 ** 16)):
        raise ApiError(422, "InvalidParameter.ts", "ts must be epoch milliseconds (digits or a non-negative integer)")
    if ev.get("sdk_type") is None:
        raise ApiError(422, "MissingParameter.sdk_type", "sdk_type is required")
    if ev.get("sdk_type") != "httpapi":
        raise ApiError(422, "InvalidParameter.sdk_type", "sdk_type must be 'httpapi'")
    ids = [k for k in ("umid", "puid") if ev.get(k) not in (None, "")]
    if not ids:
        raise ApiError(422, "MissingParameter.UserIdentity", "at least one of umid / puid is required")
    for k in ids:
        if not isinstance(ev[k], str):
            raise ApiError(422, f"InvalidParameter.{k}", f"{k} must be a string")
    for k in ("cusp", "gp"):
        if k in ev and ev[k] is not None and not isinstance(ev[k], dict):
            raise ApiError(422, f"InvalidParameter.{k}", f"{k} must be an object")
    if "platform" in ev and ev["platform"] is not None and (not isinstance(ev["platform"], str) or not ev["platform"]):
        raise ApiError(422, "InvalidParameter.platform", "platform must be a non-empty string")
    if "page_name" in ev and ev["page_name"] is not None and not isinstance(ev["page_name"], str):
        raise ApiError(422, "InvalidParameter.page_name", "page_name must be a string")


async def collect(request):
    store: Store = request.app["store"]
    q = request.rel_url.query
    for k in ("accessKeyId", "signature"):
        vals = q.getall(k, [])
        if len(vals) > 1:
            raise ApiError(400, f"InvalidParameter.{k}", f"{k} given more than once")
        if not vals or not vals[0]:
            raise ApiError(400, f"MissingParameter.{k}", f"query parameter {k} is required")
    sig = q["signature"]
    if not re.fullmatch(r"[0-9a-fA-F]{40}", sig):
        raise ApiError(400, "InvalidParameter.signature", "signature must be 40 hex digits (HMAC-SHA1)")
    _check_ctype(request)
    raw = await read_body(request)
    ev = parse_json_object(raw)
    _validate_event(ev)                         # event checked before the key (see CHOICES.md)
    api_id = store.by_key.get(q["accessKeyId"])
    rec = store.apis.get(api_id) if api_id else None
    if rec is None:
        raise ApiError(403, "InvalidAccessKeyId.NotFound", "the AccessKeyId does not exist or was removed")
    keys = [rec["accessKeySecret"].encode()]
    if "rotated_secret_still_accepted" in _defects(request) and rec["apiId"] in store.prev_secret:
        keys.append(store.prev_secret[rec["apiId"]].encode())  # grace period for the old secret
    sig_l = sig.lower()
    good = False
    for key in keys:
        for cq in _canonical_queries(request):
            mac = hmac.new(key, SERVICE.encode() + b"\n" + cq.encode() + b"\n" + raw, hashlib.sha1).hexdigest()
            if hmac.compare_digest(mac, sig_l):
                good = True
    if not good:
        raise ApiError(403, "InvalidSignature", "the signature does not match (is the AccessKeySecret current?)")
    if "appkey_prefix_match" in _defects(request):
        appkey_ok = rec["appKey"].startswith(ev["appkey"])
    else:
        appkey_ok = ev["appkey"] == rec["appKey"]
    if not appkey_ok:
        raise ApiError(403, "Forbidden.AppKeyMismatch", "appkey is not the APPKEY of this AccessKey's channel")
    if rec["applicationType"] in ("APP", "MINI_PROGRAM"):
        p = ev.get("platform")
        if p is not None:
            norm = re.sub(r"[\s-]+", "_", p.strip()).upper()
            if norm not in rec["platformTypes"]:
                raise ApiError(422, "InvalidParameter.platform",
                               f"platform {p!r} is not configured on this channel")
    else:
        origin = request.headers.get("Origin")
        if origin is not None:
            parts = _origin_parts(origin)
            allowed = {_origin_key(_origin_parts(d)) for d in rec["networkDomains"]}
            if parts is None or parts[3] or _origin_key(parts) not in allowed:
                raise ApiError(403, "Forbidden.OriginNotAllowed",
                               f"Origin {origin!r} is not among this channel's network domains")
    store.events[rec["apiId"]].append({"event": ev, "receivedAt": _now_ms()})
    return ok(True, status=200)


# ---------------------------------------------------------------- app
@web.middleware
async def envelope_mw(request, handler):
    try:
        return await handler(request)
    except ApiError as e:
        hdrs = {"WWW-Authenticate": 'Bearer realm="quickaudience"'} if e.status == 401 else None
        return fail(e.status, e.code, e.desc, hdrs)
    except web.HTTPRequestEntityTooLarge:
        return fail(413, "RequestEntityTooLarge", f"body exceeds {MAX_BODY} bytes")
    except web.HTTPMethodNotAllowed as e:
        return fail(405, "MethodNotAllowed", f"{request.method} is not allowed here",
                    {"Allow": ", ".join(sorted(e.allowed_methods))})
    except web.HTTPNotFound:
        return fail(404, "NotFound.Path", f"no such path {request.path}")
    except web.HTTPException as e:
        if e.status >= 500:
            return fail(400, "InvalidRequest", e.reason or "bad request")
        return fail(e.status, "InvalidRequest", e.reason or "refused")
    except Exception as e:  # never a 5xx for client input
        return fail(400, "InvalidRequest", f"request could not be processed: {type(e).__name__}")


def make_app(defects: frozenset[str] = frozenset()) -> web.Application:
    defects = frozenset(defects)
    unknown = defects - DEFECTS.keys()
    if unknown:
        raise ValueError(f"unknown defect(s): {', '.join(sorted(unknown))}")
    app = web.Application(middlewares=[envelope_mw], client_max_size=MAX_BODY)
    app[DEFECTS_KEY] = defects
    app["store"] = Store()
    for p in PREFIXES:
        app.router.add_post(p + "/apis", create_api)
        app.router.add_get(p + "/apis", list_apis, allow_head=False)
        app.router.add_get(p + "/apis/{apiId}", get_api, allow_head=False)
        app.router.add_patch(p + "/apis/{apiId}", update_api)
        app.router.add_delete(p + "/apis/{apiId}", delete_api)
        app.router.add_post(p + "/apis/{apiId}/secret", rotate_secret)
        app.router.add_post(p + "/collect", collect)
    return app


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--host", default="127.0.0.1")
    a = ap.parse_args()
    web.run_app(make_app(), host=a.host, port=a.port, print=None)
