"""Independent in-memory implementation of the TTO CDP HTTP API (data collection).

Built from the TTO CDP public API document only (see CHOICES.md for every
place where the document is silent or ambiguous and what was chosen).

Operations (all POST):
  /v1/track     record a behaviour event
  /v1/identify  identify a user / update profile traits
  /v1/alias     merge two user identities
  /v1/settings  read the source's configuration (api_key in the query string)

Run:  python app.py --port N      (listens on 127.0.0.1:N)
"""
from __future__ import annotations

import argparse
import json
import math
import time
import uuid
from typing import Any

from aiohttp import web

# --------------------------------------------------------------------------
# Fixed credentials: two isolated sources (HTTP API sources), one api key each.
# --------------------------------------------------------------------------
CREDS = {
    "api_key": "tto_key_alpha_7f3c2a91d4e84b6c",
    "other_api_key": "tto_key_bravo_1e9b5d07c3a24f88",
}

_SOURCES = [
    {"api_key": CREDS["api_key"], "id": "src_alpha", "name": "HTTP API Source Alpha"},
    {"api_key": CREDS["other_api_key"], "id": "src_bravo", "name": "HTTP API Source Bravo"},
]

MAX_BODY_BYTES = 32 * 1024          # per call
MAX_ID_LEN = 255                    # msg_id, user_id, anonymous_id, previous_id
MAX_EVENT_LEN = 255                 # event name
MAX_JSON_DEPTH = 32
DEDUP_WINDOW_SECONDS = 24 * 3600    # msg_id de-duplication window

STATE_KEY = web.AppKey("tto_state", dict) if hasattr(web, "AppKey") else "tto_state"
DEFECTS_KEY = web.AppKey("tto_defects", frozenset) if hasattr(web, "AppKey") else "tto_defects"

# --------------------------------------------------------------------------
# Switchable defects (for testing a conformance suite).  make_app(defects=...)
# --------------------------------------------------------------------------
DEFECTS: dict[str, dict[str, str]] = {
    "settings_cached_source": {
        "sentence": "settings接口用於查詢指定項目的配置信息,包括數據源設置和目的地配置。",
        "english": "The settings endpoint queries the configuration of the specified project, "
                   "including data-source settings and destination configuration.",
        "bug": "The settings answer is cached app-wide after the first successful call, so a later "
               "call with a different (valid) api_key gets the first source's configuration.",
    },
    "settings_query_key_ignored": {
        "sentence": "  'https://cdp.cs.topkee.com/v1/settings?api_key=your_api_key_here' \\",
        "english": "The settings example passes api_key in the query string of the POST URL.",
        "bug": "settings only looks for api_key in the JSON body; the documented query-string key is "
               "ignored, so the documented call (query key, no body) gets 401.",
    },
    "settings_empty_body_400": {
        "sentence": "無特殊請求參數。",
        "english": "No special request parameters.",
        "bug": "settings insists on a JSON request body; the documented call with no body "
               "(api_key in the query string only) gets 400 invalid_json.",
    },
    "alias_default_source": {
        "sentence": "注意:儅通過API向 TTO CDP 發送數據時,請求體中必須添加 API 密鑰字段,具體信息在請見以下文檔",
        "english": "Note: when sending data to TTO CDP through the API, the API key field must be added "
                   "to the request body.",
        "bug": "/v1/alias without any api_key is not rejected: it falls back to the first (default) "
               "source and answers 200.",
    },
    "track_key_from_query": {
        "sentence": "注意:儅通過API向 TTO CDP 發送數據時,請求體中必須添加 API 密鑰字段,具體信息在請見以下文檔",
        "english": "Note: when sending data to TTO CDP through the API, the API key field must be added "
                   "to the request body.",
        "bug": "/v1/track reuses the settings key lookup: when the body has no api_key it takes one "
               "from the query string and accepts the event (200 instead of 401).",
    },
    "api_key_prefix_match": {
        "sentence": "項目API密鑰,用於身份驗證和數據歸屬",
        "english": "The project API key, used for authentication and data attribution.",
        "bug": "api_key is checked on its first 16 characters only (truncated key column), so a wrong "
               "key sharing the prefix of a real key is accepted on every endpoint.",
    },
    "dedup_before_auth": {
        "sentence": "項目API密鑰,用於身份驗證和數據歸屬",
        "english": "The project API key, used for authentication and data attribution.",
        "bug": "An app-wide msg_id idempotency cache (not per source) is consulted before the api_key is "
               "checked: re-sending a seen msg_id with a wrong or missing api_key replays the cached 200.",
    },
    "timestamp_as_millis": {
        "sentence": "事件發生時間戳(秒)",
        "english": "Timestamp of when the event happened (in seconds).",
        "bug": "timestamp is read as epoch milliseconds and range-checked (must be after 2000-01-01), "
               "so a correct seconds value such as \"1767174918\" is rejected with 400.",
    },
    "track_properties_missing_500": {
        "sentence": "  1. properties:可選,備註:收入|貨幣|值爲標準事件屬性,其他鍵爲自定義",
        "english": "properties: optional; note: revenue | currency | value are standard event "
                   "properties, other keys are custom.",
        "bug": "A track without properties crashes while normalising the standard revenue/currency "
               "fields (None.get) and answers 500.",
    },
    "identify_non_ascii_500": {
        "sentence": "identify接口用於識別用戶身份並更新用戶畫像信息,建立完整的用戶檔案。",
        "english": "The identify endpoint identifies the user and updates the user profile information, "
                   "building a complete user profile.",
        "bug": "identify encodes the traits as Latin-1 for the profile store; non-Latin-1 traits (e.g. "
               "the document's own example name 張三) make it answer 500.",
    },
    "identify_without_identity": {
        "sentence": "identify接口用於識別用戶身份並更新用戶畫像信息,建立完整的用戶檔案。",
        "english": "The identify endpoint identifies the user and updates the user profile information, "
                   "building a complete user profile.",
        "bug": "identify with neither user_id nor anonymous_id (no user to identify) is accepted with 200.",
    },
    "alias_missing_previous_id": {
        "sentence": "alias接口用於合併用戶的不同身份標識,解決用戶多設備、多身份問題。",
        "english": "The alias endpoint merges a user's different identifiers, solving the multi-device / "
                   "multi-identity problem.",
        "bug": "alias without previous_id (nothing to merge) is accepted with 200 instead of rejected.",
    },
}

_BUG_500 = "500 Internal Server Error\n\nServer got itself in trouble"


def _d(request: web.Request, name: str) -> bool:
    return name in request.app[DEFECTS_KEY]


def _resp_500() -> web.Response:
    return web.Response(status=500, text=_BUG_500, content_type="text/plain")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def _error_response(status: int, code: str, message: str, field: str | None = None,
                    headers: dict | None = None) -> web.Response:
    err: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        err["field"] = field
    return web.json_response({"success": False, "error": err}, status=status, headers=headers)


# --------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------
def _new_source_state(src: dict) -> dict:
    return {
        "id": src["id"],
        "name": src["name"],
        "api_key": src["api_key"],
        "created_at": 1735689600,       # fixed: 2025-01-01T00:00:00Z
        "events": [],                   # accepted messages, in order
        "profiles": {},                 # identity -> {"traits": {...}, ...}
        "aliases": {},                  # previous_id -> user_id
        "seen": {},                     # msg_id -> (accepted_at, status, body)
    }


def _new_state() -> dict:
    return {"sources": {s["api_key"]: _new_source_state(s) for s in _SOURCES},
            "global_seen": {}, "settings_cache": None}


# --------------------------------------------------------------------------
# Body reading / parsing
# --------------------------------------------------------------------------
async def _read_body(request: web.Request) -> bytes:
    cl = request.headers.get("Content-Length")
    if cl is not None:
        try:
            if int(cl) > MAX_BODY_BYTES:
                raise ApiError(413, "payload_too_large",
                               f"request body exceeds {MAX_BODY_BYTES} bytes")
        except ValueError:
            raise ApiError(400, "invalid_request", "invalid Content-Length header")
    chunks = []
    total = 0
    while True:
        chunk = await request.content.read(8192)
        if not chunk:
            break
        total += len(chunk)
        if total > MAX_BODY_BYTES:
            raise ApiError(413, "payload_too_large",
                           f"request body exceeds {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _reject_constant(name: str):
    raise ValueError(f"invalid JSON constant {name}")


def _depth(v: Any, d: int = 0) -> int:
    if d > MAX_JSON_DEPTH:
        return d
    if isinstance(v, dict):
        return max([_depth(x, d + 1) for x in v.values()] or [d + 1])
    if isinstance(v, list):
        return max([_depth(x, d + 1) for x in v] or [d + 1])
    return d


def _parse_json(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_json", "request body is not valid UTF-8")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "request body is not valid JSON")
    if _depth(value) > MAX_JSON_DEPTH:
        raise ApiError(400, "invalid_json", "request body is nested too deeply")
    return value


async def _read_json_object(request: web.Request, allow_empty: bool = False) -> dict:
    raw = await _read_body(request)
    if not raw.strip():
        if allow_empty:
            return {}
        raise ApiError(400, "invalid_json", "request body is empty; a JSON object is required")
    value = _parse_json(raw)
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "request body must be a JSON object")
    return value


# --------------------------------------------------------------------------
# Field validation helpers
# --------------------------------------------------------------------------
def _opt_id(body: dict, name: str) -> str | None:
    """Identifier fields: absent/null -> None; otherwise non-empty string <= MAX_ID_LEN."""
    v = body.get(name)
    if v is None:
        return None
    if not isinstance(v, str):
        raise ApiError(400, "invalid_field", f"'{name}' must be a string", name)
    if not v.strip():
        raise ApiError(400, "invalid_field", f"'{name}' must not be empty", name)
    if len(v) > MAX_ID_LEN:
        raise ApiError(400, "invalid_field", f"'{name}' must be at most {MAX_ID_LEN} characters", name)
    return v


def _opt_object(body: dict, name: str, allow_json_string: bool = False) -> dict | None:
    v = body.get(name)
    if v is None:
        return None
    if allow_json_string and isinstance(v, str):
        try:
            decoded = json.loads(v, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            decoded = None
        if isinstance(decoded, dict):
            return decoded
        raise ApiError(400, "invalid_field", f"'{name}' must be a JSON object", name)
    if not isinstance(v, dict):
        raise ApiError(400, "invalid_field", f"'{name}' must be a JSON object", name)
    return v


def _opt_products(body: dict) -> list | None:
    v = body.get("products")
    if v is None:
        return None
    if not isinstance(v, list) or not all(isinstance(p, dict) for p in v):
        raise ApiError(400, "invalid_field", "'products' must be an array of objects", "products")
    return v


def _opt_timestamp(body: dict) -> float | None:
    """Epoch seconds; the document's examples send it as a string ("1767174918")."""
    v = body.get("timestamp")
    if v is None:
        return None
    if isinstance(v, bool):
        raise ApiError(400, "invalid_field", "'timestamp' must be epoch seconds", "timestamp")
    if isinstance(v, (int, float)):
        ts = float(v)
    elif isinstance(v, str):
        s = v.strip()
        try:
            if not s or not all(c.isdigit() or c == "." for c in s) or s.count(".") > 1 \
                    or s.startswith(".") or s.endswith("."):
                raise ValueError
            ts = float(s)
        except ValueError:
            raise ApiError(400, "invalid_field", "'timestamp' must be epoch seconds", "timestamp")
    else:
        raise ApiError(400, "invalid_field", "'timestamp' must be epoch seconds", "timestamp")
    if not math.isfinite(ts) or ts < 0:
        raise ApiError(400, "invalid_field", "'timestamp' must be non-negative epoch seconds", "timestamp")
    return ts


def _check_type(body: dict, expected: str) -> None:
    v = body.get("type")
    if v is None:
        return
    if not isinstance(v, str) or v != expected:
        raise ApiError(400, "invalid_field", f"'type' must be \"{expected}\" on this endpoint", "type")


def _authenticate(request: web.Request, key: Any) -> dict:
    if key is None or key == "":
        raise ApiError(401, "missing_api_key", "api_key is required")
    if not isinstance(key, str):
        raise ApiError(400, "invalid_field", "'api_key' must be a string", "api_key")
    src = request.app[STATE_KEY]["sources"].get(key)
    if src is None and _d(request, "api_key_prefix_match") and len(key) >= 16:
        for k, s in request.app[STATE_KEY]["sources"].items():
            if k[:16] == key[:16]:
                src = s
                break
    if src is None:
        raise ApiError(401, "invalid_api_key", "api_key is not valid")
    return src


def _common(body: dict, expected_type: str, request: web.Request | None = None) -> dict:
    _check_type(body, expected_type)
    ts = _opt_timestamp(body)
    if ts is not None and request is not None and _d(request, "timestamp_as_millis"):
        if ts / 1000.0 < 946684800:
            raise ApiError(400, "invalid_field", "'timestamp' is out of range", "timestamp")
    out = {
        "msg_id": _opt_id(body, "msg_id"),
        "user_id": _opt_id(body, "user_id"),
        "anonymous_id": _opt_id(body, "anonymous_id"),
        "timestamp": ts,
        "context": _opt_object(body, "context"),
    }
    return out


def _profile_for(src: dict, identity: str) -> dict:
    # follow alias links (previous_id -> user_id)
    seen = set()
    while identity in src["aliases"] and identity not in seen:
        seen.add(identity)
        identity = src["aliases"][identity]
    prof = src["profiles"].get(identity)
    if prof is None:
        prof = {"id": identity, "traits": {}, "identities": [identity]}
        src["profiles"][identity] = prof
    return prof


def _merge_traits(src: dict, common: dict, traits: dict | None) -> None:
    ident = common["user_id"] or common["anonymous_id"]
    if ident is None:
        return
    prof = _profile_for(src, ident)
    if common["user_id"] and common["anonymous_id"] and common["anonymous_id"] != prof["id"]:
        # remember the anonymous id as belonging to this user
        if common["anonymous_id"] not in src["aliases"] and common["anonymous_id"] != common["user_id"]:
            src["aliases"][common["anonymous_id"]] = prof["id"]
            if common["anonymous_id"] not in prof["identities"]:
                prof["identities"].append(common["anonymous_id"])
    if traits:
        prof["traits"].update(traits)


def _dedup_lookup(src: dict, msg_id: str | None):
    if msg_id is None:
        return None
    hit = src["seen"].get(msg_id)
    if hit is None:
        return None
    accepted_at, status, body = hit
    if time.time() - accepted_at > DEDUP_WINDOW_SECONDS:
        del src["seen"][msg_id]
        return None
    return status, body


def _global_replay(request: web.Request, body: dict) -> web.Response | None:
    if not _d(request, "dedup_before_auth"):
        return None
    mid = body.get("msg_id")
    if isinstance(mid, str) and mid in request.app[STATE_KEY]["global_seen"]:
        return web.json_response(request.app[STATE_KEY]["global_seen"][mid], status=200)
    return None


def _accept(src: dict, msg_type: str, common: dict, record: dict,
            request: web.Request | None = None) -> web.Response:
    """De-duplicate on msg_id (per source), store, and answer 200."""
    msg_id = common["msg_id"]
    hit = _dedup_lookup(src, msg_id)
    if hit is not None:
        status, body = hit
        return web.json_response(body, status=status)
    if msg_id is None:
        msg_id = str(uuid.uuid4())
    now = time.time()
    stored = {
        "type": msg_type,
        "msg_id": msg_id,
        "user_id": common["user_id"],
        "anonymous_id": common["anonymous_id"],
        "timestamp": common["timestamp"] if common["timestamp"] is not None else now,
        "received_at": now,
        "context": common["context"],
    }
    stored.update(record)
    src["events"].append(stored)
    body = {"success": True, "msg_id": msg_id}
    src["seen"][msg_id] = (now, 200, body)
    if request is not None:
        request.app[STATE_KEY]["global_seen"][msg_id] = body
    return web.json_response(body, status=200)


# --------------------------------------------------------------------------
# Handlers
# --------------------------------------------------------------------------
async def handle_track(request: web.Request) -> web.Response:
    body = await _read_json_object(request)
    replay = _global_replay(request, body)
    if replay is not None:
        return replay
    key = body.get("api_key")
    if key is None and _d(request, "track_key_from_query"):
        key = request.query.get("api_key")
    src = _authenticate(request, key)
    common = _common(body, "track", request)
    event = body.get("event")
    if event is None:
        raise ApiError(400, "missing_field", "'event' is required", "event")
    if not isinstance(event, str):
        raise ApiError(400, "invalid_field", "'event' must be a string", "event")
    if not event.strip():
        raise ApiError(400, "invalid_field", "'event' must not be empty", "event")
    if len(event) > MAX_EVENT_LEN:
        raise ApiError(400, "invalid_field", f"'event' must be at most {MAX_EVENT_LEN} characters", "event")
    properties = _opt_object(body, "properties", allow_json_string=True)
    traits = _opt_object(body, "traits", allow_json_string=True)
    products = _opt_products(body)
    if properties is None and _d(request, "track_properties_missing_500"):
        return _resp_500()
    if common["user_id"] is None and common["anonymous_id"] is None:
        raise ApiError(400, "missing_field", "one of 'user_id' or 'anonymous_id' is required", "user_id")
    duplicate = _dedup_lookup(src, common["msg_id"])
    resp = _accept(src, "track", common, request=request, record={
        "event": event, "properties": properties or {}, "traits": traits or {},
        "products": products or [],
    })
    if duplicate is None:
        _merge_traits(src, common, traits)
    return resp


async def handle_identify(request: web.Request) -> web.Response:
    body = await _read_json_object(request)
    replay = _global_replay(request, body)
    if replay is not None:
        return replay
    src = _authenticate(request, body.get("api_key"))
    common = _common(body, "identify", request)
    traits = _opt_object(body, "traits")
    if traits and _d(request, "identify_non_ascii_500"):
        try:
            json.dumps(traits, ensure_ascii=False).encode("latin-1")
        except UnicodeEncodeError:
            return _resp_500()
    if common["user_id"] is None and common["anonymous_id"] is None \
            and not _d(request, "identify_without_identity"):
        raise ApiError(400, "missing_field", "one of 'user_id' or 'anonymous_id' is required", "user_id")
    duplicate = _dedup_lookup(src, common["msg_id"])
    resp = _accept(src, "identify", common, {"traits": traits or {}}, request)
    if duplicate is None:
        _merge_traits(src, common, traits)
    return resp


async def handle_alias(request: web.Request) -> web.Response:
    body = await _read_json_object(request)
    replay = _global_replay(request, body)
    if replay is not None:
        return replay
    key = body.get("api_key")
    if key in (None, "") and _d(request, "alias_default_source"):
        key = _SOURCES[0]["api_key"]
    src = _authenticate(request, key)
    common = _common(body, "alias", request)
    previous_id = _opt_id(body, "previous_id")
    if previous_id is None and _d(request, "alias_missing_previous_id"):
        if common["user_id"] is None:
            raise ApiError(400, "missing_field", "'user_id' is required", "user_id")
        return _accept(src, "alias", common, {"previous_id": None}, request)
    if previous_id is None:
        raise ApiError(400, "missing_field", "'previous_id' is required", "previous_id")
    if common["user_id"] is None:
        raise ApiError(400, "missing_field", "'user_id' is required", "user_id")
    duplicate = _dedup_lookup(src, common["msg_id"])
    resp = _accept(src, "alias", common, {"previous_id": previous_id}, request)
    if duplicate is None and previous_id != common["user_id"]:
        new_prof = _profile_for(src, common["user_id"])
        old = src["profiles"].pop(previous_id, None)
        if old is not None and old is not new_prof:
            merged = dict(old["traits"])
            merged.update(new_prof["traits"])
            new_prof["traits"] = merged
            for i in old["identities"]:
                if i not in new_prof["identities"]:
                    new_prof["identities"].append(i)
                if i != new_prof["id"]:
                    src["aliases"][i] = new_prof["id"]
        if previous_id not in new_prof["identities"]:
            new_prof["identities"].append(previous_id)
        src["aliases"][previous_id] = new_prof["id"]
    return resp


async def handle_settings(request: web.Request) -> web.Response:
    body = await _read_json_object(request, allow_empty=not _d(request, "settings_empty_body_400"))
    query_keys = request.query.getall("api_key", [])
    if _d(request, "settings_query_key_ignored"):
        query_keys = []
    if len(query_keys) > 1:
        raise ApiError(400, "invalid_request", "api_key given more than once in the query string")
    qkey = query_keys[0] if query_keys else None
    bkey = body.get("api_key")
    if qkey not in (None, "") and bkey not in (None, "") and qkey != bkey:
        raise ApiError(400, "invalid_request", "api_key in query string and body differ")
    key = qkey if qkey not in (None, "") else bkey
    src = _authenticate(request, key)
    if _d(request, "settings_cached_source"):
        cached = request.app[STATE_KEY]["settings_cache"]
        if cached is not None:
            return web.json_response(cached, status=200)
    answer = {
        "success": True,
        "source": {
            "id": src["id"],
            "name": src["name"],
            "type": "http_api",
            "enabled": True,
            "created_at": src["created_at"],
        },
        "destinations": [],
    }
    if _d(request, "settings_cached_source"):
        request.app[STATE_KEY]["settings_cache"] = answer
    return web.json_response(answer, status=200)


# --------------------------------------------------------------------------
# App wiring
# --------------------------------------------------------------------------
@web.middleware
async def _errors(request: web.Request, handler):
    try:
        return await handler(request)
    except ApiError as e:
        return _error_response(e.status, e.code, e.message, e.field)
    except web.HTTPMethodNotAllowed as e:
        return _error_response(405, "method_not_allowed", f"method {request.method} not allowed",
                               headers={"Allow": ", ".join(sorted(e.allowed_methods))})
    except web.HTTPNotFound:
        return _error_response(404, "not_found", "no such endpoint")
    except web.HTTPRequestEntityTooLarge:
        return _error_response(413, "payload_too_large", f"request body exceeds {MAX_BODY_BYTES} bytes")
    except web.HTTPException as e:
        if e.status >= 500:
            return _error_response(400, "bad_request", "bad request")
        return _error_response(e.status, "http_error", e.reason or "error")
    except Exception:  # never answer 5xx for client input
        return _error_response(400, "bad_request", "the request could not be processed")


def make_app(defects: frozenset[str] = frozenset()) -> web.Application:
    defects = frozenset(defects)
    unknown = defects - set(DEFECTS)
    if unknown:
        raise ValueError(f"unknown defects: {sorted(unknown)}")
    app = web.Application(middlewares=[_errors], client_max_size=MAX_BODY_BYTES)
    app[STATE_KEY] = _new_state()
    app[DEFECTS_KEY] = defects
    app.router.add_post("/v1/track", handle_track)
    app.router.add_post("/v1/identify", handle_identify)
    app.router.add_post("/v1/alias", handle_alias)
    app.router.add_post("/v1/settings", handle_settings)
    return app


def main() -> None:
    p = argparse.ArgumentParser(description="TTO CDP HTTP API (independent in-memory implementation)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    a = p.parse_args()
    web.run_app(make_app(), host=a.host, port=a.port, print=None)


if __name__ == "__main__":
    main()
