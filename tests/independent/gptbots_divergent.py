"""GPTBots "Get User CDP" API - implementation written from the seed document only.

GET /v1/user/get-user-cdp?user_id=...&anonymous_id=...
Authorization: Bearer <agent API key>

Deliberately divergent (but document-consistent) choices are listed in CHOICES.md.
"""
from __future__ import annotations

import argparse
import copy
import uuid

from aiohttp import web

PATH = "/v1/user/get-user-cdp"

# ---------------------------------------------------------------------------
# Provisioned data (per agent; each agent's CDP store is fully separate)
# ---------------------------------------------------------------------------
TOKEN_A = "app-7Qd2kLx9Vb3Nz8Rw5Tm1Ys4Hc6Jp0Fa"
TOKEN_B = "app-3Gh8Wq2Ek7Ut5Io1Pl9As4Df6Zx0Cv"
# A key that exists but has no permission to use this API -> 403.
FORBIDDEN_TOKEN = "app-0Xx0Disabled0Key0NoPerm0Scope00"

CREDS = {
    "token": TOKEN_A,
    "user_id": "BC123",
    "anonymous_id": "22ses32dsafdabd1w2sad",
    "other_token": TOKEN_B,
}

# ---------------------------------------------------------------------------
# Switchable defects (all off by default); see make_app(defects=...)
# ---------------------------------------------------------------------------
DEFECTS: dict[str, dict[str, str]] = {
    "auth_key_prefix_only": {
        "sentence": "ใช้ Authorization: Bearer ${token} สำหรับยืนยันตัวตน รับคีย์ ${token} ได้จากหน้า API Key",
        "english": "Use Authorization: Bearer ${token} for authentication; the ${token} key is obtained from the API Key page.",
        "bug": "API keys are looked up by their first 12 characters only: a Bearer token that starts like a valid key "
               "but has a different tail (e.g. last character changed) is accepted (200 with that agent's data) "
               "instead of 401.",
    },
    "auth_error_msg_field": {
        "sentence": "| message | string | ข้อความข้อผิดพลาด |",
        "english": "Error response field `message` (string): the error message.",
        "bug": "The 401 answer for an unknown/invalid API key carries the text under `msg` instead of `message` "
               "(body is {code, msg}); other error paths are unaffected.",
    },
    "missing_params_not_rejected": {
        "sentence": "ต้องระบุอย่างน้อย 1 ค่าใน user_id หรือ anonymous_id มิฉะนั้นจะเกิดข้อผิดพลาดของพารามิเตอร์",
        "english": "At least one of user_id or anonymous_id must be given, otherwise a parameter error occurs.",
        "bug": "A request with neither user_id nor anonymous_id is not rejected: with a valid key it answers "
               "200 {code: 0, data: {}} instead of 400 parameter error (401 without a key).",
    },
    "anon_lookup_across_agents": {
        "sentence": "ข้อมูล User CDP จะถูกจัดเก็บแยกกันในแต่ละ Agent/Workflow หมายความว่าข้อมูลของผู้ใช้คนเดียวกันจะถูกแยกออกจากกันในแต่ละ Agent/Workflow",
        "english": "User CDP data is stored separately per Agent/Workflow: the same user's data is kept apart in each Agent/Workflow.",
        "bug": "The anonymous_id-only lookup scans every agent's store, not just the caller's: "
               "?anonymous_id=22ses32dsafdabd1w2sad with other_token also returns agent A's BC123 record "
               "(WEB/TELEGRAM/API entries), and with token also returns agent B's other_agent_user.",
    },
    "anon_id_prefix_match": {
        "sentence": "หากระบุเฉพาะ anonymous_id จะสอบถามข้อมูลผู้ใช้ที่เกี่ยวข้องกับ anonymous ID นั้น",
        "english": "If only anonymous_id is given, the users related to that anonymous ID are queried.",
        "bug": "The anonymous_id-only query matches by prefix: ?anonymous_id=22ses32 (a truncated id) returns BC123 "
               "instead of an empty data object.",
    },
    "precise_falls_back_to_user": {
        "sentence": "หากระบุทั้ง user_id และ anonymous_id จะเป็นการสอบถามแบบแม่นยำ",
        "english": "If both user_id and anonymous_id are given, the query is a precise (exact) match.",
        "bug": "When the pair does not match (user exists but has no such anonymous_id), the server falls back to the "
               "user's full record: ?user_id=BC123&anonymous_id=<unknown> returns BC123 with all its anonymous ids "
               "instead of data {}.",
    },
    "dedupe_by_conversation_type": {
        "sentence": "source ID จากแพลตฟอร์มสนทนา เช่น หากเชื่อมต่อกับ TELEGRAM และเพิ่ม TG Bot 2 ตัว แต่ละ Bot จะมี source ID ของตัวเอง",
        "english": "source ID from the conversation platform, e.g. if TELEGRAM is connected with 2 TG bots, each bot has its own source ID.",
        "bug": "The user_id-only query keeps one anonymous-id entry per conversation_type: BC123 comes back with 3 "
               "entries, the second TELEGRAM bot's entry (tg_5550002 / tgbot_7002) is lost, although "
               "\"หากระบุเฉพาะ user_id จะสอบถามข้อมูลที่ผูกกับ user ทั้งหมด\" (all data bound to the user).",
    },
    "anon_result_missing_user_id": {
        "sentence": "| {user_id}.user_id | string | user ID |",
        "english": "Each user object in data has a `user_id` string field.",
        "bug": "In the anonymous_id-only answer path each user object lacks its inner `user_id` field "
               "(only `anonymous_ids` is present); the user_id and precise paths are correct.",
    },
}

DEFECTS_KEY = web.AppKey("defects", frozenset)


def _anon(anonymous_id, conversation_type, source_id, last_active):
    return {
        "anonymous_id": anonymous_id,
        "conversation_type": conversation_type,
        "source_id": source_id,
        "_last_active": last_active,  # internal, used for ordering only
    }


def _seed():
    """Fresh per-agent data. Keys: api key -> {user_id: [anon records]}."""
    agent_a = {
        "BC123": [
            _anon("22ses32dsafdabd1w2sad", "WEB", None, 1700000100),
            _anon("tg_5550001", "TELEGRAM", "tgbot_7001", 1700000300),
            _anon("tg_5550002", "TELEGRAM", "tgbot_7002", 1700000200),
            _anon("api_bc123_01", "API", None, 1700000050),
        ],
        "user1": [
            _anon("aId3", "WEB", None, 1700000400),
        ],
        # system-generated user id for a visitor with no developer user id
        "67b58121035e5b152b0419ee": [
            _anon("aId3", "C", None, 1700000500),
        ],
        "67c0aa11035e5b152b04aa01": [
            _anon("embed_visitor_01", "EMBED", None, 1700000600),
        ],
        "user_without_anon": [],
        "wa+66 81 234 5678": [
            _anon("whatsapp:+66812345678", "WHATSAPP_META", "waba_1001", 1700000700),
        ],
    }
    agent_b = {
        # Same developer user id as in agent A, but an entirely separate record.
        "BC123": [
            _anon("b_only_anon_001", "SLACK", "slack_team_T01", 1700000900),
        ],
        # Same anonymous id string as agent A's user, bound to a different user here.
        "other_agent_user": [
            _anon("22ses32dsafdabd1w2sad", "API", None, 1700000800),
        ],
    }
    return {TOKEN_A: agent_a, TOKEN_B: agent_b, FORBIDDEN_TOKEN: {}}


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
MAX_ID_LEN = 256

PARAM_ERROR = 40000
AUTH_MISSING = 40100
AUTH_FAILED = 40127
FORBIDDEN = 40300
NOT_FOUND = 40400
METHOD_NOT_ALLOWED = 40500


def _rid():
    return uuid.uuid4().hex


def _json(status, body, rid=None, headers=None):
    rid = rid or _rid()
    body = dict(body)
    body["request_id"] = rid
    h = {"X-Request-Id": rid}
    if headers:
        h.update(headers)
    return web.json_response(body, status=status, headers=h,
                             content_type="application/json")


def _err(status, code, message, headers=None):
    return _json(status, {"code": code, "message": message}, headers=headers)


class ParamError(Exception):
    pass


def _read_params(request, defects=frozenset()):
    q = request.rel_url.query  # MultiDict
    out = {}
    for name in ("user_id", "anonymous_id"):
        values = q.getall(name, [])
        if len(values) > 1:
            raise ParamError(f"parameter '{name}' must be given at most once")
        if not values:
            continue
        v = values[0]
        if v == "" or v.strip() == "":
            raise ParamError(f"parameter '{name}' must not be empty")
        if len(v) > MAX_ID_LEN:
            raise ParamError(f"parameter '{name}' exceeds {MAX_ID_LEN} characters")
        if any(ord(c) < 0x20 or ord(c) == 0x7F or c == "\ufffd" for c in v):
            raise ParamError(f"parameter '{name}' contains invalid characters")
        out[name] = v
    if not out and "missing_params_not_rejected" not in defects:
        raise ParamError("user_id or anonymous_id is required (at least one)")
    return out


def _auth(request, store, defects=frozenset()):
    """Returns (api_key, None) or (None, error_response)."""
    header = request.headers.get("Authorization")
    if header is None or header.strip() == "":
        return None, _err(401, AUTH_MISSING, "missing Authorization header",
                          headers={"WWW-Authenticate": 'Bearer realm="gptbots"'})
    header = header.strip()
    parts = header.split(None, 1)
    if len(parts) == 2:
        scheme, token = parts[0], parts[1].strip()
        if scheme.lower() != "bearer":
            return None, _err(401, AUTH_FAILED, "developer authentication failed: unsupported scheme",
                              headers={"WWW-Authenticate": 'Bearer realm="gptbots"'})
    else:
        # looser: a bare API key (no scheme) is accepted if it is a valid key;
        # a lone "Bearer" is an empty token.
        token = "" if parts[0].lower() == "bearer" else parts[0]
    if not token:
        return None, _err(401, AUTH_FAILED, "developer authentication failed: empty token",
                          headers={"WWW-Authenticate": 'Bearer realm="gptbots"'})
    if "auth_key_prefix_only" in defects:
        # keys indexed by their visible prefix
        token = next((k for k in store if k[:12] == token[:12]), token)
    if token not in store:
        if "auth_error_msg_field" in defects:
            return None, _json(401, {"code": AUTH_FAILED, "msg": "developer authentication failed"},
                               headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return None, _err(401, AUTH_FAILED, "developer authentication failed",
                          headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    if token == FORBIDDEN_TOKEN:
        return None, _err(403, FORBIDDEN, "this API key has no permission to access user CDP data")
    return token, None


def _public(rec):
    return {k: v for k, v in rec.items() if not k.startswith("_")}


def _ordered(records):
    # most recently active first
    return [_public(r) for r in sorted(records, key=lambda r: -r["_last_active"])]


def _query(agent_data, params, defects=frozenset(), other_agents=()):
    uid = params.get("user_id")
    aid = params.get("anonymous_id")
    data = {}
    if uid is not None and aid is None:
        if uid in agent_data:
            data[uid] = {"user_id": uid, "anonymous_ids": _ordered(agent_data[uid])}
            if "dedupe_by_conversation_type" in defects:
                by_type = {}
                for a in data[uid]["anonymous_ids"]:
                    by_type.setdefault(a["conversation_type"], a)
                data[uid]["anonymous_ids"] = list(by_type.values())
    elif uid is None and aid is not None:
        pools = [agent_data]
        if "anon_lookup_across_agents" in defects:
            pools += list(other_agents)
        for pool in pools:
            for u, recs in pool.items():
                if u in data:
                    continue
                if "anon_id_prefix_match" in defects:
                    found = any(r["anonymous_id"].startswith(aid) for r in recs)
                else:
                    found = any(r["anonymous_id"] == aid for r in recs)
                if found:
                    data[u] = {"user_id": u, "anonymous_ids": _ordered(recs)}
                    if "anon_result_missing_user_id" in defects:
                        del data[u]["user_id"]
    else:
        recs = agent_data.get(uid, [])
        hits = [r for r in recs if r["anonymous_id"] == aid]
        if not hits and "precise_falls_back_to_user" in defects:
            hits = list(recs)
        if hits:
            data[uid] = {"user_id": uid, "anonymous_ids": _ordered(hits)}
    return data


# ---------------------------------------------------------------------------
# Handlers
# ---------------------------------------------------------------------------
async def get_user_cdp(request):
    store = request.app["store"]
    defects = request.app[DEFECTS_KEY]
    # 1) parameter validation (before authentication)
    try:
        params = _read_params(request, defects)
    except ParamError as e:
        return _err(400, PARAM_ERROR, f"parameter error: {e}")
    # 2) authentication / permission
    token, err = _auth(request, store, defects)
    if err is not None:
        return err
    # 3) query, scoped to the caller's agent
    data = _query(store[token], params, defects,
                  other_agents=[v for k, v in store.items() if k != token])
    return _json(200, {"code": 0, "message": "Success", "data": copy.deepcopy(data)})


async def method_not_allowed(request):
    return _err(405, METHOD_NOT_ALLOWED, f"method {request.method} not allowed; use GET",
                headers={"Allow": "GET, HEAD"})


@web.middleware
async def safety(request, handler):
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status == 404:
            return _err(404, NOT_FOUND, "resource not found")
        if e.status == 405:
            return _err(405, METHOD_NOT_ALLOWED, "method not allowed; use GET",
                        headers={"Allow": "GET, HEAD"})
        if e.status >= 500:
            return _err(400, PARAM_ERROR, "bad request")
        return _err(e.status, e.status * 100, e.reason or "error")
    except Exception:  # never 5xx for malformed input
        return _err(400, PARAM_ERROR, "bad request")


def make_app(defects: frozenset[str] = frozenset()) -> web.Application:
    defects = frozenset(defects)
    unknown = defects - DEFECTS.keys()
    if unknown:
        raise ValueError(f"unknown defect(s): {', '.join(sorted(unknown))}")
    app = web.Application(middlewares=[safety])
    app[DEFECTS_KEY] = defects
    app["store"] = _seed()
    for p in (PATH, PATH + "/"):
        app.router.add_get(p, get_user_cdp)
        app.router.add_route("*", p, method_not_allowed)
    return app


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--host", default="127.0.0.1")
    a = ap.parse_args()
    web.run_app(make_app(), host=a.host, port=a.port, print=None)


if __name__ == "__main__":
    main()
