"""The requirements catalog: one entry per normative statement of the five documents.

Mock behaviour, generator violations and suite checks all name entries by ID, so a reader can go
from any rejection or failed check straight to the sentence of the document that justifies it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from cdpkit.schemas import VENDORS, load


@dataclass(frozen=True)
class Requirement:
    id: str
    vendor: str
    seed: str
    kind: str  # "documented" | "assumption"
    applies_to: str  # "server" | "sender"
    quote: str
    english: str
    schemas: tuple[str, ...] = ()
    section: str = ""
    source: str = ""
    no_schema_reason: str = ""
    observable: bool = True
    operations: tuple[str, ...] = field(default=())
    model: bool = False  # an assumption that defines a modeled HTTP surface (see catalog_entry.json)

    @property
    def documented(self) -> bool:
        return self.kind == "documented"


@functools.lru_cache(maxsize=None)
def _vendor_entries(vendor: str) -> tuple[Requirement, ...]:
    raw = load(vendor, "catalog.json")["requirements"]
    return tuple(
        Requirement(**{**e, "schemas": tuple(e.get("schemas", ())), "operations": tuple(e.get("operations", ()))})
        for e in raw
    )


def requirements(vendor: str | None = None) -> list[Requirement]:
    """All entries, or one vendor's, in catalog order."""
    vendors = VENDORS if vendor is None else (vendor,)
    return [r for v in vendors for r in _vendor_entries(v)]


@functools.lru_cache(maxsize=None)
def _by_id() -> dict[str, Requirement]:
    return {r.id: r for r in requirements()}


def get(requirement_id: str) -> Requirement:
    """One entry by ID; a KeyError names the unknown ID."""
    try:
        return _by_id()[requirement_id]
    except KeyError:
        raise KeyError(f"no catalog entry {requirement_id!r}") from None


def exists(requirement_id: str) -> bool:
    return requirement_id in _by_id()
