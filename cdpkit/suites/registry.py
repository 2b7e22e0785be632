"""The one registry of conformance checks, keyed by catalog requirement ID.

A check is a pytest test function decorated with :func:`requirement`. The decorator refuses IDs the
catalog does not know (so a typo cannot silently prove nothing), refuses entries no black-box test
can see (``observable: false``, ``applies_to: sender``), and marks the test with what the plugin and
the report need: the ID, the vendor (tests of other vendors are deselected) and, for an
``assumption`` entry, ``assumption`` (such checks run only with ``--strict``, because the documents
leave the behaviour open and an implementation may choose differently).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, TypeVar

import pytest

from cdpkit.schemas import catalog
from cdpkit.schemas.tiers import ASSUMPTION, DOCUMENTED, features_of, tier
from cdpkit.schemas.tiers import features as vendor_features

F = TypeVar("F", bound=Callable[..., object])

MARK_REQUIREMENT = "cdp_requirement"
MARK_VENDOR = "cdp_vendor"
MARK_ASSUMPTION = "cdp_assumption"
MARK_TIER = "cdp_tier"
MARK_FEATURES = "cdp_features"
MARK_MOCK_ONLY = "cdp_mock_only"
MARK_FUZZ = "cdp_fuzz"  # every marker carries the cdp_ prefix: a project's own `fuzz` marker is its own


@dataclass(frozen=True)
class Check:
    """One registered check: the function, the catalog entry it proves and what it leans on."""

    requirement_id: str
    vendor: str
    kind: str
    function_name: str
    module: str
    tier: str = DOCUMENTED
    relies_on: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    mock_only: bool = False


_REGISTRY: dict[str, list[Check]] = defaultdict(list)


# Catalog ID prefix -> vendor (docs/ARCHITECTURE.md); lets a lookup read one vendor's catalog only.
PREFIXES = {"TTO-": "tto", "QA-": "quickaudience", "SF-": "sensors", "GPT-": "gptbots", "ZEB-": "zebline"}


def lookup(requirement_id: str) -> catalog.Requirement | None:
    """The catalog entry for an ID, or None; reads only the vendor's own catalog (others may be absent)."""
    vendor = next((v for p, v in PREFIXES.items() if requirement_id.startswith(p)), None)
    if vendor is None:
        return None
    try:
        entries = catalog.requirements(vendor)
    except FileNotFoundError:
        return None
    return next((r for r in entries if r.id == requirement_id), None)


def requirement(requirement_id: str, *, relies_on: tuple[str, ...] = (), via_control_api: bool = False) -> Callable[[F], F]:
    """Register a test function as the check of ``requirement_id`` and mark it for the plugin.

    ``relies_on`` names the catalog entries the check leans on besides its own: a modeled surface
    (``QA-REST-SURFACE``, ``ZEB-MODELED-GET-USER``) makes its verdict "documented, through cdpkit's
    model"; an assumption (an assumed error body, an assumed status) makes it an assumption check that
    runs only with ``--strict``. The check belongs to the features of every operation its entry and
    those entries name, and is skipped (and reported) when the target does not implement one of them.

    ``via_control_api=True`` admits an ``observable: false`` server entry (state no documented call can
    read back, such as TTO's dedup and identity merges) for a check that reads the state through the
    cdpkit mock's control API (``cdp.mock()``): it runs against a mock only and never counts as
    coverage of another target.
    """
    entry = lookup(requirement_id)
    if entry is None:
        raise KeyError(f"@requirement({requirement_id!r}): no such catalog entry (see cdpkit/schemas/<vendor>/catalog.json)")
    if entry.applies_to != "server" or not (entry.observable or via_control_api):
        raise ValueError(
            f"@requirement({requirement_id!r}): the entry is applies_to={entry.applies_to}, "
            f"observable={entry.observable}; only server behaviour seen over HTTP can be checked"
        )
    leaning = []
    for rid in relies_on:
        found = lookup(rid)
        if found is None:
            raise KeyError(f"@requirement({requirement_id!r}, relies_on=…): no such catalog entry {rid!r}")
        if found.documented:
            raise ValueError(f"@requirement({requirement_id!r}): relies_on names assumptions and models, not {rid} (documented)")
        leaning.append(found)
    level = tier(entry, relies_on)
    feats = check_features(entry, leaning)

    def decorate(func: F) -> F:
        marks = [
            getattr(pytest.mark, MARK_REQUIREMENT)(requirement_id),
            getattr(pytest.mark, MARK_VENDOR)(entry.vendor),
            getattr(pytest.mark, MARK_TIER)(level),
            getattr(pytest.mark, MARK_FEATURES)(*feats),
        ]
        if level == ASSUMPTION:
            marks.append(getattr(pytest.mark, MARK_ASSUMPTION))
        if via_control_api:
            marks.append(getattr(pytest.mark, MARK_MOCK_ONLY))
        for mark in marks:
            func = mark(func)
        check = Check(requirement_id, entry.vendor, entry.kind, func.__name__, func.__module__,
                      level, tuple(relies_on), feats, via_control_api)
        if check not in _REGISTRY[requirement_id]:
            _REGISTRY[requirement_id].append(check)
        return func

    return decorate


def check_features(entry: catalog.Requirement, leaning: list[catalog.Requirement]) -> tuple[str, ...]:
    """The features a check exercises: those of its entry's operations, plus, from what it relies on,
    the features off by default (a modeled add-on such as Zebline's read-back, which a real target
    lacks). A model of a whole surface (QA-REST-SURFACE) adds nothing: it would tie every check to
    every feature."""
    own = set(features_of(entry.vendor, entry.operations))
    off_by_default = {f.name for f in vendor_features(entry.vendor) if not f.default}
    for other in leaning:
        own |= set(features_of(entry.vendor, other.operations)) & off_by_default
    return tuple(f.name for f in vendor_features(entry.vendor) if f.name in own)


def checks(vendor: str | None = None) -> dict[str, list[Check]]:
    """Registered checks by requirement ID (only those whose suite module has been imported)."""
    return {rid: list(found) for rid, found in _REGISTRY.items() if vendor is None or found[0].vendor == vendor}


def checkable(vendor: str) -> list[catalog.Requirement]:
    """The catalog entries a suite must check: documented or assumed server behaviour seen over HTTP."""
    return [r for r in catalog.requirements(vendor) if r.applies_to == "server" and r.observable]


def missing(vendor: str) -> list[str]:
    """Documented, observable server entries of ``vendor`` with no registered check."""
    have = checks(vendor)
    return [r.id for r in checkable(vendor) if r.documented and r.id not in have]
