"""Clean-room GPTBots "get-user-cdp" server (GET /v1/user/get-user-cdp), written from the Thai vendor page only.

Data is kept per Agent/Workflow: every API key belongs to exactly one agent, and a query only ever sees the users
of that agent. ``make_app(defects)`` builds a fresh app; each defect name switches on one realistic bug.
"""
from __future__ import annotations

import copy
import json
import uuid

from aiohttp import web

PATH = "/v1/user/get-user-cdp"

DEFECTS: dict[str, str] = {
    "crash_on_unknown_user": (
        "หากระบุเฉพาะ user_id จะสอบถามข้อมูลที่ผูกกับ user ทั้งหมด"
        " :: a user_id that does not exist in the agent raises an unhandled KeyError, so the server answers"
        " HTTP 500 instead of a normal (empty) answer"),
    "anon_filter_too_broad": (
        "หากระบุเฉพาะ anonymous_id จะสอบถามข้อมูลผู้ใช้ที่เกี่ยวข้องกับ anonymous ID นั้น"
        " :: an anonymous_id-only query drops the anonymous-id filter and returns every user of the agent"),
    "no_query_ignored": (
        "ต้องระบุอย่างน้อย 1 ค่าใน user_id หรือ anonymous_id มิฉะนั้นจะเกิดข้อผิดพลาดของพารามิเตอร์"
        " :: a request with neither user_id nor anonymous_id answers 200 {code: 0, data: {}} instead of"
        " the 400 parameter error"),
    "agents_not_isolated": (
        "ข้อมูล User CDP จะถูกจัดเก็บแยกกันในแต่ละ Agent/Workflow หมายความว่าข้อมูลของผู้ใช้คนเดียวกันจะถูกแยกออกจากกันในแต่ละ Agent/Workflow"
        " :: the look-up forgets the agent filter and searches the users of every agent, so one API key"
        " reads (and merges in) another agent's users"),
    "precise_ignores_anon": (
        "หากระบุทั้ง user_id และ anonymous_id จะเป็นการสอบถามแบบแม่นยำ"
        " :: when both ids are given the anonymous_id is ignored: the user is returned with all its anonymous"
        " ids even when the given anonymous_id is not bound to it"),
    "auth_not_checked": (
        "ใช้ Authorization: Bearer ${token} สำหรับยืนยันตัวตน รับคีย์ ${token} ได้จากหน้า API Key"
        " :: a missing, malformed or unknown API key is not refused with 401; the request silently falls back"
        " to the first agent's data and answers 200"),
}

CHOICES: list[str] = [
    "Unknown user_id / unknown anonymous_id / an id pair that does not match: HTTP 200, code 0, data = {} (empty"
    " object), not a 404 (the status table has no 404).",
    "Precise query (both ids): the user is returned only if that anonymous_id is bound to it, and its"
    " anonymous_ids list is narrowed to the entries with that anonymous_id.",
    "user_id-only query returns the user with ALL its bound anonymous ids; anonymous_id-only query returns every"
    " user of the agent bound to that id, each with its full anonymous_ids list (not narrowed).",
    "Users inside `data` are ordered by most recently created first (not alphabetically, not insertion order);"
    " anonymous_ids inside a user are ordered most recently bound first.",
    "Success body carries an extra top-level field `request_id` (random hex) next to code/message/data; each user"
    " object carries an extra integer field `created_at` (epoch milliseconds).",
    "source_id is null for web/API style conversation types and a string for channel types (TELEGRAM, SLACK,"
    " WHATSAPP_META, DISCORD) where a bot/workspace identifies the source.",
    "Empty-string parameters (`user_id=`) count as not given; if both end up absent that is the 400 parameter"
    " error. Surrounding whitespace is NOT trimmed and ids are matched case-sensitively and exactly.",
    "A repeated query parameter uses its first value; unknown extra query parameters are ignored.",
    "Error bodies are {code, message, data: null} with codes 40000 (parameter error, HTTP 400), 40127"
    " (authentication failed, HTTP 401), 40300 (key disabled, HTTP 403); message texts are my own wording.",
    "The `Bearer` scheme word is matched case-insensitively; missing header, another scheme, an empty token or an"
    " unknown key are all HTTP 401.",
    "HTTP 403 is used for a known but disabled API key (an extra key not listed in CREDS).",
    "An agent's user may have an empty anonymous_ids list (a user with no bound id yet); it is only found by"
    " user_id.",
    "The same user_id string may exist in two agents with different data (agent B also has `user_lonely1`).",
]

CREDS: dict[str, str] = {
    "token": "app-A7kQ2mZx9RvLcT4pWn3s",
    "user_id": "BC123",
    "anonymous_id": "22ses32dsafdabd1w2sad",
    "other_token": "app-B5hD8uYe1JqFgN6oKr0v",
}

DISABLED_TOKEN = "app-Z0disabledKey000000"

# agent id -> list of (user_id, created_at ms, [(anonymous_id, conversation_type, source_id), ...])
# anonymous-id entries are listed in binding order (oldest first).
_SEED: dict[str, list] = {
    "agent-A": [
        ("BC123", 1717000000000, [
            ("22ses32dsafdabd1w2sad", "WEB", None),
            ("tg_5550123", "TELEGRAM", "tgbot-alpha"),
            ("api_bc123_x", "API", None),
        ]),
        ("67b58121035e5b152b0419ee", 1717100000000, [
            ("22ses32dsafdabd1w2sad", "EMBED", None),
            ("aId3", "WIDGET", None),
        ]),
        ("user_lonely1", 1717200000000, [
            ("aIdLonely", "WIDGET", None),
        ]),
        ("user_lonely2", 1717300000000, [
            ("wa_66812345678", "WHATSAPP_META", "waba-01"),
        ]),
        ("u-no-anon", 1717400000000, []),
    ],
    "agent-B": [
        ("b_user_1", 1718000000000, [
            ("22ses32dsafdabd1w2sad", "WEB", None),
            ("b_slack_77", "SLACK", "slack-ws-9"),
        ]),
        ("b_user_2", 1718100000000, [
            ("b_discord_5", "DISCORD", "discord-g1"),
        ]),
        ("user_lonely1", 1718200000000, [
            ("b_lonely_anon", "API", None),
        ]),
    ],
    "agent-Z": [
        ("z_user", 1719000000000, [("z_anon", "WEB", None)]),
    ],
}

_KEYS = {
    CREDS["token"]: "agent-A",
    CREDS["other_token"]: "agent-B",
    DISABLED_TOKEN: "agent-Z",
}
_DISABLED = {DISABLED_TOKEN}


def _json(status: int, body: dict) -> web.Response:
    return web.Response(status=status, text=json.dumps(body, ensure_ascii=False),
                        content_type="application/json")


def _error(status: int, code: int, message: str) -> web.Response:
    return _json(status, {"code": code, "message": message, "data": None})


class _Store:
    def __init__(self) -> None:
        # agent -> user_id -> {"user_id", "created_at", "anonymous_ids": [...]}
        self.agents: dict[str, dict[str, dict]] = {}
        for agent, users in _SEED.items():
            table: dict[str, dict] = {}
            for uid, created, anons in users:
                table[uid] = {
                    "user_id": uid,
                    "created_at": created,
                    "anonymous_ids": [
                        {"anonymous_id": a, "conversation_type": t, "source_id": s} for a, t, s in anons
                    ],
                }
            self.agents[agent] = table


def _present(user: dict, only_anon: str | None = None) -> dict:
    entries = list(reversed(user["anonymous_ids"]))  # most recently bound first
    if only_anon is not None:
        entries = [e for e in entries if e["anonymous_id"] == only_anon]
    return {
        "user_id": user["user_id"],
        "anonymous_ids": [dict(e) for e in entries],
        "created_at": user["created_at"],
    }


def _merge_tables(tables: list[dict[str, dict]]) -> dict[str, dict]:
    """Defect helper: one flat view over several agents, same user_id merged (what a missing agent filter does)."""
    merged: dict[str, dict] = {}
    for table in tables:
        for uid, user in table.items():
            if uid in merged:
                merged[uid]["anonymous_ids"].extend(copy.deepcopy(user["anonymous_ids"]))
            else:
                merged[uid] = copy.deepcopy(user)
    return merged


def make_app(defects: frozenset[str] = frozenset()) -> web.Application:
    unknown = set(defects) - set(DEFECTS)
    if unknown:
        raise ValueError(f"unknown defects: {sorted(unknown)}")
    defects = frozenset(defects)
    store = _Store()

    def authenticate(request: web.Request) -> tuple[str | None, web.Response | None]:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or token not in _KEYS:
            if "auth_not_checked" in defects:
                return "agent-A", None
            return None, _error(401, 40127, "Developer authentication failed: invalid or missing API key")
        if token in _DISABLED:
            if "auth_not_checked" in defects:
                return _KEYS[token], None
            return None, _error(403, 40300, "This API key has been disabled and has no access")
        return _KEYS[token], None

    async def get_user_cdp(request: web.Request) -> web.Response:
        agent, err = authenticate(request)
        if err is not None:
            return err
        user_id = request.query.get("user_id") or None
        anon_id = request.query.get("anonymous_id") or None

        if user_id is None and anon_id is None:
            if "no_query_ignored" not in defects:
                return _error(400, 40000, "Parameter error: at least one of user_id, anonymous_id is required")
            return _json(200, {"code": 0, "message": "OK", "data": {},
                               "request_id": uuid.uuid4().hex})

        if "agents_not_isolated" in defects:
            table = _merge_tables(list(store.agents.values()))
        else:
            table = store.agents.get(agent, {})

        found: list[dict] = []
        if user_id is not None:
            if "crash_on_unknown_user" in defects:
                user = table[user_id]  # KeyError -> unhandled -> HTTP 500
            else:
                user = table.get(user_id)
            if user is not None:
                if anon_id is None or "precise_ignores_anon" in defects:
                    found.append(_present(user))
                elif any(e["anonymous_id"] == anon_id for e in user["anonymous_ids"]):
                    found.append(_present(user, only_anon=anon_id))
        else:
            for user in table.values():
                if "anon_filter_too_broad" in defects or any(
                        e["anonymous_id"] == anon_id for e in user["anonymous_ids"]):
                    found.append(_present(user))

        found.sort(key=lambda u: u["created_at"], reverse=True)
        data = {u["user_id"]: u for u in found}
        return _json(200, {"code": 0, "message": "OK", "data": data, "request_id": uuid.uuid4().hex})

    app = web.Application()
    app.router.add_get(PATH, get_user_cdp)
    return app


if __name__ == "__main__":  # pragma: no cover - manual run helper
    import sys

    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    chosen = frozenset(a for a in sys.argv[2:])
    web.run_app(make_app(chosen), host="127.0.0.1", port=port)
