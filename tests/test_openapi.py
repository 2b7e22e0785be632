"""Every vendor's assembled OpenAPI document is valid, loads in schemathesis and matches the schemas."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import schemathesis
import yaml
from openapi_spec_validator import validate

from schemas import operations
from schemas.openapi import build
from tests.test_schemas import _refs


def test_document_is_valid_openapi_31(vendor):
    validate(build(vendor))


def test_document_loads_in_schemathesis(vendor):
    schema = schemathesis.openapi.from_dict(build(vendor))
    found = {op.ok().definition.raw["operationId"] for op in schema.get_all_operations()}
    assert found == {op["operationId"] for op in operations(vendor)}


def test_every_operation_is_present_with_its_method(vendor):
    doc = build(vendor)
    for op in operations(vendor):
        assert doc["paths"][op["path"]][op["method"].lower()]["operationId"] == op["operationId"]


def test_components_hold_no_dangling_refs(vendor):
    doc = build(vendor)
    refs = [r for r in _refs(doc, []) if r.startswith("#/")]
    assert refs, "operations reference their schemas through components"
    for ref in refs:
        node = doc
        for part in ref[2:].split("/"):
            node = node[part]


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_cli_prints_the_document(vendor, fmt):
    out = subprocess.run(
        [sys.executable, "-m", "cdpkit", "openapi", "--vendor", vendor, "--format", fmt],
        check=True, capture_output=True, text=True,
    ).stdout
    doc = json.loads(out) if fmt == "json" else yaml.safe_load(out)
    assert doc == json.loads(json.dumps(build(vendor)))


def test_cli_rejects_an_unknown_vendor():
    result = subprocess.run(
        [sys.executable, "-m", "cdpkit", "openapi", "--vendor", "segment"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
