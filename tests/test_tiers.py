"""Tiers, the documented view of a schema, and features (cdpkit/schemas/tiers.py)."""

from __future__ import annotations

import pytest

from cdpkit.schemas import VENDORS, operations
from cdpkit.schemas.catalog import get, requirements
from cdpkit.schemas.openapi import build
from cdpkit.schemas.tiers import ASSUMPTION, DOCUMENTED, MODELED, documented_view, features, features_of, select_features, tier

DOC = next(r for r in requirements("gptbots") if r.documented).id
ASSUMED = next(r for r in requirements("gptbots") if not r.documented and not r.model).id


def test_the_tier_follows_the_entry_and_what_the_check_relies_on() -> None:
    assert tier(get(DOC)) == DOCUMENTED
    assert tier(get(ASSUMED)) == ASSUMPTION
    assert tier(get(DOC), (ASSUMED,)) == ASSUMPTION
    assert tier(get("QA-REMOVE"), ("QA-REST-SURFACE",)) == MODELED
    assert tier(get("ZEB-MODELED-GET-USER")) == MODELED


def test_only_modeled_surfaces_are_flagged_as_models() -> None:
    assert {r.id for r in requirements() if r.model} == {"QA-REST-SURFACE", "SF-H5-SAVE", "ZEB-MODELED-GET-USER",
                                                            "ZEB-MODELED-GET-TRACK"}
    assert all(not r.documented for r in requirements() if r.model)


def test_the_documented_view_drops_assumed_constraints_and_keeps_stated_ones() -> None:
    schema = {
        "type": "object",
        "required": ["a", "b"],
        "x-required-by": {"a": DOC, "b": ASSUMED},
        "properties": {
            "a": {"type": "string", "x-requirement": DOC, "allOf": [{"minLength": 1, "x-requirement": ASSUMED}]},
            "b": {"type": "integer", "x-requirement": ASSUMED},
        },
    }
    view = documented_view(schema)
    assert view["required"] == ["a"]
    assert view["properties"]["a"]["type"] == "string"
    assert "minLength" not in view["properties"]["a"]["allOf"][0]
    assert "type" not in view["properties"]["b"]
    assert schema["required"] == ["a", "b"], "the original is left as it was"


def test_a_wholly_assumed_response_schema_accepts_anything() -> None:
    assert "type" not in documented_view({"type": "object", "x-requirement": ASSUMED, "required": ["x"]})


@pytest.mark.parametrize("vendor", VENDORS)
def test_the_documented_view_of_every_openapi_document_keeps_no_assumed_annotation(vendor: str) -> None:
    def assumed_constraints(node: object) -> int:
        if isinstance(node, list):
            return sum(assumed_constraints(v) for v in node)
        if not isinstance(node, dict):
            return 0
        rid = node.get("x-requirement")
        here = 0
        if isinstance(rid, str) and rid in ids and not get(rid).documented and not get(rid).model:
            here = int(set(node) - {"x-requirement", "description"} != set())
        return here + sum(assumed_constraints(v) for v in node.values())

    ids = {r.id for r in requirements(vendor)}
    assert assumed_constraints(documented_view(build(vendor))) == 0


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_operation_belongs_to_exactly_one_feature(vendor: str) -> None:
    names = [f.name for f in features(vendor)]
    assert len(names) == len(set(names))
    for op in operations(vendor):
        assert len(features_of(vendor, [op["operationId"]])) == 1, op["operationId"]


def test_feature_selection() -> None:
    everything = {f.name for f in features("zebline")}
    assert select_features("zebline", None, on_mock=True) == everything
    assert select_features("zebline", None, on_mock=False) == {"upsert"}
    assert select_features("zebline", "+readback", on_mock=False) == everything
    assert select_features("sensors", "-h5", on_mock=True) == {"tags", "online"}
    assert select_features("sensors", "online", on_mock=False) == {"online"}
    with pytest.raises(ValueError, match="unknown feature"):
        select_features("sensors", "nosuch", on_mock=False)
