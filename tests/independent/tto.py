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
    return {"sources": {s["api_key"]: _new_source_state(s) for s in _SOURCES}}


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
    if src is None:
        raise ApiError(401, "invalid_api_key", "api_key is not valid")
    return src


def _common(body: dict, expected_type: str) -> dict:
    _check_type(body, expected_type)
    out = {
        "msg_id": _opt_id(body, "msg_id"),
        "user_id": _opt_id(body, "user_id"),
        "anonymous_id": _opt_id(body, "anonymous_id"),
        "timestamp": _opt_timestamp(body),
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


def _accept(src: dict, msg_type: str, common: dict, record: dict) -> web.Response:
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
    return web.json_response(body, status=200)


# --------------------------------------------------------------------------
# Handlers
# --------------------------------------------------------------------------
async def handle_track(request: web.Request) -> web.Response:
    body = await _read_json_object(request)
    src = _authenticate(request, body.get("api_key"))
    common = _common(body, "track")
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
    if common["user_id"] is None and common["anonymous_id"] is None:
        raise ApiError(400, "missing_field", "one of 'user_id' or 'anonymous_id' is required", "user_id")
    duplicate = _dedup_lookup(src, common["msg_id"])
    resp = _accept(src, "track", common, {
        "event": event, "properties": properties or {}, "traits": traits or {},
        "products": products or [],
    })
    if duplicate is None:
        _merge_traits(src, common, traits)
    return resp


async def handle_identify(request: web.Request) -> web.Response:
    body = await _read_json_object(request)
    src = _authenticate(request, body.get("api_key"))
    common = _common(body, "identify")
    traits = _opt_object(body, "traits")
    if common["user_id"] is None and common["anonymous_id"] is None:
        raise ApiError(400, "missing_field", "one of 'user_id' or 'anonymous_id' is required", "user_id")
    duplicate = _dedup_lookup(src, common["msg_id"])
    resp = _accept(src, "identify", common, {"traits": traits or {}})
    if duplicate is None:
        _merge_traits(src, common, traits)
    return resp


async def handle_alias(request: web.Request) -> web.Response:
    body = await _read_json_object(request)
    src = _authenticate(request, body.get("api_key"))
    common = _common(body, "alias")
    previous_id = _opt_id(body, "previous_id")
    if previous_id is None:
        raise ApiError(400, "missing_field", "'previous_id' is required", "previous_id")
    if common["user_id"] is None:
        raise ApiError(400, "missing_field", "'user_id' is required", "user_id")
    duplicate = _dedup_lookup(src, common["msg_id"])
    resp = _accept(src, "alias", common, {"previous_id": previous_id})
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
    body = await _read_json_object(request, allow_empty=True)
    query_keys = request.query.getall("api_key", [])
    if len(query_keys) > 1:
        raise ApiError(400, "invalid_request", "api_key given more than once in the query string")
    qkey = query_keys[0] if query_keys else None
    bkey = body.get("api_key")
    if qkey not in (None, "") and bkey not in (None, "") and qkey != bkey:
        raise ApiError(400, "invalid_request", "api_key in query string and body differ")
    key = qkey if qkey not in (None, "") else bkey
    src = _authenticate(request, key)
    return web.json_response({
        "success": True,
        "source": {
            "id": src["id"],
            "name": src["name"],
            "type": "http_api",
            "enabled": True,
            "created_at": src["created_at"],
        },
        "destinations": [],
    }, status=200)


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


def make_app() -> web.Application:
    app = web.Application(middlewares=[_errors], client_max_size=MAX_BODY_BYTES)
    app[STATE_KEY] = _new_state()
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
