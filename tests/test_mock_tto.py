"""The TTO mock through the real HTTP stack: the document's curl examples, one test per catalog entry
the mock enforces, bad input, rejected requests changing nothing, and isolation between sources.

State has no public read path in the document, so tests observe it through /__mock/state/tto.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import requests

import cdpkit.mockserver.tto as tto
from cdpkit.mockserver.pytest_plugin import MockServer
from tests.mock_fixtures import one_vendor_mock

KEY = "your_api_key_here"
OTHER_KEY = tto.OTHER_KEY
SOURCE, OTHER_SOURCE = "demo-http-api", "demo-http-api-b"
HEADERS = {"accept": "application/json", "Content-Type": "application/json"}

# The document's three -d bodies, verbatim.
TRACK_EXAMPLE = {
    "type": "track",
    "api_key": "your_api_key_here",
    "msg_id": "unique_message_id_123",
    "user_id": "user_12345",
    "event": "Purchase",
    "properties": {"revenue": 299.99, "currency": "USD", "product_id": "PROD_001"},
    "timestamp": "1767174918",
    "traits": {"name": "alelos", "email": "1234567@123.com", "phone": "12345678"},
}
IDENTIFY_EXAMPLE = {
    "type": "identify",
    "api_key": "your_api_key_here",
    "msg_id": "unique_identify_id_456",
    "user_id": "user_12345",
    "traits": {"email": "user@example.com", "name": "張三", "phone": "8613812345678", "company": "示例公司"},
    "timestamp": "1767174918",
}
ALIAS_EXAMPLE = {
    "type": "alias",
    "api_key": "your_api_key_here",
    "msg_id": "unique_alias_id_789",
    "user_id": "registered_user_123",
    "previous_id": "anonymous_session_456",
    "timestamp": "1767174918",
}
EXAMPLES = {"track": TRACK_EXAMPLE, "identify": IDENTIFY_EXAMPLE, "alias": ALIAS_EXAMPLE}


server, fresh = one_vendor_mock("tto")


def post(server: MockServer, op: str, body: Any = None, **kwargs: Any) -> requests.Response:
    data = kwargs.pop("data", None)
    if data is None and body is not None:
        data = json.dumps(body, ensure_ascii=False).encode()
    return requests.post(f"{server.url}/v1/{op}", data=data, headers=kwargs.pop("headers", HEADERS), timeout=10, **kwargs)


def message(op: str, **changes: Any) -> dict[str, Any]:
    """A copy of the document's example for ``op`` with fields changed (None removes a field)."""
    body = copy.deepcopy(EXAMPLES[op])
    for field, value in changes.items():
        if value is None:
            body.pop(field, None)
        else:
            body[field] = value
    return body


def source_state(server: MockServer, sid: str = SOURCE) -> dict[str, Any]:
    return server.state("tto")["sources"][sid]


def profile_of(server: MockServer, identifier: str, sid: str = SOURCE) -> dict[str, Any]:
    state = source_state(server, sid)
    return state["profiles"][state["ids"][identifier]]


def assert_refused(resp: requests.Response, status: int, requirement: str) -> None:
    """The mock's error envelope (TTO-ERROR-BODY) names the broken requirement."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["success"] is False and body["message"]
    assert requirement in body["requirements"], body


# -- the document's examples -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "op, requirement",
    [("track", "TTO-TRACK-ENDPOINT"), ("identify", "TTO-IDENTIFY-ENDPOINT"), ("alias", "TTO-ALIAS-ENDPOINT")],
)
def test_curl_example_accepted(server: MockServer, op: str, requirement: str) -> None:
    resp = post(server, op, EXAMPLES[op])
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"success": True, "msg_id": EXAMPLES[op]["msg_id"]}  # TTO-RESPONSE-SUCCESS
    assert EXAMPLES[op]["msg_id"] in source_state(server)["seen_msg_ids"]


@pytest.mark.requirement("TTO-SETTINGS-ENDPOINT")
def test_settings_curl_example(server: MockServer) -> None:
    resp = requests.post(f"{server.url}/v1/settings?api_key=your_api_key_here", headers=HEADERS, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.json()["source"] == {"id": SOURCE, "name": "Demo HTTP API source", "type": "HTTP API"}  # TTO-SETTINGS-BODY
    assert resp.json()["destinations"] == [{"name": "TTO CDP", "enabled": True}]


def test_vendor_prefix_route(server: MockServer) -> None:
    resp = requests.post(f"{server.url}/tto/v1/track", json=TRACK_EXAMPLE, timeout=10)
    assert resp.status_code == 200


def test_example_stores_event_and_profile(server: MockServer) -> None:
    post(server, "track", TRACK_EXAMPLE)
    state = source_state(server)
    [event] = state["events"]
    assert event["event"] == "Purchase" and event["properties"] == TRACK_EXAMPLE["properties"]
    assert event["profile"] == state["ids"]["user_12345"]


# -- api key ----------------------------------------------------------------------------------------


@pytest.mark.requirement("TTO-API-KEY-BODY")
@pytest.mark.parametrize("op", ["track", "identify", "alias"])
def test_missing_api_key_refused(server: MockServer, op: str) -> None:
    assert_refused(post(server, op, message(op, api_key=None)), 401, "TTO-API-KEY-BODY")


@pytest.mark.requirement("TTO-API-KEY-BODY")
def test_api_key_in_query_does_not_replace_body_key(server: MockServer) -> None:
    resp = post(server, "track", message("track", api_key=None), params={"api_key": KEY})
    assert_refused(resp, 401, "TTO-API-KEY-BODY")


@pytest.mark.requirement("TTO-API-KEY-AUTH")
@pytest.mark.parametrize("op", ["track", "identify", "alias"])
def test_unknown_api_key_refused(server: MockServer, op: str) -> None:
    resp = post(server, op, message(op, api_key="not-a-key"))
    assert_refused(resp, 401, "TTO-API-KEY-AUTH")
    assert "TTO-API-KEY-STATUS" in resp.json()["requirements"]


@pytest.mark.requirement("TTO-SETTINGS-QUERY-KEY")
@pytest.mark.parametrize("query, requirement", [({}, "TTO-SETTINGS-QUERY-KEY"), ({"api_key": ""}, "TTO-SETTINGS-QUERY-KEY"),
                                                ({"api_key": "nope"}, "TTO-API-KEY-AUTH")])
def test_settings_key(server: MockServer, query: dict[str, str], requirement: str) -> None:
    resp = requests.post(f"{server.url}/v1/settings", params=query, headers=HEADERS, timeout=10)
    assert_refused(resp, 401, requirement)


@pytest.mark.requirement("TTO-SETTINGS-QUERY-KEY")
def test_settings_ignores_a_body(server: MockServer) -> None:
    resp = requests.post(f"{server.url}/v1/settings?api_key={OTHER_KEY}", data=b"{not json", headers=HEADERS, timeout=10)
    assert resp.status_code == 200 and resp.json()["source"]["id"] == OTHER_SOURCE


# -- schema-backed rejections -----------------------------------------------------------------------

REJECTED = [
    ("TTO-TYPE-MATCH", "track", {"type": "identify"}),
    ("TTO-TYPE-MATCH", "alias", {"type": "page"}),
    ("TTO-IDENTITY-REQUIRED", "track", {"user_id": None}),
    ("TTO-IDENTITY-REQUIRED", "identify", {"user_id": None}),
    ("TTO-ID-TYPES", "identify", {"user_id": 12345}),
    ("TTO-ID-TYPES", "track", {"msg_id": ""}),
    ("TTO-ID-TYPES", "track", {"event": ""}),
    ("TTO-TRACK-EVENT", "track", {"event": None}),
    ("TTO-ALIAS-IDS", "alias", {"previous_id": None}),
    ("TTO-ALIAS-IDS", "alias", {"user_id": None}),
    ("TTO-TIMESTAMP-ACCEPTED", "track", {"timestamp": "yesterday"}),
    ("TTO-TIMESTAMP-ACCEPTED", "identify", {"timestamp": "2025-12-31T10:00:00Z"}),
    ("TTO-DATA-OBJECT-TYPE", "track", {"properties": "USD"}),
    ("TTO-DATA-OBJECT-TYPE", "track", {"traits": "alelos"}),
    ("TTO-DATA-OBJECT-TYPE", "track", {"traits": '{"email": "a@example.com"'}),  # shaped like one, no JSON object
    ("TTO-DATA-OBJECT-TYPE", "track", {"traits": '{"a": 1} {"b": 2}'}),
    ("TTO-DATA-OBJECT-TYPE", "identify", {"traits": '{"email": "a@example.com"}'}),  # identify's table: OBJECT
    ("TTO-PRODUCTS-PLACEMENT", "track", {"properties": '{"products": "p1"}'}),  # the text is judged as its object
    ("TTO-DATA-OBJECT-TYPE", "identify", {"traits": ["email"]}),
    ("TTO-DATA-OBJECT-TYPE", "identify", {"context": "ios"}),
    ("TTO-PRODUCTS-PLACEMENT", "track", {"products": {"id": "p1"}}),
    ("TTO-PRODUCTS-PLACEMENT", "track", {"products": ["p1"]}),
    ("TTO-PRODUCTS-PLACEMENT", "track", {"properties": {"products": "p1"}}),
]


@pytest.mark.parametrize("requirement, op, changes", REJECTED, ids=[f"{r}-{op}" for r, op, _ in REJECTED])
def test_rejected_with_requirement(server: MockServer, requirement: str, op: str, changes: dict[str, Any]) -> None:
    before = server.state("tto")
    assert_refused(post(server, op, message(op, **changes)), 400, requirement)
    assert server.state("tto") == before


ACCEPTED = [
    ("TTO-TYPE-MATCH", "identify", {"type": None}),
    ("TTO-IDENTITY-REQUIRED", "track", {"user_id": None, "anonymous_id": "anon-1"}),
    ("TTO-TIMESTAMP-ACCEPTED", "track", {"timestamp": 1767174918}),
    ("TTO-TIMESTAMP-ACCEPTED", "alias", {"timestamp": None}),
    ("TTO-REQUIRED-COLUMN-EMPTY", "identify", {"traits": None, "msg_id": None, "type": None}),
    ("TTO-REQUIRED-COLUMN-EMPTY", "track", {"properties": None, "traits": None, "timestamp": None}),
    ("TTO-PROPERTIES", "track", {"properties": {"currency": "HKD", "value": 20.24, "key1": "diy 1"}}),
    ("TTO-DATA-OBJECT-TYPE", "track", {"context": {"page": {"url": "https://example.com"}, "device": {"type": "ios"}}}),
    ("TTO-DATA-OBJECT-TYPE", "track", {"properties": '{"currency": "USD", "value": 3}', "traits": ' {"email": "a@example.com"} '}),
    ("TTO-TRAITS-STANDARD-FIELDS", "identify", {"traits": {"first_name": "Mary", "phone": "(650)555-1212", "gender": "female",
                                                           "custom_trait": 1}}),
]


@pytest.mark.parametrize("requirement, op, changes", ACCEPTED, ids=[f"{r}-{op}" for r, op, _ in ACCEPTED])
def test_accepted_with_requirement(server: MockServer, requirement: str, op: str, changes: dict[str, Any]) -> None:
    """Optional fields may go, and sender conventions (traits formats) are never rejected."""
    resp = post(server, op, message(op, **changes))
    assert resp.status_code == 200, resp.text
    assert resp.json()["success"] is True


@pytest.mark.requirement("TTO-PRODUCTS")
def test_products_with_all_standard_fields(server: MockServer) -> None:
    product = {f: "x" for f in ("id", "name", "currency", "affiliation", "coupon", "category", "category2", "category3",
                                "category4", "category5", "brand", "variant", "list_id", "list_name", "location_id")}
    product.update(price=20.24, discount=1.5, index=0, quantity=2)
    assert len(product) == 19
    assert post(server, "track", message("track", products=[product])).status_code == 200
    assert source_state(server)["events"][0]["products"] == [product]


@pytest.mark.requirement("TTO-PRODUCTS-PLACEMENT")
def test_products_inside_properties(server: MockServer) -> None:
    body = message("track", properties={"currency": "HKD", "products": [{"id": "p1", "quantity": 1}]})
    assert post(server, "track", body).status_code == 200


# -- dedup ------------------------------------------------------------------------------------------


@pytest.mark.requirement("TTO-MSG-ID-DEDUP")
def test_replay_is_stored_once(server: MockServer) -> None:
    first = post(server, "track", TRACK_EXAMPLE)
    again = post(server, "track", message("track", event="Refund"))
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()  # TTO-DEDUP-REPLAY-ACK
    assert [e["event"] for e in source_state(server)["events"]] == ["Purchase"]


@pytest.mark.requirement("TTO-MSG-ID-DEDUP")
def test_replayed_identify_does_not_change_traits(server: MockServer) -> None:
    post(server, "identify", IDENTIFY_EXAMPLE)
    assert post(server, "identify", message("identify", traits={"email": "late@example.com"})).status_code == 200
    assert profile_of(server, "user_12345")["traits"]["email"] == "user@example.com"


@pytest.mark.requirement("TTO-MSG-ID-DEDUP")
def test_same_msg_id_in_two_sources_is_two_messages(server: MockServer) -> None:
    post(server, "track", TRACK_EXAMPLE)
    post(server, "track", message("track", api_key=OTHER_KEY))
    assert len(source_state(server)["events"]) == len(source_state(server, OTHER_SOURCE)["events"]) == 1


@pytest.mark.requirement("TTO-DEDUP-REPLAY-ACK")
def test_replay_after_window_is_new(server: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tto, "DEDUP_WINDOW_SECONDS", 0)
    post(server, "track", TRACK_EXAMPLE)
    post(server, "track", TRACK_EXAMPLE)
    assert len(source_state(server)["events"]) == 2


@pytest.mark.requirement("TTO-DEDUP-REPLAY-ACK")
def test_msg_id_optional_and_made_up(server: MockServer) -> None:
    first = post(server, "track", message("track", msg_id=None)).json()["msg_id"]
    second = post(server, "track", message("track", msg_id=None)).json()["msg_id"]
    assert first != second and len(source_state(server)["events"]) == 2


# -- profiles ---------------------------------------------------------------------------------------


@pytest.mark.requirement("TTO-IDENTIFY-MERGE")
@pytest.mark.requirement("TTO-IDENTIFY-MERGE-RULES")
def test_identify_merges_traits(server: MockServer) -> None:
    post(server, "identify", IDENTIFY_EXAMPLE)
    post(server, "identify", message("identify", msg_id="id-2", traits={"city": "newyork", "name": "zhang san"}))
    traits = profile_of(server, "user_12345")["traits"]
    assert traits == {"email": "user@example.com", "name": "zhang san", "phone": "8613812345678", "company": "示例公司",
                      "city": "newyork"}


@pytest.mark.requirement("TTO-IDENTIFY-MERGE-RULES")
def test_identify_links_anonymous_history(server: MockServer) -> None:
    post(server, "track", message("track", user_id=None, anonymous_id="anon-9", msg_id="t-1", traits={"city": "london"}))
    post(server, "identify", message("identify", anonymous_id="anon-9"))
    profile = profile_of(server, "user_12345")
    assert profile is not None and "anon-9" in profile["anonymous_ids"]
    assert profile["traits"]["city"] == "london" and profile["traits"]["email"] == "user@example.com"
    assert source_state(server)["events"][0]["profile"] == profile["id"]


@pytest.mark.requirement("TTO-TRACK-TRAITS-MERGE")
def test_track_traits_reach_profile(server: MockServer) -> None:
    post(server, "track", TRACK_EXAMPLE)
    assert profile_of(server, "user_12345")["traits"] == TRACK_EXAMPLE["traits"]


@pytest.mark.requirement("TTO-ALIAS-MERGE")
@pytest.mark.requirement("TTO-ALIAS-PRECEDENCE")
def test_alias_joins_previous_identity(server: MockServer) -> None:
    post(server, "track", message("track", user_id=None, anonymous_id="anonymous_session_456", msg_id="t-anon",
                                  traits={"city": "london", "name": "anon"}))
    post(server, "identify", message("identify", user_id="registered_user_123", msg_id="i-reg", traits={"name": "alelos"}))
    assert post(server, "alias", ALIAS_EXAMPLE).status_code == 200
    state = source_state(server)
    assert state["ids"]["anonymous_session_456"] == state["ids"]["registered_user_123"]
    profile = profile_of(server, "registered_user_123")
    assert profile["traits"] == {"city": "london", "name": "alelos"}  # the user_id's values win
    assert "anonymous_session_456" in profile["anonymous_ids"] + profile["previous_ids"]
    assert len([p for p in state["profiles"].values() if "anonymous_session_456" in p["anonymous_ids"]]) == 1
    assert state["events"][0]["profile"] == profile["id"]


@pytest.mark.requirement("TTO-ALIAS-MERGE")
def test_alias_before_any_data_links_later_reads(server: MockServer) -> None:
    post(server, "alias", ALIAS_EXAMPLE)
    post(server, "track", message("track", user_id=None, anonymous_id="anonymous_session_456", msg_id="t-later"))
    state = source_state(server)
    assert state["events"][0]["profile"] == state["ids"]["registered_user_123"]
    assert len(state["profiles"]) == 1


# -- isolation --------------------------------------------------------------------------------------


@pytest.mark.requirement("TTO-SOURCE-ISOLATION")
@pytest.mark.requirement("TTO-SOURCE-PROFILES")
def test_sources_are_isolated(server: MockServer) -> None:
    before_other = source_state(server, OTHER_SOURCE)
    post(server, "identify", IDENTIFY_EXAMPLE)
    post(server, "track", TRACK_EXAMPLE)
    assert source_state(server, OTHER_SOURCE) == before_other
    assert profile_of(server, "user_12345", OTHER_SOURCE)["traits"] == {"email": "b-only@example.com"}
    post(server, "identify", message("identify", api_key=OTHER_KEY, msg_id="b-1", traits={"age": 30}))
    assert "age" not in profile_of(server, "user_12345")["traits"]


def test_credentials_check_keys(server: MockServer) -> None:
    check = server.credentials()["tto"]["check"]
    assert check == {"api_key": KEY, "other_api_key": OTHER_KEY}


# -- bad input --------------------------------------------------------------------------------------

BAD_INPUT = {
    "malformed-json": dict(data=b'{"type": "track",'),
    "array-body": dict(data=b"[1, 2]"),
    "empty-body": dict(data=b""),
    "wrong-content-type": dict(data=json.dumps(TRACK_EXAMPLE).encode(), headers={"Content-Type": "text/plain"}),
    "too-deep": dict(data=json.dumps({**TRACK_EXAMPLE, "properties": json.loads('{"a":' * 70 + "1" + "}" * 70)}).encode()),
}


@pytest.mark.requirement("TTO-BAD-INPUT")
@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input(server: MockServer, case: str) -> None:
    before = server.state("tto")
    assert_refused(post(server, "track", **BAD_INPUT[case]), 400, "TTO-BAD-INPUT")
    assert server.state("tto") == before


@pytest.mark.requirement("TTO-PAYLOAD-LIMIT")
def test_oversized_body(server: MockServer) -> None:
    before = server.state("tto")
    big = message("track", properties={"blob": "x" * (32 * 1024)})
    assert_refused(post(server, "track", big), 400, "TTO-PAYLOAD-LIMIT")
    assert server.state("tto") == before
    assert post(server, "track", message("track", properties={"blob": "x" * (30 * 1024)})).status_code == 200


def test_rejected_request_changes_nothing_even_after_partial_work(server: MockServer) -> None:
    """An alias refused by its schema must not leave a half-made profile or a seen msg_id."""
    before = server.state("tto")
    assert post(server, "alias", message("alias", timestamp="soon")).status_code == 400
    assert post(server, "track", message("track", api_key="nope")).status_code == 401
    assert server.state("tto") == before


def test_no_public_read_path(server: MockServer) -> None:
    resp = requests.get(f"{server.url}/v1/track", timeout=10)
    assert resp.status_code == 405


def test_a_tracks_text_objects_are_stored_as_the_objects_they_hold(server: MockServer) -> None:
    """TTO-DATA-OBJECT-TYPE: the track table's STRING is the text of an object; what is kept is that object, so
    the profile merges the traits and the event reads like one sent with objects."""
    sent = message("track", properties='{"currency": "USD", "value": 3}', traits='{"email": "text@example.com"}')
    assert post(server, "track", sent).status_code == 200
    source = next(iter(s for s in server.state("tto")["sources"].values() if s["events"]))
    event = source["events"][-1]
    assert event["properties"] == {"currency": "USD", "value": 3} and event["traits"] == {"email": "text@example.com"}
    assert any(p["traits"].get("email") == "text@example.com" for p in source["profiles"].values())
