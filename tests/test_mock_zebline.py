"""The Zebline mock through the real HTTP stack: the document's examples and one test per catalog entry.

Each test names the catalog entry it proves (``@pytest.mark.requirement``). The mock is reset before
every test, so type locks set by one test never leak into another.
"""

from __future__ import annotations

import uuid
from typing import Any

import jsonschema
import pytest
import requests

from cdpkit.mockserver.pytest_plugin import MockServer
from cdpkit.mockserver.zebline import DEMO_LICENSE, DEMO_TOKEN, OTHER_LICENSE, OTHER_TOKEN
from cdpkit.schemas import bundle, load
from tests.mock_fixtures import one_vendor_mock

AUTH = {"authorization": DEMO_TOKEN}
QUEUED = jsonschema.Draft202012Validator(bundle("zebline", "queued_response.json"))
ERROR = jsonschema.Draft202012Validator(bundle("zebline", "error.json"))
USER = jsonschema.Draft202012Validator(bundle("zebline", "modeled_user_response.json"))
TRACK = jsonschema.Draft202012Validator(bundle("zebline", "modeled_track_response.json"))
REQUEST_EXAMPLES = load("zebline", "user_request.json")["examples"]


server, fresh = one_vendor_mock("zebline")


def users_url(server: MockServer, license_code: str = DEMO_LICENSE) -> str:
    return f"{server.url}/v1/accounts/{license_code}/users"


def post(server: MockServer, body: Any, headers: dict[str, str] | None = None, license_code: str = DEMO_LICENSE) -> requests.Response:
    return requests.post(users_url(server, license_code), json=body, headers=AUTH if headers is None else headers, timeout=10)


def accepted(server: MockServer, body: Any, **kw: Any) -> str:
    """Post a body that must be queued; returns its trackID."""
    reply = post(server, body, **kw)
    assert reply.status_code == 200, reply.text
    QUEUED.validate(reply.json())
    return reply.json()["response"]["trackID"]


def refused(server: MockServer, body: Any, status: int = 400, requirement: str | None = None, **kw: Any) -> dict[str, Any]:
    """Post a body that must be refused with ``status`` and the error shape, naming ``requirement``."""
    reply = post(server, body, **kw)
    assert reply.status_code == status, reply.text
    ERROR.validate(reply.json())
    if requirement:
        assert requirement in {e["requirement"] for e in reply.json()["response"]["errors"]}, reply.text
    return reply.json()


def lookup(server: MockServer, license_code: str = DEMO_LICENSE, token: str = DEMO_TOKEN, **query: str) -> requests.Response:
    return requests.get(users_url(server, license_code), params=query, headers={"authorization": token}, timeout=10)


def profile(server: MockServer, **query: str) -> dict[str, Any]:
    reply = lookup(server, **query)
    assert reply.status_code == 200, reply.text
    USER.validate(reply.json())
    return reply.json()["response"]["user"]


def account_state(server: MockServer, license_code: str = DEMO_LICENSE) -> dict[str, Any]:
    return server.state("zebline")["accounts"][license_code]


# -- the document's examples ----------------------------------------------------------------------


@pytest.mark.requirement("ZEB-ENDPOINT")
@pytest.mark.requirement("ZEB-RESP-QUEUED")
@pytest.mark.requirement("ZEB-SUCCESS-STATUS")
def test_curl_example_gets_the_documented_answer(server: MockServer) -> None:
    reply = requests.post(
        users_url(server),
        headers={"authorization": "ACCESS_TOKEN", "Content-Type": "application/json"},
        data='{\n"userId": "TX61",\n"firstName": "sample",\n"attributes": {}\n}',
        timeout=10,
    )
    assert reply.status_code == 200
    body = reply.json()
    assert body["response"]["status"] == "queued"
    assert uuid.UUID(body["response"]["trackID"]).version == 4
    QUEUED.validate(body)


@pytest.mark.requirement("ZEB-ENDPOINT")
def test_vendor_prefix_serves_the_same_operation(server: MockServer) -> None:
    reply = requests.post(f"{server.url}/zebline/v1/accounts/{DEMO_LICENSE}/users", json=REQUEST_EXAMPLES[0], headers=AUTH, timeout=10)
    assert reply.status_code == 200 and reply.json()["response"]["status"] == "queued"


@pytest.mark.requirement("ZEB-RESP-QUEUED")
@pytest.mark.parametrize("body", REQUEST_EXAMPLES, ids=lambda b: str(sorted(b["attributes"]) or list(b)[:2]))
def test_every_document_body_is_queued_on_its_own(server: MockServer, body: dict[str, Any]) -> None:
    accepted(server, body)


@pytest.mark.requirement("ZEB-TYPE-LOCK")
def test_document_correct_then_incorrect_age_example(server: MockServer) -> None:
    first = accepted(server, {"userId": "TX61", "firstName": "sample", "attributes": {"age": 30}})
    accepted(server, {"userId": "TX61", "firstName": "sample", "attributes": {"age": 31}})
    assert account_state(server)["type_locks"]["age"]["trackID"] == first
    error = refused(server, {"userId": "TX61", "firstName": "sample", "attributes": {"age": "thirty"}}, requirement="ZEB-TYPE-LOCK")
    assert "age" in error["response"]["message"]
    assert profile(server, userId="TX61")["attributes"]["age"] == 31


@pytest.mark.requirement("ZEB-RESP-QUEUED")
def test_each_accepted_request_gets_its_own_track_id(server: MockServer) -> None:
    ids = {accepted(server, REQUEST_EXAMPLES[0]) for _ in range(3)}
    assert len(ids) == 3


# -- credentials ----------------------------------------------------------------------------------


@pytest.mark.requirement("ZEB-AUTH-TOKEN")
@pytest.mark.parametrize("headers", [{}, {"authorization": ""}], ids=["missing", "empty"])
def test_missing_token_is_unauthorized(server: MockServer, headers: dict[str, str]) -> None:
    refused(server, REQUEST_EXAMPLES[0], 401, "ZEB-AUTH-TOKEN", headers=headers)


@pytest.mark.requirement("ZEB-STATUS-401")
@pytest.mark.parametrize(
    ("license_code", "token"),
    [("NO_SUCH_LICENSE", DEMO_TOKEN), (DEMO_LICENSE, "WRONG_TOKEN"), (DEMO_LICENSE, OTHER_TOKEN), (OTHER_LICENSE, DEMO_TOKEN)],
    ids=["unknown-license", "wrong-token", "other-accounts-token", "token-on-other-license"],
)
def test_wrong_credentials_are_unauthorized_and_change_nothing(server: MockServer, license_code: str, token: str) -> None:
    before = server.state("zebline")
    refused(server, REQUEST_EXAMPLES[0], 401, "ZEB-STATUS-401", headers={"authorization": token}, license_code=license_code)
    assert server.state("zebline") == before


@pytest.mark.requirement("ZEB-AUTH-RAW-TOKEN")
def test_bearer_scheme_is_refused(server: MockServer) -> None:
    refused(server, REQUEST_EXAMPLES[0], 401, "ZEB-AUTH-RAW-TOKEN", headers={"authorization": f"Bearer {DEMO_TOKEN}"})


@pytest.mark.requirement("ZEB-TENANT-ISOLATION")
def test_accounts_are_isolated(server: MockServer) -> None:
    other = {"authorization": OTHER_TOKEN}
    track = accepted(server, {"userId": "shared", "city": "Tehran", "attributes": {"level": 3}})
    accepted(server, {"userId": "shared", "attributes": {"level": "gold"}}, headers=other, license_code=OTHER_LICENSE)
    assert profile(server, userId="shared")["attributes"]["level"] == 3
    theirs = lookup(server, OTHER_LICENSE, OTHER_TOKEN, userId="shared").json()["response"]["user"]
    assert theirs["attributes"] == {"level": "gold"} and "city" not in theirs["system_attributes"]
    assert account_state(server, OTHER_LICENSE)["type_locks"]["level"]["type"] == "string"
    reply = requests.get(f"{server.url}/v1/accounts/{OTHER_LICENSE}/tracks/{track}", headers=other, timeout=10)
    assert reply.status_code == 404


# -- identifiers and the attributes key -----------------------------------------------------------


@pytest.mark.requirement("ZEB-ID-REQUIRED")
@pytest.mark.parametrize("body", [{"attributes": {}}, {"firstName": "x", "attributes": {"a": 1}}, {"userID": "x", "attributes": {}}])
def test_body_without_user_or_anonymous_id_is_refused(server: MockServer, body: dict[str, Any]) -> None:
    refused(server, body, 400, "ZEB-ID-REQUIRED")
    assert account_state(server)["profiles"] == {"by_user_id": {}, "by_anonymous_id": {}}


@pytest.mark.requirement("ZEB-ID-STRING")
@pytest.mark.parametrize("key", ["userId", "anonymousId"])
@pytest.mark.parametrize("value", [61, 6.1, True, None, ["TX61"], {"id": "TX61"}], ids=repr)
def test_non_string_identifier_is_refused(server: MockServer, key: str, value: Any) -> None:
    refused(server, {key: value, "attributes": {}}, 400, "ZEB-ID-STRING")


@pytest.mark.requirement("ZEB-ID-NONEMPTY")
@pytest.mark.parametrize("value", ["", "   ", "x" * 256], ids=["empty", "blank", "too-long"])
def test_empty_or_blank_identifier_is_refused(server: MockServer, value: str) -> None:
    refused(server, {"userId": value, "attributes": {}}, 400, "ZEB-ID-NONEMPTY")


@pytest.mark.requirement("ZEB-ATTRIBUTES-REQUIRED")
@pytest.mark.parametrize("attributes", ["<absent>", None, [], "x", 0], ids=repr)
def test_attributes_key_is_required_as_an_object(server: MockServer, attributes: Any) -> None:
    body = {"userId": "TX61", "firstName": "sample"}
    if attributes != "<absent>":
        body["attributes"] = attributes
    refused(server, body, 400, "ZEB-ATTRIBUTES-REQUIRED")
    assert lookup(server, userId="TX61").status_code == 404


# -- custom attributes and their types ------------------------------------------------------------


@pytest.mark.requirement("ZEB-CUSTOM-TYPES-ONLY")
@pytest.mark.parametrize("value", [None, [1, 2], {"nested": 1}], ids=repr)
def test_custom_value_outside_the_four_types_is_refused(server: MockServer, value: Any) -> None:
    error = refused(server, {"userId": "u1", "attributes": {"ok": 1, "bad": value}}, 400, "ZEB-CUSTOM-TYPES-ONLY")
    assert {e["requirement"] for e in error["response"]["errors"]} == {"ZEB-CUSTOM-TYPES-ONLY"}  # the mock's choice, named as such
    assert account_state(server)["type_locks"] == {}


@pytest.mark.requirement("ZEB-CUSTOM-ATTR-STORED")
@pytest.mark.requirement("ZEB-CUSTOM-TYPES")
def test_four_types_are_stored_and_locked(server: MockServer) -> None:
    attrs = REQUEST_EXAMPLES[5]["attributes"]
    accepted(server, REQUEST_EXAMPLES[5])
    assert profile(server, userId="user_123")["attributes"] == attrs
    locks = {name: lock["type"] for name, lock in account_state(server)["type_locks"].items()}
    assert locks == {"purchase_count": "number", "membership_level": "string", "verified_user": "boolean", "last_login": "datetime"}


@pytest.mark.requirement("ZEB-TYPE-LOCK-PER-ACCOUNT")
@pytest.mark.parametrize(
    ("first", "then"),
    [(5, "five"), ("gold", 1), (True, 1), (1, True), (False, "false")],
    ids=repr,
)
def test_type_change_is_refused_for_every_user_of_the_account(server: MockServer, first: Any, then: Any) -> None:
    accepted(server, {"userId": "first", "attributes": {"field": first}})
    refused(server, {"userId": "second", "attributes": {"field": then}}, 400, "ZEB-TYPE-LOCK")
    assert lookup(server, userId="second").status_code == 404


@pytest.mark.requirement("ZEB-DATETIME-DETECTION")
@pytest.mark.parametrize(
    ("first", "then"),
    [("2024-02-10T12:30:00Z", "2024-02-10 12:30:00"), ("2024-02-10T12:30:00Z", "blue"), ("blue", "2024-02-10T12:30:00Z")],
    ids=repr,
)
def test_string_datetime_change_names_the_assumption_not_the_documented_lock(server: MockServer, first: str, then: str) -> None:
    """Issue 8: the ISO convention becomes a refusal only through cdpkit's classification, so the refusal says so."""
    accepted(server, {"userId": "first", "attributes": {"field": first}})
    error = refused(server, {"userId": "second", "attributes": {"field": then, "n": 1}}, 400)
    assert {e["requirement"] for e in error["response"]["errors"]} == {"ZEB-DATETIME-DETECTION"}
    accepted(server, {"userId": "first", "attributes": {"field": first, "n": 1}})
    error = refused(server, {"userId": "second", "attributes": {"field": then, "n": "one"}}, 400)
    assert {e["requirement"] for e in error["response"]["errors"]} == {"ZEB-DATETIME-DETECTION", "ZEB-TYPE-LOCK"}


@pytest.mark.requirement("ZEB-TYPE-LOCK-STATUS")
def test_type_lock_refusal_changes_nothing(server: MockServer) -> None:
    accepted(server, {"userId": "u1", "city": "Tehran", "attributes": {"age": 30}})
    before = server.state("zebline")
    body = {"userId": "u1", "anonymousId": "anon-x", "city": "Shiraz", "attributes": {"age": "thirty", "fresh": 1}}
    error = refused(server, body, 400, "ZEB-TYPE-LOCK")
    assert error["response"]["errors"][0]["location"] == "body/attributes/age"
    assert server.state("zebline") == before


@pytest.mark.requirement("ZEB-NUMBER-KINDS")
@pytest.mark.parametrize(("first", "then"), [(5, 4.5), (4.5, 5), (0, -1e10)], ids=repr)
def test_integers_and_decimals_are_one_numeric_type(server: MockServer, first: Any, then: Any) -> None:
    accepted(server, {"userId": "u1", "attributes": {"score": first}})
    accepted(server, {"userId": "u1", "attributes": {"score": then}})


@pytest.mark.requirement("ZEB-DATETIME-DETECTION")
@pytest.mark.parametrize("first", ["2024-02-10", "10/02/2024", "2024-02-30T10:00:00Z", "2024-02-10T25:00:00Z"])
def test_strings_that_merely_look_like_dates_lock_as_string(server: MockServer, first: str) -> None:
    accepted(server, {"userId": "u1", "attributes": {"code": first}})
    accepted(server, {"userId": "u1", "attributes": {"code": "SPRING"}})
    assert account_state(server)["type_locks"]["code"]["type"] == "string"


@pytest.mark.requirement("ZEB-DATETIME-DETECTION")
@pytest.mark.parametrize("first", ["2024-02-10T12:30:00Z", "2024-02-10T12:30", "2024-02-10T12:30:00.123+03:30"])
def test_iso_datetimes_lock_as_datetime(server: MockServer, first: str) -> None:
    accepted(server, {"userId": "u1", "attributes": {"seen": first}})
    accepted(server, {"userId": "u1", "attributes": {"seen": "2025-01-01T00:00:00Z"}})
    refused(server, {"userId": "u1", "attributes": {"seen": "yesterday"}}, 400, "ZEB-DATETIME-DETECTION")


# -- upsert and merge -----------------------------------------------------------------------------


@pytest.mark.requirement("ZEB-UPSERT-CREATE")
def test_unknown_ids_create_profiles(server: MockServer) -> None:
    accepted(server, REQUEST_EXAMPLES[1])
    accepted(server, REQUEST_EXAMPLES[2])
    user = profile(server, userId="user_123")
    assert user["system_attributes"] | {"firstname": "Ali", "lastname": "Ahmadi", "city": "Tehran", "phone": "09123456789"} == user["system_attributes"]
    anonymous = profile(server, anonymousId="anon_456")
    assert anonymous["userId"] is None and anonymous["system_attributes"]["device_type"] == "mobile"


@pytest.mark.requirement("ZEB-UPSERT-UPDATE")
def test_known_id_updates_only_what_is_sent(server: MockServer) -> None:
    accepted(server, {"userId": "u1", "firstName": "Ali", "city": "Tehran", "attributes": {"a": 1, "b": "x"}})
    accepted(server, {"userId": "u1", "city": "Shiraz", "attributes": {"b": "y"}})
    user = profile(server, userId="u1")
    assert user["system_attributes"]["firstname"] == "Ali" and user["system_attributes"]["city"] == "Shiraz"
    assert user["attributes"] == {"a": 1, "b": "y"}


@pytest.mark.requirement("ZEB-MERGE")
def test_both_ids_merge_the_anonymous_profile_into_the_user(server: MockServer) -> None:
    accepted(server, {"anonymousId": "anon_456", "device_type": "mobile", "attributes": {"visits": 3}})
    accepted(server, REQUEST_EXAMPLES[3])
    user = profile(server, userId="user_789")
    assert user["anonymousIds"] == ["anon_456"] and user["attributes"] == {"visits": 3}
    assert user["system_attributes"]["device_type"] == "mobile"
    assert profile(server, anonymousId="anon_456")["userId"] == "user_789"
    accepted(server, {"anonymousId": "anon_456", "attributes": {"visits": 4}})
    assert profile(server, userId="user_789")["attributes"] == {"visits": 4}


@pytest.mark.requirement("ZEB-MERGE-PRECEDENCE")
def test_merge_precedence_and_relink(server: MockServer) -> None:
    accepted(server, {"userId": "u1", "city": "Tehran", "attributes": {"tier": "gold"}})
    accepted(server, {"anonymousId": "a1", "city": "Shiraz", "gender": "f", "attributes": {"tier": "silver", "ref": "ad"}})
    accepted(server, {"userId": "u1", "anonymousId": "a1", "attributes": {"ref": "mail"}})
    merged = profile(server, userId="u1")
    assert merged["system_attributes"]["city"] == "Tehran" and merged["system_attributes"]["gender"] == "f"
    assert merged["attributes"] == {"tier": "gold", "ref": "mail"}
    accepted(server, {"userId": "u2", "anonymousId": "a1", "attributes": {}})
    assert profile(server, userId="u1")["anonymousIds"] == [] and profile(server, anonymousId="a1")["userId"] == "u2"


@pytest.mark.requirement("ZEB-MERGE-PRECEDENCE")
@pytest.mark.requirement("ZEB-SYSTEM-DEFAULTS")
def test_merge_keeps_what_the_anonymous_profile_was_sent_over_the_users_table_defaults(server: MockServer) -> None:
    """Issue 8, section 5: a default is not a value anyone sent, so it never wins a merge."""
    accepted(server, {"userId": "u3", "attributes": {}})
    accepted(server, {"anonymousId": "a3", "opt_in_sms": False, "points": 50, "attributes": {}})
    accepted(server, {"userId": "u3", "anonymousId": "a3", "attributes": {}})
    system = profile(server, userId="u3")["system_attributes"]
    assert (system["opt_in_sms"], system["points"], system["opt_in_email"]) == (False, 50, True)
    # a value the user was sent still wins over the anonymous profile's (ZEB-MERGE-PRECEDENCE)
    accepted(server, {"userId": "u4", "points": 7, "attributes": {}})
    accepted(server, {"anonymousId": "a4", "points": 50, "opt_in_email": False, "attributes": {}})
    accepted(server, {"userId": "u4", "anonymousId": "a4", "attributes": {}})
    system = profile(server, userId="u4")["system_attributes"]
    assert (system["points"], system["opt_in_email"], system["opt_in_sms"]) == (7, False, True)
    # once merged, the anonymous profile's values are the user's: a later default-only request changes nothing
    accepted(server, {"userId": "u3", "attributes": {}})
    assert profile(server, userId="u3")["system_attributes"]["points"] == 50


# -- system attributes ----------------------------------------------------------------------------


@pytest.mark.requirement("ZEB-SYSTEM-TYPES")
@pytest.mark.parametrize(
    ("key", "value"),
    [("children", "three"), ("points", [1]), ("annual_revenue", {"amount": 5}), ("opt_in_sms", "maybe"),
     ("opt_in_email", ["true"]), ("birth_date", True), ("last_active", {"at": "2024-02-10"})],
    ids=repr,
)
def test_system_attribute_no_reading_makes_its_columns_type_is_refused(server: MockServer, key: str, value: Any) -> None:
    refused(server, {"userId": "u1", key: value, "attributes": {}}, 400, "ZEB-SYSTEM-TYPES")


@pytest.mark.requirement("ZEB-SYSTEM-TYPES-EXACT")
@pytest.mark.parametrize(
    ("key", "value"),
    [("city", 5), ("city", None), ("email", ["a@b.c"]), ("firstname", 42), ("children", "3"), ("children", 2.5), ("points", True),
     ("annual_revenue", "1000"), ("opt_in_sms", "yes"), ("opt_in_email", 1), ("birth_date", 19900512), ("firstName", False)],
    ids=repr,
)
def test_system_attribute_of_another_json_type_is_refused_by_the_mocks_choice(server: MockServer, key: str, value: Any) -> None:
    error = refused(server, {"userId": "u1", key: value, "attributes": {}}, 400)
    assert {e["requirement"] for e in error["response"]["errors"]} == {"ZEB-SYSTEM-TYPES-EXACT"}


@pytest.mark.requirement("ZEB-INT-RANGE")
def test_int_columns_hold_32_bit_integers(server: MockServer) -> None:
    accepted(server, {"userId": "u1", "points": 2147483647, "annual_revenue": -2147483648, "attributes": {}})
    refused(server, {"userId": "u1", "points": 2147483648, "attributes": {}}, 400, "ZEB-INT-RANGE")
    assert profile(server, userId="u1")["system_attributes"]["points"] == 2147483647


@pytest.mark.requirement("ZEB-TIMESTAMPTZ-FORMAT")
@pytest.mark.parametrize("value", ["1990-05-12", "2024-02-10T12:30:00Z", "2024-02-10 12:30:00+03:30", "2024-02-10T12:30"])
def test_timestamptz_takes_iso_dates_and_datetimes(server: MockServer, value: str) -> None:
    accepted(server, {"userId": "u1", "birth_date": value, "last_active": value, "attributes": {}})


@pytest.mark.requirement("ZEB-TIMESTAMPTZ-FORMAT")
@pytest.mark.parametrize("value", ["12/05/1990", "2024-02-30", "2024-13-01", "yesterday", "2024-02-10T24:00:00Z"])
def test_timestamptz_refuses_other_text(server: MockServer, value: str) -> None:
    refused(server, {"userId": "u1", "updated_at": value, "attributes": {}}, 400, "ZEB-TIMESTAMPTZ-FORMAT")


@pytest.mark.requirement("ZEB-SYSTEM-DEFAULTS")
def test_new_profile_gets_the_table_defaults(server: MockServer) -> None:
    accepted(server, {"userId": "u1", "attributes": {}})
    accepted(server, {"userId": "u2", "opt_in_sms": False, "points": 7, "date_identified": "2020-01-01T00:00:00Z", "attributes": {}})
    first = profile(server, userId="u1")["system_attributes"]
    assert (first["opt_in_sms"], first["opt_in_email"], first["points"]) == (True, True, 0)
    assert first["date_identified"] == profile(server, userId="u1")["created_at"]
    second = profile(server, userId="u2")["system_attributes"]
    assert (second["opt_in_sms"], second["opt_in_email"], second["points"], second["date_identified"]) == (False, True, 7, "2020-01-01T00:00:00Z")
    accepted(server, {"userId": "u2", "attributes": {}})
    assert profile(server, userId="u2")["system_attributes"]["points"] == 7


@pytest.mark.requirement("ZEB-KEY-MAPPING")
@pytest.mark.parametrize("key", ["firstName", "firstname", "first_name"])
def test_spellings_of_a_column_map_to_it(server: MockServer, key: str) -> None:
    accepted(server, {"userid": "u1", key: "Ali", "attributes": {}})
    user = profile(server, userId="u1")
    assert user["system_attributes"]["firstname"] == "Ali" and user["unmapped"] == {}


@pytest.mark.requirement("ZEB-KEY-MAPPING")
def test_two_spellings_with_different_values_are_refused(server: MockServer) -> None:
    accepted(server, {"userId": "u1", "firstName": "Ali", "firstname": "Ali", "attributes": {}})
    refused(server, {"userId": "u1", "firstName": "Ali", "first_name": "Reza", "attributes": {}}, 400, "ZEB-KEY-MAPPING")
    refused(server, {"userId": "u1", "user_id": "u2", "attributes": {}}, 400, "ZEB-KEY-MAPPING")


@pytest.mark.requirement("ZEB-UNMAPPED-KEYS")
def test_unknown_top_level_keys_are_kept_untyped(server: MockServer) -> None:
    accepted(server, {"userId": "u1", "favorite_color": "blue", "Plan": 3, "attributes": {}})
    assert profile(server, userId="u1")["unmapped"] == {"favorite_color": "blue", "Plan": 3}
    accepted(server, {"userId": "u1", "favorite_color": 7, "attributes": {}})
    assert account_state(server)["type_locks"] == {}


# -- input the pipeline refuses, errors, faults ---------------------------------------------------


def _raw(server: MockServer, data: bytes, content_type: str = "application/json") -> requests.Response:
    return requests.post(users_url(server), data=data, headers={**AUTH, "Content-Type": content_type}, timeout=10)


@pytest.mark.requirement("ZEB-STATUS-400")
@pytest.mark.parametrize("data", [b'{"userId": "TX61", "attributes": {}', b"not json", b"[]", b'"TX61"', b""], ids=repr)
def test_wrong_format_is_bad_request(server: MockServer, data: bytes) -> None:
    reply = _raw(server, data)
    assert reply.status_code == 400
    ERROR.validate(reply.json())


@pytest.mark.requirement("ZEB-INPUT-LIMITS")
@pytest.mark.parametrize(
    "data,content_type",
    [
        (b'{"userId": "TX61", "attributes": {}}', "text/plain"),
        (b'{"userId": "TX61", "attributes": {"big": "' + b"x" * (1 << 20) + b'"}}', "application/json"),
        (b'{"userId": "TX61", "attributes": {}, "deep": ' + b"[" * 100 + b"]" * 100 + b"}", "application/json"),
    ],
    ids=["content-type", "oversize", "too-deep"],
)
def test_unreadable_bodies_get_the_error_shape(server: MockServer, data: bytes, content_type: str) -> None:
    before = server.state("zebline")
    reply = _raw(server, data, content_type)
    assert reply.status_code == 400
    assert reply.json()["response"]["errors"][0]["requirement"] == "ZEB-INPUT-LIMITS"
    ERROR.validate(reply.json())
    assert server.state("zebline") == before


@pytest.mark.requirement("ZEB-ERROR-BODY")
def test_error_body_names_every_problem(server: MockServer) -> None:
    error = refused(server, {"userId": 5, "children": "two", "attributes": {"x": None}}, 400)
    assert {e["requirement"] for e in error["response"]["errors"]} == {"ZEB-ID-STRING", "ZEB-SYSTEM-TYPES", "ZEB-CUSTOM-TYPES-ONLY"}
    assert {e["location"] for e in error["response"]["errors"]} == {"body/userId", "body/children", "body/attributes/x"}


@pytest.mark.requirement("ZEB-STATUS-500")
def test_500_only_through_the_fault_api(server: MockServer) -> None:
    server.fault(f"/v1/accounts/{DEMO_LICENSE}/users", status=500, count=1)
    assert post(server, REQUEST_EXAMPLES[0]).status_code == 500
    assert post(server, REQUEST_EXAMPLES[0]).status_code == 200


@pytest.mark.requirement("ZEB-STATUS-400")
@pytest.mark.parametrize(
    "body",
    [{"userId": "u", "attributes": {"": 1}}, {"userId": "u\u0000", "attributes": {"\u062e": "\ud7ff"}}, {"userId": "u", "attributes": {"n": 1e308}},
     {"userId": "u", "attributes": {}, "children": 10**30}, {"userId": "u", "attributes": {"n": -0.0}}, {"anonymousId": "a", "attributes": {"k" * 5000: "v"}}],
    ids=["empty-key", "nul-and-persian", "huge-float", "huge-int", "negative-zero", "long-key"],
)
def test_odd_but_well_formed_bodies_never_get_a_5xx(server: MockServer, body: dict[str, Any]) -> None:
    assert post(server, body).status_code < 500


# -- modeled lookups, credentials, state ----------------------------------------------------------


@pytest.mark.requirement("ZEB-MODELED-GET-USER")
def test_modeled_user_lookup(server: MockServer) -> None:
    accepted(server, REQUEST_EXAMPLES[3])
    assert profile(server, userId="user_789", anonymousId="anon_456")["userId"] == "user_789"
    assert lookup(server, userId="user_789", anonymousId="other").status_code == 404
    assert lookup(server, userId="nobody").status_code == 404
    assert lookup(server).status_code == 400
    assert lookup(server, token="WRONG", userId="user_789").status_code == 401
    ERROR.validate(lookup(server, userId="nobody").json())


@pytest.mark.requirement("ZEB-MODELED-GET-TRACK")
def test_modeled_track_lookup(server: MockServer) -> None:
    track_id = accepted(server, REQUEST_EXAMPLES[5])
    reply = requests.get(f"{server.url}/v1/accounts/{DEMO_LICENSE}/tracks/{track_id}", headers=AUTH, timeout=10)
    assert reply.status_code == 200
    TRACK.validate(reply.json())
    track = reply.json()["response"]
    assert (track["trackID"], track["userId"], track["anonymousId"]) == (track_id, "user_123", None)
    assert track["attributes"] == sorted(REQUEST_EXAMPLES[5]["attributes"])
    assert list(account_state(server)["tracks"]) == [track_id]
    missing = requests.get(f"{server.url}/v1/accounts/{DEMO_LICENSE}/tracks/{uuid.uuid4()}", headers=AUTH, timeout=10)
    assert missing.status_code == 404


def test_credentials_give_exactly_the_check_keys(server: MockServer) -> None:
    creds = server.credentials()["zebline"]
    assert creds["check"] == {"license_code": DEMO_LICENSE, "access_token": DEMO_TOKEN,
                              "other_license_code": OTHER_LICENSE, "other_access_token": OTHER_TOKEN}
    assert {t["license_code"] for t in creds["tenants"]} == {DEMO_LICENSE, OTHER_LICENSE}


def test_seeded_users_go_through_the_upsert(server: MockServer) -> None:
    server.seed({"zebline": {"accounts": {"L3": {"access_token": "T3", "users": [{"userId": "s1", "attributes": {"n": 1}}]}}}})
    assert lookup(server, "L3", "T3", userId="s1").json()["response"]["user"]["attributes"] == {"n": 1}
    assert account_state(server, "L3")["type_locks"]["n"]["type"] == "number"
    refused(server, {"userId": "s2", "attributes": {"n": "one"}}, 400, "ZEB-TYPE-LOCK", headers={"authorization": "T3"}, license_code="L3")
    for bad in ({"L4": {"users": []}}, {"L4": {"access_token": "T4", "users": [{"userId": "x"}]}}):
        with pytest.raises(Exception, match="400"):
            server.seed({"zebline": {"accounts": bad}})
    assert "L4" not in server.state("zebline")["accounts"]
