"""Request validation: every validator compiled once, on first use, failures named by catalog ID.

The hot path asks the compiled (Rust) validator ``is_valid`` first; only an invalid instance pays
for walking its errors. A failure is tied to a requirement through the schema annotations
``x-requirement`` (on the failing subschema or any schema above it) and ``x-required-by`` (on an
object, for a missing property); failing both, the operation's ``default_requirement``. A subschema
may also carry ``x-message``: plain words that replace the validator's own message for a failure
of that very subschema (an ``anyOf`` over ``required`` says nothing a client developer can act on).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jsonschema_rs

from cdpkit.schemas import bundle, operations, resolve_pointer

PARTS = ("body", "query", "headers", "path_params")


@dataclass(frozen=True)
class Violation:
    requirement_id: str
    message: str
    location: str  # e.g. "body/attributes/age"

    def as_dict(self) -> dict[str, str]:
        return {"requirement": self.requirement_id, "message": self.message, "location": self.location}


def _failing_subschema(schema: dict[str, Any], error: Any) -> Any:
    """The subschema holding the keyword that failed (None if its path cannot be followed)."""
    try:
        return resolve_pointer(schema, "/" + "/".join(str(s) for s in error.schema_path[:-1]))
    except (KeyError, IndexError, ValueError, TypeError):
        return None


def _requirement_for(schema: dict[str, Any], error: Any, fallback: str, failing: Any) -> str:
    """The requirement a violation breaks: the deepest ``x-requirement`` on the path the validator took to the
    failing keyword (through every ``$ref``), unless an assumed one lies on that path. A documented constraint
    reached only through cdpkit's assumption binds no more than that assumption (an INT column under a key
    spelling only the mock maps, ZEB-KEY-MAPPING), as :func:`cdpkit.schemas.tiers.documented_view` reads it.
    ``x-required-by`` of ``failing`` names a missing property's requirement."""
    from cdpkit.schemas.tiers import is_assumed

    found, assumed, node = fallback, None, schema
    steps = list(getattr(error, "evaluation_path", None) or error.schema_path)
    for step in [*steps, None]:
        rid = node.get("x-requirement") if isinstance(node, dict) else None
        if isinstance(rid, str):
            found = rid
            if is_assumed(rid):
                assumed = rid
        if step is None:
            break
        try:
            if step == "$ref" and isinstance(node, dict) and str(node.get("$ref", "")).startswith("#"):
                node = resolve_pointer(schema, node["$ref"][1:])
            else:
                node = node[int(step)] if isinstance(node, list) else node[step]
        except (KeyError, IndexError, ValueError, TypeError):
            break
    found = assumed or found
    if type(error.kind).__name__ == "Required":
        missing = getattr(error.kind, "property", None)
        by = failing.get("x-required-by", {}) if isinstance(failing, dict) else {}
        if missing in by:
            found = by[missing]
    return found


# Keywords that constrain nothing: a headers schema made only of these and the plain rules below is plain.
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "examples", "x-seed", "x-requirement",
                          "x-required-by", "x-message"})
HeaderRules = tuple[tuple[str, bool, int], ...]  # (lower-case name, required, minLength)


def plain_header_rules(schema: Any) -> HeaderRules | None:
    """What a headers schema says, when it says no more than "these names, each text of at least N characters,
    these of them required": then a check of presence and length is exactly the schema's verdict on headers
    (their values are always text), and a request that passes it needs no copy of its headers for the
    validator (issue 9: ~2 µs a request). None for any other schema: every request is validated. Read from
    the schema itself, so a constraint added to it later (a pattern, an enum) is never skipped."""
    if isinstance(schema, dict) and set(schema) <= {"$ref", "$defs", "$schema"} and str(schema.get("$ref")).startswith("#/"):
        schema = resolve_pointer(schema, schema["$ref"][1:])  # the bundle's wrapper around the file's schema
    if not isinstance(schema, dict) or schema.get("type") != "object" \
            or set(schema) - _ANNOTATIONS - {"type", "required", "properties"}:
        return None
    properties, required = schema.get("properties") or {}, schema.get("required") or []
    if not isinstance(properties, dict) or not isinstance(required, list) or not set(required) <= set(properties):
        return None
    rules = []
    for name, rule in properties.items():
        if not isinstance(rule, dict) or rule.get("type") != "string" or name != name.lower() \
                or set(rule) - _ANNOTATIONS - {"type", "minLength"} or not isinstance(rule.get("minLength", 0), int):
            return None
        rules.append((name, name in required, rule.get("minLength", 0)))
    return tuple(rules)


def headers_pass(rules: HeaderRules, headers: Any) -> bool:
    """Whether ``headers`` (case-insensitive, the first of a repeated name counts) surely satisfy ``rules``."""
    for name, required, min_length in rules:
        value = headers.get(name)
        if value is None:
            if required:
                return False
        elif len(value) < min_length:
            return False
    return True


class _Compiled:
    __slots__ = ("schema", "validator", "fallback", "header_rules")

    def __init__(self, schema: dict[str, Any], fallback: str, part: str) -> None:
        self.schema = schema
        self.validator = jsonschema_rs.validator_for(schema)
        self.fallback = fallback
        self.header_rules = plain_header_rules(schema) if part == "headers" else None


class Validators:
    """All request validators of the served vendors, keyed by (vendor, operationId, part).

    Each is bundled and compiled on its first use, not when the mock starts (issue 9: compiling all 47 cost
    every start ~15 ms, for operations a run may never call); from then on it is kept, so a request pays
    the compilation once per operation and part, and answers exactly as an eagerly compiled one would."""

    def __init__(self, vendors: list[str]) -> None:
        self._compiled: dict[tuple[str, str, str], _Compiled] = {}
        # (vendor, operationId, part) -> (schema ref, fallback requirement): what to compile, when asked
        self._pending: dict[tuple[str, str, str], tuple[str, str]] = {}
        for vendor in vendors:
            for op in operations(vendor):
                fallback = op.get("default_requirement", "")
                for part in PARTS:
                    if op.get(part):
                        self._pending[(vendor, op["operationId"], part)] = (op[part], fallback)

    def _compile(self, key: tuple[str, str, str]) -> _Compiled | None:
        """The validator of ``key``, compiled now; None when the operation has no schema for that part."""
        found = self._pending.get(key)
        if found is None:
            return None
        ref, fallback = found
        compiled = self._compiled[key] = _Compiled(bundle(key[0], ref), fallback, key[2])
        return compiled

    def header_rules(self, vendor: str, operation_id: str) -> HeaderRules | None:
        """The operation's headers schema as :func:`plain_header_rules` reads it (None: validate every request)."""
        key = (vendor, operation_id, "headers")
        compiled = self._compiled.get(key) or self._compile(key)
        return None if compiled is None else compiled.header_rules

    def violations(self, vendor: str, operation_id: str, part: str, instance: Any) -> list[Violation]:
        key = (vendor, operation_id, part)
        compiled = self._compiled.get(key) or self._compile(key)
        if compiled is None or compiled.validator.is_valid(instance):
            return []
        out = []
        for error in compiled.validator.iter_errors(instance):
            where = "/".join([part, *(str(p) for p in error.instance_path)])
            failing = _failing_subschema(compiled.schema, error)
            message = (failing.get("x-message") if isinstance(failing, dict) else None) or error.message
            out.append(Violation(_requirement_for(compiled.schema, error, compiled.fallback, failing), message, where))
        return out
