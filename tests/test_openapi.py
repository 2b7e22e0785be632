"""Every vendor's assembled OpenAPI document is valid, loads in schemathesis and matches the schemas."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
import schemathesis
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from cdpkit import generators
from cdpkit.schemas import openapi, operations
from cdpkit.schemas.openapi import build
from cdpkit.schemas.tiers import documented_view
from tests.test_schemas import _refs

COMPONENTS = "#/components/schemas/"


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


def test_every_ref_names_a_whole_component(vendor):
    """Generators resolve only ``#/components/schemas/<name>``: no ref into a component, no ``$defs``."""
    doc = build(vendor)
    for ref in _refs(doc, []):
        assert ref.startswith(COMPONENTS) and "/" not in ref[len(COMPONENTS):], ref
        assert ref[len(COMPONENTS):] in doc["components"]["schemas"], ref
    assert "$defs" not in json.dumps(doc)


def test_hoisted_components_have_readable_names():
    zebline = build("zebline")["components"]["schemas"]
    assert {"user_request", "user_request_identifier", "user_request_custom_value", "modeled_user_response_profile"} <= zebline.keys()
    assert "common" not in build("sensors")["components"]["schemas"], "a file of $defs only leaves no empty component"
    assert "common_realtime_tag" in build("sensors")["components"]["schemas"]


def _as_written(vendor: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The document as assembled before it was made generator-friendly (refs into ``$defs``)."""
    with monkeypatch.context() as m:
        m.setattr(openapi, "_hoist", lambda doc: doc)
        m.setattr(openapi, "_plain", lambda schema: schema)
        return build(vendor)


def _annotations(node: Any, found: Counter) -> Counter:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("x-requirement", "x-message", "x-requirements"):
                found[(key, json.dumps(value, ensure_ascii=False))] += 1
            elif key == "x-required-by":
                found.update((key, prop, rid) for prop, rid in value.items())
            elif key == "examples":
                found[(key, json.dumps(value, ensure_ascii=False, sort_keys=True))] += 1
            _annotations(value, found)
    elif isinstance(node, list):
        for value in node:
            _annotations(value, found)
    return found


def test_hoisting_keeps_every_annotation_and_example(vendor, monkeypatch):
    before = _as_written(vendor, monkeypatch)
    emptied = {name for name, body in before["components"]["schemas"].items()
               if set(body) <= {"title", "description", "x-seed", "$defs"}}  # library files: their examples go nowhere
    assert all("examples" not in before["components"]["schemas"][name] for name in emptied)
    assert _annotations(build(vendor), Counter()) == _annotations(before, Counter())


def _body_validator(doc: dict[str, Any], path: str, method: str, media: str) -> Draft202012Validator:
    escaped = path.replace("~", "~0").replace("/", "~1")
    pointer = f"/paths/{escaped}/{method}/requestBody/content/{media.replace('/', '~1')}/schema"
    registry = Registry().with_resource("urn:cdpkit:doc", Resource.from_contents(doc, default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"urn:cdpkit:doc#{pointer}"}, registry=registry)


def test_hoisting_changes_no_verdict(vendor, monkeypatch):
    """Valid payloads and one-violation payloads of every body operation get the same verdict from the
    document as written and from the generator-friendly one, in the full and the documented view."""
    before = _as_written(vendor, monkeypatch)
    after = build(vendor)
    checked = 0
    for op in operations(vendor):
        name = f"{vendor}.{op['operationId']}"
        if not op.get("body") or name not in generators.operations():
            continue
        payloads = [generators.valid(name, seed=seed) for seed in range(3)]
        payloads += [generators.invalid(name, rid, seed=0) for rid in generators.violations(name)]
        args = (op["path"], op["method"].lower(), op.get("content_type", "application/json"))
        for view in (lambda d: d, documented_view):
            old, new = _body_validator(view(before), *args), _body_validator(view(after), *args)
            for payload in payloads:
                assert old.is_valid(payload) == new.is_valid(payload), (name, payload)
                checked += 1
    assert checked or vendor == "gptbots"


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
