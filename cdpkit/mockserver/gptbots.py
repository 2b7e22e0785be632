"""GPTBots (seed 003): ``GET /v1/user/get-user-cdp``, user CDP data kept apart per Agent/Workflow.

State: ``tokens`` (bearer token -> {agent, permissions}) and ``users:<agent>`` (user_id ->
{user_id, anonymous_ids: [{anonymous_id, conversation_type, source_id}]}).
"""

from __future__ import annotations

from typing import Any

from cdpkit.mockserver.store import Scope
from cdpkit.mockserver.vendor import Call, InputErrors, Rejection, Reply, Vendor, seed_string

PERMISSION = "user_cdp"
# GPT-ERROR-CODES (assumption): integer codes per HTTP status.
ERROR_CODES = {400: 40000, 401: 40127, 403: 40300, 404: 40400, 405: 40500, 413: 40000, 415: 40000}

DEMO_TOKEN = "${token}"  # the document's placeholder, accepted literally
OTHER_TOKEN = "gptbots-demo-token-agent-b"
NO_PERMISSION_TOKEN = "gptbots-demo-token-no-cdp"


def render_error(rejection: Rejection, call: Call | None) -> Reply:
    """GPT-ERROR-BODY: {code: int, message: string}."""
    code = rejection.detail.get("code") or ERROR_CODES.get(rejection.status, rejection.status * 100)
    return Reply(rejection.status, {"code": code, "message": rejection.message})


def agent_for(call: Call) -> tuple[str, dict[str, Any]]:
    """GPT-AUTH-BEARER / GPT-STATUS-401 / GPT-STATUS-403: the agent the bearer token belongs to.

    A bare token (no Bearer scheme) fails the headers schema on GPT-AUTH-SCHEME, the mock's assumption."""
    call.require_valid("headers", status=401)
    token = call.bearer_token()
    record = call.state.get("tokens", token)
    if record is None:
        raise Rejection(401, "unknown API key", ("GPT-AUTH-BEARER", "GPT-STATUS-401"))
    if PERMISSION not in record.get("permissions", [PERMISSION]):
        raise Rejection(403, "this API key may not query user CDP data", ("GPT-STATUS-403", "GPT-403-PERMISSION"))
    return record["agent"], record


def get_user_cdp(call: Call) -> Reply:
    agent, _ = agent_for(call)
    call.require_valid("query")  # GPT-QUERY-ONE-REQUIRED, GPT-QUERY-EMPTY-VALUE
    user_id = call.query.get("user_id")
    anonymous_id = call.query.get("anonymous_id")
    users = f"users:{agent}"
    if user_id is not None:
        record = call.state.get(users, user_id)
        candidates = [record] if record else []
    else:
        candidates = [record for _, record in call.state.items(users)]
    data: dict[str, Any] = {}
    for record in candidates:
        entries = record["anonymous_ids"]
        if anonymous_id is not None:  # GPT-QUERY-ANON-ONLY, GPT-QUERY-BOTH, GPT-ANON-ENTRIES-FILTERED
            entries = [e for e in entries if e["anonymous_id"] == anonymous_id]
            if not entries:
                continue
        data[record["user_id"]] = {"user_id": record["user_id"], "anonymous_ids": entries}
    return Reply(200, {"code": 0, "message": "OK", "data": data})  # GPT-RESP-ENVELOPE, GPT-UNKNOWN-USER-EMPTY


def _entry(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        raw = {"anonymous_id": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("anonymous_id"), str):
        raise ValueError(f"gptbots: an anonymous id entry is a string or {{anonymous_id, …}}, not {raw!r}")
    return {
        "anonymous_id": raw["anonymous_id"],
        "conversation_type": raw.get("conversation_type", "API"),
        "source_id": raw.get("source_id"),
    }


def load_seed(scope: Scope, section: dict[str, Any]) -> None:
    """``{tokens: {token: {agent, permissions?}}, agents: {agent: {users: {user_id: [anonymous entries]}}}}``."""
    for token, record in (section.get("tokens") or {}).items():
        agent = seed_string(record, "agent", f"gptbots: token {token!r} needs {{agent: NAME}}")
        scope.put("tokens", token, {"agent": agent, "permissions": record.get("permissions", [PERMISSION])})
    for agent, body in (section.get("agents") or {}).items():
        for user_id, entries in ((body or {}).get("users") or {}).items():
            scope.put(f"users:{agent}", user_id, {"user_id": user_id, "anonymous_ids": [_entry(e) for e in entries]})


def demo() -> dict[str, Any]:
    """The response example's two users (both seen as aId3), the curl examples' BC123, and agent B."""
    return {
        "tokens": {
            DEMO_TOKEN: {"agent": "demo-agent"},
            OTHER_TOKEN: {"agent": "demo-agent-b"},
            NO_PERMISSION_TOKEN: {"agent": "demo-agent", "permissions": []},
        },
        "agents": {
            "demo-agent": {
                "users": {
                    "user1": [{"anonymous_id": "aId3", "conversation_type": "WEB", "source_id": None}],
                    "67b58121035e5b152b0419ee": [{"anonymous_id": "aId3", "conversation_type": "C", "source_id": None}],
                    "BC123": [{"anonymous_id": "22ses32dsafdabd1w2sad", "conversation_type": "WEB", "source_id": None}],
                }
            },
            "demo-agent-b": {
                "users": {"user1": [{"anonymous_id": "bId1", "conversation_type": "TELEGRAM", "source_id": "tg-bot-1"}]}
            },
        },
    }


def credentials(scope: Scope) -> dict[str, Any]:
    tokens = dict(scope.items("tokens"))
    tenants = [{"token": t, "agent": r["agent"], "permissions": r["permissions"]} for t, r in tokens.items()]
    usable = [t for t, r in tokens.items() if PERMISSION in r["permissions"]]
    check: dict[str, Any] = {}
    for token in ([DEMO_TOKEN] if DEMO_TOKEN in usable else []) + [t for t in usable if t != DEMO_TOKEN]:
        agent = tokens[token]["agent"]
        users = dict(scope.items(f"users:{agent}"))
        if not check:
            check["token"] = token
            for user_id, record in users.items():
                if record["anonymous_ids"]:
                    check.update(user_id=user_id, anonymous_id=record["anonymous_ids"][0]["anonymous_id"])
                    break
            first_agent = agent
        elif agent != first_agent:
            check["other_token"] = token  # GPT-PER-AGENT, with a user of its own for the positive control
            for user_id, record in users.items():
                if record["anonymous_ids"]:
                    check.update(other_user_id=user_id, other_anonymous_id=record["anonymous_ids"][0]["anonymous_id"])
                    break
            break
    return {"tenants": tenants, "check": check}


VENDOR = Vendor(
    name="gptbots",
    title="GPTBots user CDP",
    handlers={"get_user_cdp": get_user_cdp},
    render_error=render_error,
    input_errors=InputErrors(
        malformed_json=("GPT-BAD-INPUT", 400),
        wrong_content_type=("GPT-BAD-INPUT", 400),
        too_large=("GPT-BAD-INPUT", 400),
        too_deep=("GPT-BAD-INPUT", 400),
    ),
    demo=demo,
    load_seed=load_seed,
    credentials=credentials,
    documented_5xx=(500,),
)
