"""Zebline schemas: the document's examples are valid, hand-picked invalid documents fail for the stated reason.

Each invalid case names the keyword that must fail and where, and (for request parts the mock
validates) the catalog ID the failure is attributed to, so a schema edit that loosens a rule or
moves an annotation is caught here.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from cdpkit.schemas.validation import Validators
from cdpkit.schemas import bundle, load, schema_files

VENDOR = "zebline"
UUID = "bfb7428a-f017-4b4b-b8f5-fd39c4bad20f"
OK_USER = {"userId": "TX61", "attributes": {}}


def validator(ref: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(bundle(VENDOR, ref))


# (schema ref, invalid document, failing keyword, instance path of the failure)
INVALID: list[tuple[str, Any, str, tuple[Any, ...]]] = [
    ("user_request.json", [], "type", ()),
    ("user_request.json", {"userId": "TX61"}, "required", ()),
    ("user_request.json", {"attributes": {}}, "anyOf", ()),
    ("user_request.json", {"userID": "TX61", "attributes": {}}, "anyOf", ()),
    ("user_request.json", {"userId": 61, "attributes": {}}, "type", ("userId",)),
    ("user_request.json", {"anonymousId": None, "attributes": {}}, "type", ("anonymousId",)),
    ("user_request.json", {"userId": "", "attributes": {}}, "minLength", ("userId",)),
    ("user_request.json", {"userId": "  ", "attributes": {}}, "pattern", ("userId",)),
    ("user_request.json", {"userId": "x" * 256, "attributes": {}}, "maxLength", ("userId",)),
    ("user_request.json", {"userId": "TX61", "attributes": None}, "type", ("attributes",)),
    ("user_request.json", {"userId": "TX61", "attributes": []}, "type", ("attributes",)),
    ("user_request.json", {"userId": "TX61", "attributes": {"a": None}}, "type", ("attributes", "a")),  # ZEB-CUSTOM-TYPES-ONLY
    ("user_request.json", {"userId": "TX61", "attributes": {"a": [1]}}, "type", ("attributes", "a")),
    ("user_request.json", {"userId": "TX61", "attributes": {"a": {"b": 1}}}, "type", ("attributes", "a")),
    ("user_request.json", {**OK_USER, "city": 5}, "type", ("city",)),  # ZEB-SYSTEM-TYPES-EXACT from here
    ("user_request.json", {**OK_USER, "firstName": None}, "type", ("firstName",)),
    ("user_request.json", {**OK_USER, "children": "2"}, "anyOf", ("children",)),
    ("user_request.json", {**OK_USER, "children": 2.5}, "anyOf", ("children",)),
    ("user_request.json", {**OK_USER, "children": "three"}, "pattern", ("children",)),  # ZEB-SYSTEM-TYPES from here
    ("user_request.json", {**OK_USER, "children": [2]}, "type", ("children",)),
    ("user_request.json", {**OK_USER, "opt_in_sms": "maybe"}, "pattern", ("opt_in_sms",)),
    ("user_request.json", {**OK_USER, "opt_in_sms": {"value": True}}, "type", ("opt_in_sms",)),
    ("user_request.json", {**OK_USER, "birth_date": True}, "type", ("birth_date",)),
    ("user_request.json", {**OK_USER, "points": 2147483648}, "maximum", ("points",)),
    ("user_request.json", {**OK_USER, "annual_revenue": -2147483649}, "minimum", ("annual_revenue",)),
    ("user_request.json", {**OK_USER, "opt_in_sms": "true"}, "anyOf", ("opt_in_sms",)),
    ("user_request.json", {**OK_USER, "optInEmail": 1}, "anyOf", ("optInEmail",)),
    ("user_request.json", {**OK_USER, "birth_date": 642470400}, "anyOf", ("birth_date",)),
    ("user_request.json", {**OK_USER, "birth_date": "12/05/1990"}, "pattern", ("birth_date",)),
    ("user_request.json", {**OK_USER, "last_active": "2024-13-01"}, "pattern", ("last_active",)),
    ("request.json#/$defs/headers", {}, "required", ()),
    ("request.json#/$defs/headers", {"authorization": ""}, "minLength", ("authorization",)),
    ("request.json#/$defs/user_lookup_query", {}, "anyOf", ()),
    ("request.json#/$defs/user_lookup_query", {"userId": ""}, "minLength", ("userId",)),
    ("request.json#/$defs/track_path", {"license_code": "L"}, "required", ()),
    ("queued_response.json", {"response": {"status": "ok", "trackID": UUID}}, "const", ("response", "status")),
    ("queued_response.json", {"response": {"status": "queued", "trackID": "TX61"}}, "pattern", ("response", "trackID")),
    ("queued_response.json", {"response": {"status": "queued"}}, "required", ("response",)),
    ("queued_response.json", {"status": "queued", "trackID": UUID}, "required", ()),
    ("error.json", {"response": {"status": "queued", "message": "m", "errors": []}}, "const", ("response", "status")),
    ("error.json", {"response": {"status": "error", "errors": []}}, "required", ("response",)),
    ("error.json", {"response": {"status": "error", "message": "m", "errors": [{"message": "m"}]}}, "required", ("response", "errors", 0)),
    ("modeled_user_response.json", {"response": {"status": "ok"}}, "required", ("response",)),
    ("modeled_user_response.json",
     {"response": {"status": "ok", "user": {"userId": "u", "anonymousIds": [], "system_attributes": {"points": "0"}, "attributes": {}}}},
     "type", ("response", "user", "system_attributes", "points")),
    ("modeled_user_response.json",
     {"response": {"status": "ok", "user": {"userId": "u", "anonymousIds": [], "system_attributes": {}, "attributes": {"a": None}}}},
     "type", ("response", "user", "attributes", "a")),
    ("modeled_track_response.json", {"response": {"status": "queued", "trackID": UUID, "received_at": "t"}}, "const", ("response", "status")),
    ("user_convention.json", {"userId": "u", "firstName": "Ali", "attributes": {}}, "anyOf", ()),
    ("user_convention.json", {"userId": "u", "attributes": {"favoriteColor": "blue"}}, "pattern", ("attributes",)),
    # ZEB-DATETIME-ISO: a date-looking attribute should be a full ISO date-time (a convention, not a rejection)
    ("user_convention.json", {"userId": "u", "attributes": {"last_login": "2024-02-10"}}, "anyOf", ("attributes", "last_login")),
]


@pytest.mark.parametrize(("ref", "document", "keyword", "path"), INVALID, ids=[f"{r}:{k}:{'/'.join(map(str, p))}" for r, _, k, p in INVALID])
def test_invalid_document_fails_for_the_stated_reason(ref: str, document: Any, keyword: str, path: tuple[Any, ...]) -> None:
    errors = list(validator(ref).iter_errors(document))
    assert errors, f"{document!r} should not be valid under {ref}"
    reasons = {(e.validator, tuple(e.absolute_path)) for e in errors}
    for error in errors:  # a failing anyOf/allOf reports its branches' reasons as context
        reasons |= {(c.validator, tuple(c.absolute_path)) for c in error.context or ()}
    assert (keyword, path) in reasons, reasons


@pytest.mark.parametrize("name", schema_files(VENDOR))
def test_every_example_is_valid(name: str) -> None:
    schema = load(VENDOR, name)
    examples = schema.get("examples", []) + [
        ex for sub in schema.get("$defs", {}).values() if isinstance(sub, dict) for ex in sub.get("examples", [])
    ]
    assert examples, f"{name} carries no example"
    for example in examples:
        ref = name if example in schema.get("examples", []) else next(
            f"{name}#/$defs/{key}" for key, sub in schema["$defs"].items() if example in sub.get("examples", [])
        )
        validator(ref).validate(example)


@pytest.mark.parametrize(
    "document",
    [
        {"userId": "TX61", "firstName": "sample", "attributes": {}},
        {"anonymousId": "anon_456", "device_type": "mobile", "utm_source": "google_ads", "attributes": {}},
        {"userId": "u", "Favorite-Color": "x", "attributes": {"Membership Level": "gold"}},
        {"user_id": "u", "attributes": {}},
        {"userId": "u", "birth_date": "1990-05-12", "updated_at": "2024-02-10 12:30:00+03:30", "points": -5, "attributes": {"n": 1.5}},
    ],
)
def test_server_schema_accepts_what_the_convention_only_asks_for(document: dict[str, Any]) -> None:
    """ZEB-NAMING-CONVENTION applies to senders: camelCase and odd keys are not rejected."""
    validator("user_request.json").validate(document)


# What the mock's validators attribute each body failure to (x-requirement / x-required-by).
ATTRIBUTED = [
    ({"userId": "TX61"}, "ZEB-ATTRIBUTES-REQUIRED"),
    ({"userId": "TX61", "attributes": "x"}, "ZEB-ATTRIBUTES-REQUIRED"),
    ({"attributes": {}}, "ZEB-ID-REQUIRED"),
    ({"userId": 5, "attributes": {}}, "ZEB-ID-STRING"),
    ({"userId": "", "attributes": {}}, "ZEB-ID-NONEMPTY"),
    ({"userId": "u", "attributes": {"a": None}}, "ZEB-CUSTOM-TYPES-ONLY"),
    ({"userId": "u", "attributes": {"a": [1]}}, "ZEB-CUSTOM-TYPES-ONLY"),
    ({"userId": "u", "children": "three", "attributes": {}}, "ZEB-SYSTEM-TYPES"),
    ({"userId": "u", "children": [3], "attributes": {}}, "ZEB-SYSTEM-TYPES"),
    ({"userId": "u", "opt_in_sms": "maybe", "attributes": {}}, "ZEB-SYSTEM-TYPES"),
    ({"userId": "u", "last_active": False, "attributes": {}}, "ZEB-SYSTEM-TYPES"),
    ({"userId": "u", "firstname": 42, "attributes": {}}, "ZEB-SYSTEM-TYPES-EXACT"),
    ({"userId": "u", "city": None, "attributes": {}}, "ZEB-SYSTEM-TYPES-EXACT"),
    ({"userId": "u", "email": ["a@b.c"], "attributes": {}}, "ZEB-SYSTEM-TYPES-EXACT"),
    ({"userId": "u", "children": "2", "attributes": {}}, "ZEB-SYSTEM-TYPES-EXACT"),
    ({"userId": "u", "children": 2.5, "attributes": {}}, "ZEB-SYSTEM-TYPES-EXACT"),
    ({"userId": "u", "points": True, "attributes": {}}, "ZEB-SYSTEM-TYPES-EXACT"),
    ({"userId": "u", "opt_in_sms": "yes", "attributes": {}}, "ZEB-SYSTEM-TYPES-EXACT"),
    ({"userId": "u", "opt_in_email": 1, "attributes": {}}, "ZEB-SYSTEM-TYPES-EXACT"),
    ({"userId": "u", "birth_date": 642470400, "attributes": {}}, "ZEB-SYSTEM-TYPES-EXACT"),
    ({"userId": "u", "points": 2**31, "attributes": {}}, "ZEB-INT-RANGE"),
    ({"userId": "u", "birth_date": "12/05/1990", "attributes": {}}, "ZEB-TIMESTAMPTZ-FORMAT"),
    ([], "ZEB-STATUS-400"),
]


@pytest.fixture(scope="module")
def validators() -> Validators:
    return Validators([VENDOR])


@pytest.mark.parametrize(("body", "requirement"), ATTRIBUTED, ids=[f"{r}:{b!r}" for b, r in ATTRIBUTED])
def test_body_failure_names_its_catalog_entry(validators: Validators, body: Any, requirement: str) -> None:
    found = {v.requirement_id for v in validators.violations(VENDOR, "upsert_user", "body", body)}
    assert found == {requirement}


def test_system_table_is_transcribed_whole() -> None:
    """Every column of the document's table, with its type and default, is a top-level property."""
    expected = {
        "userid": "STRING", "anonymousid": "STRING", "firstname": "STRING", "lastname": "STRING", "email": "STRING",
        "birth_date": "TIMESTAMPTZ", "gender": "STRING", "maritial_status": "STRING", "children": "INT",
        "education": "STRING", "title": "STRING", "address": "STRING", "city": "STRING", "state": "STRING",
        "zipcode": "STRING", "country": "STRING", "phone": "STRING", "job_position": "STRING", "company": "STRING",
        "number_of_employees": "INT", "annual_revenue": "INT", "opt_in_sms": "BOOL", "opt_in_email": "BOOL",
        "mobile": "STRING", "last_active": "TIMESTAMPTZ", "updated_at": "TIMESTAMPTZ", "date_identified": "TIMESTAMPTZ",
        "points": "INT4", "device_type": "STRING", "utm_source": "STRING",
    }
    props = load(VENDOR, "user_request.json")["properties"]
    assert {name: props[name]["x-column-type"] for name in expected} == expected
    columns = {p["x-system-attribute"] for p in props.values() if "x-system-attribute" in p}
    assert columns == set(expected)
    assert all(props[p]["x-system-attribute"] == p for p in expected)
    assert (props["opt_in_sms"]["default"], props["opt_in_email"]["default"], props["points"]["default"]) == (True, True, 0)
    assert props["date_identified"]["x-default"] == "NOW()"


# Issue 8: without --strict a target is judged by the documented view, which states only what the document does.
DOCUMENTED_VIEW_ACCEPTS = [
    {"userId": "u", "firstname": 42, "attributes": {}},
    {"userId": "u", "city": None, "email": ["a@b.c"], "zipcode": {"code": "1"}, "attributes": {}},
    {"userId": "u", "children": "2", "points": 2.5, "annual_revenue": True, "attributes": {}},
    {"userId": "u", "opt_in_sms": "yes", "opt_in_email": 1, "birth_date": 642470400, "last_active": None, "attributes": {}},
    {"userId": "u", "attributes": {"a": None, "b": [1], "c": {"d": 1}}},
]
DOCUMENTED_VIEW_REFUSES = [
    {"userId": "u", "children": "three", "attributes": {}},
    {"userId": "u", "children": [2], "attributes": {}},
    {"userId": "u", "opt_in_sms": "maybe", "attributes": {}},
    {"userId": "u", "birth_date": {"year": 1990}, "attributes": {}},
    {"userId": "u", "updated_at": True, "attributes": {}},
]


@pytest.mark.parametrize("document", DOCUMENTED_VIEW_ACCEPTS, ids=repr)
def test_documented_view_leaves_coercion_and_other_custom_types_open(document: dict[str, Any]) -> None:
    from cdpkit.schemas.tiers import documented_view

    jsonschema.Draft202012Validator(documented_view(bundle(VENDOR, "user_request.json"))).validate(document)
    assert not validator("user_request.json").is_valid(document)  # the mock's own choice still refuses it


@pytest.mark.parametrize("document", DOCUMENTED_VIEW_REFUSES, ids=repr)
def test_documented_view_refuses_what_no_reading_makes_the_columns_type(document: dict[str, Any]) -> None:
    from cdpkit.schemas.tiers import documented_view

    assert not jsonschema.Draft202012Validator(documented_view(bundle(VENDOR, "user_request.json"))).is_valid(document)
