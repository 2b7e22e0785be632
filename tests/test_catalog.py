"""The requirements catalog: well-formed, unique, tied to schemas, covering every seed."""

from __future__ import annotations

import collections
import json

import pytest
from jsonschema import Draft202012Validator

from cdpkit import schemas
from cdpkit.schemas import resolve_pointer
from cdpkit.schemas.catalog import get, requirements
from tests.conftest import present_vendors

ENTRY_SCHEMA = Draft202012Validator(json.loads(schemas._root().joinpath("catalog_entry.json").read_text("utf-8")))
SEEDS = {
    "tto": "000_1fb38a165d674588.txt",
    "quickaudience": "001_4dc0d43c4e389e56.txt",
    "sensors": "002_fc97bb217dacc697.txt",
    "gptbots": "003_966515ce2da0a2dd.txt",
    "zebline": "004_f64e8ff1344f9a51.txt",
}


def test_entries_follow_the_entry_schema(vendor):
    for raw in schemas.load(vendor, "catalog.json")["requirements"]:
        errors = [e.message for e in ENTRY_SCHEMA.iter_errors(raw)]
        assert not errors, f"{raw.get('id')}: {errors}"


def test_ids_are_unique_across_vendors():
    counts = collections.Counter(r.id for r in requirements())
    assert [i for i, n in counts.items() if n > 1] == []


def test_every_seed_is_covered_by_its_vendor(vendor):
    entries = requirements(vendor)
    assert entries, vendor
    assert {r.seed for r in entries} == {SEEDS[vendor]}
    assert all(r.vendor == vendor for r in entries)
    assert any(r.documented for r in entries)


def test_catalog_is_large_enough():
    if len(present_vendors()) < 5:
        pytest.skip("not every vendor is transcribed yet")
    assert len(requirements()) > 60


def test_schema_pointers_exist(vendor):
    for r in requirements(vendor):
        for ref in r.schemas:
            file, _, pointer = ref.partition("#")
            resolve_pointer(schemas.load(vendor, file), pointer)
        if not r.schemas:
            assert r.no_schema_reason, r.id


def test_assumptions_name_their_source(vendor):
    for r in requirements(vendor):
        if r.kind == "assumption":
            assert r.source.strip(), r.id


def test_operations_named_by_entries_exist(vendor):
    known = {op["operationId"] for op in schemas.operations(vendor)}
    for r in requirements(vendor):
        assert set(r.operations) <= known, (r.id, set(r.operations) - known)


def test_lookup_by_id_names_unknown_ids():
    first = requirements()[0]
    assert get(first.id) is not None
    with pytest.raises(KeyError, match="NOPE-1"):
        get("NOPE-1")
