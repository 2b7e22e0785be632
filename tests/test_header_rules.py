"""The headers fast path (validation.plain_header_rules): it may only ever say "valid" where the schema's own
validator says so, and it must be what actually runs for the vendors whose header schemas are plain."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from multidict import CIMultiDict

from cdpkit.schemas import VENDORS, bundle, operations
from cdpkit.schemas.validation import Validators, headers_pass, plain_header_rules

HEADER_SCHEMAS = [(v, op["operationId"], op["headers"]) for v in VENDORS for op in operations(v) if op.get("headers")]
PLAIN = [(v, op, ref) for v, op, ref in HEADER_SCHEMAS if plain_header_rules(bundle(v, ref)) is not None]


def header_sets(schema_names: list[str]) -> list[CIMultiDict[str]]:
    """Headers a client may send: each named header absent, empty, one character, text, in another case,
    repeated with an empty second value; plus an unrelated header."""
    values: list[Any] = [None, "", "x", "Bearer token-1", "ACCESS_TOKEN"]
    found = []
    names = schema_names[:3]
    for combo in itertools.product(values, repeat=len(names)):
        for spelling in (str.lower, str.title):
            headers: CIMultiDict[str] = CIMultiDict({"Host": "127.0.0.1", "X-Other": "1"})
            for name, value in zip(names, combo):
                if value is not None:
                    headers.add(spelling(name), value)
            found.append(headers)
            if combo and combo[0] is not None:
                repeated = headers.copy()
                repeated.add(names[0], "")
                found.append(repeated)
    return found


@pytest.mark.parametrize("vendor,operation_id,ref", PLAIN, ids=lambda x: str(x))
def test_the_fast_path_says_valid_only_where_the_validator_does(vendor: str, operation_id: str, ref: str) -> None:
    validators = Validators([vendor])
    rules = validators.header_rules(vendor, operation_id)
    assert rules is not None
    names = [name for name, _, _ in rules]
    for headers in header_sets(names):
        first: dict[str, str] = {}
        for k, v in headers.items():
            first.setdefault(k.lower(), v)
        slow = validators.violations(vendor, operation_id, "headers", first)
        if headers_pass(rules, headers):
            assert slow == [], (dict(headers), slow)


def test_the_plain_schemas_are_the_ones_expected() -> None:
    """Zebline's raw token and the Sensors tenant headers are plain; a pattern (the Bearer scheme) is not."""
    plain = {(v, op) for v, op, _ in PLAIN}
    assert ("zebline", "upsert_user") in plain
    assert ("sensors", "start_realtime_tag") in plain
    assert ("gptbots", "get_user_cdp") not in plain
    assert ("quickaudience", "create_api") not in plain


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"a": {"type": "string", "pattern": "^x"}}, "required": ["a"]},
    {"type": "object", "properties": {"a": {"type": "string", "enum": ["x"]}}},
    {"type": "object", "properties": {"A": {"type": "string"}}, "required": ["A"]},
    {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False},
    {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["b"]},
    {"type": "object", "properties": {"a": {"type": "string", "maxLength": 3}}},
])
def test_any_other_constraint_means_the_validator_runs(schema: dict[str, Any]) -> None:
    assert plain_header_rules(schema) is None
