"""Zebline users API (seed 004) -- deliberately divergent but spec-conformant implementation.

POST /v1/accounts/{LICENSE_CODE}/users   (documented)
POST /v1/accounts/{LICENSE_CODE}/events  (public client code, VENDOR-NOTES)

See CHOICES.md for every open point and the choice taken.
"""
from __future__ import annotations

import argparse
import hmac
import json
import os
import re
import time
import uuid
from datetime import datetime, timezone

from aiohttp import web

CREDS = {
    "license_code": "ZBL-4F1C2E9A",
    "access_token": "zbt.7c1d5e0b9a3f4e26b8d1c0a9e2f37b54",
    "other_license_code": "ZBL-90B3D7E1",
    "other_access_token": "zbt.e2a64c1f08d9471b9c3a5f6d7e8b1c20",
}

ACCOUNTS = {
    CREDS["license_code"]: CREDS["access_token"],
    CREDS["other_license_code"]: CREDS["other_access_token"],
}

MAX_BODY = 256 * 1024
PROBLEM_CT = "application/problem+json"

# Switchable, realistic defects (all off by default). Each breaks a rule the vendor document states.
DEFECTS: dict[str, dict[str, str]] = {
    "token_prefix_compare": {
        "sentence": "اگر اعتبارنامههای نادرست (مانند کد لایسنس یا توکن دسترسی) ارسال کنید، خطای 401 Unauthorized دریافت خواهید کرد.",
        "english": "If you send wrong credentials (such as the license code or the access token), you get a 401 Unauthorized error.",
        "bug": "POST /users (and /events): only the first 16 characters of the access token are compared, so a wrong "
               "token that shares that prefix (e.g. the real token with its last characters changed, or with a "
               "suffix appended) is answered 202 instead of 401.",
    },
    "token_any_account": {
        "sentence": "اگر اعتبارنامههای نادرست (مانند کد لایسنس یا توکن دسترسی) ارسال کنید، خطای 401 Unauthorized دریافت خواهید کرد.",
        "english": "If you send wrong credentials (such as the license code or the access token), you get a 401 Unauthorized error.",
        "bug": "POST /users (and /events): the token is checked against the tokens of all accounts, not the one of the "
               "license code in the path, so the other account's token on this license code is answered 202 "
               "(and writes into this account) instead of 401.",
    },
    "attributes_optional": {
        "sentence": "در همه درخواستها میبایست کلید\nattributes\nرا ارسال نمایید حتی اگر خالی باشد و شما ویژگی سفارشی ندارید.",
        "english": "In all requests you must send the attributes key, even if it is empty and you have no custom attribute.",
        "bug": "POST /users: a body without the 'attributes' key is treated as if it had sent {} and answered 202 "
               "instead of 400 (an 'attributes' that is present but not an object is still refused).",
    },
    "userid_number_coerced": {
        "sentence": "مطمئن شوید که\nuserId\nبه صورت رشته و معتبر است.",
        "english": "Make sure that userId is a string and valid.",
        "bug": "POST /users: an integer userId (e.g. 12345) is silently converted to the string '12345' and the "
               "request is answered 202 instead of 400 (anonymousId is still checked correctly).",
    },
    "bool_passes_numeric_lock": {
        "sentence": "بعد از ارسال یک ویژگی سفارشی با نوع خاص، نمیتوانید نوع آن ویژگی را تغییر دهد.",
        "english": "After sending a custom attribute with a particular type, you cannot change that attribute's type.",
        "bug": "POST /users: the type-lock check treats a boolean as a number, so after attributes.age = 30 a "
               "later attributes.age = true for the same user is answered 202 (and stored) instead of being refused.",
    },
    "type_conflict_partial_write": {
        "sentence": "به عنوان مثال، اگر یک فیلد ویژگی سفارشی به عنوان عددی ارسال شود، امکان ارسال مجدد آن به صورت رشته وجود ندارد و سیستم این کاربر را به سیستم اضافه نخواهد کرد.",
        "english": "For example, if a custom attribute field is sent as a number, it cannot be sent again as a string, "
                   "and the system will not add this user.",
        "bug": "POST /users: a request refused for a type change (409) has already written its other, non-conflicting "
               "attributes (and created the user if new); observable because a later request giving one of those "
               "attributes another type is now refused, and a never-accepted user then answers as an update.",
    },
    "update_replaces_attributes": {
        "sentence": "اما اگرuserId\nیاAnonymous ID\nدر پایگاه داده موجود باشد، فقط پارامترهای جدید بهروزرسانی خواهند شد.",
        "english": "But if the userId or Anonymous ID exists in the database, only the new parameters will be updated.",
        "bug": "POST /users: an update of an existing profile replaces its whole custom-attribute set (and their type "
               "locks) with the attributes of the request, so attributes not re-sent are lost: after age = 30 and "
               "then an update with only another attribute, age = 'thirty' is answered 202 instead of being refused.",
    },
    "merge_drops_anonymous_attributes": {
        "sentence": "در این صورت، سیستم پروفایل ناشناس را باuserId\nادغام میکند.",
        "english": "In that case, the system merges the anonymous profile with the userId.",
        "bug": "POST /users with both ids when both profiles exist: the anonymous profile's custom attributes (and "
               "their type locks) are dropped instead of merged into the user profile, so after the merge the "
               "user may send those attributes with another type (202 instead of refused).",
    },
    "malformed_json_500": {
        "sentence": "اگر فرمت درخواست نادرست باشد، خطای 400 Bad Request دریافت خواهید کرد.",
        "english": "If the request format is wrong, you get a 400 Bad Request error.",
        "bug": "POST /users (and /events): a body that is not syntactically valid JSON (truncated, trailing comma, "
               "NaN, ...) is answered 500 Internal Server Error instead of 400.",
    },
}
DEFECTS_KEY = web.AppKey("defects", frozenset)

# ---------------------------------------------------------------- helpers

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_track_id() -> str:
    """ULID (26 chars Crockford base32): time-ordered, opaque, not a UUID."""
    ms = int(time.time() * 1000) & ((1 << 48) - 1)
    n = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    out = []
    for _ in range(26):
        out.append(_CROCKFORD[n & 31])
        n >>= 5
    return "".join(reversed(out))


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Problem(Exception):
    def __init__(self, status: int, code: str, title: str, errors=None, headers=None):
        super().__init__(title)
        self.status = status
        self.code = code
        self.title = title
        self.errors = errors or []
        self.headers = headers or {}


def problem_response(p: Problem) -> web.Response:
    body = {
        "type": f"https://api.zebline.com/problems/{p.code.lower().replace('_', '-')}",
        "title": p.title,
        "status": p.status,
        "code": p.code,
        "errors": p.errors,
        "occurred_at": now_iso(),
    }
    return web.Response(
        status=p.status,
        body=json.dumps(body, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": PROBLEM_CT + "; charset=utf-8", **p.headers},
    )


def err(field, code, message):
    return {"field": field, "code": code, "message": message}


def norm_key(k: str) -> str:
    return k.lower().replace("_", "")


# ---------------------------------------------------------------- JSON parsing

class _DupKey(Exception):
    pass


def _pairs_hook(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise _DupKey(k)
        d[k] = v
    return d


def _bad_constant(name):
    raise ValueError(f"non-standard JSON constant {name}")


async def read_json_object(request: web.Request, defects: frozenset = frozenset()) -> dict:
    # Content-Type must be JSON (strict), otherwise 400 (request format wrong).
    ctype = request.headers.get("Content-Type", "")
    mt = ctype.split(";", 1)[0].strip().lower()
    if mt != "application/json" and not (mt.startswith("application/") and mt.endswith("+json")):
        raise Problem(400, "UNSUPPORTED_CONTENT_TYPE", "Request body must be sent as application/json",
                      [err("header:Content-Type", "invalid", f"got {ctype!r}")])
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise Problem(413, "PAYLOAD_TOO_LARGE", "Request body too large",
                      [err("body", "too_large", f"limit is {MAX_BODY} bytes")])
    chunks, total = [], 0
    while total <= MAX_BODY:
        chunk = await request.content.read(MAX_BODY + 1 - total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    raw = b"".join(chunks)
    if len(raw) > MAX_BODY:
        raise Problem(413, "PAYLOAD_TOO_LARGE", "Request body too large",
                      [err("body", "too_large", f"limit is {MAX_BODY} bytes")])
    if not raw.strip():
        raise Problem(400, "EMPTY_BODY", "Request body is empty", [err("body", "required", "JSON object expected")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Problem(400, "INVALID_ENCODING", "Body is not valid UTF-8", [err("body", "encoding", "UTF-8 required")])
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        data = json.loads(text, object_pairs_hook=_pairs_hook, parse_constant=_bad_constant)
    except _DupKey as e:
        raise Problem(400, "DUPLICATE_KEY", "Duplicate key in JSON object", [err(str(e), "duplicate", "key repeated")])
    except (ValueError, RecursionError) as e:
        if "malformed_json_500" in defects:
            raise Problem(500, "INTERNAL_ERROR", "Internal Server Error", [err("body", "error", type(e).__name__)])
        raise Problem(400, "MALFORMED_JSON", "Body is not valid JSON", [err("body", "syntax", str(e)[:200])])
    if not isinstance(data, dict):
        raise Problem(400, "INVALID_BODY", "Body must be a JSON object", [err("body", "type", "object expected")])
    return data


# ---------------------------------------------------------------- types

NUMERIC, STRING, BOOLEAN, DATETIME = "NUMERIC", "STRING", "BOOLEAN", "DATETIME"

_DT_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|z|[+-]\d{2}(:?\d{2})?)?$"
)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def is_iso_datetime(s: str) -> bool:
    if not isinstance(s, str) or not _DT_RE.match(s):
        return False
    t = s
    if t[-1] in "Zz":
        t = t[:-1] + "+00:00"
    m = re.search(r"([+-])(\d{2})(\d{2})$", t)
    if m and t[-5] in "+-":
        t = t[:-4] + m.group(2) + ":" + m.group(3)
    m2 = re.search(r"\.(\d+)", t)
    if m2 and len(m2.group(1)) > 6:
        t = t.replace("." + m2.group(1), "." + m2.group(1)[:6])
    try:
        datetime.fromisoformat(t)
        return True
    except ValueError:
        return False


def is_iso_date(s: str) -> bool:
    if not isinstance(s, str) or not _DATE_RE.match(s):
        return False
    try:
        datetime.strptime(s, "%Y-%m-%d")
        return True
    except ValueError:
        return False


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def infer_type(v):
    if isinstance(v, bool):
        return BOOLEAN
    if is_number(v):
        return NUMERIC
    if isinstance(v, str):
        return DATETIME if is_iso_datetime(v) else STRING
    return None


def value_fits(locked: str, v) -> bool:
    if locked == NUMERIC:
        return is_number(v)
    if locked == BOOLEAN:
        return isinstance(v, bool)
    if locked == STRING:
        return isinstance(v, str)  # an ISO-looking string is still a string
    if locked == DATETIME:
        return isinstance(v, str) and is_iso_datetime(v)
    return False


# ---------------------------------------------------------------- system attributes

INT8 = (-(2 ** 63), 2 ** 63 - 1)
INT4 = (-(2 ** 31), 2 ** 31 - 1)

# canonical name -> (db type, extra)
SYSTEM_FIELDS = {
    "firstname": "STRING", "lastname": "STRING", "email": "STRING", "birth_date": "TIMESTAMPTZ",
    "gender": "STRING", "maritial_status": "STRING", "children": "INT", "education": "STRING",
    "title": "STRING", "address": "STRING", "city": "STRING", "state": "STRING", "zipcode": "STRING",
    "country": "STRING", "phone": "STRING", "job_position": "STRING", "company": "STRING",
    "number_of_employees": "INT", "annual_revenue": "INT", "opt_in_sms": "BOOL", "opt_in_email": "BOOL",
    "mobile": "STRING", "last_active": "TIMESTAMPTZ", "updated_at": "TIMESTAMPTZ",
    "date_identified": "TIMESTAMPTZ", "points": "INT4", "device_type": "STRING", "utm_source": "STRING",
}
SYSTEM_BY_NORM = {norm_key(k): k for k in SYSTEM_FIELDS}
SYSTEM_BY_NORM["maritalstatus"] = "maritial_status"  # alias for the table's spelling
NON_NEGATIVE = {"children", "number_of_employees"}
RESERVED_NORM = {"userid": "userId", "anonymousid": "anonymousId", "attributes": "attributes"}
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

SYSTEM_LOCK = {"STRING": STRING, "INT": NUMERIC, "INT4": NUMERIC, "BOOL": BOOLEAN, "TIMESTAMPTZ": DATETIME}


def check_system_value(name: str, v):
    """Return None if ok, else an error message."""
    t = SYSTEM_FIELDS[name]
    if t == "STRING":
        if not isinstance(v, str):
            return "must be a string"
        if name == "email" and v and not _EMAIL_RE.match(v):
            return "must be an email address"
        return None
    if t in ("INT", "INT4"):
        if not is_number(v):
            return "must be an integer"
        if isinstance(v, float):
            if v != v or v in (float("inf"), float("-inf")) or not v.is_integer():
                return "must be an integer"
            v = int(v)
        lo, hi = INT4 if t == "INT4" else INT8
        if not lo <= v <= hi:
            return f"out of range for {t}"
        if name in NON_NEGATIVE and v < 0:
            return "must not be negative"
        return None
    if t == "BOOL":
        return None if isinstance(v, bool) else "must be a boolean"
    if t == "TIMESTAMPTZ":
        if isinstance(v, str) and (is_iso_datetime(v) or is_iso_date(v)):
            return None
        return "must be an ISO 8601 date-time string"
    return "unsupported"


ID_MAX = 128
_CTRL_RE = re.compile(r"[\x00-\x1f\x7f]")


def check_identifier(field, v, errors):
    if not isinstance(v, str):
        errors.append(err(field, "invalid_type", "must be a string"))
        return None
    if v == "" or v.strip() == "":
        errors.append(err(field, "empty", "must not be empty"))
        return None
    if v != v.strip():
        errors.append(err(field, "whitespace", "must not have leading or trailing whitespace"))
        return None
    if len(v) > ID_MAX:
        errors.append(err(field, "too_long", f"at most {ID_MAX} characters"))
        return None
    if _CTRL_RE.search(v):
        errors.append(err(field, "invalid_characters", "control characters are not allowed"))
        return None
    return v


_ATTR_KEY_RE = re.compile(r"^[a-z0-9_]+$")


def validate_user_body(data: dict, defects: frozenset = frozenset()):
    """Structural validation (400). Returns (user_id, anon_id, system, attrs)."""
    errors = []
    ids = {}
    system = {}
    attrs = None
    seen_norm = {}
    for k, v in data.items():
        nk = norm_key(k)
        if nk in seen_norm:
            errors.append(err(k, "duplicate", f"same field as {seen_norm[nk]!r}"))
            continue
        seen_norm[nk] = k
        if nk in ("userid", "anonymousid"):
            ids[nk] = (k, v)
        elif nk == "attributes":
            attrs = v
        elif nk in SYSTEM_BY_NORM:
            name = SYSTEM_BY_NORM[nk]
            if v is None:
                system[name] = None
                continue
            msg = check_system_value(name, v)
            if msg:
                errors.append(err(k, "invalid_value", msg))
            else:
                system[name] = v
        else:
            errors.append(err(k, "unknown_field",
                              "custom attributes must be sent inside the 'attributes' object"))
    user_id = anon_id = None
    if "userid" in ids:
        uv = ids["userid"][1]
        if "userid_number_coerced" in defects and isinstance(uv, int) and not isinstance(uv, bool):
            uv = str(uv)
        user_id = check_identifier(ids["userid"][0], uv, errors)
    if "anonymousid" in ids:
        anon_id = check_identifier(ids["anonymousid"][0], ids["anonymousid"][1], errors)
    if not ids:
        errors.append(err("userId", "required", "userId or anonymousId is required"))
    if "attributes" not in seen_norm and "attributes_optional" in defects:
        attrs = {}
    elif "attributes" not in seen_norm:
        errors.append(err("attributes", "required", "attributes is required (send {} if empty)"))
    elif not isinstance(attrs, dict):
        errors.append(err(seen_norm["attributes"], "invalid_type", "must be a JSON object"))
        attrs = None
    clean_attrs = {}
    if isinstance(attrs, dict):
        for k, v in attrs.items():
            f = f"attributes.{k}"
            if not _ATTR_KEY_RE.match(k):
                errors.append(err(f, "invalid_key",
                                  "keys must be lowercase, words separated by underscore"))
                continue
            if norm_key(k) in ("userid", "anonymousid", "attributes"):
                errors.append(err(f, "reserved_key", "reserved key cannot be used as a custom attribute"))
                continue
            if v is None:
                clean_attrs[k] = None
                continue
            if infer_type(v) is None:
                errors.append(err(f, "invalid_type",
                                  "value must be a number, string, boolean or ISO date-time"))
                continue
            if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
                errors.append(err(f, "invalid_value", "non-finite number"))
                continue
            clean_attrs[k] = v
    if errors:
        raise Problem(400, "VALIDATION_FAILED", "Request body is invalid", errors)
    return user_id, anon_id, system, clean_attrs


# ---------------------------------------------------------------- state

class Account:
    def __init__(self):
        self.profiles = {}  # pid -> profile dict
        self.by_user = {}
        self.by_anon = {}
        self.events = []
        self._seq = 0

    def new_profile(self):
        self._seq += 1
        pid = self._seq
        p = {"id": pid, "user_id": None, "anon_ids": set(), "system": {"opt_in_sms": True,
             "opt_in_email": True, "points": 0}, "attrs": {}, "types": {},
             "created_at": now_iso()}
        return p


def _lock_for(profile_types: dict, key: str):
    if key in profile_types:
        return profile_types[key]
    if key in SYSTEM_FIELDS:
        return SYSTEM_LOCK[SYSTEM_FIELDS[key]]
    return None


def upsert(acct: Account, user_id, anon_id, system, attrs, defects: frozenset = frozenset()):
    pu = acct.profiles.get(acct.by_user[user_id]) if user_id is not None and user_id in acct.by_user else None
    pa = acct.profiles.get(acct.by_anon[anon_id]) if anon_id is not None and anon_id in acct.by_anon else None

    if pa is not None and user_id is not None and pa["user_id"] is not None and pa["user_id"] != user_id:
        raise Problem(409, "ANONYMOUS_ID_ALREADY_IDENTIFIED",
                      "anonymousId is already merged into a different userId",
                      [err("anonymousId", "conflict", "anonymous profile already belongs to another user")])

    merge_from = None
    if user_id is not None and anon_id is not None:
        if pu is not None and pa is not None and pu is not pa:
            target, merge_from, operation = pu, pa, "merge"
        elif pu is not None:
            target, operation = pu, ("update" if pa is pu else "merge")
        elif pa is not None:
            target, operation = pa, "merge"
        else:
            target, operation = None, "insert"
    elif user_id is not None:
        target, operation = pu, ("update" if pu else "insert")
    else:
        target, operation = pa, ("update" if pa else "insert")

    # effective type map after a possible merge (survivor = userId profile wins conflicts)
    types = dict(target["types"]) if target else {}
    if merge_from is not None:
        for k, t in merge_from["types"].items():
            types.setdefault(k, t)

    conflicts = []
    for k, v in attrs.items():
        if v is None:
            continue
        if k in SYSTEM_FIELDS:
            msg = check_system_value(k, v)
            if msg:
                conflicts.append(err(f"attributes.{k}", "type_locked",
                                     f"system attribute {k} is {SYSTEM_FIELDS[k]}: {msg}"))
            continue
        locked = _lock_for(types, k)
        if locked is None:
            continue
        if "bool_passes_numeric_lock" in defects and locked == NUMERIC and isinstance(v, bool):
            continue
        if not value_fits(locked, v):
            conflicts.append(err(f"attributes.{k}", "type_locked",
                                 f"attribute is locked to {locked}; got {infer_type(v)}"))
    if conflicts:
        if "type_conflict_partial_write" in defects:
            bad = {c["field"][len("attributes."):] for c in conflicts}
            if target is None:
                target = acct.new_profile()
                acct.profiles[target["id"]] = target
                if user_id is not None:
                    target["user_id"] = user_id
                    acct.by_user[user_id] = target["id"]
                if anon_id is not None:
                    target["anon_ids"].add(anon_id)
                    acct.by_anon[anon_id] = target["id"]
            for k, v in attrs.items():
                if k in bad or v is None:
                    continue
                if k not in target["types"]:
                    target["types"][k] = SYSTEM_LOCK[SYSTEM_FIELDS[k]] if k in SYSTEM_FIELDS else infer_type(v)
                target["attrs"][k] = v
        raise Problem(409, "ATTRIBUTE_TYPE_LOCKED",
                      "Attribute type cannot change once set; user was not added", conflicts)

    # ---- commit (atomic: nothing above mutated state)
    if target is None:
        target = acct.new_profile()
        acct.profiles[target["id"]] = target
    if merge_from is not None:
        if "merge_drops_anonymous_attributes" not in defects:
            for k, v in merge_from["attrs"].items():
                target["attrs"].setdefault(k, v)
            for k, t in merge_from["types"].items():
                target["types"].setdefault(k, t)
        for k, v in merge_from["system"].items():
            if k not in target["system"] or k in ("opt_in_sms", "opt_in_email", "points"):
                target["system"].setdefault(k, v)
        for a in merge_from["anon_ids"]:
            target["anon_ids"].add(a)
            acct.by_anon[a] = target["id"]
        del acct.profiles[merge_from["id"]]
    if user_id is not None and target["user_id"] is None:
        target["user_id"] = user_id
        target["system"].setdefault("date_identified", now_iso())
    if user_id is not None:
        acct.by_user[user_id] = target["id"]
    if anon_id is not None:
        target["anon_ids"].add(anon_id)
        acct.by_anon[anon_id] = target["id"]
    if "update_replaces_attributes" in defects and operation == "update":
        target["attrs"] = {}
        target["types"] = {}
    for k, v in system.items():
        if v is None:
            target["system"].pop(k, None)
        else:
            target["system"][k] = v
    for k, v in attrs.items():
        if v is None:
            target["attrs"].pop(k, None)  # cleared; the type lock stays
            continue
        if k not in target["types"]:
            target["types"][k] = SYSTEM_LOCK[SYSTEM_FIELDS[k]] if k in SYSTEM_FIELDS else infer_type(v)
        target["attrs"][k] = v
    target["system"]["updated_at"] = now_iso()
    return operation


# ---------------------------------------------------------------- auth

def authenticate(request: web.Request, license_code: str, defects: frozenset = frozenset()):
    hdr = request.headers.get("Authorization")
    challenge = {"WWW-Authenticate": 'Token realm="zebline"'}
    if hdr is None or not hdr.strip():
        raise Problem(401, "MISSING_CREDENTIALS", "Unauthorized",
                      [err("header:authorization", "required", "access token required")], challenge)
    token = hdr.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    expected = ACCOUNTS.get(license_code)
    ok = expected is not None and hmac.compare_digest(token.encode("utf-8", "replace"), expected.encode())
    if "token_prefix_compare" in defects and expected is not None:
        ok = token[:16] == expected[:16]
    if "token_any_account" in defects and expected is not None:
        ok = any(hmac.compare_digest(token.encode("utf-8", "replace"), t.encode()) for t in ACCOUNTS.values())
    if not ok:
        raise Problem(401, "INVALID_CREDENTIALS", "Unauthorized",
                      [err("credentials", "invalid", "license code or access token is not valid")], challenge)


def check_query(request: web.Request):
    if request.query:
        raise Problem(400, "UNEXPECTED_QUERY", "Query parameters are not accepted",
                      [err(f"query:{k}", "unexpected", "not supported") for k in request.query.keys()])


def accepted(track_id: str, extra: dict) -> web.Response:
    body = {"response": {"status": "queued", "trackID": track_id, **extra},
            "received_at": now_iso()}
    return web.Response(status=202, body=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                        headers={"Content-Type": "application/json; charset=utf-8",
                                 "X-Zebline-Track-Id": track_id})


# ---------------------------------------------------------------- handlers

async def users_handler(request: web.Request) -> web.Response:
    if request.method != "POST":
        raise Problem(405, "METHOD_NOT_ALLOWED", "Only POST is supported on this resource",
                      [err("method", "not_allowed", request.method)], {"Allow": "POST"})
    license_code = request.match_info["license"]
    defects = request.app[DEFECTS_KEY]
    check_query(request)
    data = await read_json_object(request, defects)
    user_id, anon_id, system, attrs = validate_user_body(data, defects)
    authenticate(request, license_code, defects)
    acct = request.app["accounts"][license_code]
    operation = upsert(acct, user_id, anon_id, system, attrs, defects)
    extra = {"operation": operation}
    if user_id is not None:
        extra["userId"] = user_id
    if anon_id is not None:
        extra["anonymousId"] = anon_id
    return accepted(new_track_id(), extra)


async def events_handler(request: web.Request) -> web.Response:
    if request.method != "POST":
        raise Problem(405, "METHOD_NOT_ALLOWED", "Only POST is supported on this resource",
                      [err("method", "not_allowed", request.method)], {"Allow": "POST"})
    license_code = request.match_info["license"]
    defects = request.app[DEFECTS_KEY]
    check_query(request)
    data = await read_json_object(request, defects)
    errors = []
    uid = data.get("userId")
    aid = data.get("anonymousId")
    if uid is None and aid is None:
        errors.append(err("userId", "required", "userId is required"))
    if uid is not None:
        check_identifier("userId", uid, errors)
    if aid is not None:
        check_identifier("anonymousId", aid, errors)
    name = data.get("eventName")
    if not isinstance(name, str) or not name.strip():
        errors.append(err("eventName", "required", "non-empty string required"))
    if "eventTime" in data:
        t = data["eventTime"]
        if not ((isinstance(t, str) and (is_iso_datetime(t) or is_iso_date(t)))
                or (is_number(t) and t == t and 0 <= t < 1e14)):
            errors.append(err("eventTime", "invalid_value", "ISO 8601 date-time or epoch number expected"))
    if "eventData" in data and not isinstance(data["eventData"], dict):
        errors.append(err("eventData", "invalid_type", "must be a JSON object"))
    if errors:
        raise Problem(400, "VALIDATION_FAILED", "Request body is invalid", errors)
    authenticate(request, license_code, defects)
    tid = new_track_id()
    request.app["accounts"][license_code].events.append((tid, data))
    return accepted(tid, {"eventName": name})


async def not_found(request: web.Request):
    raise Problem(404, "NOT_FOUND", "No such resource", [err("path", "not_found", request.path)])


@web.middleware
async def problem_middleware(request, handler):
    try:
        return await handler(request)
    except Problem as p:
        return problem_response(p)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        status = e.status if 400 <= e.status < 500 else 400
        hdrs = {k: v for k, v in e.headers.items() if k.lower() in ("allow",)}
        return problem_response(Problem(status, "HTTP_" + str(status), e.reason or "Error",
                                        [err("request", "rejected", e.reason or "")], hdrs))
    except Exception as e:  # never a 5xx for client input
        return problem_response(Problem(400, "UNPROCESSABLE_REQUEST", "Request could not be processed",
                                        [err("request", "rejected", type(e).__name__)]))


def make_app(defects: frozenset[str] = frozenset()) -> web.Application:
    unknown = set(defects) - set(DEFECTS)
    if unknown:
        raise ValueError(f"unknown defect(s): {sorted(unknown)}")
    app = web.Application(middlewares=[problem_middleware], client_max_size=MAX_BODY * 4)
    app[DEFECTS_KEY] = frozenset(defects)
    app["accounts"] = {lic: Account() for lic in ACCOUNTS}
    for suffix in ("", "/"):
        app.router.add_route("*", "/v1/accounts/{license}/users" + suffix, users_handler)
        app.router.add_route("*", "/v1/accounts/{license}/events" + suffix, events_handler)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--host", default="127.0.0.1")
    a = ap.parse_args()
    web.run_app(make_app(), host=a.host, port=a.port, print=None)


if __name__ == "__main__":
    main()
