"""Realistic payloads for every vendor operation: valid ones and ones that break one requirement.

Client developers, the conformance suites and load tests all need payloads, and all need the same
thing: valid output that follows the documents' conventions (not merely the schema), invalid output
that breaks exactly one named catalog requirement, and seeded runs that are reproducible byte for
byte. A *payload* is the part of a request a sender controls: the JSON body of a body operation, the
query mapping of a GET. Credentials are never invented; :mod:`cdpkit.generators.transport` adds them.

    >>> import generators
    >>> generators.valid("gptbots.get_user_cdp", seed=1)               # doctest: +SKIP
    {'user_id': '...', 'anonymous_id': '...'}
    >>> generators.invalid("gptbots.get_user_cdp", "GPT-QUERY-ONE-REQUIRED", seed=1)  # doctest: +SKIP
    {}

Overrides replace top-level keys of the valid payload; :data:`OMIT` as a value removes a key.
"""

from __future__ import annotations

import random
import secrets
from typing import Any, Iterator

from cdpkit.generators.draw import DEFAULT_LOCALE, Draw
from cdpkit.generators.registry import Operation, Registered, lookup, table

__all__ = [
    "OMIT", "Operation", "apply_overrides", "valid", "invalid", "stream", "operations", "violations", "lookup", "resolve_locale",
]

Seed = int | str


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()
MARKET = "market"  # --locale market: the vendor's own market locale


def resolve_locale(reg: Registered, locale: str | None) -> str:
    """``None`` means en_US; ``"market"`` the vendor's first market locale (zh_CN, fa_IR, th_TH …)."""
    if locale is None:
        return DEFAULT_LOCALE
    if locale == MARKET:
        return reg.markets[0] if reg.markets else DEFAULT_LOCALE
    return locale


def _draw(reg: Registered, seed: Seed | None, locale: str | None) -> Draw:
    if seed is None:
        seed = secrets.randbits(63)
    # A str seed is hashed with SHA-512 by random.Random: stable across processes, unlike hash().
    return Draw(random.Random(f"{reg.name}|{seed}"), resolve_locale(reg, locale))


def apply_overrides(payload: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Set each override on ``payload``; the value :data:`OMIT` removes the key instead."""
    for key, value in overrides.items():
        if value is OMIT:
            payload.pop(key, None)
        else:
            payload[key] = value
    return payload


def operations() -> list[str]:
    """Every registered operation, ``vendor.operationId``, in vendor then table order."""
    return list(table())


def violations(op: str) -> list[str]:
    """The requirement IDs :func:`invalid` can break for ``op`` (an operationId or an alias)."""
    return lookup(op).violations


def valid(op: str, seed: Seed | None = None, locale: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid payload for ``op``; the same (op, seed, locale) always gives the same payload."""
    reg = lookup(op)
    return apply_overrides(reg.spec.valid(_draw(reg, seed, locale)), overrides)


def invalid(
    op: str, requirement_id: str, seed: Seed | None = None, locale: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """The valid payload of the same seed (with overrides), then broken for ``requirement_id`` only."""
    reg = lookup(op)
    breaker = reg.spec.invalid.get(requirement_id)
    if breaker is None:
        raise KeyError(f"{reg.name} has no invalid builder for {requirement_id!r}; it has: {', '.join(reg.violations) or 'none'}")
    draw = _draw(reg, seed, locale)
    return breaker(draw, apply_overrides(reg.spec.valid(draw), overrides))


def stream(
    op: str, count: int, seed: Seed | None = None, locale: str | None = None, breaking: str | None = None
) -> Iterator[tuple[str | None, Seed, dict[str, Any]]]:
    """``count`` payloads as (requirement or None, payload seed, payload); payload i uses seed ``f"{seed}:{i}"``.

    ``breaking`` is None (valid payloads), a requirement ID, or ``"all"`` (cycle through every ID
    :func:`violations` lists, in order).
    """
    reg = lookup(op)
    base = secrets.randbits(32) if seed is None else seed
    cycle: list[str | None] = [None] if breaking is None else (reg.violations if breaking == "all" else [breaking])
    if not cycle:
        raise KeyError(f"{reg.name} has no invalid builders")
    for i in range(count):
        payload_seed = f"{base}:{i}"
        rid = cycle[i % len(cycle)]
        payload = valid(reg.name, payload_seed, locale) if rid is None else invalid(reg.name, rid, payload_seed, locale)
        yield rid, payload_seed, payload
