"""GPTBots (seed 003): ``GET /v1/user/get-user-cdp``, user CDP data kept apart per Agent/Workflow.

Fixtures: against a cdpkit mock (no ``--cred`` given) each check seeds fresh users with fresh ids
into the token's agent through the control API; against anything else it uses the ``user_id`` /
``anonymous_id`` the keys name, and skips what those cannot show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from cdpkit.suites.checks import Exchange, near_misses
from cdpkit.suites.registry import requirement
from cdpkit.suites.target import CredKey, Target, VendorProfile, bearer

PATH = "/v1/user/get-user-cdp"


PROFILE = VendorProfile(
    vendor="gptbots",
    keys=(
        CredKey("token", "an API key (Authorization: Bearer ${token}) of an agent", required=True),
        CredKey("user_id", "a known user of that token's agent, given with anonymous_id"),
        CredKey("anonymous_id", "one anonymous id bound to user_id"),
        CredKey("other_token", "an API key of another Agent/Workflow that user_id never talked to (per-agent isolation: "
                "the same user talking to both agents has a record in each, which would look like a leak)"),
        CredKey("other_user_id", "a known user of other_token's agent, given with other_anonymous_id (the isolation check's positive control)"),
        CredKey("other_anonymous_id", "one anonymous id bound to other_user_id in other_token's agent"),
    ),
    fuzz_auth=bearer("token"),
)


def query(cdp: Target, token: str | None = None, auth: str | None = None, **params: str) -> Exchange:
    headers = {"Authorization": auth if auth is not None else f"Bearer {token or cdp.creds['token']}"}
    return cdp.request("GET", PATH, params=params, headers=headers)


@dataclass
class Users:
    """Known users of the token's agent: ``anon`` is bound to both ``first`` and ``second``."""

    first: str
    second: str | None
    anon: str
    first_only: str | None  # an anonymous id bound to ``first`` alone


def _agent_of(cdp: Target, token: str) -> str:
    for tenant in cdp.mock().credentials()["gptbots"]["tenants"]:
        if tenant["token"] == token:
            return tenant["agent"]
    raise LookupError(f"the mock lists no tenant for the token {token!r}")


def known_users(cdp: Target) -> Users:
    """Fresh users seeded on a mock; else the user the keys name (one user, one anonymous id)."""
    if cdp.is_mock:
        first, second = cdp.unique("gpt-user"), cdp.unique("gpt-user")
        anon, first_only = cdp.unique("gpt-anon"), cdp.unique("gpt-anon")
        agent = _agent_of(cdp, cdp.creds["token"])
        cdp.mock().seed({"gptbots": {"agents": {agent: {"users": {
            first: [{"anonymous_id": anon, "conversation_type": "WEB"}, {"anonymous_id": first_only, "conversation_type": "API", "source_id": "src-1"}],
            second: [{"anonymous_id": anon, "conversation_type": "C"}],
        }}}}})
        return Users(first, second, anon, first_only)
    user_id, anonymous_id = cdp.require("user_id", "anonymous_id")
    return Users(user_id, None, anonymous_id, None)


def data_of(cdp: Target, exchange: Exchange, *, may_name_nobody: bool = False) -> dict[str, Any]:
    """``data`` of a successful answer. One that ``may_name_nobody`` may also say so with a null ``data`` or none
    at all, besides an empty object: the document shows only an answer with users (GPT-UNKNOWN-USER-EMPTY)."""
    cdp.expect.success(exchange, "200 with {code: 0, message, data: {user_id: …}}")
    data = (exchange.body or {}).get("data") if isinstance(exchange.body, dict) else None
    if data is None and may_name_nobody:
        return {}
    cdp.expect.that(isinstance(data, dict), exchange, exchange.describe_response(), "data: an object keyed by user_id")
    return data


def anon_ids(data: dict[str, Any], user_id: str) -> list[str]:
    return [e.get("anonymous_id") for e in data.get(user_id, {}).get("anonymous_ids", [])]


def absent_or_rejected(cdp: Target, exchange: Exchange, user_id: str, documented: str) -> None:
    """The user is not shown: 200 without its key, or any 4xx (GPT-UNKNOWN-USER-EMPTY leaves it open)."""
    if cdp.profile.is_rejection(exchange):
        return
    cdp.expect.success(exchange, documented)
    data = (exchange.body or {}).get("data") or {}
    cdp.expect.that(user_id not in data, exchange, exchange.describe_response(), documented)


# Authentication ----------------------------------------------------------------------------------
@requirement("GPT-AUTH-BEARER")
def test_missing_authorization_is_unauthorized(cdp: Target) -> None:
    exchange = cdp.request("GET", PATH, params={"user_id": cdp.unique("gpt-user")})
    cdp.expect.status(exchange, 401, "401 (ไม่ได้รับอนุญาต): the request carries no Authorization: Bearer ${token}")


@requirement("GPT-AUTH-SCHEME")
def test_token_outside_bearer_scheme_is_unauthorized(cdp: Target) -> None:
    exchange = query(cdp, auth=cdp.creds["token"], user_id=cdp.unique("gpt-user"))
    cdp.expect.status(exchange, 401, "401: the token must be sent as Authorization: Bearer ${token}")


@requirement("GPT-STATUS-401")
def test_unknown_token_is_401(cdp: Target) -> None:
    exchange = query(cdp, token=cdp.unique("not-a-token"), user_id=cdp.unique("gpt-user"))
    cdp.expect.status(exchange, 401, "401 (ไม่ได้รับอนุญาต) for a token no API Key page issued")
    for near in near_misses(cdp.creds["token"]):
        exchange = query(cdp, token=near, user_id=cdp.unique("gpt-user"))
        cdp.expect.status(exchange, 401, f"401 for a token one character off the real one ({len(near)} characters)")


@requirement("GPT-STATUS-403", relies_on=("GPT-403-PERMISSION",))
def test_token_without_access_is_403(cdp: Target) -> None:
    mock = cdp.mock()
    token = cdp.unique("gpt-no-access")
    mock.seed({"gptbots": {"tokens": {token: {"agent": _agent_of(cdp, cdp.creds["token"]), "permissions": []}}}})
    exchange = query(cdp, token=token, user_id=cdp.unique("gpt-user"))
    cdp.expect.status(exchange, 403, "403 (ไม่มีสิทธิ์เข้าถึง) for a known key without access to user CDP data")
    cdp.expect.conforms(exchange, "error.json", "an error body {code: int, message: string}")


@requirement("GPT-ERROR-BODY")
def test_error_answers_carry_code_and_message(cdp: Target) -> None:
    for exchange in (query(cdp, token=cdp.unique("not-a-token"), user_id="x"), query(cdp)):
        cdp.expect.rejected(exchange)
        cdp.expect.conforms(exchange, "error.json", "an error body {code: int, message: string}")


# Query parameters --------------------------------------------------------------------------------
@requirement("GPT-QUERY-ONE-REQUIRED")
def test_no_query_parameter_is_400(cdp: Target) -> None:
    exchange = query(cdp)
    cdp.expect.status(exchange, 400, "400 (ข้อผิดพลาดของพารามิเตอร์): neither user_id nor anonymous_id given")


@requirement("GPT-QUERY-OPTIONAL-EACH")
def test_either_parameter_alone_is_a_valid_query(cdp: Target) -> None:
    users = known_users(cdp)
    data_of(cdp, query(cdp, user_id=users.first))
    data_of(cdp, query(cdp, anonymous_id=users.anon))


@requirement("GPT-ENDPOINT")
def test_endpoint_answers_a_known_user(cdp: Target) -> None:
    users = known_users(cdp)
    exchange = query(cdp, user_id=users.first)
    cdp.expect.status(exchange, 200, "GET /v1/user/get-user-cdp answers 200 for a known user")


@requirement("GPT-STATUS-200")
def test_success_is_200(cdp: Target) -> None:
    users = known_users(cdp)
    for exchange in (query(cdp, user_id=users.first), query(cdp, anonymous_id=users.anon)):
        cdp.expect.status(exchange, 200, "200 (สำเร็จ) for a successful query")


@requirement("GPT-QUERY-USER-ONLY")
def test_user_id_alone_returns_all_the_users_data(cdp: Target) -> None:
    users = known_users(cdp)
    exchange = query(cdp, user_id=users.first)
    data = data_of(cdp, exchange)
    expected = {users.anon} | ({users.first_only} if users.first_only else set())
    found = set(anon_ids(data, users.first))
    cdp.expect.that(expected <= found, exchange, exchange.describe_response(),
                    f"data[{users.first!r}] lists every anonymous id bound to the user: {sorted(expected)}")


@requirement("GPT-QUERY-ANON-ONLY")
def test_anonymous_id_alone_returns_its_users(cdp: Target) -> None:
    users = known_users(cdp)
    exchange = query(cdp, anonymous_id=users.anon)
    data = data_of(cdp, exchange)
    expected = [u for u in (users.first, users.second) if u]
    ok = all(u in data and users.anon in anon_ids(data, u) for u in expected)
    cdp.expect.that(ok, exchange, exchange.describe_response(), f"the users bound to {users.anon!r}: {expected}, each listing it")


@requirement("GPT-QUERY-ANON-ONLY")
def test_anonymous_id_alone_returns_only_its_users(cdp: Target) -> None:
    users = known_users(cdp)
    for anon in (users.anon, users.first_only):
        if anon is None:
            continue
        exchange = query(cdp, anonymous_id=anon)
        unrelated = sorted(k for k, v in data_of(cdp, exchange).items() if anon not in anon_ids({k: v}, k))
        cdp.expect.that(not unrelated, exchange, exchange.describe_response(),
                        f"only users related to {anon!r}: each user listed has it among its anonymous_ids (not {unrelated})")


@requirement("GPT-QUERY-ANON-ONLY")
def test_unknown_anonymous_id_returns_nobody(cdp: Target) -> None:
    users = known_users(cdp)  # the agent has users, so an answer that lists them all is seen
    anon = cdp.unique("gpt-anon-nobody")
    exchange = query(cdp, anonymous_id=anon)
    if cdp.profile.is_rejection(exchange):
        return  # GPT-UNKNOWN-USER-EMPTY leaves a 4xx for "nobody" open
    data = data_of(cdp, exchange, may_name_nobody=True)
    cdp.expect.that(not data, exchange, exchange.describe_response(), f"no user: no user is related to {anon!r}")
    # the known id cut short names nobody either: a server matching a prefix answers its users (seen in one)
    exchange = query(cdp, anonymous_id=users.anon[:-1])
    if not cdp.profile.is_rejection(exchange):
        data = data_of(cdp, exchange, may_name_nobody=True)
        cdp.expect.that(not any(users.anon in anon_ids(data, u) for u in data), exchange, exchange.describe_response(),
                        f"nobody bound to {users.anon!r} for {users.anon[:-1]!r}, its last character cut")


@requirement("GPT-QUERY-BOTH")
def test_both_parameters_make_a_precise_query(cdp: Target) -> None:
    users = known_users(cdp)
    exchange = query(cdp, user_id=users.first, anonymous_id=users.anon)
    data = data_of(cdp, exchange)
    cdp.expect.that(set(data) == {users.first} and users.anon in anon_ids(data, users.first), exchange,
                    exchange.describe_response(), f"exactly the user {users.first!r}, listing {users.anon!r}")
    unbound = cdp.unique("gpt-anon")
    absent_or_rejected(cdp, query(cdp, user_id=users.first, anonymous_id=unbound), users.first,
                       f"no user: {unbound!r} is not bound to {users.first!r}")


def other_agent_user(cdp: Target, other: str, user_id: str) -> tuple[str, str] | None:
    """A user of the other token's agent: on a mock, ``user_id`` itself seeded there with an anonymous id of
    its own (the same user in two agents, as the document puts it); elsewhere the one the keys name, if any."""
    if cdp.is_mock:
        anon = cdp.unique("gpt-anon-other")
        cdp.mock().seed({"gptbots": {"agents": {_agent_of(cdp, other): {"users": {
            user_id: [{"anonymous_id": anon, "conversation_type": "TELEGRAM", "source_id": "tg-bot-2"}]}}}}})
        return user_id, anon
    if cdp.has("other_user_id") and cdp.has("other_anonymous_id"):
        return cdp.creds["other_user_id"], cdp.creds["other_anonymous_id"]
    return None


def leaked(exchange: Exchange, hidden: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (user_id, anonymous_id) bindings of ``hidden`` an answer shows (a refusal shows none). Bindings,
    not bare ids: an anonymous id comes from an external platform, so another agent may have the same one
    bound to a user of its own."""
    data = exchange.body.get("data") if exchange.ok and isinstance(exchange.body, dict) else None
    if not isinstance(data, dict):
        return []
    return sorted(hidden & {(u, a) for u in data if isinstance(data[u], dict) for a in anon_ids(data, u)})


@requirement("GPT-PER-AGENT")
def test_another_agent_does_not_see_the_user(cdp: Target) -> None:
    other = cdp.require("other_token")
    users = known_users(cdp)
    theirs = other_agent_user(cdp, other, users.first)
    mine = {(users.first, a) for a in (users.anon, users.first_only) if a}
    # The positive control: the other token must work on its own agent first, or the check proves nothing.
    # With a user of that agent known (a mock, or --cred other_user_id/other_anonymous_id) it must read it;
    # otherwise it must at least be accepted (200) for a look-up.
    if theirs is None:
        control = query(cdp, token=other, user_id=users.first)
        works, wanted = control.status == 200, "a 200 look-up"
    else:
        control = query(cdp, token=other, user_id=theirs[0])
        works, wanted = control.status == 200 and theirs[1] in anon_ids(control.body.get("data") or {}, theirs[0]), \
            f"its own user {theirs[0]!r} with {theirs[1]!r}"
    cdp.expect.that(not leaked(control, mine), control, control.describe_response(),
                    f"another agent's token sees none of this agent's bindings {sorted(mine)} (stored separately per Agent/Workflow)")
    if not works:
        pytest.skip(f"other_token did not answer {wanted} ({control.describe_response()}): "
                    "isolation proved nothing without a working second agent")
    checks = [(query(cdp, token=other, user_id=users.first), mine, users.first),
              (query(cdp, token=other, anonymous_id=users.anon), mine, users.first)]
    if theirs is not None:
        checks += [(query(cdp, user_id=theirs[0]), {theirs}, theirs[0]), (query(cdp, anonymous_id=theirs[1]), {theirs}, theirs[0])]
    for exchange, hidden, user in checks:
        shown = leaked(exchange, hidden)
        cdp.expect.that(not shown, exchange, exchange.describe_response(),
                        f"each token sees only its own agent's data of {user!r}; leaked: {shown} (unless {user!r} also "
                        "talked to the other agent through the same platform id: then name an other_token whose agent never saw it)")


# Response shape ----------------------------------------------------------------------------------
@requirement("GPT-RESP-ENVELOPE")
def test_success_envelope(cdp: Target) -> None:
    users = known_users(cdp)
    exchange = query(cdp, user_id=users.first)
    body = exchange.body if isinstance(exchange.body, dict) else {}
    ok = exchange.ok and body.get("code") == 0 and isinstance(body.get("message"), str) and isinstance(body.get("data"), dict)
    cdp.expect.that(ok, exchange, exchange.describe_response(), '{"code": 0, "message": "OK", "data": {…}}')


@requirement("GPT-RESP-KEYED-BY-USER")
def test_data_is_keyed_by_user_id(cdp: Target) -> None:
    users = known_users(cdp)
    exchange = query(cdp, anonymous_id=users.anon)
    data = data_of(cdp, exchange)
    wrong = [k for k, v in data.items() if not isinstance(v, dict) or v.get("user_id") != k]
    cdp.expect.that(bool(data) and not wrong, exchange, exchange.describe_response(),
                    "data: {user_id: {user_id: <the same id>, anonymous_ids: […]}}")


@requirement("GPT-RESP-FIELDS")
def test_user_fields(cdp: Target) -> None:
    users = known_users(cdp)
    exchange = query(cdp, user_id=users.first)
    data_of(cdp, exchange)
    cdp.expect.conforms(exchange, "user_cdp_response.json", "user_id (string), anonymous_ids [{anonymous_id, conversation_type, source_id}]")
    cdp.expect.that(bool(anon_ids(exchange.body["data"], users.first)), exchange, exchange.describe_response(),
                    f"data[{users.first!r}].anonymous_ids lists the user's anonymous ids")


@requirement("GPT-SOURCE-ID-NULL")
def test_source_id_is_string_or_null(cdp: Target) -> None:
    users = known_users(cdp)
    exchange = query(cdp, user_id=users.first)
    entries = data_of(cdp, exchange).get(users.first, {}).get("anonymous_ids", [])
    bad = [e for e in entries if not isinstance(e, dict) or not isinstance(e.get("source_id"), (str, type(None)))]
    cdp.expect.that(bool(entries) and not bad, exchange, exchange.describe_response(), "source_id: a string or null")


# Assumptions (run only with --strict) ------------------------------------------------------------
@requirement("GPT-ERROR-CODES")
def test_error_codes(cdp: Target) -> None:
    for exchange, code in ((query(cdp), 40000), (query(cdp, token=cdp.unique("not-a-token"), user_id="x"), 40127)):
        body = exchange.body if isinstance(exchange.body, dict) else {}
        cdp.expect.that(body.get("code") == code, exchange, exchange.describe_response(), f"code {code}")


@requirement("GPT-QUERY-EMPTY-VALUE")
def test_empty_value_is_400(cdp: Target) -> None:
    cdp.expect.status(query(cdp, user_id=""), 400, "400: an empty user_id is not a value")


@requirement("GPT-UNKNOWN-USER-EMPTY")
def test_unknown_user_is_empty_or_4xx(cdp: Target) -> None:
    user_id = cdp.unique("gpt-nobody")
    absent_or_rejected(cdp, query(cdp, user_id=user_id), user_id, "200 with data {} (or any 4xx)")


@requirement("GPT-ANON-ENTRIES-FILTERED")
def test_anonymous_query_lists_only_that_id(cdp: Target) -> None:
    users = known_users(cdp)
    exchange = query(cdp, anonymous_id=users.anon)
    data = data_of(cdp, exchange)
    cdp.expect.that(anon_ids(data, users.first) == [users.anon], exchange, exchange.describe_response(),
                    f"data[{users.first!r}].anonymous_ids lists only the entry of {users.anon!r}")


@requirement("GPT-BAD-INPUT")
def test_unreadable_body_on_get_is_ignored(cdp: Target) -> None:
    headers = {"Authorization": f"Bearer {cdp.creds['token']}", "Content-Type": "application/json"}
    params = {"user_id": cdp.unique("gpt-user")}
    plain = cdp.request("GET", PATH, params=params, headers=headers)
    exchange = cdp.request("GET", PATH, params=params, headers=headers, data="{not json")
    cdp.expect.status(exchange, plain.status, "the same answer as the same GET without a body")
