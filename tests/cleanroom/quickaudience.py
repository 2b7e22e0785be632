"""Clean-room Quick Audience data-collection API channels (modeled REST surface).

Written from seed 001 (English console steps), the Quick Audience section of VENDOR-NOTES.md and the tool's
OpenAPI description of the modeled surface. Standard library + aiohttp only.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
import urllib.parse

from aiohttp import web

CREDS: dict[str, str] = {
    "console_token": "qaconsole-orgA-5d1f9c2e7b3a4068",
    "other_console_token": "qaconsole-orgB-9e0a6b8d2c4f1735",
}

DEFECTS: dict[str, str] = {
    "crash_on_bad_json": (
        "Configure the parameters as described in the following table. :: a create request whose body is not "
        "valid JSON crashes the handler and is answered HTTP 500 instead of a 4xx refusal"),
    "type_change_ignored": (
        "Click Edit to modify the API configuration. The application type cannot be changed. :: an edit naming a "
        "different applicationType is answered 200 (the field is silently dropped) instead of being refused"),
    "old_secret_still_valid": (
        "After you update the AccessKeySecret, the previous secret becomes invalid. :: rotated-away secrets are "
        "kept as valid signing keys, so a collect call signed with the previous secret is accepted"),
    "removed_api_still_works": (
        "If you no longer need the API, click Remove to delete it. :: remove only hides the record from the "
        "single-record read; it is still in the list and its AccessKeyId still authenticates collect calls"),
    "orgs_not_isolated": (
        "Configure the API for your data collection channels, such as an app, Mini Program, or web, and obtain an "
        "AccessKey. :: the organization filter is missing: any console token lists, reads, edits, rotates and "
        "removes every organization's channels"),
    "domain_scheme_ignored": (
        "For web applications, enter the full network domain that starts with http or https. :: network domains "
        "are accepted with any scheme or none at all (e.g. ftp://www.example.com, www.example.com)"),
}

CHOICES: list[str] = [
    "Create answers HTTP 201 (not 200) with the envelope; rotate-secret also answers 201; read/list/edit/remove "
    "and collect answer 200.",
    "Every answer (also 401/404/405 and unknown paths) uses the envelope {data, errorCode, errorDesc, success, "
    "traceId}; errors carry data null and my own errorCode names prefixed 'QA.' (e.g. QA.InvalidConfiguration).",
    "Success envelopes carry an extra top-level field 'requestTime' (epoch ms) next to traceId; traceId is 32 hex.",
    "Records carry extra fields organizationId, status ('ENABLED'), createdAt, updatedAt and secretVersion "
    "(increments on each rotation); platformTypes is omitted for WEB and networkDomains omitted for APP/MINI_PROGRAM.",
    "List returns newest first (reverse creation order), data = {items, total, organizationId}; no paging.",
    "Organization B starts with one pre-existing WEB channel of its own; organization A starts with none.",
    "Changing the application type on edit is refused with HTTP 422 (QA.ApplicationTypeImmutable), not 400; "
    "repeating the stored type unchanged is accepted, as the modeled update schema says.",
    "Other invalid configurations (create or edit) are 400; a JSON body that is not an object is 400; an edit "
    "naming none of the five known fields (e.g. {} or only unknown fields) is 400 QA.EmptyEdit.",
    "A JSON null for an optional field (platformTypes/networkDomains, or any edit field) is treated as absent.",
    "Unknown body fields are ignored and never echoed; Content-Type is not checked (any type is parsed as JSON).",
    "The Bearer scheme word is matched case-insensitively; missing/unknown console token is 401 QA.Unauthorized.",
    "Checks run auth -> existence (404) -> body; an id of another organization is 404, same as a removed one.",
    "apiId looks like 'ch-<16 hex>'; accessKeyId 'LTAIqa<16 alnum>'; secret 32 chars; appKey 24 lowercase hex.",
    "Network domains: a trailing '/' is allowed and stripped when stored; duplicate entries (exact) are refused.",
    "Collect: the signed query string is accepted in decoded form or percent-encoded form (both sorted by key); "
    "the hex signature is compared case-insensitively.",
    "Collect checks run: accessKeyId/signature present and known (401) -> signature (401) -> JSON/event body "
    "(400) -> appkey (403) -> platform or Origin (403).",
    "Collect for APP/MINI_PROGRAM: a missing platform is 403 like an undeclared one; platform is compared "
    "case-insensitively. For WEB: a missing Origin is 403; Origin scheme/host compared case-insensitively, "
    "trailing '/' ignored. platform on WEB and Origin on APP/MINI_PROGRAM are ignored.",
    "Collect accepts ts as digit string (1-16 digits) or non-negative integer, never a boolean or float.",
    "Every path is also served under a doubled prefix /quickaudience/quickaudience/v1/... .",
]

APP_TYPES = ("APP", "MINI_PROGRAM", "WEB")
PLATFORMS = {"APP": ("ANDROID", "IOS"), "MINI_PROGRAM": ("WECHAT_MINI_PROGRAM", "ALIPAY_MINI_PROGRAM")}
ORIGIN_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,5})?/?$")
HTTP_RE = re.compile(r"^[hH][tT][tT][pP][sS]?://")
HEX40 = re.compile(r"^[0-9a-fA-F]{40}$")
TS_RE = re.compile(r"^[0-9]{1,16}$")
FIELDS = ("channelName", "collectedByQuickTracking", "applicationType", "platformTypes", "networkDomains")
ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"


class ApiError(Exception):
    def __init__(self, status: int, code: str, desc: str):
        super().__init__(desc)
        self.status, self.code, self.desc = status, code, desc


def _now() -> int:
    return int(time.time() * 1000)


def _rand(n: int) -> str:
    return "".join(secrets.choice(ALNUM) for _ in range(n))


def ok(data, status: int = 200) -> web.Response:
    return web.json_response({"success": True, "data": data, "errorCode": None, "errorDesc": None,
                              "traceId": secrets.token_hex(16), "requestTime": _now()}, status=status)


def fail(status: int, code: str, desc: str) -> web.Response:
    return web.json_response({"success": False, "data": None, "errorCode": code, "errorDesc": desc,
                              "traceId": secrets.token_hex(16)}, status=status)


@web.middleware
async def envelope_mw(request, handler):
    try:
        return await handler(request)
    except ApiError as e:
        return fail(e.status, e.code, e.desc)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return fail(e.status, "QA.HttpError" if e.status != 404 else "QA.NoSuchPath", e.reason or "error")


def _norm_domain(d: str) -> str:
    return d[:-1] if d.endswith("/") else d


def _origin_key(o: str) -> str:
    o = _norm_domain(o.strip())
    if "://" in o:
        scheme, rest = o.split("://", 1)
        return scheme.lower() + "://" + rest.lower()
    return o.lower()


class Store:
    def __init__(self, defects: frozenset):
        self.defects = defects
        self.orgs = {CREDS["console_token"]: "org-a-1001", CREDS["other_console_token"]: "org-b-2002"}
        self.apis: dict[str, dict] = {}     # apiId -> record (internal)
        self.order: list[str] = []
        self.events: dict[str, list] = {}
        self._seq = 0
        self.new_record("org-b-2002", {"channelName": "Org B storefront", "collectedByQuickTracking": True,
                                       "applicationType": "WEB", "networkDomains": ["https://shop.orgb.example"]})

    def new_record(self, org: str, cfg: dict) -> dict:
        self._seq += 1
        api_id = "ch-" + secrets.token_hex(8)
        now = _now()
        rec = {"apiId": api_id, "organizationId": org, "seq": self._seq, "removed": False,
               "accessKeyId": "LTAIqa" + _rand(16), "accessKeySecret": _rand(32),
               "appKey": secrets.token_hex(12), "oldSecrets": [], "secretVersion": 1,
               "createdAt": now, "updatedAt": now}
        rec.update(cfg)
        self.apis[api_id] = rec
        self.order.append(api_id)
        self.events[api_id] = []
        return rec

    def visible(self, org: str, rec: dict, listing: bool = False) -> bool:
        if rec["removed"] and not (listing and "removed_api_still_works" in self.defects):
            return False
        return "orgs_not_isolated" in self.defects or rec["organizationId"] == org

    def by_key_id(self, key_id: str):
        for rec in self.apis.values():
            if rec["accessKeyId"] == key_id:
                if rec["removed"] and "removed_api_still_works" not in self.defects:
                    return None
                return rec
        return None


def public(rec: dict) -> dict:
    out = {k: rec[k] for k in ("apiId", "channelName", "collectedByQuickTracking", "applicationType")}
    if rec["applicationType"] == "WEB":
        out["networkDomains"] = list(rec["networkDomains"])
    else:
        out["platformTypes"] = list(rec["platformTypes"])
    out.update({"accessKeyId": rec["accessKeyId"], "accessKeySecret": rec["accessKeySecret"],
                "appKey": rec["appKey"], "organizationId": rec["organizationId"], "status": "ENABLED",
                "secretVersion": rec["secretVersion"], "createdAt": rec["createdAt"], "updatedAt": rec["updatedAt"]})
    return out


def bad(desc: str) -> ApiError:
    return ApiError(400, "QA.InvalidConfiguration", desc)


def validate_config(cfg: dict, defects: frozenset) -> dict:
    """cfg: merged configuration (None values already dropped). Returns the normalized stored fields."""
    name = cfg.get("channelName")
    if name is None:
        raise bad("channelName is required")
    if not isinstance(name, str) or not name.strip():
        raise bad("channelName must be a non-blank string")
    cbqt = cfg.get("collectedByQuickTracking")
    if cbqt is None:
        raise bad("collectedByQuickTracking is required")
    if cbqt is not True:
        raise bad("collectedByQuickTracking must be true: APIs are only configured for data collected by "
                  "Quick Tracking")
    atype = cfg.get("applicationType")
    if atype is None:
        raise bad("applicationType is required")
    if atype not in APP_TYPES:
        raise bad("applicationType must be one of APP, MINI_PROGRAM, WEB")
    out = {"channelName": name, "collectedByQuickTracking": True, "applicationType": atype}
    if atype == "WEB":
        if "platformTypes" in cfg:
            raise bad("platformTypes is not configurable for a WEB channel; use networkDomains")
        doms = cfg.get("networkDomains")
        if doms is None:
            raise bad("networkDomains is required for a WEB channel")
        if not isinstance(doms, list) or not doms:
            raise bad("networkDomains must be a non-empty array")
        seen, norm = set(), []
        for d in doms:
            if not isinstance(d, str):
                raise bad("each network domain must be a string")
            if "domain_scheme_ignored" in defects:
                body = d.split("://", 1)[1] if "://" in d else d
                good = bool(ORIGIN_RE.match("x://" + body))
            else:
                if not HTTP_RE.match(d):
                    raise bad(f"network domain {d!r} must start with http:// or https://")
                good = bool(ORIGIN_RE.match(d))
            if not good:
                raise bad(f"network domain {d!r} must be a full domain scheme://host[:port] without a path")
            if d in seen:
                raise bad(f"network domain {d!r} is listed twice")
            seen.add(d)
            norm.append(_norm_domain(d))
        out["networkDomains"] = norm
    else:
        if "networkDomains" in cfg:
            raise bad(f"networkDomains is only configurable for WEB channels, not {atype}")
        plats = cfg.get("platformTypes")
        if plats is None:
            raise bad(f"platformTypes is required for a {atype} channel")
        if not isinstance(plats, list) or not plats:
            raise bad("platformTypes must be a non-empty array")
        allowed = PLATFORMS[atype]
        for p in plats:
            if not isinstance(p, str) or p not in allowed:
                raise bad(f"platform type {p!r} is not valid for {atype}; allowed: {', '.join(allowed)}")
        if len(set(plats)) != len(plats):
            raise bad("each platform type may be configured only once")
        out["platformTypes"] = list(plats)
    return out


def make_app(defects: frozenset[str] = frozenset()) -> web.Application:
    defects = frozenset(defects)
    unknown = defects - set(DEFECTS)
    if unknown:
        raise ValueError(f"unknown defects: {sorted(unknown)}")
    store = Store(defects)

    def org_of(request) -> str:
        auth = request.headers.get("Authorization", "")
        parts = auth.split(None, 1)
        if len(parts) != 2 or parts[0].lower() != "bearer":
            raise ApiError(401, "QA.Unauthorized", "a console token is required: Authorization: Bearer <token>")
        org = store.orgs.get(parts[1].strip())
        if org is None:
            raise ApiError(401, "QA.Unauthorized", "the console token is not known")
        return org

    async def json_object(request, crash: bool = False) -> dict:
        raw = await request.read()
        if crash:
            body = json.loads(raw.decode("utf-8"))  # defect: parse errors escape as HTTP 500
        else:
            try:
                body = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                raise ApiError(400, "QA.MalformedBody", "the request body is not valid JSON")
        if not isinstance(body, dict):
            raise ApiError(400, "QA.MalformedBody", "the request body must be a JSON object")
        return body

    def find(request, org: str) -> dict:
        rec = store.apis.get(request.match_info["apiId"])
        if rec is None or not store.visible(org, rec):
            raise ApiError(404, "QA.ApiNotFound", "no data collection API with this id in your organization")
        return rec

    async def create_api(request):
        org = org_of(request)
        body = await json_object(request, crash="crash_on_bad_json" in defects)
        cfg = {k: body[k] for k in FIELDS if k in body and body[k] is not None}
        rec = store.new_record(org, validate_config(cfg, defects))
        return ok(public(rec), status=201)

    async def list_apis(request):
        org = org_of(request)
        recs = [store.apis[i] for i in reversed(store.order)]
        items = [public(r) for r in recs if store.visible(org, r, listing=True)]
        return ok({"items": items, "total": len(items), "organizationId": org})

    async def get_api(request):
        org = org_of(request)
        return ok(public(find(request, org)))

    async def update_api(request):
        org = org_of(request)
        rec = find(request, org)
        body = await json_object(request)
        patch = {k: body[k] for k in FIELDS if k in body and body[k] is not None}
        if not patch:
            raise ApiError(400, "QA.EmptyEdit", f"an edit must change at least one of: {', '.join(FIELDS)}")
        if "applicationType" in patch and patch["applicationType"] != rec["applicationType"]:
            if "type_change_ignored" in defects:
                patch.pop("applicationType")
            else:
                raise ApiError(422, "QA.ApplicationTypeImmutable",
                               f"the application type cannot be changed ({rec['applicationType']} -> "
                               f"{patch['applicationType']!s})")
        merged = {k: rec[k] for k in FIELDS if k in rec}
        merged.update(patch)
        new = validate_config(merged, defects)
        for k in ("platformTypes", "networkDomains"):
            rec.pop(k, None)
        rec.update(new)
        rec["updatedAt"] = _now()
        return ok(public(rec))

    async def delete_api(request):
        org = org_of(request)
        rec = find(request, org)
        rec["removed"] = True
        rec["updatedAt"] = _now()
        return ok(True)

    async def rotate_secret(request):
        org = org_of(request)
        rec = find(request, org)
        rec["oldSecrets"].append(rec["accessKeySecret"])
        new = _rand(32)
        while new == rec["accessKeySecret"]:
            new = _rand(32)
        rec["accessKeySecret"] = new
        rec["secretVersion"] += 1
        rec["updatedAt"] = _now()
        return ok({"apiId": rec["apiId"], "accessKeyId": rec["accessKeyId"], "accessKeySecret": new,
                   "secretVersion": rec["secretVersion"]}, status=201)

    def canonical_queries(request) -> list[str]:
        raw = request.query_string
        pairs = urllib.parse.parse_qsl(raw, keep_blank_values=True)
        pairs = sorted((k, v) for k, v in pairs if k != "signature")
        plain = "&".join(f"{k}={v}" for k, v in pairs)
        enc = "&".join(f"{urllib.parse.quote(k, safe='')}={urllib.parse.quote(v, safe='')}" for k, v in pairs)
        as_sent = "&".join(sorted(p for p in raw.split("&") if p and not p.startswith("signature=")))
        return list(dict.fromkeys([plain, enc, as_sent]))

    def sign(secret: str, query: str, body: bytes) -> str:
        msg = b"quickaudience.collect\n" + query.encode("utf-8") + b"\n" + body
        return hmac.new(secret.encode("utf-8"), msg, hashlib.sha1).hexdigest()

    async def collect(request):
        key_id = request.query.get("accessKeyId", "")
        sig = request.query.get("signature", "")
        if not key_id or not sig:
            raise ApiError(401, "QA.MissingAccessKey", "accessKeyId and signature query parameters are required")
        rec = store.by_key_id(key_id)
        if rec is None:
            raise ApiError(401, "QA.InvalidAccessKeyId", "the AccessKeyId is not known")
        raw = await request.read()
        if not HEX40.match(sig):
            raise ApiError(401, "QA.SignatureMismatch", "the signature must be 40 hex digits")
        secrets_ok = [rec["accessKeySecret"]]
        if "old_secret_still_valid" in defects:
            secrets_ok += rec["oldSecrets"]
        sig = sig.lower()
        if not any(hmac.compare_digest(sign(s, q, raw), sig) for s in secrets_ok for q in canonical_queries(request)):
            raise ApiError(401, "QA.SignatureMismatch", "the signature does not match the current AccessKeySecret")
        try:
            ev = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "QA.InvalidEvent", "the event body is not valid JSON")
        if not isinstance(ev, dict):
            raise ApiError(400, "QA.InvalidEvent", "the event body must be a JSON object")
        for f in ("appkey", "id"):
            if not isinstance(ev.get(f), str) or not ev[f]:
                raise ApiError(400, "QA.InvalidEvent", f"{f} is required and must be a non-empty string")
        for f in ("umid", "puid"):
            if f in ev and (not isinstance(ev[f], str) or not ev[f]):
                raise ApiError(400, "QA.InvalidEvent", f"{f} must be a non-empty string")
        if not ev.get("umid") and not ev.get("puid"):
            raise ApiError(400, "QA.InvalidEvent", "at least one of umid and puid is required")
        ts = ev.get("ts")
        ts_ok = (isinstance(ts, str) and TS_RE.match(ts)) or \
            (isinstance(ts, int) and not isinstance(ts, bool) and ts >= 0)
        if not ts_ok:
            raise ApiError(400, "QA.InvalidEvent", "ts must be epoch milliseconds (digits or a non-negative integer)")
        if ev.get("sdk_type") != "httpapi":
            raise ApiError(400, "QA.InvalidEvent", "sdk_type must be 'httpapi'")
        for f in ("cusp", "gp"):
            if f in ev and not isinstance(ev[f], dict):
                raise ApiError(400, "QA.InvalidEvent", f"{f} must be an object")
        for f in ("page_name", "platform"):
            if f in ev and not isinstance(ev[f], str):
                raise ApiError(400, "QA.InvalidEvent", f"{f} must be a string")
        if ev["appkey"] != rec["appKey"]:
            raise ApiError(403, "QA.AppKeyMismatch", "appkey is not the APPKEY of this AccessKey's channel")
        if rec["applicationType"] == "WEB":
            origin = request.headers.get("Origin")
            allowed = {_origin_key(d) for d in rec["networkDomains"]}
            if not origin or _origin_key(origin) not in allowed:
                raise ApiError(403, "QA.OriginNotAllowed", "the Origin is not one of the channel's network domains")
        else:
            plat = ev.get("platform")
            if not plat or plat.upper() not in rec["platformTypes"]:
                raise ApiError(403, "QA.PlatformNotConfigured",
                               "platform must be one of the channel's platform types: "
                               + ", ".join(rec["platformTypes"]))
        store.events[rec["apiId"]].append({"receivedAt": _now(), "event": ev})
        return ok(True)

    app = web.Application(middlewares=[envelope_mw])
    app["store"] = store
    for pre in ("/quickaudience/v1", "/quickaudience/quickaudience/v1"):
        app.router.add_post(pre + "/apis", create_api)
        app.router.add_get(pre + "/apis", list_apis)
        app.router.add_get(pre + "/apis/{apiId}", get_api)
        app.router.add_patch(pre + "/apis/{apiId}", update_api)
        app.router.add_delete(pre + "/apis/{apiId}", delete_api)
        app.router.add_post(pre + "/apis/{apiId}/secret", rotate_secret)
        app.router.add_post(pre + "/collect", collect)
    return app
