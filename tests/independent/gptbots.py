"""Independent in-memory implementation of the GPTBots "get user CDP" API.

Documented operation (seed 003):
    GET /v1/user/get-user-cdp?user_id=...&anonymous_id=...
    Authorization: Bearer ${token}

Run:  python app.py --port 8080     (listens on 127.0.0.1:8080)

Design choices for undocumented behaviour are listed in CHOICES.md next to this file.
"""
from __future__ import annotations

import argparse
import copy
import json
from typing import Any

from aiohttp import web

# --------------------------------------------------------------------------------------
# Credentials / provisioned data
# --------------------------------------------------------------------------------------

TOKEN_AGENT_A = "app-agentA-5f0c2b7e9d1a4c3b8e6f"
TOKEN_AGENT_B = "app-agentB-91d4e7a2c6b84f0d3a5e"
# A key that is recognised but has no permission to use this API (-> 403).
TOKEN_AGENT_A_NO_PERMISSION = "app-agentA-noperm-7c3e1f9a0b2d4e6f"

CREDS: dict[str, str] = {
    "token": TOKEN_AGENT_A,
    "user_id": "BC123",
    "anonymous_id": "22ses32dsafdabd1w2sad",
    "other_token": TOKEN_AGENT_B,
}

# Extra, non-required information (handy for tests; not part of the required CREDS keys).
EXTRA_CREDS: dict[str, str] = {
    "forbidden_token": TOKEN_AGENT_A_NO_PERMISSION,
    "shared_anonymous_id": "aId3",  # bound to two users of agent A (as in the doc example)
    "other_user_id": "BC-B-001",  # a user only agent B knows
    "other_anonymous_id": "b-anon-77aa",  # anonymous id only agent B knows
}

# One CDP record = one binding of a user id to an anonymous id (with its channel info).
# Records are kept per agent, in insertion order.
_SEED: dict[str, list[dict[str, Any]]] = {
    "agentA": [
        {"user_id": "BC123", "anonymous_id": "22ses32dsafdabd1w2sad", "conversation_type": "WEB", "source_id": None},
        {"user_id": "BC123", "anonymous_id": "tg-5581230077", "conversation_type": "TELEGRAM", "source_id": "tgbot-6620001"},
        {"user_id": "BC123", "anonymous_id": "wa-6591234567", "conversation_type": "WHATSAPP_META", "source_id": "wa-src-01"},
        {"user_id": "user1", "anonymous_id": "aId3", "conversation_type": "WEB", "source_id": None},
        {"user_id": "67b58121035e5b152b0419ee", "anonymous_id": "aId3", "conversation_type": "C", "source_id": None},
        {"user_id": "alice@example.com", "anonymous_id": "api-anon-0001", "conversation_type": "API", "source_id": None},
        {"user_id": "alice@example.com", "anonymous_id": "tg-5581230099", "conversation_type": "TELEGRAM", "source_id": "tgbot-6620002"},
    ],
    "agentB": [
        # Same developer-defined user id as agent A, but different (isolated) data.
        {"user_id": "BC123", "anonymous_id": "b-widget-0001", "conversation_type": "WIDGET", "source_id": None},
        {"user_id": "BC-B-001", "anonymous_id": "b-anon-77aa", "conversation_type": "SLACK", "source_id": "slack-app-01"},
    ],
}

# API key -> (agent id, has permission for this API)
_KEYS: dict[str, tuple[str, bool]] = {
    TOKEN_AGENT_A: ("agentA", True),
    TOKEN_AGENT_B: ("agentB", True),
    TOKEN_AGENT_A_NO_PERMISSION: ("agentA", False),
}

# --------------------------------------------------------------------------------------
# Error codes (GPTBots style: {code: int, message: string})
# --------------------------------------------------------------------------------------

CODE_OK = 0
CODE_PARAM_ERROR = 40000
CODE_AUTH_FAILED = 40127
CODE_FORBIDDEN = 40300
CODE_NOT_FOUND = 40400
CODE_METHOD_NOT_ALLOWED = 40500
CODE_SERVER_ERROR = 50000

MAX_ID_LENGTH = 1024

PATH = "/v1/user/get-user-cdp"

_STATE_KEY = web.AppKey("cdp_state", dict)
_DEFECTS_KEY = web.AppKey("cdp_defects", frozenset)

# --------------------------------------------------------------------------------------
# Switchable defects (for testing the conformance suite). Off by default.
# --------------------------------------------------------------------------------------

DEFECTS: dict[str, dict[str, str]] = {
    "token_prefix_match": {
        "sentence": "| Authorization | Bearer ${token} | ใช้ Authorization: Bearer ${token} สำหรับยืนยันตัวตน รับคีย์ ${token} ได้จากหน้า API Key |",
        "english": "Authorization: use 'Authorization: Bearer ${token}' to authenticate; the ${token} key is obtained from the API Key page.",
        "bug": "The token is compared by prefix: any bearer value that starts with a valid API key (e.g. the key plus extra characters) is accepted with 200 instead of 401.",
    },
    "cross_agent_leak": {
        "sentence": "ข้อมูล User CDP จะถูกจัดเก็บแยกกันในแต่ละ Agent/Workflow หมายความว่าข้อมูลของผู้ใช้คนเดียวกันจะถูกแยกออกจากกันในแต่ละ Agent/Workflow",
        "english": "User CDP data is stored separately per Agent/Workflow, meaning the same user's data is isolated between Agents/Workflows.",
        "bug": "A user_id-only query searches the records of every agent, so the same user_id's bindings from another agent are merged into the answer.",
    },
    "precise_ignores_anonymous_id": {
        "sentence": "หากระบุทั้ง\nuser_idและanonymous_idจะเป็นการสอบถามแบบแม่นยำ",
        "english": "If both user_id and anonymous_id are given, the query is a precise one.",
        "bug": "When both ids are given, anonymous_id is ignored: every binding of the user_id is returned, including anonymous ids other than the one asked for (and a non-matching anonymous_id still returns the user).",
    },
    "anonymous_id_prefix_match": {
        "sentence": "หากระบุเฉพาะ\nanonymous_idจะสอบถามข้อมูลผู้ใช้ที่เกี่ยวข้องกับ anonymous ID นั้น",
        "english": "If only anonymous_id is given, the users related to that anonymous ID are queried.",
        "bug": "The anonymous_id filter is a prefix (LIKE 'x%') match, so a truncated anonymous id returns the users of every anonymous id starting with it instead of nothing.",
    },
    "user_query_latest_binding_only": {
        "sentence": "หากระบุเฉพาะ\nuser_idจะสอบถามข้อมูลที่ผูกกับ user ทั้งหมด",
        "english": "If only user_id is given, all data bound to the user is queried.",
        "bug": "A user_id-only query returns only the most recently bound anonymous id of the user instead of all of them.",
    },
    "missing_params_500": {
        "sentence": "| 400 | ข้อผิดพลาดของพารามิเตอร์ (ไม่มี query parameter) |",
        "english": "400: parameter error (no query parameter).",
        "bug": "A request with neither user_id nor anonymous_id crashes and answers 500 (code 50000) instead of the 400 parameter error.",
    },
    "source_id_omitted_when_null": {
        "sentence": "| {user_id}.anonymous_ids[].source_id | string | source ID จากแพลตฟอร์มสนทนา เช่น หากเชื่อมต่อกับ TELEGRAM และเพิ่ม TG Bot 2 ตัว แต่ละ Bot จะมี source ID ของตัวเอง |",
        "english": "{user_id}.anonymous_ids[].source_id (string): the source ID from the conversation platform, e.g. with TELEGRAM and two TG bots added, each bot has its own source ID.",
        "bug": "The source_id field is dropped from anonymous_ids entries whose source is null (e.g. WEB bindings) instead of being present as null.",
    },
    "unauthorized_http_200": {
        "sentence": "| 401 | ไม่ได้รับอนุญาต |",
        "english": "401: unauthorized.",
        "bug": "Authentication failures (missing, malformed or unknown key) answer HTTP 200 with the error only in the body ({code: 40127, ...}) instead of HTTP 401.",
    },
    "data_keyed_by_anonymous_id": {
        "sentence": "ผลลัพธ์จะเป็นอ็อบเจกต์ที่ key คือ user_id และ value คือข้อมูล CDP ของผู้ใช้นั้น",
        "english": "The result is an object whose keys are user_ids and whose values are that user's CDP data.",
        "bug": "For an anonymous_id-only query the data object is keyed by the queried anonymous_id instead of by user_id (the value objects still carry user_id).",
    },
    "error_code_as_string": {
        "sentence": "| code | int | รหัสข้อผิดพลาด |",
        "english": "code (int): the error code.",
        "bug": "Error bodies carry code as a string (e.g. \"40000\") instead of an integer.",
    },
}
_KEYS_KEY = web.AppKey("cdp_keys", dict)


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body, ensure_ascii=False).encode("utf-8"),
        content_type="application/json",
        charset="utf-8",
    )


def _error(status: int, code: int, message: str, defects: frozenset = frozenset()) -> web.Response:
    if "error_code_as_string" in defects:
        return _json(status, {"code": str(code), "message": message})
    return _json(status, {"code": code, "message": message})


_error_mod = _error

# --------------------------------------------------------------------------------------
# Authentication
# --------------------------------------------------------------------------------------

def _authenticate(request: web.Request) -> tuple[str | None, web.Response | None]:
    defects = request.app[_DEFECTS_KEY]
    unauth_status = 200 if "unauthorized_http_200" in defects else 401

    def _error(status, code, message):  # noqa: F811 - shadows module helper to apply defects
        if status == 401:
            status = unauth_status
        return _error_mod(status, code, message, defects)

    headers = request.headers.getall("Authorization", [])
    if len(headers) != 1:
        return None, _error(401, CODE_AUTH_FAILED, "Developer authentication failed")
    raw = headers[0].strip()
    parts = raw.split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None, _error(401, CODE_AUTH_FAILED, "Developer authentication failed")
    token = parts[1].strip()
    keys = request.app[_KEYS_KEY]
    entry = keys.get(token)
    if entry is None and "token_prefix_match" in defects:
        for known, val in keys.items():
            if token.startswith(known):
                entry = val
                break
    if entry is None:
        return None, _error(401, CODE_AUTH_FAILED, "Developer authentication failed")
    agent, allowed = entry
    if not allowed:
        return None, _error(403, CODE_FORBIDDEN, "No permission to access this API")
    return agent, None


# --------------------------------------------------------------------------------------
# Handler
# --------------------------------------------------------------------------------------

def _read_param(request: web.Request, name: str) -> tuple[str | None, str | None]:
    """Return (value or None if absent/empty, error message or None)."""
    values = request.query.getall(name, [])
    if not values:
        return None, None
    if len(values) > 1:
        return None, f"Parameter error: '{name}' must be given at most once"
    value = values[0]
    if value.strip() == "":
        return None, None  # empty value counts as not provided
    if len(value) > MAX_ID_LENGTH:
        return None, f"Parameter error: '{name}' is too long (max {MAX_ID_LENGTH} characters)"
    if "\x00" in value:
        return None, f"Parameter error: '{name}' contains invalid characters"
    return value, None


async def get_user_cdp(request: web.Request) -> web.Response:
    defects = request.app[_DEFECTS_KEY]

    def _error(status, code, message):  # noqa: F811 - shadows module helper to apply defects
        return _error_mod(status, code, message, defects)

    agent, err = _authenticate(request)
    if err is not None:
        return err

    user_id, msg = _read_param(request, "user_id")
    if msg:
        return _error(400, CODE_PARAM_ERROR, msg)
    anonymous_id, msg = _read_param(request, "anonymous_id")
    if msg:
        return _error(400, CODE_PARAM_ERROR, msg)
    if user_id is None and anonymous_id is None:
        if "missing_params_500" in defects:
            raise KeyError("user_id")
        return _error(400, CODE_PARAM_ERROR, "Parameter error: at least one of 'user_id' or 'anonymous_id' is required")

    state = request.app[_STATE_KEY]
    records = state.get(agent, [])
    if "cross_agent_leak" in defects and user_id is not None and anonymous_id is None:
        records = [r for a in state for r in state[a]]
    if "precise_ignores_anonymous_id" in defects and user_id is not None:
        anonymous_id_filter = None
    else:
        anonymous_id_filter = anonymous_id
    data: dict[str, dict[str, Any]] = {}
    for rec in records:
        if user_id is not None and rec["user_id"] != user_id:
            continue
        if anonymous_id_filter is not None:
            if "anonymous_id_prefix_match" in defects and user_id is None:
                if not rec["anonymous_id"].startswith(anonymous_id_filter):
                    continue
            elif rec["anonymous_id"] != anonymous_id_filter:
                continue
        key = rec["user_id"]
        if "data_keyed_by_anonymous_id" in defects and user_id is None:
            key = anonymous_id
        entry = data.setdefault(key, {"user_id": rec["user_id"], "anonymous_ids": []})
        item = {
            "anonymous_id": rec["anonymous_id"],
            "conversation_type": rec["conversation_type"],
            "source_id": rec["source_id"],
        }
        if "source_id_omitted_when_null" in defects and rec["source_id"] is None:
            del item["source_id"]
        entry["anonymous_ids"].append(item)
    if "user_query_latest_binding_only" in defects and user_id is not None and anonymous_id is None:
        for entry in data.values():
            entry["anonymous_ids"] = entry["anonymous_ids"][-1:]
    return _json(200, {"code": CODE_OK, "message": "OK", "data": data})


# --------------------------------------------------------------------------------------
# Error-shaping middleware: every error (404, 405, oversize, unexpected) is JSON.
# --------------------------------------------------------------------------------------

@web.middleware
async def _errors_middleware(request: web.Request, handler):
    defects = request.app[_DEFECTS_KEY]

    def _error(status, code, message):  # noqa: F811 - shadows module helper to apply defects
        return _error_mod(status, code, message, defects)

    try:
        return await handler(request)
    except web.HTTPNotFound:
        return _error(404, CODE_NOT_FOUND, "Not found")
    except web.HTTPMethodNotAllowed as exc:
        resp = _error(405, CODE_METHOD_NOT_ALLOWED, "Method not allowed")
        resp.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
        return resp
    except web.HTTPException as exc:
        if exc.status >= 500:
            return _error(500, CODE_SERVER_ERROR, "Server error")
        if exc.status < 400:
            raise
        return _error(exc.status, exc.status * 100, exc.reason or "Error")
    except Exception:  # pragma: no cover - defensive
        return _error(500, CODE_SERVER_ERROR, "Server error")


def make_app(defects: frozenset[str] = frozenset()) -> web.Application:
    defects = frozenset(defects)
    unknown = defects - DEFECTS.keys()
    if unknown:
        raise ValueError(f"unknown defect(s): {sorted(unknown)}")
    app = web.Application(
        middlewares=[_errors_middleware],
        client_max_size=64 * 1024,
        # Let long (but not absurd) URLs reach the handler so they get the JSON 400 shape.
        handler_args={"max_line_size": 65536, "max_field_size": 16384},
    )
    app[_STATE_KEY] = copy.deepcopy(_SEED)
    app[_KEYS_KEY] = dict(_KEYS)
    app[_DEFECTS_KEY] = defects
    app.router.add_get(PATH, get_user_cdp)  # also answers HEAD
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="GPTBots get-user-cdp mock server")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    web.run_app(make_app(), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
