"""GPTBots schemas: the document's examples pass; hand-picked invalid documents fail for the stated reason."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from cdpkit.schemas import bundle, schema_files

V = "gptbots"
EXAMPLE = {"code": 0, "message": "OK", "data": {"user1": {"user_id": "user1", "anonymous_ids": [
    {"anonymous_id": "aId3", "conversation_type": "WEB", "source_id": None}]}}}

INVALID = [
    # (case, schema ref, instance, failing keyword, instance path)
    ("no-parameter", "request.json#/$defs/query", {}, "anyOf", ()),
    ("empty-user-id", "request.json#/$defs/query", {"user_id": ""}, "minLength", ("user_id",)),
    ("numeric-anonymous-id", "request.json#/$defs/query", {"anonymous_id": 7}, "type", ("anonymous_id",)),
    ("no-authorization", "request.json#/$defs/headers", {}, "required", ()),
    ("not-bearer", "request.json#/$defs/headers", {"authorization": "Token abc"}, "pattern", ("authorization",)),
    ("code-as-text", "user_cdp_response.json", {**EXAMPLE, "code": "0"}, "type", ("code",)),
    ("data-as-list", "user_cdp_response.json", {**EXAMPLE, "data": []}, "type", ("data",)),
    ("user-without-anonymous-ids", "user_cdp_response.json",
     {**EXAMPLE, "data": {"u": {"user_id": "u"}}}, "required", ("data", "u")),
    ("source-id-number", "user_cdp_response.json",
     {**EXAMPLE, "data": {"u": {"user_id": "u", "anonymous_ids": [
         {"anonymous_id": "a", "conversation_type": "WEB", "source_id": 5}]}}},
     "type", ("data", "u", "anonymous_ids", 0, "source_id")),
    ("error-without-message", "error.json", {"code": 40000}, "required", ()),
    ("error-code-as-text", "error.json", {"code": "40000", "message": "x"}, "type", ("code",)),
    ("seed-token-without-agent", "seed.json", {"tokens": {"t": {}}}, "required", ("tokens", "t")),
]


@pytest.mark.parametrize(("case", "ref", "instance", "keyword", "path"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_documents_fail_for_the_stated_reason(case, ref, instance, keyword, path):
    found = list(Draft202012Validator(bundle(V, ref)).iter_errors(instance))
    assert {(e.validator, tuple(e.absolute_path)) for e in found} == {(keyword, path)}, [e.message for e in found]


def test_every_schema_file_has_an_invalid_case():
    assert {ref.split("#")[0] for _, ref, *_ in INVALID} == set(schema_files(V))


@pytest.mark.parametrize("query", [{"user_id": "BC123"}, {"anonymous_id": "22ses32dsafdabd1w2sad"},
                                   {"user_id": "BC123", "anonymous_id": "22ses32dsafdabd1w2sad"}])
def test_the_documents_queries_are_valid(query):
    Draft202012Validator(bundle(V, "request.json#/$defs/query")).validate(query)
