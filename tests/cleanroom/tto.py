"""Clean-room TTO CDP HTTP API (seed 000), written from the vendor document only.

Endpoints: POST /v1/track, /v1/identify, /v1/alias (api_key in the JSON body),
POST /v1/settings?api_key=... (api_key in the query string).
"""
from __future__ import annotations

import json
import time
import uuid

from aiohttp import web

CREDS: dict[str, str] = {
    "api_key": "tto_src_7f3c9a2e5b41d0",
    "other_api_key": "tto_src_b81d04e6aa9c37",
}

DEFECTS: dict[str, str] = {
    "crash_on_bad_json": (
        "該 API 遵循標準的 Event Tracking 規範,支持用戶識別、事件追蹤、用戶別名管理等核心功能。"
        " :: /v1/track parses the body without error handling, so a malformed JSON body gives HTTP 500 instead of a 4xx"
    ),
    "track_without_identity_ignored": (
        "該 API 遵循標準的 Event Tracking 規範,支持用戶識別、事件追蹤、用戶別名管理等核心功能。"
        " :: /v1/track accepts (202) an event carrying neither user_id nor anonymous_id (Segment spec rejects it)"
    ),
    "bad_api_key_ignored": (
        "項目API密鑰,用於身份驗證和數據歸屬"
        " :: any non-empty api_key is accepted on every endpoint; unknown keys are attributed to the first source"
    ),
    "settings_other_source": (
        "settings接口用於查詢指定項目的配置信息,包括數據源設置和目的地配置。"
        " :: /v1/settings ignores which key was given and always returns the first source's settings (and stats)"
    ),
    "alias_without_previous_id_ignored": (
        "alias接口用於合併用戶的不同身份標識,解決用戶多設備、多身份問題。"
        " :: /v1/alias accepts (202) a call without previous_id (or with an empty/non-string one) instead of refusing it"
    ),
}

CHOICES: list[str] = [
    "Accepted track/identify/alias calls answer HTTP 202 (not 200) with body "
    "{status:'queued', type, msg_id, duplicate, received_at}.",
    "Settings answers HTTP 200 with {api_key, source:{id,name,type,created_at,enabled}, destinations:[...], "
    "stats:{track,identify,alias,duplicates,profiles}}; stats count only that source's data.",
    "Error bodies are {error:{code, message}} (no 'success' field).",
    "Malformed JSON, an empty body, or a JSON body that is not an object -> 400 code 'invalid_json'.",
    "Missing or unknown api_key -> 401 code 'invalid_api_key' (checked after JSON parsing, before validation).",
    "For track/identify/alias the api_key is read from the JSON body only; a key only in the query string is refused (401).",
    "For settings the api_key is read from the query string only; any request body is ignored (even malformed).",
    "Validation failures (missing/typed fields) -> 422 code 'validation_error' with the field name in the message.",
    "Bodies larger than 32 KB -> 413 code 'payload_too_large' (Segment limit from VENDOR-NOTES).",
    "Content-Type is not checked; any body that parses as a JSON object is accepted.",
    "Unknown extra top-level fields are accepted and ignored.",
    "'type' is optional; if present it must equal the endpoint name (track/identify/alias), otherwise 422.",
    "track requires a non-empty string 'event' (Segment rule); numbers are not coerced.",
    "track and identify require user_id or anonymous_id (Segment rule); empty strings count as absent.",
    "user_id / anonymous_id may be strings or numbers (numbers coerced to strings); objects/lists/booleans -> 422.",
    "alias requires non-empty string previous_id and a user_id (the new id); previous_id equal to user_id is accepted as a no-op.",
    "track 'properties' and 'traits' (typed STRING in the table, objects in the example) accept an object or a string; "
    "other types -> 422; null counts as absent.",
    "identify 'traits' (OBJECT) is optional but must be an object when present; a string -> 422.",
    "Trait values are stored as given; the formatting advice for standard traits (lowercase names, digits-only phone, ...) "
    "is not enforced.",
    "'context' must be an object when present; 'products' must be a list of objects when present; product fields are not checked.",
    "timestamp is optional (defaults to now); a digit string or a non-negative number is accepted; anything else -> 422.",
    "msg_id is optional (generated when absent, echoed back); a repeated msg_id within the same source within 24 h is "
    "accepted with duplicate:true and not stored again; dedup is per source.",
    "Settings is POST only, as documented; other methods get aiohttp's 405.",
]

MAX_BODY = 32 * 1024
DEDUP_WINDOW = 24 * 3600


def _sources() -> dict[str, dict]:
    return {
        CREDS["api_key"]: {
            "source": {"id": "src_1001", "name": "Website HTTP API", "type": "http_api",
                       "created_at": "2024-03-18T09:12:00Z", "enabled": True},
            "destinations": [
                {"id": "dst_2001", "name": "Google Analytics 4", "type": "ga4", "enabled": True,
                 "config": {"measurement_id": "G-TTO1001"}},
                {"id": "dst_2002", "name": "Meta Conversions API", "type": "facebook_capi", "enabled": False,
                 "config": {"pixel_id": "889900112233"}},
            ],
        },
        CREDS["other_api_key"]: {
            "source": {"id": "src_1002", "name": "POS Backend HTTP API", "type": "http_api",
                       "created_at": "2024-07-02T15:40:00Z", "enabled": True},
            "destinations": [
                {"id": "dst_3001", "name": "Webhook", "type": "webhook", "enabled": True,
                 "config": {"url": "https://hooks.example.test/pos"}},
            ],
        },
    }


class Store:
    def __init__(self) -> None:
        self.sources = _sources()
        self.data: dict[str, dict] = {
            k: {"messages": [], "seen": {}, "profiles": {}, "ident": {},
                "count": {"track": 0, "identify": 0, "alias": 0, "duplicates": 0}}
            for k in self.sources
        }

    def profile_for(self, key: str, ident: str) -> str:
        d = self.data[key]
        pid = d["ident"].get(ident)
        if pid is None:
            pid = "p_" + uuid.uuid4().hex[:12]
            d["ident"][ident] = pid
            d["profiles"][pid] = {"ids": {ident}, "traits": {}}
        return pid


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _err(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _id_value(body: dict, field: str) -> str | None:
    v = body.get(field)
    if v is None or v == "":
        return None
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        raise ApiError(422, "validation_error", f"'{field}' must be a string")
    return str(v)


def _opt_object(body: dict, field: str, allow_string: bool = False) -> None:
    v = body.get(field)
    if v is None:
        return
    if isinstance(v, dict) or (allow_string and isinstance(v, str)):
        return
    kinds = "an object or a string" if allow_string else "an object"
    raise ApiError(422, "validation_error", f"'{field}' must be {kinds}")


def _timestamp(body: dict) -> int:
    v = body.get("timestamp")
    if v is None or v == "":
        return int(time.time())
    if isinstance(v, str) and v.strip().isdigit():
        return int(v.strip())
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0:
        return int(v)
    raise ApiError(422, "validation_error", "'timestamp' must be epoch seconds")


def make_app(defects: frozenset[str] = frozenset()) -> web.Application:
    defects = frozenset(defects)
    unknown = defects - set(DEFECTS)
    if unknown:
        raise ValueError(f"unknown defects: {sorted(unknown)}")
    store = Store()
    first_key = CREDS["api_key"]

    def resolve_key(key) -> str:
        if not isinstance(key, str) or not key:
            raise ApiError(401, "invalid_api_key", "api_key is missing")
        if key in store.sources:
            return key
        if "bad_api_key_ignored" in defects:
            return first_key
        raise ApiError(401, "invalid_api_key", "api_key is not valid")

    async def read_body(request: web.Request, crash: bool = False) -> dict:
        raw = await request.read()
        if len(raw) > MAX_BODY:
            raise ApiError(413, "payload_too_large", "request body exceeds 32 KB")
        if crash:
            body = json.loads(raw.decode("utf-8"))  # no error handling: defect
        else:
            try:
                body = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                raise ApiError(400, "invalid_json", "request body is not valid JSON")
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_json", "request body must be a JSON object")
        return body

    def common(body: dict, kind: str) -> tuple[str, str, int]:
        key = resolve_key(body.get("api_key"))
        t = body.get("type")
        if t is not None and t != kind:
            raise ApiError(422, "validation_error", f"'type' must be '{kind}' on this endpoint")
        msg_id = body.get("msg_id")
        if msg_id is None or msg_id == "":
            msg_id = "gen_" + uuid.uuid4().hex
        elif isinstance(msg_id, bool) or not isinstance(msg_id, (str, int)):
            raise ApiError(422, "validation_error", "'msg_id' must be a string")
        msg_id = str(msg_id)
        ts = _timestamp(body)
        _opt_object(body, "context")
        prods = body.get("products")
        if prods is not None and (not isinstance(prods, list) or not all(isinstance(p, dict) for p in prods)):
            raise ApiError(422, "validation_error", "'products' must be a list of objects")
        return key, msg_id, ts

    def record(key: str, kind: str, msg_id: str, body: dict) -> tuple[bool, int]:
        d = store.data[key]
        now = int(time.time())
        seen = d["seen"].get(msg_id)
        if seen is not None and now - seen < DEDUP_WINDOW:
            d["count"]["duplicates"] += 1
            return True, now
        d["seen"][msg_id] = now
        d["count"][kind] += 1
        d["messages"].append({"type": kind, "msg_id": msg_id, "body": body, "received_at": now})
        return False, now

    def accepted(kind: str, msg_id: str, dup: bool, now: int) -> web.Response:
        return web.json_response({"status": "queued", "type": kind, "msg_id": msg_id,
                                  "duplicate": dup, "received_at": now}, status=202)

    def merge_traits(key: str, ident: str, traits) -> None:
        pid = store.profile_for(key, ident)
        if isinstance(traits, dict):
            store.data[key]["profiles"][pid]["traits"].update(traits)

    async def track(request: web.Request) -> web.Response:
        try:
            body = await read_body(request, crash="crash_on_bad_json" in defects)
            key, msg_id, _ts = common(body, "track")
            event = body.get("event")
            if not isinstance(event, str) or not event.strip():
                raise ApiError(422, "validation_error", "'event' is required and must be a non-empty string")
            _opt_object(body, "properties", allow_string=True)
            _opt_object(body, "traits", allow_string=True)
            uid, aid = _id_value(body, "user_id"), _id_value(body, "anonymous_id")
            if uid is None and aid is None and "track_without_identity_ignored" not in defects:
                raise ApiError(422, "validation_error", "'user_id' or 'anonymous_id' is required")
            dup, now = record(key, "track", msg_id, body)
            if not dup and (uid or aid):
                merge_traits(key, uid or aid, body.get("traits"))
            return accepted("track", msg_id, dup, now)
        except ApiError as e:
            return _err(e.status, e.code, e.message)

    async def identify(request: web.Request) -> web.Response:
        try:
            body = await read_body(request)
            key, msg_id, _ts = common(body, "identify")
            _opt_object(body, "traits")
            uid, aid = _id_value(body, "user_id"), _id_value(body, "anonymous_id")
            if uid is None and aid is None:
                raise ApiError(422, "validation_error", "'user_id' or 'anonymous_id' is required")
            dup, now = record(key, "identify", msg_id, body)
            if not dup:
                merge_traits(key, uid or aid, body.get("traits"))
                if uid and aid:
                    _link(key, uid, aid)
            return accepted("identify", msg_id, dup, now)
        except ApiError as e:
            return _err(e.status, e.code, e.message)

    def _link(key: str, new_id: str, old_id: str) -> None:
        d = store.data[key]
        keep = store.profile_for(key, new_id)
        gone = store.profile_for(key, old_id)
        if keep == gone:
            return
        src = d["profiles"].pop(gone)
        dst = d["profiles"][keep]
        dst["traits"] = {**src["traits"], **dst["traits"]}
        dst["ids"] |= src["ids"]
        for i in src["ids"]:
            d["ident"][i] = keep

    async def alias(request: web.Request) -> web.Response:
        try:
            body = await read_body(request)
            key, msg_id, _ts = common(body, "alias")
            prev = body.get("previous_id")
            if isinstance(prev, str) and prev.strip():
                pass
            elif "alias_without_previous_id_ignored" in defects:
                prev = None
            else:
                raise ApiError(422, "validation_error", "'previous_id' is required and must be a non-empty string")
            uid = _id_value(body, "user_id")
            if uid is None:
                raise ApiError(422, "validation_error", "'user_id' (the new identity) is required")
            dup, now = record(key, "alias", msg_id, body)
            if not dup and prev:
                _link(key, uid, prev)
            return accepted("alias", msg_id, dup, now)
        except ApiError as e:
            return _err(e.status, e.code, e.message)

    async def settings(request: web.Request) -> web.Response:
        try:
            key = resolve_key(request.query.get("api_key"))
        except ApiError as e:
            return _err(e.status, e.code, e.message)
        if "settings_other_source" in defects:
            key = first_key
        cfg = store.sources[key]
        d = store.data[key]
        stats = dict(d["count"])
        stats["profiles"] = len(d["profiles"])
        return web.json_response({"api_key": key, "source": cfg["source"],
                                  "destinations": cfg["destinations"], "stats": stats})

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/v1/track", track)
    app.router.add_post("/v1/identify", identify)
    app.router.add_post("/v1/alias", alias)
    app.router.add_post("/v1/settings", settings)
    app["store"] = store
    return app


if __name__ == "__main__":  # pragma: no cover
    import sys
    web.run_app(make_app(frozenset(sys.argv[2:])), host="127.0.0.1",
                port=int(sys.argv[1]) if len(sys.argv) > 1 else 8080)
