"""GPTBots through the real HTTP stack: the document's examples and each catalog entry the mock enforces."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
import requests

from cdpkit.mockserver.pytest_plugin import MockServer
from cdpkit.schemas import bundle, load
from tests.mock_fixtures import one_vendor_mock

PATH = "/v1/user/get-user-cdp"
TOKEN = "${token}"  # the document's placeholder, accepted literally by the demo
RESPONSE_EXAMPLE = load("gptbots", "user_cdp_response.json")["examples"][0]


server, fresh = one_vendor_mock("gptbots")


def get(server: MockServer, auth: str | None = f"Bearer {TOKEN}", **params: str) -> requests.Response:
    headers = {} if auth is None else {"Authorization": auth}
    return requests.get(server.url + PATH, params=params, headers=headers, timeout=10)


def conforms(body: Any, file: str) -> None:
    jsonschema.Draft202012Validator(bundle("gptbots", file)).validate(body)


def refused(resp: requests.Response, status: int, code: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    conforms(resp.json(), "error.json")
    assert resp.json()["code"] == code
    return resp.json()


@pytest.mark.parametrize(
    "params",
    [{"user_id": "BC123"}, {"anonymous_id": "22ses32dsafdabd1w2sad"},
     {"user_id": "BC123", "anonymous_id": "22ses32dsafdabd1w2sad"}],
    ids=["by-user_id", "by-anonymous_id", "by-both"],
)
def test_the_three_curl_examples_GPT_ENDPOINT(server, params):
    resp = get(server, **params)
    assert resp.status_code == 200
    conforms(resp.json(), "user_cdp_response.json")
    assert resp.json()["data"]["BC123"]["anonymous_ids"][0]["anonymous_id"] == "22ses32dsafdabd1w2sad"


def test_the_response_example_is_reproduced_GPT_RESP_ENVELOPE(server):
    assert get(server, anonymous_id="aId3").json() == RESPONSE_EXAMPLE


@pytest.mark.parametrize("auth", [None, "Bearer", "Basic abc", TOKEN], ids=["absent", "empty", "basic", "no-scheme"])
def test_missing_or_malformed_bearer_GPT_AUTH_BEARER(server, auth):
    refused(get(server, auth=auth, user_id="BC123"), 401, 40127)


def test_unknown_token_GPT_STATUS_401(server):
    body = refused(get(server, auth="Bearer not-a-key", user_id="BC123"), 401, 40127)
    assert "unknown" in body["message"]


def test_token_without_permission_GPT_STATUS_403(server):
    refused(get(server, auth="Bearer gptbots-demo-token-no-cdp", user_id="BC123"), 403, 40300)


def test_no_query_parameter_GPT_QUERY_ONE_REQUIRED(server):
    body = refused(get(server), 400, 40000)
    assert "user_id" in body["message"] and "anonymous_id" in body["message"]
    assert "GPT-QUERY-ONE-REQUIRED" in server.requests()[0]["violations"]


@pytest.mark.parametrize("params", [{"user_id": ""}, {"anonymous_id": ""}])
def test_empty_value_GPT_QUERY_EMPTY_VALUE(server, params):
    body = refused(get(server, **params), 400, 40000)
    assert next(iter(params)) in body["message"]
    assert server.requests()[0]["violations"] == ["GPT-QUERY-EMPTY-VALUE"]


def test_user_only_returns_every_anonymous_id_GPT_QUERY_USER_ONLY(server):
    server.seed({"gptbots": {"agents": {"demo-agent": {"users": {"u-many": ["a-1", "a-2", "a-3"]}}}}})
    data = get(server, user_id="u-many").json()["data"]
    assert list(data) == ["u-many"]
    assert [e["anonymous_id"] for e in data["u-many"]["anonymous_ids"]] == ["a-1", "a-2", "a-3"]


def test_anonymous_only_returns_every_user_of_it_GPT_QUERY_ANON_ONLY_GPT_ANON_ENTRIES_FILTERED(server):
    server.seed({"gptbots": {"agents": {"demo-agent": {"users": {"u-x": ["shared", "own-x"], "u-y": ["shared"]}}}}})
    data = get(server, anonymous_id="shared").json()["data"]
    assert set(data) == {"u-x", "u-y"}
    assert [e["anonymous_id"] for e in data["u-x"]["anonymous_ids"]] == ["shared"]


def test_both_is_a_precise_match_GPT_QUERY_BOTH(server):
    server.seed({"gptbots": {"agents": {"demo-agent": {"users": {"u-x": ["shared"], "u-y": ["shared"]}}}}})
    assert list(get(server, user_id="u-x", anonymous_id="shared").json()["data"]) == ["u-x"]
    assert get(server, user_id="u-x", anonymous_id="someone-else").json()["data"] == {}


def test_unknown_user_is_an_empty_answer_GPT_UNKNOWN_USER_EMPTY(server):
    resp = get(server, user_id="nobody")
    assert resp.status_code == 200 and resp.json() == {"code": 0, "message": "OK", "data": {}}


def test_data_is_kept_per_agent_GPT_PER_AGENT(server):
    mine = get(server, user_id="user1").json()["data"]["user1"]["anonymous_ids"]
    theirs = get(server, auth="Bearer gptbots-demo-token-agent-b", user_id="user1").json()["data"]["user1"]["anonymous_ids"]
    assert [e["anonymous_id"] for e in mine] == ["aId3"]
    assert [e["anonymous_id"] for e in theirs] == ["bId1"]
    assert get(server, auth="Bearer gptbots-demo-token-agent-b", user_id="BC123").json()["data"] == {}


def test_answers_are_keyed_by_user_id_with_documented_fields_GPT_RESP_KEYED_BY_USER_GPT_RESP_FIELDS(server):
    data = get(server, anonymous_id="aId3").json()["data"]
    for key, user in data.items():
        assert user["user_id"] == key
        for entry in user["anonymous_ids"]:
            assert set(entry) == {"anonymous_id", "conversation_type", "source_id"}


def test_source_id_may_be_null_or_text_GPT_SOURCE_ID_NULL(server):
    mine = get(server, user_id="user1").json()["data"]["user1"]["anonymous_ids"][0]
    theirs = get(server, auth="Bearer gptbots-demo-token-agent-b", user_id="user1").json()["data"]["user1"]["anonymous_ids"][0]
    assert mine["source_id"] is None and theirs["source_id"] == "tg-bot-1"


def test_unreadable_get_body_is_ignored_GPT_BAD_INPUT(server):
    plain = get(server, user_id="BC123")
    with_body = requests.get(server.url + PATH, params={"user_id": "BC123"}, data="{not json",
                             headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}, timeout=10)
    assert with_body.status_code == plain.status_code == 200 and with_body.json() == plain.json()


def test_documented_500_is_reachable_through_the_fault_api_GPT_STATUS_500(server):
    server.fault(PATH, status=500, count=1)
    refused(get(server, user_id="BC123"), 500, 50000)
    assert get(server, user_id="BC123").status_code == 200


def test_a_refused_request_changes_nothing(server):
    before = server.state("gptbots")
    get(server, auth="Bearer nope", user_id="BC123")
    get(server)
    assert server.state("gptbots") == before
