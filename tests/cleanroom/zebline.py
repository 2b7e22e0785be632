"""Clean-room Zebline users API (seed 004, Persian) for exercising a conformance tool.

Documented: POST /v1/accounts/{LICENSE_CODE}/users with header `authorization: ACCESS_TOKEN`.
Modeled (not in the document, shape from the tool's modeled read-back description):
GET /v1/accounts/{license}/users?userId=..|anonymousId=..  and  GET /v1/accounts/{license}/tracks/{trackID}.
"""
import json
import re
import uuid
from datetime import datetime, timezone

from aiohttp import web

CREDS = {
    "license_code": "zl-lic-a3f91c07",
    "access_token": "zlt_5e0b6c1d9a8f4e27b3c1d0a9f8e7c6b5",
    "other_license_code": "zl-lic-b7720e4d",
    "other_access_token": "zlt_c0ffee12ab34cd56ef78a9b0c1d2e3f4",
}

DEFECTS = {
    "crash_on_bad_json":
        "اگر فرمت درخواست نادرست باشد، خطای 400 Bad Request دریافت خواهید کرد. :: a body that is not valid JSON "
        "raises an unhandled exception and the server answers HTTP 500",
    "type_lock_ignored":
        "بعد از ارسال یک ویژگی سفارشی با نوع خاص، نمیتوانید نوع آن ویژگی را تغییر دهد. :: the per-account type "
        "lock of custom attributes is never checked; a later request with another type is queued and stored",
    "missing_id_ignored":
        "در هر درخواست، باید دو کلید ضروری در بدنه درخواست تعریف شوند: :: a body with neither userId nor "
        "anonymousId is answered 202 queued (with a trackID) instead of 400; nothing is stored",
    "merge_lost":
        "برای ادغام یک پروفایل ناشناس با یک userId ، هر دو کلیدanonymousId وuserId را در درخواست قرار دهید. در "
        "این صورت، سیستم پروفایل ناشناس را باuserId ادغام میکند. :: identifying links the anonymousId to the "
        "user profile but drops the anonymous profile's system and custom attributes instead of carrying them over",
    "accounts_not_isolated":
        "اگر اعتبارنامههای نادرست (مانند کد لایسنس یا توکن دسترسی) ارسال کنید، خطای 401 Unauthorized دریافت "
        "خواهید کرد. :: credentials are checked correctly, but all accounts share ONE profile store, type-lock "
        "table and trackID table, so account B (with its own valid license/token) reads and upserts account A's "
        "users and A's type locks refuse B's requests",
    "upsert_replaces":
        "اما اگرuserId یاAnonymous ID در پایگاه داده موجود باشد، فقط پارامترهای جدید بهروزرسانی خواهند شد. :: an "
        "upsert of an existing profile replaces it wholesale: system/custom attributes not in the new request are "
        "lost",
}

CHOICES = [
    "Accepted upsert answers HTTP 202 (not 200) with the documented {response:{status:'queued',trackID}} plus extra "
    "fields response.received_at and response.account",
    "Errors use our own body {ok:false, error:{kind, detail, field, http}}; the document shows no error body",
    "A custom attribute sent with a different type than its first accepted type is refused with HTTP 409 (the "
    "lock section names no status); nothing from that request is stored",
    "Malformed JSON, non-object body, missing attributes, missing/invalid identifier, bad system-column types: 400",
    "Unknown license code, missing authorization header, or a token of another license: 401; token compared "
    "exactly (raw, no 'Bearer' prefix accepted)",
    "Content-Type is not checked: any body that parses as JSON is accepted",
    "STRING system columns accept a JSON number and store it as text (e.g. 12 -> '12'); booleans/null refused",
    "INT/INT4 columns accept integral floats (3.0 -> 3); range is signed 32-bit; bools/strings/fractions refused",
    "TIMESTAMPTZ columns accept ISO-8601 date or date-time (offset optional) and store the text as sent",
    "Top-level keys map to table columns case- and underscore-insensitively (firstName, first_name, FIRSTNAME "
    "-> firstname; marital_status also -> maritial_status); other top-level keys are accepted and kept as unmapped",
    "Key naming convention (lowercase/underscore) is not enforced; custom attribute names are kept as sent, but "
    "an empty attribute name is refused with 400",
    "userId/anonymousId must be non-blank strings of at most 1024 characters; null or number ids are refused (400)",
    "Custom attribute kinds: number (int/float), boolean, string, datetime (a string with an ISO date+time). A "
    "datetime-locked attribute then needs ISO date-time strings; a string-locked attribute accepts any string",
    "Custom attribute values null/object/array are refused with 400; NaN/Infinity literals are refused with 400",
    "Merge precedence: the identified profile's existing values win over the anonymous profile's; the request's "
    "own values are applied last",
    "If the anonymousId is already merged into a different userId, the request is accepted, the new userId is "
    "upserted, and the anonymousId stays with the profile it was first merged into",
    "An anonymous-only request for an anonymousId already merged updates the identified profile that holds it",
    "Defaults opt_in_sms=true, opt_in_email=true, points=0, date_identified=now are set when a profile is created",
    "Timestamps are written as ISO-8601 with microseconds and a +00:00 offset",
    "Modeled GET user: userId wins when both query ids are given; also accepts userid/user_id spellings; 404 "
    "with our error body when nothing matches; system_attributes omit userid/anonymousid",
    "Modeled GET track: a trackID of another account is 404, same as an unknown one",
    "A trailing slash on the documented path is accepted",
]

STRING, INT, BOOL, TS = "STRING", "INT", "BOOL", "TIMESTAMPTZ"
COLUMNS = {
    "firstname": STRING, "lastname": STRING, "email": STRING, "birth_date": TS, "gender": STRING,
    "maritial_status": STRING, "children": INT, "education": STRING, "title": STRING, "address": STRING,
    "city": STRING, "state": STRING, "zipcode": STRING, "country": STRING, "phone": STRING,
    "job_position": STRING, "company": STRING, "number_of_employees": INT, "annual_revenue": INT,
    "opt_in_sms": BOOL, "opt_in_email": BOOL, "mobile": STRING, "last_active": TS, "updated_at": TS,
    "date_identified": TS, "points": INT, "device_type": STRING, "utm_source": STRING,
}
_NORM = {c.replace("_", ""): c for c in COLUMNS}
_NORM["maritalstatus"] = "maritial_status"
_ID_NORM = {"userid": "userId", "anonymousid": "anonymousId"}
TS_RE = re.compile(
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]"
    r"(\.[0-9]+)?)?(Z|z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?)?$")
DT_RE = re.compile(
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]"
    r"(\.[0-9]+)?)?(Z|z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?$")
MAX_ID = 1024


class Reject(Exception):
    def __init__(self, http, kind, detail, field=None):
        super().__init__(detail)
        self.http, self.kind, self.detail, self.field = http, kind, detail, field


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _err(http, kind, detail, field=None):
    return web.json_response({"ok": False, "error": {"kind": kind, "detail": detail, "field": field,
                                                     "http": http}}, status=http)


def _norm(key):
    return key.lower().replace("_", "").replace("-", "")


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _kind(v):
    if isinstance(v, bool):
        return "boolean"
    if _is_num(v):
        return "number"
    if isinstance(v, str):
        return "datetime" if DT_RE.match(v) else "string"
    return None


def _fits_lock(lock, v):
    k = _kind(v)
    if lock == "string":
        return k in ("string", "datetime")
    return k == lock


def _coerce_column(col, typ, v):
    where = "body/" + col
    if typ == STRING:
        if isinstance(v, str):
            return v
        if _is_num(v):
            return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
        raise Reject(400, "invalid_value", "column %s is text; got %s" % (col, type(v).__name__), where)
    if typ == INT:
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if not isinstance(v, int) or isinstance(v, bool):
            raise Reject(400, "invalid_value", "column %s is an integer column" % col, where)
        if not -2147483648 <= v <= 2147483647:
            raise Reject(400, "invalid_value", "column %s is out of 32-bit range" % col, where)
        return v
    if typ == BOOL:
        if not isinstance(v, bool):
            raise Reject(400, "invalid_value", "column %s is boolean" % col, where)
        return v
    if not isinstance(v, str) or not TS_RE.match(v):
        raise Reject(400, "invalid_value", "column %s needs an ISO-8601 date/time" % col, where)
    return v


def _check_id(name, v):
    if not isinstance(v, str):
        raise Reject(400, "invalid_identifier", "%s must be a string" % name, "body/" + name)
    if not v.strip() or len(v) > MAX_ID:
        raise Reject(400, "invalid_identifier", "%s must be a non-blank string up to %d chars" % (name, MAX_ID),
                     "body/" + name)
    return v


def parse_body(body, defects):
    """Validate a decoded body. Returns (ids, system_attrs, custom_attrs, unmapped)."""
    if not isinstance(body, dict):
        raise Reject(400, "bad_structure", "the body must be a JSON object", "body")
    ids, system, unmapped = {}, {}, {}
    for key, val in body.items():
        if key == "attributes":
            continue
        n = _norm(key)
        if n in _ID_NORM:
            name = _ID_NORM[n]
            _check_id(name, val)
            if name in ids and ids[name] != val:
                raise Reject(400, "conflicting_keys", "two spellings of %s disagree" % name, "body/" + key)
            ids[name] = val
        elif n in _NORM:
            col = _NORM[n]
            v = _coerce_column(col, COLUMNS[col], val)
            if col in system and system[col] != v:
                raise Reject(400, "conflicting_keys", "two spellings of %s disagree" % col, "body/" + key)
            system[col] = v
        else:
            unmapped[key] = val
    if not ids and "missing_id_ignored" not in defects:
        raise Reject(400, "missing_identifier", "userId or anonymousId is required", "body/userId")
    if "attributes" not in body:
        raise Reject(400, "missing_attributes", "the attributes key is required (send {} when empty)",
                     "body/attributes")
    attrs = body["attributes"]
    if not isinstance(attrs, dict):
        raise Reject(400, "bad_structure", "attributes must be a JSON object", "body/attributes")
    for name, v in attrs.items():
        if name == "":
            raise Reject(400, "invalid_attribute", "attribute names must not be empty", "body/attributes")
        if _kind(v) is None:
            raise Reject(400, "invalid_attribute",
                         "attribute %r must be a number, string, boolean or ISO date-time" % name,
                         "body/attributes/" + name)
    return ids, system, dict(attrs), unmapped


class Account:
    def __init__(self, license_code, token):
        self.license, self.token = license_code, token
        self.profiles = []          # list of profile dicts
        self.locks = {}             # attribute name -> kind
        self.tracks = {}            # trackID -> record


def _new_profile(user_id):
    now = _now()
    return {"userId": user_id, "anonymousIds": [],
            "system_attributes": {"opt_in_sms": True, "opt_in_email": True, "points": 0, "date_identified": now},
            "attributes": {}, "unmapped": {}, "created_at": now, "last_seen_at": now}


def _find(store, user_id=None, anon_id=None):
    for p in store.profiles:
        if user_id is not None and p["userId"] == user_id:
            return p
        if anon_id is not None and anon_id in p["anonymousIds"]:
            return p
    return None


def _absorb(dst, src):
    """Carry src's values into dst where dst has none (identified profile wins)."""
    for part in ("system_attributes", "attributes", "unmapped"):
        for k, v in src[part].items():
            dst[part].setdefault(k, v)


def apply_upsert(store, ids, system, attrs, unmapped, defects):
    uid, aid = ids.get("userId"), ids.get("anonymousId")
    if uid is not None:
        prof = _find(store, user_id=uid)
        anon = _find(store, anon_id=aid) if aid is not None else None
        if anon is not None and anon is not prof and anon["userId"] is None:
            store.profiles.remove(anon)
            if prof is None:
                if "merge_lost" in defects:
                    prof = _new_profile(uid)
                    prof["anonymousIds"] = list(anon["anonymousIds"])
                    store.profiles.append(prof)
                else:
                    prof = anon
                    prof["userId"] = uid
                    store.profiles.append(prof)
            else:
                if "merge_lost" not in defects:
                    _absorb(prof, anon)
                for a in anon["anonymousIds"]:
                    if a not in prof["anonymousIds"]:
                        prof["anonymousIds"].append(a)
        elif prof is None:
            prof = _new_profile(uid)
            store.profiles.append(prof)
        if aid is not None and _find(store, anon_id=aid) is None:
            prof["anonymousIds"].append(aid)
    else:
        prof = _find(store, anon_id=aid)
        if prof is None:
            prof = _new_profile(None)
            prof["anonymousIds"].append(aid)
            store.profiles.append(prof)
    if "upsert_replaces" in defects:
        fresh = _new_profile(prof["userId"])
        for part in ("system_attributes", "attributes", "unmapped"):
            prof[part] = fresh[part]
    prof["system_attributes"].update(system)
    prof["attributes"].update(attrs)
    prof["unmapped"].update(unmapped)
    prof["last_seen_at"] = _now()
    return prof


def make_app(defects=frozenset()):
    defects = frozenset(defects)
    accounts = {CREDS["license_code"]: Account(CREDS["license_code"], CREDS["access_token"]),
                CREDS["other_license_code"]: Account(CREDS["other_license_code"], CREDS["other_access_token"])}
    shared = Account("*", None)  # the single store used by the accounts_not_isolated defect

    def authorize(request):
        acct = accounts.get(request.match_info["license"])
        token = request.headers.get("authorization")
        if acct is None:
            raise Reject(401, "unauthorized", "unknown license code", "path/license_code")
        if not token or token.strip() != acct.token:
            raise Reject(401, "unauthorized", "missing or wrong access token for this license",
                         "headers/authorization")
        return acct

    def store_of(acct):
        return shared if "accounts_not_isolated" in defects else acct

    async def post_users(request):
        try:
            acct = authorize(request)
            raw = await request.read()
            if "crash_on_bad_json" in defects:
                body = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)  # unhandled -> 500
            else:
                try:
                    body = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
                except (ValueError, UnicodeDecodeError):
                    raise Reject(400, "bad_json", "the body is not valid JSON", "body")
            ids, system, attrs, unmapped = parse_body(body, defects)
            store = store_of(acct)
            if "type_lock_ignored" not in defects:
                for name, v in attrs.items():
                    lock = store.locks.get(name)
                    if lock is not None and not _fits_lock(lock, v):
                        raise Reject(409, "attribute_type_locked", "attribute %r is locked as %s; got %s"
                                     % (name, lock, _kind(v)), "body/attributes/" + name)
            track_id = str(uuid.uuid4())
            received = _now()
            if ids:
                for name, v in attrs.items():
                    store.locks.setdefault(name, _kind(v))
                apply_upsert(store, ids, system, attrs, unmapped, defects)
            store.tracks[track_id] = {"status": "processed", "trackID": track_id, "received_at": received,
                                      "userId": ids.get("userId"), "anonymousId": ids.get("anonymousId"),
                                      "attributes": list(attrs)}
            return web.json_response({"response": {"status": "queued", "trackID": track_id,
                                                   "received_at": received, "account": acct.license}},
                                     status=202)
        except Reject as r:
            return _err(r.http, r.kind, r.detail, r.field)

    async def get_user(request):
        try:
            acct = authorize(request)
            q = request.query
            uid = q.get("userId", q.get("userid", q.get("user_id")))
            aid = q.get("anonymousId", q.get("anonymousid", q.get("anonymous_id")))
            if not uid and not aid:
                raise Reject(400, "missing_identifier", "give userId or anonymousId in the query", "query")
            store = store_of(acct)
            prof = _find(store, user_id=uid) if uid else _find(store, anon_id=aid)
            if prof is None:
                raise Reject(404, "not_found", "no profile matches", "query")
            return web.json_response({"response": {"status": "ok", "user": json.loads(json.dumps(prof))}})
        except Reject as r:
            return _err(r.http, r.kind, r.detail, r.field)

    async def get_track(request):
        try:
            acct = authorize(request)
            rec = store_of(acct).tracks.get(request.match_info["track_id"])
            if rec is None:
                raise Reject(404, "not_found", "unknown trackID for this account", "path/track_id")
            return web.json_response({"response": dict(rec)})
        except Reject as r:
            return _err(r.http, r.kind, r.detail, r.field)

    app = web.Application()
    for path in ("/v1/accounts/{license}/users", "/v1/accounts/{license}/users/"):
        app.router.add_post(path, post_users)
        app.router.add_get(path, get_user)
    app.router.add_get("/v1/accounts/{license}/tracks/{track_id}", get_track)
    return app


def _no_constants(name):
    raise ValueError("non-finite number literal %s" % name)
