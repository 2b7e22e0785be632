"""GPTBots mutants (one defect each, caught by the named requirement) and over-spec variants (pass)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from cdpkit.mockserver import gptbots
from cdpkit.mockserver.vendor import Call, Handler, Rejection, Reply, Vendor
from tests.mutants import Mutant, erroring, on_refusal, replying, with_headers, with_query, without_field, wrapping

OP = "get_user_cdp"


def _token(call: Call) -> str | None:
    auth = call.headers.get("Authorization", "")
    return auth.split(" ", 1)[1].strip() if auth.startswith("Bearer ") else None


def _skip_auth(original: Handler) -> Handler:
    """No or malformed Authorization: served as the demo agent."""
    return lambda call: original(call if _token(call) else with_headers(call, Authorization=f"Bearer {gptbots.DEMO_TOKEN}"))


def _accept_unknown_tokens(original: Handler) -> Handler:
    def handler(call: Call) -> Reply:
        token = _token(call)
        if token and call.state.get("tokens", token) is None:
            call = with_headers(call, Authorization=f"Bearer {gptbots.DEMO_TOKEN}")
        return original(call)
    return handler


def _one_agent(original: Handler) -> Handler:
    """Every known, permitted token reads the demo agent: per-agent isolation broken."""
    def handler(call: Call) -> Reply:
        token = _token(call)
        record = call.state.get("tokens", token) if token else None
        if record and gptbots.PERMISSION in record.get("permissions", []):
            call = with_headers(call, Authorization=f"Bearer {gptbots.DEMO_TOKEN}")
        return original(call)
    return handler


def _no_query_ok(original: Handler) -> Handler:
    def handler(call: Call) -> Reply:
        if not call.query.get("user_id") and not call.query.get("anonymous_id"):
            gptbots.agent_for(call)
            return Reply(200, {"code": 0, "message": "OK", "data": {}})
        return original(call)
    return handler


def _precise_ignores_anon(original: Handler) -> Handler:
    def handler(call: Call) -> Reply:
        if call.query.get("user_id") and call.query.get("anonymous_id"):
            call = with_query(call, {"user_id": call.query["user_id"]})
        return original(call)
    return handler


def _crash_on_unknown_user(original: Handler) -> Handler:
    """A realistic bug: the handler assumes every user_id exists (an unknown one makes the pipeline answer 500)."""
    def handler(call: Call) -> Reply:
        user_id = call.query.get("user_id")
        if user_id:
            agent, _ = gptbots.agent_for(call)
            record: dict[str, Any] = call.state.get(f"users:{agent}", user_id)  # None for an unknown user
            record["anonymous_ids"]  # noqa: B018  (the defect: dereferences None)
        return original(call)
    return handler


def _no_permission_is_401(original: Handler) -> Handler:
    def handler(call: Call) -> Reply:
        try:
            return original(call)
        except Rejection as rejection:
            if rejection.status == 403:
                raise Rejection(401, rejection.message, ("GPT-STATUS-401",)) from None
            raise
    return handler



def _first_entry_only(call: Call, reply: Reply) -> Reply:
    if reply.status == 200 and "anonymous_id" not in call.query:
        for user in reply.body["data"].values():
            user["anonymous_ids"] = user["anonymous_ids"][:1]
    return reply


def _keyed_by_anonymous_id(call: Call, reply: Reply) -> Reply:
    if reply.status == 200:
        data = {}
        for user in reply.body["data"].values():
            key = user["anonymous_ids"][0]["anonymous_id"] if user["anonymous_ids"] else user["user_id"]
            data[key] = user
        reply.body["data"] = data
    return reply


def _error_without_code(rejection: Rejection, reply: Reply) -> Reply:
    return Reply(reply.status, {"message": rejection.message})


def _every_user(call: Call) -> dict[str, Any]:
    agent, _ = gptbots.agent_for(call)
    return {user_id: dict(record) for user_id, record in call.state.items(f"users:{agent}")}


def _anonymous_query_returns_everyone(call: Call, reply: Reply) -> Reply:
    """An anonymous_id-only query answers every user of the agent (the filter is ignored)."""
    if reply.status == 200 and call.query.get("anonymous_id") and not call.query.get("user_id"):
        reply.body["data"] = _every_user(call)
    return reply


def _nobody_means_everybody(call: Call, reply: Reply) -> Reply:
    """An anonymous_id no user has answers every user of the agent instead of nobody."""
    if reply.status == 200 and call.query.get("anonymous_id") and not call.query.get("user_id") and not reply.body["data"]:
        reply.body["data"] = _every_user(call)
    return reply


def _bare_token_accepted(original: Handler) -> Handler:
    """Authorization: <token> without the Bearer scheme is taken as the token (GPT-AUTH-SCHEME is the mock's choice)."""
    def handler(call: Call) -> Reply:
        auth = call.headers.get("Authorization", "").strip()
        if auth and " " not in auth:
            call = with_headers(call, Authorization=f"Bearer {auth}")
        return original(call)
    return handler


# Over-specification variants: other reasonable choices where the document is silent.
def _extra_fields(call: Call, reply: Reply) -> Reply:
    if reply.status == 200:
        reply.body["request_id"] = "req-1"
        for user in reply.body["data"].values():
            user["updated_at"] = "2024-01-01T00:00:00Z"
            for entry in user["anonymous_ids"]:
                entry["first_seen"] = 1700000000
    return reply


def _other_error_body(rejection: Rejection, reply: Reply) -> Reply:
    return Reply(reply.status, {"code": reply.status * 10 + 1, "message": f"error: {rejection.message}", "error": {"type": "invalid"}})


def _unknown_user_404(call: Call, reply: Reply) -> Reply:
    if reply.status == 200 and not reply.body["data"]:
        raise Rejection(404, "user not found", ("GPT-UNKNOWN-USER-EMPTY",))
    if reply.status == 200:
        reply.body["message"] = "success"
    return reply


def _unfiltered_entries(original: Handler) -> Handler:
    """An anonymous_id query lists every entry of each matching user (GPT-ANON-ENTRIES-FILTERED is an assumption)."""
    def handler(call: Call) -> Reply:
        reply = original(call)
        if reply.status == 200 and call.query.get("anonymous_id"):
            agent, _ = gptbots.agent_for(call)
            for user_id, user in reply.body["data"].items():
                user["anonymous_ids"] = call.state.get(f"users:{agent}", user_id)["anonymous_ids"]
        return reply
    return handler


def _empty_value_names_nobody(rejection: Rejection) -> Reply:
    """user_id= (or anonymous_id=) is a value like any other: no user has the empty id, so nobody is found
    (GPT-QUERY-EMPTY-VALUE is the mock's choice; a query naming neither parameter is still refused)."""
    if "GPT-QUERY-ONE-REQUIRED" in rejection.requirement_ids:
        raise rejection
    return Reply(200, {"code": 0, "message": "OK", "data": {}})


def _unreadable_body_refused(original: Handler) -> Handler:
    """A GET whose body is not JSON is refused with 400 instead of ignored (GPT-BAD-INPUT)."""
    def handler(call: Call) -> Reply:
        gptbots.agent_for(call)  # credentials first, as the mock does
        if call.raw_body.strip():
            try:
                json.loads(call.raw_body)
            except ValueError:
                raise Rejection(400, "the request body is not JSON", ("GPT-BAD-INPUT",)) from None
        return original(call)
    return handler


def _body_limit_413(vendor: Vendor) -> Vendor:
    """An oversized body answers 413 Content Too Large instead of 400."""
    errors = dataclasses.replace(vendor.input_errors, too_large=("GPT-BAD-INPUT", 413))
    return wrapping(OP, _unreadable_body_refused)(dataclasses.replace(vendor, input_errors=errors))


# Assumption entries (server, not a model) with no variant, and why no other reasonable choice exists.
NO_VARIANT: dict[str, str] = {}


MUTANTS = [
    Mutant("auth-skipped", "gptbots", ("GPT-AUTH-BEARER",), wrapping(OP, _skip_auth), "no Authorization header is served"),
    Mutant("unknown-token-accepted", "gptbots", ("GPT-STATUS-401",), wrapping(OP, _accept_unknown_tokens), "any token reads the demo agent"),
    Mutant("no-query-accepted", "gptbots", ("GPT-QUERY-ONE-REQUIRED",), wrapping(OP, _no_query_ok), "neither user_id nor anonymous_id: 200"),
    Mutant("isolation-broken", "gptbots", ("GPT-PER-AGENT",), wrapping(OP, _one_agent), "every token reads one agent"),
    Mutant("envelope-without-message", "gptbots", ("GPT-RESP-ENVELOPE",), replying(OP, without_field("message")), "success body lacks message"),
    Mutant("precise-query-ignores-anonymous-id", "gptbots", ("GPT-QUERY-BOTH",), wrapping(OP, _precise_ignores_anon),
           "user_id + anonymous_id answers as user_id alone"),
    Mutant("user-query-drops-entries", "gptbots", ("GPT-QUERY-USER-ONLY",), replying(OP, _first_entry_only), "user_id alone lists one anonymous id"),
    Mutant("keyed-by-anonymous-id", "gptbots", ("GPT-RESP-KEYED-BY-USER",), replying(OP, _keyed_by_anonymous_id), "data keyed by anonymous id"),
    Mutant("error-without-code", "gptbots", ("GPT-ERROR-BODY",), erroring(_error_without_code), "error body lacks code"),
    Mutant("anonymous-query-returns-every-user", "gptbots", ("GPT-QUERY-ANON-ONLY",), replying(OP, _anonymous_query_returns_everyone),
           "anonymous_id alone answers every user of the agent"),
    Mutant("unknown-anonymous-id-returns-every-user", "gptbots", ("GPT-QUERY-ANON-ONLY",), replying(OP, _nobody_means_everybody),
           "an anonymous_id no user has answers every user of the agent"),
    Mutant("crash-on-unknown-user", "gptbots", ("test_schemathesis",), wrapping(OP, _crash_on_unknown_user),
           "an unknown user_id answers 500", fuzz_only=True),
]

# Defects of the mock's own assumptions: caught only with --strict (tests/test_suites_gptbots.py).
STRICT_MUTANTS = [
    Mutant("forbidden-as-401", "gptbots", ("GPT-STATUS-403",), wrapping(OP, _no_permission_is_401), "a key without access answers 401"),
    Mutant("bare-token-accepted", "gptbots", ("GPT-AUTH-SCHEME",), wrapping(OP, _bare_token_accepted), "a token without Bearer is taken"),
    Mutant("anonymous-entries-unfiltered", "gptbots", ("GPT-ANON-ENTRIES-FILTERED",), wrapping(OP, _unfiltered_entries),
           "anonymous_id query lists every entry of the matching users"),
]

VARIANTS = [
    Mutant("extra-fields", "gptbots", (), replying(OP, _extra_fields), "extra fields in the success body, users and entries"),
    Mutant("other-error-body", "gptbots", (), erroring(_other_error_body), "other error codes, messages and an extra field",
           varies=("GPT-ERROR-CODES",)),
    Mutant("unknown-user-404-message-success", "gptbots", (), replying(OP, _unknown_user_404),
           "an unknown user answers 404; success says 'success'", varies=("GPT-UNKNOWN-USER-EMPTY",)),
    Mutant("unfiltered-anonymous-entries", "gptbots", (), wrapping(OP, _unfiltered_entries), "anonymous_id query lists all entries",
           varies=("GPT-ANON-ENTRIES-FILTERED",)),
    Mutant("bare-token-accepted", "gptbots", (), wrapping(OP, _bare_token_accepted), "Authorization: <token> without Bearer is accepted",
           varies=("GPT-AUTH-SCHEME",)),
    Mutant("no-permission-401", "gptbots", (), wrapping(OP, _no_permission_is_401),
           "a known key without the user-CDP permission answers 401 (not valid for this API), never 403", varies=("GPT-403-PERMISSION",)),
    Mutant("empty-value-names-nobody", "gptbots", (), wrapping(OP, on_refusal("GPT-QUERY-EMPTY-VALUE", _empty_value_names_nobody)),
           "user_id= or anonymous_id= names nobody: 200 with data {}", varies=("GPT-QUERY-EMPTY-VALUE",)),
    Mutant("unreadable-get-body-400-oversized-413", "gptbots", (), _body_limit_413,
           "a GET body that is not JSON answers 400 instead of being ignored; an oversized one 413", varies=("GPT-BAD-INPUT",)),
]
