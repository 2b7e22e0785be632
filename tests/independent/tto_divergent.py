"""TTO CDP HTTP API - independent implementation written from the public document only.

Deliberately takes unusual-but-defensible choices wherever the document is silent
(see CHOICES.md).  Run:  python app.py --port 8080
"""
from __future__ import annotations

import argparse
import datetime as _dt
import ipaddress
import json
import math
import re
import time
import uuid
from typing import Any

from aiohttp import web

# Two isolated sources.  Keys are the credential slot names, values the API keys.
CREDS = {
    "api_key": "tto_src_A_7f3c9e21d4b84a6f",
    "other_api_key": "tto_src_B_0b5e8a64c2f1497d",
}

MAX_BODY = 64 * 1024  # bytes; larger -> 413
MAX_TS_SECONDS = 10 ** 11  # anything >= this is not an epoch-seconds value (ms / us)

PROBLEM_CT = "application/problem+json"

KNOWN_COMMON = {"type", "api_key", "msg_id", "user_id", "anonymous_id", "timestamp", "context"}
KNOWN_BY_TYPE = {
    "track": KNOWN_COMMON | {"event", "properties", "traits", "products"},
    "identify": KNOWN_COMMON | {"traits", "properties", "products"},
    "alias": KNOWN_COMMON | {"previous_id"},
}

_SOURCES = {
    CREDS["api_key"]: {"id": 1001, "name": "HTTP API Source A"},
    CREDS["other_api_key"]: {"id": 1002, "name": "HTTP API Source B"},
}

# Switchable, deliberately injected bugs (all off by default).  Each breaks a rule the
# vendor document states; used to judge whether a conformance tool notices them.
DEFECTS: dict[str, dict[str, str]] = {
    "ingest_api_key_from_query": {
        "sentence": "注意:儅通過API向 TTO CDP 發送數據時,請求體中必須添加 API 密鑰字段,具體信息在請見以下文檔",
        "english": "Note: when sending data to TTO CDP through the API, the API key field must be added "
                   "in the request body.",
        "bug": "track/identify/alias fall back to an api_key given only in the query string "
               "(?api_key=...) when the JSON body has none, and accept the message (202) instead of 401.",
    },
    "settings_key_prefix_match": {
        "sentence": "項目API密鑰,用於身份驗證和數據歸屬",
        "english": "The project API key, used for authentication and data attribution.",
        "bug": "/v1/settings compares the key only up to the length the caller sent, so any non-empty "
               "prefix of a real key (e.g. 'tto_src_A') authenticates and gets 200 instead of 403.",
    },
    "settings_cache_cross_source": {
        "sentence": "settings接口用於查詢指定項目的配置信息,包括數據源設置和目的地配置。",
        "english": "The settings endpoint queries the configuration of the specified project, including "
                   "source settings and destination configuration.",
        "bug": "/v1/settings caches the first answer it builds and serves it to every authenticated key: "
               "after source A asked, source B receives A's configuration (source.id 1001, A's name/stats).",
    },
    "msg_id_dedup_shared_across_sources": {
        "sentence": "項目API密鑰,用於身份驗證和數據歸屬",
        "english": "The project API key, used for authentication and data attribution.",
        "bug": "the msg_id de-duplication store is global instead of per api_key: a message from source B "
               "whose msg_id was already used by source A is answered as A's duplicate (200, A's source_id) "
               "or as a conflict (409) and is not stored for B.",
    },
    "alias_msg_id_not_deduplicated": {
        "sentence": "消息唯一標識符,用於去重和日志追鐘",
        "english": "Unique message identifier, used for de-duplication and log tracing.",
        "bug": "alias messages are never recorded in the msg_id store: an exact repeat of an alias is "
               "accepted and stored again (202, duplicate:false, messages_received grows) instead of being "
               "recognised as a duplicate.",
    },
    "type_not_matched_to_endpoint": {
        "sentence": "事件類型,標識操作類型(track/identify/alias)",
        "english": "Event type, identifying the operation type (track/identify/alias).",
        "bug": "'type' is only checked to be one of track/identify/alias, not to match the endpoint: "
               "POST /v1/identify with \"type\": \"track\" is accepted (202) instead of rejected (422).",
    },
    "identify_traits_not_object_accepted": {
        "sentence": "traits\n\nOBJECT\n\n用戶特徵信息,包含郵箱、電話等畫像數據",
        "english": "identify parameter table: traits, type OBJECT, user trait information such as email "
                   "and phone.",
        "bug": "identify validates 'traits' with track's object-or-string rule, so a string traits value "
               "is accepted (202) instead of rejected (422).",
    },
    "identify_string_timestamp_rejected": {
        "sentence": "事件發生時間戳(秒)",
        "english": "Timestamp (seconds) of when the event happened (the identify example sends "
                   "\"timestamp\": \"1767174918\", a string).",
        "bug": "identify only accepts a JSON number as timestamp: the documented identify example with "
               "\"timestamp\": \"1767174918\" is rejected with 422 INVALID_FIELD instead of accepted (202).",
    },
    "track_string_properties_crash": {
        "sentence": "properties\n\nSTRING\n\n事件屬性,包含業務相關數據,詳見屬性文檔。",
        "english": "track parameter table: properties, type STRING, event properties with business data.",
        "bug": "track reads properties.get('currency') assuming an object; a string 'properties' value makes "
               "the handler crash, answered as 400 BAD_REQUEST 'malformed request' instead of 202.",
    },
}

DEFECTS_KEY = web.AppKey("defects", frozenset)


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str, field: str | None = None, headers=None):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field
        self.headers = headers or {}


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
}


def problem(status: int, code: str, detail: str, field: str | None = None, headers=None) -> web.Response:
    body: dict[str, Any] = {
        "type": f"urn:tto-cdp:error:{code.lower()}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "code": code,
        "detail": detail,
        "success": False,
    }
    if field is not None:
        body["field"] = field
    return web.Response(
        status=status,
        text=json.dumps(body, ensure_ascii=False),
        content_type=PROBLEM_CT,
        charset="utf-8",
        headers=headers,
    )


def ok(status: int, body: dict) -> web.Response:
    return web.Response(status=status, text=json.dumps(body, ensure_ascii=False),
                        content_type="application/json", charset="utf-8")


# ----------------------------------------------------------------------------- helpers

def _reject_constant(c):
    raise ValueError(f"non-standard JSON constant {c}")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)
            and not (isinstance(v, float) and (math.isnan(v) or math.isinf(v))))


def _json_ct_ok(request: web.Request) -> bool:
    ct = (request.content_type or "").lower()
    if not request.headers.get("Content-Type"):
        return False
    return ct == "application/json" or (ct.startswith("application/") and ct.endswith("+json"))


async def _read_body(request: web.Request) -> bytes:
    cl = request.content_length
    if cl is not None and cl > MAX_BODY:
        raise ApiError(413, "PAYLOAD_TOO_LARGE", f"request body exceeds {MAX_BODY} bytes")
    try:
        data = await request.content.read(MAX_BODY + 1)
    except Exception:
        raise ApiError(400, "BAD_BODY", "could not read request body")
    if len(data) > MAX_BODY:
        raise ApiError(413, "PAYLOAD_TOO_LARGE", f"request body exceeds {MAX_BODY} bytes")
    return data


def _parse_json_object(raw: bytes) -> dict:
    if not raw.strip():
        raise ApiError(400, "INVALID_JSON", "request body is empty; a JSON object is required")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "INVALID_JSON", "request body is not valid UTF-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise ApiError(400, "INVALID_JSON", "request body is not valid JSON")
    if not isinstance(obj, dict):
        raise ApiError(400, "INVALID_JSON", "request body must be a JSON object")
    return obj


def _id_value(body: dict, name: str) -> str | None:
    """Ids may be non-empty strings or integers; integers are canonicalised to strings."""
    if name not in body or body[name] is None:
        return None
    v = body[name]
    if _is_int(v):
        return str(v)
    if isinstance(v, str):
        if not v.strip():
            return None
        if len(v) > 255:
            raise ApiError(422, "INVALID_FIELD", f"'{name}' must be at most 255 characters", name)
        return v
    raise ApiError(422, "INVALID_FIELD", f"'{name}' must be a string or an integer", name)


def _check_timestamp(body: dict) -> int | float | None:
    if "timestamp" not in body or body["timestamp"] is None:
        return None
    v = body["timestamp"]
    if isinstance(v, str):
        s = v.strip()
        if not re.fullmatch(r"\d+(\.\d+)?", s):
            raise ApiError(422, "INVALID_FIELD", "'timestamp' must be epoch seconds", "timestamp")
        num = float(s) if "." in s else int(s)
    elif _is_num(v):
        num = v
    else:
        raise ApiError(422, "INVALID_FIELD", "'timestamp' must be epoch seconds", "timestamp")
    if num < 0 or num >= MAX_TS_SECONDS:
        raise ApiError(422, "INVALID_FIELD",
                       "'timestamp' must be epoch seconds (value looks like milliseconds or is negative)",
                       "timestamp")
    return num


_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")


def _check_traits_formats(traits: dict, where: str) -> None:
    def bad(key, why):
        raise ApiError(422, "INVALID_TRAIT", f"'{where}.{key}' {why}", f"{where}.{key}")

    def as_text(key):
        v = traits[key]
        if _is_int(v):
            return str(v)
        if isinstance(v, str):
            return v
        bad(key, "must be a string")

    for key in list(traits.keys()):
        if traits[key] is None:
            continue
        if key == "email":
            if not _EMAIL_RE.match(as_text(key)):
                bad(key, "must be an email address")
        elif key == "phone":
            if not re.fullmatch(r"\d{3,20}", as_text(key)):
                bad(key, "must contain digits only, including the area code (e.g. 16505551212)")
        elif key == "gender":
            if as_text(key) not in ("f", "m"):
                bad(key, "must be 'f' or 'm'")
        elif key == "date_date":
            s = as_text(key)
            try:
                if not re.fullmatch(r"\d{8}", s):
                    raise ValueError
                _dt.datetime.strptime(s, "%Y%m%d")
            except ValueError:
                bad(key, "must be a date in YYYYMMDD form")
        elif key == "state":
            if not re.fullmatch(r"[a-z]{2}", as_text(key)):
                bad(key, "must be a 2-letter lowercase code")
        elif key == "country":
            if not re.fullmatch(r"[a-z]+", as_text(key)):
                bad(key, "must be lowercase letters only")
        elif key == "zip_post":
            s = as_text(key)
            if not s or re.search(r"[\s\-]", s):
                bad(key, "must not contain spaces or hyphens")
        elif key == "ip":
            try:
                ipaddress.ip_address(as_text(key).strip())
            except ValueError:
                bad(key, "must be a valid IP address")


def _check_properties(props: dict) -> None:
    for key in ("revenue", "value"):
        if key in props and props[key] is not None and not _is_num(props[key]):
            raise ApiError(422, "INVALID_PROPERTY", f"'properties.{key}' must be a number", f"properties.{key}")
    if "currency" in props and props["currency"] is not None:
        c = props["currency"]
        if not isinstance(c, str) or not re.fullmatch(r"[A-Za-z]{3}", c):
            raise ApiError(422, "INVALID_PROPERTY", "'properties.currency' must be a 3-letter currency code",
                           "properties.currency")


def _object_or_string(body: dict, name: str) -> None:
    """Fields documented as STRING but shown as objects: accept either."""
    v = body.get(name)
    if v is None:
        return
    if not isinstance(v, (dict, str)):
        raise ApiError(422, "INVALID_FIELD", f"'{name}' must be an object (or a string)", name)


def validate(kind: str, body: dict, defects: frozenset[str] = frozenset()) -> dict:
    """Return a normalised view; raise ApiError(422) on semantic problems."""
    t = body.get("type")
    if t is not None:
        if not isinstance(t, str):
            raise ApiError(422, "INVALID_FIELD", "'type' must be a string", "type")
        if t != kind and (t not in KNOWN_BY_TYPE or "type_not_matched_to_endpoint" not in defects):
            raise ApiError(422, "TYPE_MISMATCH", f"'type' is '{t}' but this endpoint accepts '{kind}'", "type")

    if "api_key" in body and body["api_key"] is not None and not isinstance(body["api_key"], str):
        raise ApiError(422, "INVALID_FIELD", "'api_key' must be a string", "api_key")

    msg_id = _id_value(body, "msg_id")
    user_id = _id_value(body, "user_id")
    anonymous_id = _id_value(body, "anonymous_id")
    if kind == "identify" and "identify_string_timestamp_rejected" in defects \
            and body.get("timestamp") is not None and not _is_num(body["timestamp"]):
        raise ApiError(422, "INVALID_FIELD", "'timestamp' must be epoch seconds", "timestamp")
    ts = _check_timestamp(body)

    ctx = body.get("context")
    if ctx is not None and not isinstance(ctx, dict):
        raise ApiError(422, "INVALID_FIELD", "'context' must be an object", "context")

    products = body.get("products")
    if products is not None:
        if not isinstance(products, list) or not all(isinstance(p, dict) for p in products):
            raise ApiError(422, "INVALID_FIELD", "'products' must be an array of objects", "products")

    out = {"msg_id": msg_id, "user_id": user_id, "anonymous_id": anonymous_id, "timestamp": ts}

    if kind == "track":
        ev = body.get("event")
        if ev is None:
            raise ApiError(422, "MISSING_FIELD", "'event' is required for track", "event")
        if not isinstance(ev, str) or not ev.strip():
            raise ApiError(422, "INVALID_FIELD", "'event' must be a non-empty string", "event")
        _object_or_string(body, "properties")
        _object_or_string(body, "traits")
        if isinstance(body.get("properties"), dict):
            _check_properties(body["properties"])
        if isinstance(body.get("traits"), dict):
            _check_traits_formats(body["traits"], "traits")
        out["event"] = ev
    elif kind == "identify":
        tr = body.get("traits")
        if tr is not None:
            if "identify_traits_not_object_accepted" in defects:
                _object_or_string(body, "traits")
            elif not isinstance(tr, dict):
                raise ApiError(422, "INVALID_FIELD", "'traits' must be an object", "traits")
            if isinstance(tr, dict):
                _check_traits_formats(tr, "traits")
        _object_or_string(body, "properties")
    elif kind == "alias":
        prev = _id_value(body, "previous_id")
        if prev is None:
            raise ApiError(422, "MISSING_FIELD", "'previous_id' is required for alias", "previous_id")
        out["previous_id"] = prev

    if user_id is None and anonymous_id is None:
        raise ApiError(422, "MISSING_IDENTITY", "one of 'user_id' or 'anonymous_id' is required", "user_id")
    return out


# ----------------------------------------------------------------------------- state

class Source:
    def __init__(self, id: int, name: str):
        self.id = id
        self.name = name
        self.messages: list[dict] = []
        self.by_msg_id: dict[str, dict] = {}
        self.profiles: dict[str, dict] = {}
        self.alias_of: dict[str, str] = {}

    def canonical(self, ident: str) -> str:
        seen = set()
        while ident in self.alias_of and ident not in seen:
            seen.add(ident)
            ident = self.alias_of[ident]
        return ident


def _authenticate(state: dict, key: Any) -> Source:
    if key is None or (isinstance(key, str) and not key.strip()):
        raise ApiError(401, "MISSING_API_KEY", "an 'api_key' is required")
    if not isinstance(key, str):
        raise ApiError(422, "INVALID_FIELD", "'api_key' must be a string", "api_key")
    src = state["sources"].get(key)
    if src is None:
        raise ApiError(403, "INVALID_API_KEY", "the 'api_key' is not recognised")
    return src


# ----------------------------------------------------------------------------- handlers

def _make_ingest(kind: str):
    async def handler(request: web.Request) -> web.Response:
        state = request.app["state"]
        defects = request.app[DEFECTS_KEY]
        raw = await _read_body(request)
        if not _json_ct_ok(request):
            raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json")
        body = _parse_json_object(raw)
        norm = validate(kind, body, defects)
        api_key = body.get("api_key")
        if "ingest_api_key_from_query" in defects and api_key is None:
            api_key = request.query.get("api_key")
        src = _authenticate(state, api_key)
        by_msg_id = state["by_msg_id"] if "msg_id_dedup_shared_across_sources" in defects else src.by_msg_id

        now = int(time.time())
        supplied_msg_id = body.get("msg_id") if norm["msg_id"] is not None else None
        msg_id_key = norm["msg_id"]
        if msg_id_key is not None:
            prev = by_msg_id.get(msg_id_key)
            if prev is not None:
                if prev["body"] != body:
                    raise ApiError(409, "MSG_ID_CONFLICT",
                                   "this 'msg_id' was already used for a different message")
                resp = dict(prev["response"])
                resp["duplicate"] = True
                resp["status"] = "duplicate"
                return ok(200, resp)
        else:
            msg_id_key = "srv-" + uuid.uuid4().hex
            supplied_msg_id = msg_id_key

        record = {"kind": kind, "body": body, "msg_id": msg_id_key, "received_at": now}
        extra: dict[str, Any] = {}
        ident = norm["user_id"] or norm["anonymous_id"]
        if kind == "track" and "track_string_properties_crash" in defects:
            props = body.get("properties") or {}
            record["currency"] = props.get("currency")
        if kind == "identify":
            prof = src.profiles.setdefault(src.canonical(ident), {})
            if isinstance(body.get("traits"), dict):
                prof.update({k: v for k, v in body["traits"].items() if v is not None})
        elif kind == "track" and isinstance(body.get("traits"), dict):
            prof = src.profiles.setdefault(src.canonical(ident), {})
            prof.update({k: v for k, v in body["traits"].items() if v is not None})
        elif kind == "alias":
            new_id = ident
            prev_id = norm["previous_id"]
            merged = prev_id != new_id and src.canonical(new_id) != prev_id
            if merged:
                src.alias_of[prev_id] = src.canonical(new_id)
                old = src.profiles.pop(prev_id, None)
                if old:
                    src.profiles.setdefault(src.canonical(new_id), {}).update(old)
            extra["merged"] = merged
            extra["previous_id"] = body.get("previous_id")

        src.messages.append(record)
        ignored = sorted(k for k in body.keys() if k not in KNOWN_BY_TYPE[kind])
        resp = {
            "success": True,
            "status": "accepted",
            "type": kind,
            "msg_id": supplied_msg_id,
            "msg_id_generated": norm["msg_id"] is None,
            "duplicate": False,
            "source_id": src.id,
            "received_at": now,
            "ignored_fields": ignored,
        }
        resp.update(extra)
        if not (kind == "alias" and "alias_msg_id_not_deduplicated" in defects):
            by_msg_id[msg_id_key] = {"body": body, "response": resp}
        return ok(202, resp)

    return handler


async def settings_handler(request: web.Request) -> web.Response:
    state = request.app["state"]
    q_key = request.query.get("api_key")
    key: Any = q_key if q_key not in (None, "") else None
    raw = b""
    if request.method == "POST":
        raw = await _read_body(request)
    body_key = None
    if raw.strip():
        try:
            obj = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
            if isinstance(obj, dict):
                body_key = obj.get("api_key")
        except Exception:
            if key is None:
                raise ApiError(400, "INVALID_JSON", "request body is not valid JSON")
    if key is not None and body_key not in (None, "") and body_key != key:
        raise ApiError(400, "API_KEY_CONFLICT", "query and body carry different 'api_key' values", "api_key")
    if key is None:
        key = body_key
    defects = request.app[DEFECTS_KEY]
    if "settings_key_prefix_match" in defects and isinstance(key, str) and key.strip():
        for known in state["sources"]:
            if known[:len(key)] == key:
                key = known
                break
    src = _authenticate(state, key)
    if "settings_cache_cross_source" in defects and state.get("settings_cache") is not None:
        return ok(200, state["settings_cache"])
    answer = {
        "success": True,
        "source": {
            "id": src.id,
            "name": src.name,
            "type": "http_api",
            "enabled": True,
            "endpoints": ["/v1/track", "/v1/identify", "/v1/alias", "/v1/settings"],
            "timestamp_unit": "seconds",
            "max_body_bytes": MAX_BODY,
        },
        "destinations": [],
        "stats": {"messages_received": len(src.messages), "profiles": len(src.profiles)},
        "generated_at": int(time.time()),
    }
    if "settings_cache_cross_source" in defects:
        state["settings_cache"] = answer
    return ok(200, answer)


# ----------------------------------------------------------------------------- app

@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except ApiError as e:
        return problem(e.status, e.code, e.detail, e.field, e.headers)
    except web.HTTPRequestEntityTooLarge:
        return problem(413, "PAYLOAD_TOO_LARGE", f"request body exceeds {MAX_BODY} bytes")
    except web.HTTPMethodNotAllowed as e:
        return problem(405, "METHOD_NOT_ALLOWED", f"method {request.method} is not allowed here",
                       headers={"Allow": ", ".join(sorted(e.allowed_methods))})
    except web.HTTPNotFound:
        return problem(404, "NOT_FOUND", f"no such endpoint: {request.path}")
    except web.HTTPException as e:
        if e.status >= 500:
            return problem(400, "BAD_REQUEST", "malformed request")
        return problem(e.status, "HTTP_ERROR", e.reason or "error")
    except Exception:  # never a 5xx for client input
        return problem(400, "BAD_REQUEST", "malformed request")


def make_app(defects: frozenset[str] = frozenset()) -> web.Application:
    defects = frozenset(defects)
    unknown = defects - DEFECTS.keys()
    if unknown:
        raise ValueError(f"unknown defect(s): {', '.join(sorted(unknown))}")
    app = web.Application(middlewares=[error_middleware], client_max_size=4 * MAX_BODY)
    app["state"] = {"sources": {k: Source(**v) for k, v in _SOURCES.items()}}
    app[DEFECTS_KEY] = defects
    if "msg_id_dedup_shared_across_sources" in defects:
        app["state"]["by_msg_id"] = {}
    for kind in ("track", "identify", "alias"):
        h = _make_ingest(kind)
        app.router.add_post(f"/v1/{kind}", h)
        app.router.add_post(f"/v1/{kind}/", h)
    for p in ("/v1/settings", "/v1/settings/"):
        app.router.add_post(p, settings_handler)
        app.router.add_get(p, settings_handler)
    return app


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--host", default="127.0.0.1")
    a = ap.parse_args()
    web.run_app(make_app(), host=a.host, port=a.port, print=None)


if __name__ == "__main__":
    main()
