"""What the documents state, what cdpkit models, what cdpkit assumes; and which feature a thing belongs to.

Three tiers, one per verdict a suite can give:

* ``documented``: the document states it; any implementation must do it.
* ``modeled``: documented behaviour, observed through an HTTP surface cdpkit models where the document
  has none (a catalog assumption with ``"model": true``: Quick Audience's REST calls, Zebline's read-back
  GETs, the Sensors H5 save call). Judged by default; it holds for implementations of cdpkit's model.
* ``assumption``: what cdpkit chose where the document is silent; judged only with ``--strict``.

Schemas carry both kinds of constraint. A subschema whose ``x-requirement`` names an assumption (and a
property an ``x-required-by`` ties to one) is cdpkit's choice: :func:`documented_view` removes it, so a
fuzz run or a response check without ``--strict`` judges a target by the stated part alone.

Features group a vendor's operations as its document does (Sensors: tag management, online look-ups,
the H5 page); ``cdpkit/schemas/<vendor>/features.json`` lists them, and a user may check only those a target
implements. ``default: false`` marks a modeled feature a real implementation will not have.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Iterable

from cdpkit.schemas import load
from cdpkit.schemas.catalog import Requirement, exists, get

DOCUMENTED, MODELED, ASSUMPTION = "documented", "modeled", "assumption"
TIER_LABELS = {
    DOCUMENTED: "documented",
    MODELED: "documented, through cdpkit's model",
    ASSUMPTION: "assumption (--strict)",
}


def tier(entry: Requirement, relies_on: Iterable[str] = ()) -> str:
    """The tier of a check of ``entry`` that also relies on the entries ``relies_on`` names."""
    leaning = [get(rid) for rid in relies_on]
    if not entry.documented and not entry.model:
        return ASSUMPTION
    if any(not r.documented and not r.model for r in leaning):
        return ASSUMPTION
    if entry.model or any(r.model for r in leaning):
        return MODELED
    return DOCUMENTED


def is_assumed(requirement_id: str) -> bool:
    """Whether a schema annotation names cdpkit's choice (an assumption that is not a modeled surface)."""
    if not exists(requirement_id):
        return False
    entry = get(requirement_id)
    return not entry.documented and not entry.model


def documented_view(node: Any) -> Any:
    """``node`` (a schema or a whole OpenAPI document) without the constraints cdpkit assumes.

    A subschema whose ``x-requirement`` is assumed becomes ``{}`` (anything goes); an
    ``x-required-by`` property tied to an assumed entry is no longer required. Documented and modeled
    constraints stay. A response schema that is wholly assumed thus accepts any JSON.
    """
    if isinstance(node, list):
        return [documented_view(v) for v in node]
    if not isinstance(node, dict):
        return node
    rid = node.get("x-requirement")
    if isinstance(rid, str) and is_assumed(rid):
        return {"x-requirement": rid, "description": "cdpkit's assumption: judged only with --strict"}
    out = {k: documented_view(v) for k, v in node.items()}
    by = node.get("x-required-by")
    if isinstance(by, dict) and isinstance(node.get("required"), list):
        dropped = {prop for prop, rid in by.items() if isinstance(rid, str) and is_assumed(rid)}
        if dropped:
            out["required"] = [p for p in node["required"] if p not in dropped]
    return out


@dataclass(frozen=True)
class Feature:
    name: str
    title: str
    operations: tuple[str, ...]
    default: bool = True


@functools.lru_cache(maxsize=None)
def features(vendor: str) -> tuple[Feature, ...]:
    """The vendor's features, from ``cdpkit/schemas/<vendor>/features.json``."""
    raw = load(vendor, "features.json")["features"]
    return tuple(Feature(f["name"], f["title"], tuple(f["operations"]), f.get("default", True)) for f in raw)


def features_of(vendor: str, operation_ids: Iterable[str]) -> tuple[str, ...]:
    """The names of the features the given operations belong to, in the vendor's order."""
    wanted = set(operation_ids)
    return tuple(f.name for f in features(vendor) if wanted & set(f.operations))


def select_features(vendor: str, spec: str | None, *, on_mock: bool) -> frozenset[str]:
    """The features to check, from ``--features``: ``a,b`` (only these), ``+a`` / ``-b`` (adjust the
    defaults), or nothing (the defaults: every feature on a cdpkit mock, the ``default`` ones elsewhere).
    A ValueError names an unknown feature."""
    known = {f.name: f for f in features(vendor)}
    chosen = {name for name, f in known.items() if f.default or on_mock}
    items = [s.strip() for s in (spec or "").split(",") if s.strip()]
    plain = [s for s in items if s[0] not in "+-"]
    unknown = [s.lstrip("+-") for s in items if s.lstrip("+-") not in known]
    if unknown:
        raise ValueError(f"unknown feature(s) {', '.join(unknown)} for {vendor}; known: {', '.join(known)}")
    if plain:
        chosen = set(plain)
    for s in items:
        if s[0] == "+":
            chosen.add(s[1:])
        elif s[0] == "-":
            chosen.discard(s[1:])
    return frozenset(chosen)
