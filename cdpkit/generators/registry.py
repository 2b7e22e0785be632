"""The table of generator operations, filled by one module per vendor.

A vendor module ``cdpkit/generators/<vendor>.py`` exports ``OPERATIONS`` (a list of :class:`Operation`)
and optionally ``MARKETS`` (the Faker locales of the vendor's market, first one preferred). It is
found automatically once the file exists (:data:`VENDOR_MODULES`), like mock vendor modules are.
Everything else (the public API, ``cdpkit gen``, the property tests, the benchmark) reads this table,
so a new vendor is covered by all of them without further edits.

Registration is checked against the schemas: the operationId must exist, and every requirement an
invalid builder claims must be a catalog entry of that vendor, ``applies_to: server`` and listed for
that operation, because a sender convention is never a reason to reject (COMMON rules).

Adding a vendor (see cdpkit/generators/gptbots.py)::

    # cdpkit/generators/zebline.py
    MARKETS = ("fa_IR", "en_US")

    def user(d: Draw) -> Payload:                       # d.rng, d.fake("first_name"), d.iso_datetime() …
        return {...}

    def bad_type(d: Draw, payload: Payload) -> Payload:  # break ONE server requirement, return a copy
        return {**payload, "attributes": {...}}

    OPERATIONS = [Operation("upsert_user", valid=user, aliases=("users",),
                            invalid={"ZEB-...": bad_type}, conventions=("attributes_convention.json",))]

then add the vendor's credential placement to ``cdpkit.generators.transport.AUTH`` (one function, one line)
so ``cdpkit gen --send`` and the HTTP property tests in tests/test_generators.py can reach the mock.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from cdpkit import schemas
from cdpkit.generators.draw import Draw
from cdpkit.schemas import catalog

Payload = dict[str, Any]
Builder = Callable[[Draw], Payload]
Breaker = Callable[[Draw, Payload], Payload]
# (base URL, the vendor's check credentials, one payload) -> extra credentials / path parameters.
Fixture = Callable[[str, Mapping[str, Any], Payload], dict[str, str]]

# vendor -> generator module; a vendor gets generators once its module exists.
VENDOR_MODULES: dict[str, str] = {vendor: f"cdpkit.generators.{vendor}" for vendor in schemas.VENDORS}


@dataclass(frozen=True)
class Operation:
    """How to build payloads for one operation of a vendor (what a vendor module registers).

    ``valid(draw)`` returns a fresh payload that follows the request schema and the document's
    conventions; ``invalid[ID](draw, valid_payload)`` returns a copy that breaks requirement ``ID``
    and nothing else. ``conventions`` names the ``*_convention.json`` schemas (``file.json`` or
    ``file.json#/$defs/x``) that every valid payload, whole, also satisfies: where a convention
    covers only a part (traits, one event), give the convention file a ``$defs`` entry for the
    whole payload that refers to it. ``state_only`` lists invalid IDs that the request schema cannot
    see because only the server's state or handler logic rejects them (the tests then check them
    through the mock alone). ``fixture`` is for operations whose requests name stored state (a
    record's id, its own keys) that the vendor's check credentials do not: given a base URL, those
    credentials and one payload, it creates fitting state through the vendor's documented API and
    returns the extra credentials the request needs (the generic HTTP tests call it per payload).
    """

    operation_id: str
    valid: Builder
    invalid: Mapping[str, Breaker] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    conventions: tuple[str, ...] = ()
    state_only: frozenset[str] = frozenset()
    summary: str = ""
    fixture: "Fixture | None" = None


@dataclass(frozen=True)
class Registered:
    """An :class:`Operation` bound to its vendor and its row of ``operations.json``."""

    vendor: str
    spec: Operation
    meta: dict[str, Any]
    markets: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.vendor}.{self.spec.operation_id}"

    @property
    def part(self) -> str:
        """Which part of the request the payload is: ``body``, else ``query``, else ``path_params``."""
        return next((p for p in ("body", "query", "path_params") if self.meta.get(p)), "query")

    @property
    def violations(self) -> list[str]:
        return list(self.spec.invalid)


class RegistryError(ValueError):
    pass


def requirement(vendor: str, requirement_id: str) -> catalog.Requirement:
    """A catalog entry of one vendor (reads only that vendor's catalog, so half-built vendors do no harm)."""
    for entry in catalog.requirements(vendor):
        if entry.id == requirement_id:
            return entry
    raise KeyError(f"no catalog entry {requirement_id!r} for {vendor}")


def _check(vendor: str, spec: Operation, meta: dict[str, Any]) -> None:
    for rid in spec.invalid:
        try:
            entry = requirement(vendor, rid)
        except KeyError:
            raise RegistryError(f"generators.{vendor}: {spec.operation_id} breaks unknown requirement {rid!r}") from None
        if entry.applies_to != "server":
            raise RegistryError(f"generators.{vendor}: {rid} is not a server requirement of {vendor}")
        if entry.operations and spec.operation_id not in entry.operations:
            raise RegistryError(f"generators.{vendor}: {rid} does not list operation {spec.operation_id}")
    unknown = set(spec.state_only) - set(spec.invalid)
    if unknown:
        raise RegistryError(f"generators.{vendor}: state_only names IDs without a builder: {sorted(unknown)}")
    for ref in spec.conventions:
        file, _, pointer = ref.partition("#")
        schemas.resolve_pointer(schemas.load(vendor, file), pointer)  # raises if the file or pointer is missing


def available_vendors() -> list[str]:
    """Vendors with a generator module, in the canonical order."""
    return [v for v in schemas.VENDORS if importlib.util.find_spec(VENDOR_MODULES[v]) is not None]


@functools.lru_cache(maxsize=1)
def table() -> dict[str, Registered]:
    """Every registered operation by ``vendor.operationId`` (loaded and checked once)."""
    out: dict[str, Registered] = {}
    for vendor in available_vendors():
        module = importlib.import_module(VENDOR_MODULES[vendor])
        markets = tuple(getattr(module, "MARKETS", ()))
        for spec in module.OPERATIONS:
            meta = schemas.operation(vendor, spec.operation_id)
            _check(vendor, spec, meta)
            registered = Registered(vendor, spec, meta, markets)
            out[registered.name] = registered
    return out


@functools.lru_cache(maxsize=1)
def aliases() -> dict[str, str]:
    """``vendor.alias`` -> ``vendor.operationId``, the documented short names (``cdpkit gen --list``)."""
    out: dict[str, str] = {}
    for name, reg in table().items():
        for alias in reg.spec.aliases:
            full = f"{reg.vendor}.{alias}"
            if full in out or full in table():
                raise RegistryError(f"alias {full} is ambiguous")
            out[full] = name
    return out


def lookup(op: str) -> Registered:
    """The registered operation for ``vendor.operationId`` or ``vendor.alias``."""
    found = table().get(op) or table().get(aliases().get(op, ""))
    if found is None:
        known = ", ".join(sorted([*table(), *aliases()])) or "none"
        raise KeyError(f"no generator for {op!r}; known: {known}")
    return found
