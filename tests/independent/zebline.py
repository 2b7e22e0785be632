#!/usr/bin/env python3
"""Independent in-memory implementation of the Zebline "users" upsert API.

Written from the Zebline API document only (seed 004) plus the public vendor
notes.  See CHOICES.md for every decision the document left open.

    python app.py --port 8080        # listens on 127.0.0.1:8080

Documented surface:
    POST /v1/accounts/{LICENSE_CODE}/users
        header  authorization: ACCESS_TOKEN
        header  Content-Type: application/json
        200 -> {"response": {"status": "queued", "trackID": "<uuid>"}}
        401 bad credentials, 400 bad request format / invalid values

Extension (the document mentions a "GET Users Endpoint" and a dashboard to
inspect stored profiles; this read-only view stands in for that):
    GET /v1/accounts/{LICENSE_CODE}/users?userId=..|anonymousId=..
    GET /v1/accounts/{LICENSE_CODE}/users/{userId}
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import uuid
from datetime import datetime, timezone

from aiohttp import web

# --------------------------------------------------------------------------
# Configuration / fixed credentials
# --------------------------------------------------------------------------

MAX_BODY_BYTES = 1024 * 1024          # 1 MiB -> 413 above this
MAX_ID_LEN = 255
MAX_KEY_LEN = 128
MAX_STRING_LEN = 65536
MAX_ATTRS_PER_REQUEST = 500
MAX_ATTRS_PER_ACCOUNT = 2000
INT4_MIN, INT4_MAX = -(2 ** 31), 2 ** 31 - 1

ACCOUNTS = {
    # license_code -> access_token
    "ZBL-7F3A21C9": "zbl_at_3b9f6c2e8d4a41f0a7e5c1d2b6f80917",
    "ZBL-0D58E4B2": "zbl_at_9e1c7a5b3f2d4e6a8c0b1d3f5a7e9c24",
}
CREDS = {
    "license_code": "ZBL-7F3A21C9",
    "access_token": "zbl_at_3b9f6c2e8d4a41f0a7e5c1d2b6f80917",
    "other_license_code": "ZBL-0D58E4B2",
    "other_access_token": "zbl_at_9e1c7a5b3f2d4e6a8c0b1d3f5a7e9c24",
}

# --------------------------------------------------------------------------
# Switchable defects (for testing the conformance suite).  make_app(defects)
# turns the named ones on; with no defects the server is the correct one.
# --------------------------------------------------------------------------

DEFECTS: dict[str, dict[str, str]] = {
    "auth_cross_account_token": {
        "sentence": "اگر اعتبارنامههای نادرست (مانند کد لایسنس یا توکن دسترسی) ارسال کنید، خطای 401 Unauthorized دریافت خواهید کرد.",
        "english": "If you send incorrect credentials (such as the license code or the access token), you will get a 401 Unauthorized error.",
        "bug": "The token is looked up among all accounts' tokens instead of being compared with the token of the "
               "license code in the path, so a valid token of ANOTHER account is accepted (200 queued) for this license.",
    },
    "auth_token_prefix_match": {
        "sentence": "این API به احراز هویت نیاز دارد و برای ارسال درخواست باید از یک توکن دسترسی معتبر در هدر درخواست استفاده شود.",
        "english": "This API requires authentication, and a valid access token must be used in the request header to send a request.",
        "bug": "Only the first 16 characters of the authorization header are compared with the account's token, so a "
               "token whose tail is wrong (e.g. last characters altered) is accepted with 200.",
    },
    "attributes_optional_with_userid": {
        "sentence": "در همه درخواستها میبایست کلید\nattributes\nرا ارسال نمایید حتی اگر خالی باشد و شما ویژگی سفارشی ندارید.",
        "english": "In all requests you must send the attributes key, even if it is empty and you have no custom attributes.",
        "bug": "The 'attributes is required' check only runs for anonymous traffic; a request with userId and no "
               "'attributes' key is accepted with 200 (anonymous-only requests are still rejected with 400).",
    },
    "custom_key_case_folded": {
        "sentence": "تمامی کلیدها باید بهصورت حروف کوچک (lowercase) باشند.",
        "english": "All keys must be in lowercase.",
        "bug": "Custom attribute names are lower-cased before the naming check, so a name with capital letters "
               "(e.g. 'Favorite_Color') passes and is accepted with 200 instead of 400.",
    },
    "type_lock_per_user": {
        "sentence": "بعد از ارسال یک ویژگی سفارشی با نوع خاص، نمیتوانید نوع آن ویژگی را تغییر دهد.",
        "english": "After sending a custom attribute with a particular type, you cannot change that attribute's type.",
        "bug": "Custom attribute types are locked per user instead of per account: once user A sent age as a number, "
               "user B can still send age as a string and gets 200 (the same user is still refused).",
    },
    "type_lock_bool_as_number": {
        "sentence": "پس از ثبت یک ویژگی با یک نوع خاص (مثلاً عددی)، سیستم اجازه تغییر نوع آن (مثلاً به رشتهای) را نمیدهد.",
        "english": "After an attribute is registered with a particular type (e.g. numeric), the system does not allow its type to be changed (e.g. to string).",
        "bug": "The numeric type check uses isinstance(v, (int, float)), and JSON booleans are ints in Python, so an "
               "attribute locked as numeric accepts true/false with 200 (strings are still refused).",
    },
    "type_lock_skipped_on_update": {
        "sentence": "به عنوان مثال، اگر یک فیلد ویژگی سفارشی به عنوان عددی ارسال شود، امکان ارسال مجدد آن به صورت رشته وجود ندارد و سیستم این کاربر را به سیستم اضافه نخواهد کرد.",
        "english": "For example, if a custom attribute field is sent as numeric, it cannot be sent again as a string, and the system will not add this user.",
        "bug": "Attribute types are only registered when the request creates a new profile; an attribute first sent "
               "in an update of an existing user is never locked, so a later string value for it is accepted with 200.",
    },
    "type_lock_partial_commit": {
        "sentence": "این درخواست نادرست است، زیرا مقدار\nage\nبه جای عددی، به صورت رشتهای ارسال شده است و سیستم این کاربر را اضافه نخواهد کرد.",
        "english": "This request is incorrect, because the value of age was sent as a string instead of a number, and the system will not add this user.",
        "bug": "A request rejected for a type mismatch is still partly applied: the types of the NEW attributes it "
               "carried are registered, so a later valid request using such an attribute with another type is "
               "refused with 400 although the rejected request should have had no effect.",
    },
    "birth_date_invalid_500": {
        "sentence": "مثال: ارسال دادههایی با ساختار اشتباه یا مقدار نامعتبر در فیلدها.",
        "english": "Example: sending data with a wrong structure or an invalid value in the fields (-> 400 Bad Request).",
        "bug": "TIMESTAMPTZ system fields (birth_date, last_active, ...) are only checked against the ISO pattern; an "
               "ISO-shaped but impossible date such as '2024-02-30' then crashes the date conversion and the server "
               "answers 500 Internal Server Error instead of 400.",
    },
    "userid_number_coerced": {
        "sentence": "راهحل: مطمئن شوید که\nuserId\nبه صورت رشته و معتبر است.",
        "english": "Solution: make sure that userId is a string and valid.",
        "bug": "A numeric userId (e.g. 12345) is silently converted to the string '12345' and the request is accepted "
               "with 200 instead of being rejected as an invalid identifier.",
    },
    "int_field_accepts_numeric_string": {
        "sentence": "children | INT | تعداد فرزندان |",
        "english": "children | INT | number of children |",
        "bug": "INT system fields (children, number_of_employees, annual_revenue, points) accept digit strings such "
               "as \"2\" by converting them with int(); the request is accepted with 200 instead of 400.",
    },
    "merge_response_missing_trackid": {
        "sentence": "پاسخ سرور\n{\n\"response\": {\n\"status\": \"queued\",\n\"trackID\": \"bfb7428a-f017-4b4b-b8f5-fd39c4bad20f\"\n}\n}",
        "english": "Server response: {\"response\": {\"status\": \"queued\", \"trackID\": \"<uuid>\"}}",
        "bug": "When a request merges an existing anonymous profile into a userId (both keys sent, anonymousId already "
               "known), the 200 body is {\"response\": {\"status\": \"queued\"}} without the trackID field.",
    },
}


class _InternalCrash(Exception):
    """An unhandled server-side failure (answered with 500)."""


# System user attributes from the document's table: name -> type.
# (The table's e-mail row has no name; "email" is used.)
SYSTEM_FIELDS = {
    "userid": "STRING",
    "anonymousid": "STRING",
    "firstname": "STRING",
    "lastname": "STRING",
    "email": "STRING",
    "birth_date": "TIMESTAMPTZ",
    "gender": "STRING",
    "maritial_status": "STRING",
    "children": "INT",
    "education": "STRING",
    "title": "STRING",
    "address": "STRING",
    "city": "STRING",
    "state": "STRING",
    "zipcode": "STRING",
    "country": "STRING",
    "phone": "STRING",
    "job_position": "STRING",
    "company": "STRING",
    "number_of_employees": "INT",
    "annual_revenue": "INT",
    "opt_in_sms": "BOOL",
    "opt_in_email": "BOOL",
    "mobile": "STRING",
    "last_active": "TIMESTAMPTZ",
    "updated_at": "TIMESTAMPTZ",
    "date_identified": "TIMESTAMPTZ",
    "points": "INT",
    "device_type": "STRING",
    "utm_source": "STRING",
}
# Extra spellings accepted for top-level keys (after lower-casing).
ALIASES = {
    "first_name": "firstname",
    "last_name": "lastname",
    "marital_status": "maritial_status",
    "user_id": "userid",
    "anonymous_id": "anonymousid",
}
ID_FIELDS = ("userid", "anonymousid")

CUSTOM_KEY_RE = re.compile(r"^[a-z0-9_]+$")
# ISO-8601 date-time (a time part is required for auto-detection).
ISO_DATETIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?"
    r"([Zz]|[+-]\d{2}(:?\d{2})?)?$"
)
ISO_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------

class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {"response": {"status": "error", "error": code, "message": message}},
        status=status,
    )


# --------------------------------------------------------------------------
# Value validation helpers
# --------------------------------------------------------------------------

def parse_iso_datetime(s: str, allow_date_only: bool) -> bool:
    """True if s is an ISO-8601 date-time (or date, if allowed) that exists."""
    if ISO_DATETIME_RE.match(s) or (allow_date_only and ISO_DATE_RE.match(s)):
        try:
            datetime.fromisoformat(s.upper())
            return True
        except ValueError:
            return False
    return False


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_finite(name: str, v) -> None:
    try:
        if isinstance(v, float) and not math.isfinite(v):
            raise ApiError(400, "invalid_value", f"'{name}' must be a finite number")
        float(v)
    except OverflowError:
        raise ApiError(400, "invalid_value", f"'{name}' is out of range")


def check_unicode(name: str, v: str) -> None:
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "invalid_value", f"'{name}' contains an invalid Unicode escape (lone surrogate)")


def check_string(name: str, v, max_len: int = MAX_STRING_LEN) -> None:
    check_unicode(name, v)
    if len(v) > max_len:
        raise ApiError(400, "invalid_value", f"'{name}' is longer than {max_len} characters")
    if "\x00" in v:
        raise ApiError(400, "invalid_value", f"'{name}' contains a NUL character")


def validate_system_value(field: str, v, d: frozenset = frozenset()):
    """Validate a top-level system attribute against the table's type."""
    typ = SYSTEM_FIELDS[field]
    if v is None:
        raise ApiError(400, "invalid_value", f"'{field}' must not be null")
    if typ == "STRING":
        if not isinstance(v, str):
            raise ApiError(400, "invalid_type", f"'{field}' must be a string")
        check_string(field, v)
    elif typ == "INT":
        if "int_field_accepts_numeric_string" in d and isinstance(v, str) and v.strip().lstrip("+-").isdigit():
            v = int(v)
        if isinstance(v, float) and v.is_integer() and math.isfinite(v):
            v = int(v)
        if not (isinstance(v, int) and not isinstance(v, bool)):
            raise ApiError(400, "invalid_type", f"'{field}' must be an integer")
        if not INT4_MIN <= v <= INT4_MAX:
            raise ApiError(400, "invalid_value", f"'{field}' is out of the 32-bit integer range")
    elif typ == "BOOL":
        if not isinstance(v, bool):
            raise ApiError(400, "invalid_type", f"'{field}' must be a boolean")
    elif typ == "TIMESTAMPTZ":
        if "birth_date_invalid_500" in d and isinstance(v, str) and (
                ISO_DATETIME_RE.match(v) or ISO_DATE_RE.match(v)):
            try:
                datetime.fromisoformat(v.upper())
            except ValueError as exc:
                raise _InternalCrash(str(exc))
        if not isinstance(v, str) or not parse_iso_datetime(v, allow_date_only=True):
            raise ApiError(400, "invalid_type", f"'{field}' must be an ISO-8601 date-time string")
        check_string(field, v, 64)
    return v


def validate_id(field_label: str, v, d: frozenset = frozenset()) -> str:
    if "userid_number_coerced" in d and field_label == "userId" and isinstance(v, (int, float)) \
            and not isinstance(v, bool):
        v = str(v)
    if not isinstance(v, str):
        raise ApiError(400, "invalid_identifier", f"'{field_label}' must be a string")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "invalid_identifier", f"'{field_label}' is not valid Unicode")
    if not v.strip():
        raise ApiError(400, "invalid_identifier", f"'{field_label}' must not be empty")
    if len(v) > MAX_ID_LEN:
        raise ApiError(400, "invalid_identifier", f"'{field_label}' is longer than {MAX_ID_LEN} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in v):
        raise ApiError(400, "invalid_identifier", f"'{field_label}' contains control characters")
    return v


def custom_type_of(v) -> str:
    """Type of a custom attribute value (one of the document's four types)."""
    if isinstance(v, bool):
        return "boolean"
    if is_number(v):
        return "numeric"
    if isinstance(v, str):
        return "datetime" if parse_iso_datetime(v, allow_date_only=False) else "string"
    raise ApiError(400, "invalid_type",
                   "custom attribute values must be a number, string, boolean or ISO date-time")


# --------------------------------------------------------------------------
# Tenant state
# --------------------------------------------------------------------------

class Tenant:
    def __init__(self, license_code: str, token: str):
        self.license_code = license_code
        self.token = token
        self.profiles: dict[str, dict] = {}      # internal id -> profile
        self.by_user: dict[str, str] = {}        # userId -> internal id
        self.by_anon: dict[str, str] = {}        # anonymousId -> internal id
        self.attr_types: dict[str, str] = {}     # custom attribute -> locked type

    def new_profile(self) -> dict:
        ts = now_iso()
        pid = uuid.uuid4().hex
        prof = {f: None for f in SYSTEM_FIELDS}
        prof.update({
            "opt_in_sms": True,
            "opt_in_email": True,
            "points": 0,
            "date_identified": ts,
            "updated_at": ts,
        })
        prof["_id"] = pid
        prof["_created_at"] = ts
        prof["_anonymous_ids"] = []
        prof["attributes"] = {}
        return prof


TENANTS: dict[str, Tenant] = {lc: Tenant(lc, tok) for lc, tok in ACCOUNTS.items()}


def public_view(prof: dict) -> dict:
    out = {f: prof[f] for f in SYSTEM_FIELDS}
    out["anonymous_ids"] = list(prof["_anonymous_ids"])
    out["created_at"] = prof["_created_at"]
    out["attributes"] = dict(prof["attributes"])
    return out


# --------------------------------------------------------------------------
# Request parsing
# --------------------------------------------------------------------------

def _reject_constant(name):
    raise ValueError(f"invalid JSON constant {name}")


def parse_json(raw: bytes):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_json", "request body is not valid UTF-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "request body is not valid JSON")


def normalise_body(body, d: frozenset = frozenset()) -> tuple[dict, dict]:
    """Return (system_fields, custom_attributes) after structural validation."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "request body must be a JSON object")

    system: dict = {}
    attributes = None
    seen_keys: dict[str, str] = {}
    for key, val in body.items():
        if not isinstance(key, str) or not key:
            raise ApiError(400, "invalid_key", "empty key in request body")
        check_unicode("key", key)
        low = key.lower()
        if low == "attributes":
            if key != "attributes":
                raise ApiError(400, "invalid_key", f"'{key}': the key must be spelled 'attributes'")
            attributes = val
            continue
        field = ALIASES.get(low, low)
        if field not in SYSTEM_FIELDS:
            raise ApiError(
                400, "unknown_field",
                f"unknown top-level key '{key}'; custom attributes must be sent inside 'attributes'",
            )
        if field in seen_keys:
            raise ApiError(400, "duplicate_field",
                           f"'{key}' and '{seen_keys[field]}' name the same field")
        seen_keys[field] = key
        if field == "userid":
            system[field] = validate_id("userId", val, d)
        elif field == "anonymousid":
            system[field] = validate_id("anonymousId", val, d)
        else:
            system[field] = validate_system_value(field, val, d)

    if "userid" not in system and "anonymousid" not in system:
        raise ApiError(400, "missing_identifier", "either 'userId' or 'anonymousId' is required")
    if attributes is None and "attributes" not in body and "attributes_optional_with_userid" in d \
            and "userid" in system:
        attributes = {}
    if attributes is None and "attributes" not in body:
        raise ApiError(400, "missing_attributes",
                       "'attributes' is required in every request (send {} if there are none)")
    if not isinstance(attributes, dict):
        raise ApiError(400, "invalid_attributes", "'attributes' must be a JSON object")
    if len(attributes) > MAX_ATTRS_PER_REQUEST:
        raise ApiError(400, "too_many_attributes",
                       f"at most {MAX_ATTRS_PER_REQUEST} custom attributes per request")

    custom: dict = {}
    for key, val in attributes.items():
        if not key:
            raise ApiError(400, "invalid_attribute_name", "custom attribute names must not be empty")
        if len(key) > MAX_KEY_LEN:
            raise ApiError(400, "invalid_attribute_name",
                           f"custom attribute name longer than {MAX_KEY_LEN} characters")
        if not CUSTOM_KEY_RE.match(key.lower() if "custom_key_case_folded" in d else key):
            raise ApiError(
                400, "invalid_attribute_name",
                f"custom attribute name '{key}' must be lowercase, using '_' between words "
                "(allowed characters: a-z, 0-9, _)",
            )
        if val is None:
            raise ApiError(400, "invalid_type", f"custom attribute '{key}' must not be null")
        if isinstance(val, (dict, list)):
            raise ApiError(400, "invalid_type",
                           f"custom attribute '{key}' must be a number, string, boolean or ISO date-time")
        if is_number(val):
            check_finite(key, val)
        if isinstance(val, str):
            check_string(key, val)
        custom[key] = val
    return system, custom


# --------------------------------------------------------------------------
# Upsert logic
# --------------------------------------------------------------------------

def resolve_custom_types(tenant: Tenant, custom: dict, d: frozenset = frozenset(),
                         locks: dict | None = None) -> dict:
    """Check custom attributes against the account's locked types.

    Returns the {name: type} pairs that are new for the account.
    """
    if locks is None:
        locks = tenant.attr_types
    new_types: dict[str, str] = {}
    for key, val in custom.items():
        locked = locks.get(key)
        if locked is None:
            new_types[key] = custom_type_of(val)
            continue
        if locked == "numeric":
            ok = is_number(val) or ("type_lock_bool_as_number" in d and isinstance(val, (int, float)))
        elif locked == "boolean":
            ok = isinstance(val, bool)
        elif locked == "datetime":
            ok = isinstance(val, str) and parse_iso_datetime(val, allow_date_only=False)
        else:  # string: any string (even one that looks like a date) is fine
            ok = isinstance(val, str)
        if not ok:
            if "type_lock_partial_commit" in d:
                for k2, v2 in custom.items():
                    if k2 not in locks:
                        locks[k2] = custom_type_of(v2)
            sent = custom_type_of(val) if not isinstance(val, (dict, list)) else "object"
            raise ApiError(
                400, "attribute_type_mismatch",
                f"custom attribute '{key}' was first sent as {locked} and cannot be changed to {sent}; "
                "the user was not added",
            )
    if len(tenant.attr_types) + len(new_types) > MAX_ATTRS_PER_ACCOUNT:
        raise ApiError(400, "too_many_attributes",
                       f"an account may define at most {MAX_ATTRS_PER_ACCOUNT} custom attributes")
    return new_types


def merge_into(target: dict, source: dict) -> None:
    """Merge an anonymous profile (source) into an identified one (target).

    The identified profile's values win; the anonymous profile only fills
    fields/attributes that the identified profile does not have.
    """
    for f in SYSTEM_FIELDS:
        if f in ID_FIELDS or f in ("updated_at", "date_identified"):
            continue
        if target.get(f) is None and source.get(f) is not None:
            target[f] = source[f]
    for k, v in source["attributes"].items():
        target["attributes"].setdefault(k, v)
    for a in source["_anonymous_ids"]:
        if a not in target["_anonymous_ids"]:
            target["_anonymous_ids"].append(a)
    if target.get("last_active") is None and source.get("last_active") is not None:
        target["last_active"] = source["last_active"]


def upsert(tenant: Tenant, system: dict, custom: dict, d: frozenset = frozenset()) -> dict:
    user_id = system.get("userid")
    anon_id = system.get("anonymousid")

    # ---- validation phase (no state changes) -----------------------------
    locks = tenant.attr_types
    if "type_lock_per_user" in d:
        scope = ("u", user_id) if user_id is not None else ("a", anon_id)
        locks = tenant.__dict__.setdefault("_user_locks", {}).setdefault(scope, {})
    new_types = resolve_custom_types(tenant, custom, d, locks)
    created = False

    user_pid = tenant.by_user.get(user_id) if user_id is not None else None
    anon_pid = tenant.by_anon.get(anon_id) if anon_id is not None else None
    if user_id is not None and anon_pid is not None:
        anon_prof = tenant.profiles[anon_pid]
        if anon_prof["userid"] is not None and anon_prof["userid"] != user_id:
            raise ApiError(
                409, "anonymous_id_conflict",
                f"anonymousId '{anon_id}' is already merged into another user",
            )

    # ---- apply phase -------------------------------------------------------
    ts = now_iso()
    if user_id is not None:
        if user_pid is not None:
            prof = tenant.profiles[user_pid]
            if anon_pid is not None and anon_pid != user_pid:
                # merge the anonymous profile into the identified one
                anon_prof = tenant.profiles.pop(anon_pid)
                merge_into(prof, anon_prof)
                for a in anon_prof["_anonymous_ids"]:
                    tenant.by_anon[a] = user_pid
        elif anon_pid is not None:
            # the anonymous profile becomes the identified user
            prof = tenant.profiles[anon_pid]
            prof["userid"] = user_id
            prof["date_identified"] = ts
            tenant.by_user[user_id] = anon_pid
        else:
            prof = tenant.new_profile()
            prof["userid"] = user_id
            tenant.profiles[prof["_id"]] = prof
            tenant.by_user[user_id] = prof["_id"]
            created = True
    else:
        if anon_pid is not None:
            prof = tenant.profiles[anon_pid]
        else:
            prof = tenant.new_profile()
            tenant.profiles[prof["_id"]] = prof
            created = True

    if anon_id is not None:
        if anon_id not in prof["_anonymous_ids"]:
            prof["_anonymous_ids"].append(anon_id)
        tenant.by_anon[anon_id] = prof["_id"]
        prof["anonymousid"] = anon_id

    # only the parameters sent are updated
    for f, v in system.items():
        if f in ID_FIELDS:
            continue
        prof[f] = v
    prof["attributes"].update(custom)
    if "updated_at" not in system:
        prof["updated_at"] = ts
    if "type_lock_skipped_on_update" in d and not created:
        new_types = {}
    locks.update(new_types)
    return prof


# --------------------------------------------------------------------------
# HTTP layer
# --------------------------------------------------------------------------

def authenticate(request: web.Request) -> Tenant:
    d = request.app[DEFECTS_KEY]
    tenants = request.app[TENANTS_KEY]
    license_code = request.match_info.get("license", "")
    tenant = tenants.get(license_code)
    tokens = request.headers.getall("authorization", [])
    token = tokens[0].strip() if len(tokens) == 1 else None
    if tenant is not None and token and "auth_cross_account_token" in d \
            and any(token == t.token for t in tenants.values()):
        return tenant
    if tenant is not None and token and "auth_token_prefix_match" in d \
            and len(token) >= 16 and token[:16] == tenant.token[:16]:
        return tenant
    if tenant is None or not token or token != tenant.token:
        raise ApiError(401, "unauthorized", "invalid license code or access token")
    return tenant


async def post_users(request: web.Request) -> web.Response:
    tenant = authenticate(request)
    ctype = request.headers.get("Content-Type", "")
    media = ctype.split(";", 1)[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise ApiError(415, "unsupported_media_type", "Content-Type must be application/json")
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise ApiError(413, "payload_too_large", f"request body larger than {MAX_BODY_BYTES} bytes")
    raw = await request.read()
    if not raw.strip():
        raise ApiError(400, "invalid_json", "request body is empty")
    body = parse_json(raw)
    d = request.app[DEFECTS_KEY]
    system, custom = normalise_body(body, d)
    merging = (system.get("userid") is not None and system.get("anonymousid") is not None
               and system["anonymousid"] in tenant.by_anon)
    upsert(tenant, system, custom, d)
    if "merge_response_missing_trackid" in d and merging:
        return web.json_response({"response": {"status": "queued"}}, status=200)
    return web.json_response(
        {"response": {"status": "queued", "trackID": str(uuid.uuid4())}}, status=200
    )


async def get_users(request: web.Request) -> web.Response:
    tenant = authenticate(request)
    q = request.query
    uid = q.get("userId")
    aid = q.get("anonymousId")
    if uid is None and aid is None:
        users = [public_view(p) for p in list(tenant.profiles.values())[:1000]]
        return web.json_response({"response": {"status": "ok", "users": users}})
    pid = None
    if uid is not None:
        pid = tenant.by_user.get(uid)
    elif aid is not None:
        pid = tenant.by_anon.get(aid)
    if pid is None:
        raise ApiError(404, "not_found", "user not found")
    return web.json_response({"response": {"status": "ok", "user": public_view(tenant.profiles[pid])}})


async def get_user(request: web.Request) -> web.Response:
    tenant = authenticate(request)
    pid = tenant.by_user.get(request.match_info["user_id"])
    if pid is None:
        raise ApiError(404, "not_found", "user not found")
    return web.json_response({"response": {"status": "ok", "user": public_view(tenant.profiles[pid])}})


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except ApiError as e:
        return error_response(e.status, e.code, e.message)
    except _InternalCrash:
        return web.Response(status=500, text="500 Internal Server Error\n\nServer got itself in trouble",
                            content_type="text/plain")
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, "payload_too_large", f"request body larger than {MAX_BODY_BYTES} bytes")
    except web.HTTPException as e:
        if e.status >= 500:
            return error_response(400, "bad_request", "the request could not be processed")
        if e.status == 404:
            return error_response(404, "not_found", "no such endpoint")
        if e.status == 405:
            resp = error_response(405, "method_not_allowed", "method not allowed on this endpoint")
            allow = e.headers.get("Allow")
            if allow:
                resp.headers["Allow"] = allow
            return resp
        if e.status < 400:
            raise
        return error_response(e.status, "bad_request", e.reason or "bad request")
    except Exception:  # never answer 5xx for client input
        return error_response(400, "bad_request", "the request could not be processed")


DEFECTS_KEY = web.AppKey("defects", frozenset)
TENANTS_KEY = web.AppKey("tenants", dict)


def make_app(defects: frozenset[str] = frozenset()) -> web.Application:
    defects = frozenset(defects)
    unknown = defects - DEFECTS.keys()
    if unknown:
        raise ValueError(f"unknown defects: {sorted(unknown)}")
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY_BYTES)
    app[DEFECTS_KEY] = defects
    # The correct server keeps the module-level state (as before); a server
    # with defects gets its own fresh accounts so it cannot disturb others.
    app[TENANTS_KEY] = TENANTS if not defects else {
        lc: Tenant(lc, tok) for lc, tok in ACCOUNTS.items()}
    app.router.add_post("/v1/accounts/{license}/users", post_users)
    app.router.add_get("/v1/accounts/{license}/users", get_users)
    app.router.add_get("/v1/accounts/{license}/users/{user_id}", get_user)
    return app


def write_creds() -> None:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "creds.json")
    with open(path, "w") as fh:
        json.dump(CREDS, fh, indent=2)


def main() -> None:
    ap = argparse.ArgumentParser(description="Zebline users API (independent implementation)")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--defect", action="append", default=[], choices=sorted(DEFECTS),
                    help="switch a named defect on (repeatable)")
    args = ap.parse_args()
    write_creds()
    web.run_app(make_app(frozenset(args.defect)), host=args.host, port=args.port,
                print=None, access_log=None)


if __name__ == "__main__":
    main()
