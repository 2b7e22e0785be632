"""Every schema is a valid Draft 2020-12 schema, every $ref resolves, every example validates."""

from __future__ import annotations

import jsonschema
import pytest
from jsonschema import Draft202012Validator

from cdpkit import schemas
from cdpkit.schemas import bundle, examples, operations, resolve_pointer, schema_files
from tests.conftest import present_vendors

ALL_FILES = [(v, f) for v in present_vendors() for f in schema_files(v)]


def test_all_five_vendors_are_transcribed():
    assert present_vendors() == list(schemas.VENDORS)


@pytest.mark.parametrize(("vendor", "filename"), ALL_FILES)
def test_schema_passes_the_meta_schema(vendor, filename):
    Draft202012Validator.check_schema(schemas.load(vendor, filename))


@pytest.mark.parametrize(("vendor", "filename"), ALL_FILES)
def test_schema_documents_its_origin(vendor, filename):
    doc = schemas.load(vendor, filename)
    for key in ("$id", "title", "description", "x-seed"):
        assert doc.get(key), f"{vendor}/{filename} lacks {key}"


def _refs(node, found):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            found.append(node["$ref"])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)
    return found


@pytest.mark.parametrize(("vendor", "filename"), ALL_FILES)
def test_every_ref_resolves(vendor, filename):
    bundled = bundle(vendor, filename)
    for ref in _refs(bundled, []):
        assert ref.startswith("#/"), ref
        resolve_pointer(bundled, ref[1:])  # raises KeyError if the target is missing


@pytest.mark.parametrize(("vendor", "filename"), ALL_FILES)
def test_examples_validate(vendor, filename):
    validator = Draft202012Validator(bundle(vendor, filename))
    for name, example in examples(vendor):
        if name == filename:
            errors = [e.message for e in validator.iter_errors(example)]
            assert not errors, f"{vendor}/{filename} example {example!r}: {errors}"


def test_operation_refs_point_at_schemas(vendor):
    for op in operations(vendor):
        for part in ("body", "query", "headers", "path_params"):
            if op.get(part):
                file, _, pointer = op[part].partition("#")
                resolve_pointer(schemas.load(vendor, file), pointer)
        for status, spec in op["responses"].items():
            refs = spec.get("schema", [])
            for ref in [refs] if isinstance(refs, str) else refs:
                file, _, pointer = ref.partition("#")
                resolve_pointer(schemas.load(vendor, file), pointer)


def test_bundled_validators_compile_in_both_engines(vendor):
    import jsonschema_rs

    for op in operations(vendor):
        for part in ("body", "query", "headers", "path_params"):
            if op.get(part):
                schema = bundle(vendor, op[part])
                jsonschema_rs.validator_for(schema)
                jsonschema.validators.validator_for(schema)(schema)


def test_annotations_name_catalog_entries(vendor):
    from cdpkit.schemas.catalog import exists

    for filename in schema_files(vendor):
        stack = [schemas.load(vendor, filename)]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                if "x-requirement" in node:
                    assert exists(node["x-requirement"]), f"{filename}: {node['x-requirement']}"
                for rid in node.get("x-required-by", {}).values():
                    assert exists(rid), f"{filename}: {rid}"
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    for op in operations(vendor):
        for rid in op.get("requirements", []) + ([op["default_requirement"]] if op.get("default_requirement") else []):
            assert exists(rid), f"operations.json {op['operationId']}: {rid}"
