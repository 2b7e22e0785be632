"""TTO schemas: hand-picked invalid documents fail for the stated reason (keyword and path) and name
the stated catalog entry; the document's examples and the permissive parts stay valid.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest

from cdpkit.schemas import bundle, catalog, load, operation, schema_files
from cdpkit.schemas.validation import Validators

VENDOR = "tto"
TRACK = load(VENDOR, "track_request.json")["examples"][0]
IDENTIFY = load(VENDOR, "identify_request.json")["examples"][0]
ALIAS = load(VENDOR, "alias_request.json")["examples"][0]


def validator(ref: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(bundle(VENDOR, ref), format_checker=jsonschema.FormatChecker())


def failures(ref: str, doc: Any) -> set[tuple[str, tuple[Any, ...]]]:
    """(keyword, instance path) of every error, anyOf branches included."""
    found = set()
    for error in validator(ref).iter_errors(doc):
        found.add((error.validator, tuple(error.absolute_path)))
    return found


def changed(doc: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def test_examples_transcribed_verbatim() -> None:
    """The three request examples are the document's curl bodies (spot-check the telling fields)."""
    assert TRACK["timestamp"] == IDENTIFY["timestamp"] == ALIAS["timestamp"] == "1767174918"
    assert TRACK["properties"] == {"revenue": 299.99, "currency": "USD", "product_id": "PROD_001"}
    assert IDENTIFY["traits"]["name"] == "張三" and ALIAS["previous_id"] == "anonymous_session_456"


@pytest.mark.parametrize("name", schema_files(VENDOR))
def test_examples_valid(name: str) -> None:
    for example in load(VENDOR, name).get("examples", []):
        assert failures(name, example) == set(), example


# (file, invalid document, expected (keyword, path), catalog ID the mock names)
INVALID = [
    ("track_request.json", changed(TRACK, api_key=None), ("required", ()), "TTO-API-KEY-BODY"),
    ("track_request.json", changed(TRACK, api_key=""), ("minLength", ("api_key",)), "TTO-API-KEY-BODY"),
    ("track_request.json", changed(TRACK, event=None), ("required", ()), "TTO-TRACK-EVENT"),
    ("track_request.json", changed(TRACK, event=7), ("type", ("event",)), "TTO-ID-TYPES"),
    ("track_request.json", changed(TRACK, type="identify"), ("const", ("type",)), "TTO-TYPE-MATCH"),
    ("track_request.json", changed(TRACK, user_id=None), ("anyOf", ()), "TTO-IDENTITY-REQUIRED"),
    ("track_request.json", changed(TRACK, user_id=""), ("minLength", ("user_id",)), "TTO-ID-TYPES"),
    ("track_request.json", changed(TRACK, msg_id=123), ("type", ("msg_id",)), "TTO-ID-TYPES"),
    ("track_request.json", changed(TRACK, timestamp="1767174918000ms"), ("anyOf", ("timestamp",)), "TTO-TIMESTAMP-ACCEPTED"),
    ("track_request.json", changed(TRACK, timestamp=-5), ("anyOf", ("timestamp",)), "TTO-TIMESTAMP-ACCEPTED"),
    ("track_request.json", changed(TRACK, properties="USD"), ("pattern", ("properties",)), "TTO-DATA-OBJECT-TYPE"),
    ("track_request.json", changed(TRACK, traits="alelos"), ("pattern", ("traits",)), "TTO-DATA-OBJECT-TYPE"),
    ("track_request.json", changed(TRACK, traits=["email"]), ("type", ("traits",)), "TTO-DATA-OBJECT-TYPE"),
    ("track_request.json", changed(TRACK, context=[]), ("type", ("context",)), "TTO-DATA-OBJECT-TYPE"),
    ("track_request.json", changed(TRACK, products={"id": "p"}), ("type", ("products",)), "TTO-PRODUCTS-PLACEMENT"),
    ("track_request.json", changed(TRACK, products=[1]), ("type", ("products", 0)), "TTO-PRODUCTS-PLACEMENT"),
    ("track_request.json", changed(TRACK, properties={"products": "p"}), ("type", ("properties", "products")), "TTO-PRODUCTS-PLACEMENT"),
    ("track_request.json", [TRACK], ("type", ()), "TTO-API-KEY-BODY"),
    ("identify_request.json", changed(IDENTIFY, api_key=None), ("required", ()), "TTO-API-KEY-BODY"),
    ("identify_request.json", changed(IDENTIFY, user_id=None), ("anyOf", ()), "TTO-IDENTITY-REQUIRED"),
    ("identify_request.json", changed(IDENTIFY, type="track"), ("const", ("type",)), "TTO-TYPE-MATCH"),
    ("identify_request.json", changed(IDENTIFY, traits=["email"]), ("type", ("traits",)), "TTO-DATA-OBJECT-TYPE"),
    ("identify_request.json", changed(IDENTIFY, anonymous_id=5), ("type", ("anonymous_id",)), "TTO-ID-TYPES"),
    ("alias_request.json", changed(ALIAS, previous_id=None), ("required", ()), "TTO-ALIAS-IDS"),
    ("alias_request.json", changed(ALIAS, user_id=None), ("required", ()), "TTO-ALIAS-IDS"),
    ("alias_request.json", changed(ALIAS, previous_id=""), ("minLength", ("previous_id",)), "TTO-ID-TYPES"),
    ("alias_request.json", changed(ALIAS, type="track"), ("const", ("type",)), "TTO-TYPE-MATCH"),
    ("settings_query.json", {}, ("required", ()), "TTO-SETTINGS-QUERY-KEY"),
    ("settings_query.json", {"api_key": ""}, ("minLength", ("api_key",)), "TTO-SETTINGS-QUERY-KEY"),
]
OPS = {"track_request.json": ("track", "body"), "identify_request.json": ("identify", "body"),
       "alias_request.json": ("alias", "body"), "settings_query.json": ("settings", "query")}


@pytest.mark.parametrize("name, doc, expected, requirement", INVALID, ids=[f"{i}-{r}" for i, (_, _, _, r) in enumerate(INVALID)])
def test_invalid_request_rejected_for_reason(name: str, doc: Any, expected: tuple[str, tuple[Any, ...]], requirement: str) -> None:
    assert expected in failures(name, doc)
    op, part = OPS[name]
    named = {v.requirement_id for v in Validators([VENDOR]).violations(VENDOR, op, part, doc)}
    assert requirement in named, named
    assert catalog.exists(requirement)


# Valid on the server although it breaks a sender convention: conventions are not rejections.
CONVENTION_BREAKERS = [
    ({"phone": "(650)555-1212"}, ("pattern", ("phone",)), "TTO-TRAITS-PHONE"),
    ({"first_name": "Mary"}, ("pattern", ("first_name",)), "TTO-TRAITS-LOWERCASE"),
    ({"last_name": "o'neil"}, ("pattern", ("last_name",)), "TTO-TRAITS-LOWERCASE"),
    ({"city": "new york"}, ("pattern", ("city",)), "TTO-TRAITS-LOWERCASE"),
    ({"date_date": "1997-02-16"}, ("pattern", ("date_date",)), "TTO-TRAITS-BIRTH-DATE"),
    ({"date_date": "19971316"}, ("pattern", ("date_date",)), "TTO-TRAITS-BIRTH-DATE"),
    ({"gender": "female"}, ("enum", ("gender",)), "TTO-TRAITS-GENDER"),
    ({"state": "CA"}, ("pattern", ("state",)), "TTO-TRAITS-REGION"),
    ({"country": "usa"}, ("pattern", ("country",)), "TTO-TRAITS-REGION"),
    ({"zip_post": "94105-1234"}, ("pattern", ("zip_post",)), "TTO-TRAITS-REGION"),
    ({"email": "not an email"}, ("pattern", ("email",)), "TTO-TRAITS-STANDARD-FIELDS"),
    ({"ip": "999.1.1.1"}, ("anyOf", ("ip",)), "TTO-TRAITS-STANDARD-FIELDS"),
    ({"age": "twenty"}, ("type", ("age",)), "TTO-TRAITS-STANDARD-FIELDS"),
]


@pytest.mark.parametrize("traits, expected, requirement", CONVENTION_BREAKERS, ids=[r for _, _, r in CONVENTION_BREAKERS])
def test_traits_convention_vs_server(traits: dict[str, Any], expected: tuple[str, tuple[Any, ...]], requirement: str) -> None:
    assert expected in failures("traits_convention.json", traits)
    assert catalog.get(requirement).applies_to == "sender"
    assert failures("track_request.json", changed(TRACK, traits=traits)) == set()
    assert failures("identify_request.json", changed(IDENTIFY, traits=traits)) == set()


def test_traits_convention_accepts_documented_forms() -> None:
    good = {"phone": "16505551212", "first_name": "mary", "date_date": "19970216", "gender": "m", "city": "london",
            "state": "az", "country": "hk", "zip_post": "94105", "ip": "2001:db8::1", "email": "a@b.co"}
    assert failures("traits_convention.json", good) == set()


@pytest.mark.parametrize("op", ["track", "identify", "alias"])
def test_message_convention(op: str) -> None:
    ref = f"message_convention.json#/$defs/{op}"
    example = {"track": TRACK, "identify": IDENTIFY, "alias": ALIAS}[op]
    assert failures(ref, example) == set()
    assert ("pattern", ("timestamp",)) in failures(ref, changed(example, timestamp="1767174918.5"))
    assert ("required", ()) in failures(ref, changed(example, type=None))
    assert ("const", ("type",)) in failures(ref, changed(example, type="page" if op != "track" else "alias"))
    # …while the server schema accepts the same departures (TTO-TIMESTAMP-ACCEPTED, TTO-TYPE-MATCH allows omission).
    assert failures(f"{op}_request.json", changed(example, timestamp=1767174918.5, type=None)) == set()


def test_message_convention_properties() -> None:
    ref = "message_convention.json#/$defs/track"
    assert ("type", ("properties", "value")) in failures(ref, changed(TRACK, properties={"value": "20.24"}))
    assert failures("track_request.json", changed(TRACK, properties={"value": "20.24", "currency": 840})) == set()


def test_permissive_server_parts() -> None:
    """Custom traits, properties and product keys, and untyped standard fields, are all accepted."""
    doc = changed(TRACK, traits={"age": "28", "vip": True}, properties={"value": "20.24", "key1": "diy 1"},
                  products=[{"price": "Product price", "sku": "x"}], context={"ip": "1.2.3.4"}, integrations={})
    assert failures("track_request.json", doc) == set()
    assert failures("track_request.json", changed(TRACK, type=None, msg_id=None, timestamp=None, traits=None)) == set()


@pytest.mark.parametrize("name", ["response.json", "error.json", "settings_response.json"])
def test_responses_are_permissive(name: str) -> None:
    """The document publishes no response: any JSON answer of a real implementation is valid."""
    for body in ({"success": True}, {}, {"code": 0, "data": None}, [], "ok", None):
        assert failures(name, body) == set()


def test_operations_use_range_keys() -> None:
    for op in ("track", "identify", "alias", "settings"):
        assert set(operation(VENDOR, op)["responses"]) == {"2XX", "4XX"}
