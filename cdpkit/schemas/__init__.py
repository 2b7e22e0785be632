"""The single source of truth: JSON Schemas, operation tables and the requirements catalog.

Everything else in cdpkit (the mock, the generators, the suites, the OpenAPI documents) reads the
vendor documents only through this loader, so a fact is transcribed once and used everywhere.

Layout, per vendor ``V`` in :data:`VENDORS`::

    cdpkit/schemas/V/operations.json   the HTTP surface: one entry per operation (method, path, which
                                schema describes the query, headers, body and each response)
    cdpkit/schemas/V/catalog.json      the requirements catalog for V (see :mod:`cdpkit.schemas.catalog`)
    cdpkit/schemas/V/*.json            Draft 2020-12 schemas; a ``$ref`` may name another file of the
                                same vendor (``"common.json#/$defs/x"``)

Schemas may carry two annotations that tie a validation failure to a catalog entry:
``x-requirement`` on any subschema (the entry that a failure inside it violates) and
``x-required-by`` on an object schema (``{property: entry}`` for a missing required property).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Iterator

VENDORS: tuple[str, ...] = ("tto", "quickaudience", "sensors", "gptbots", "zebline")

Schema = dict[str, Any]


@functools.lru_cache(maxsize=1)
def _root() -> Any:
    """This package's folder: a plain path when it is one (the common case, and importlib.resources costs the
    mock's start-up ~2 ms of imports, issue 9); the resource reader's view when installed zipped."""
    here = Path(__file__).parent
    if here.is_dir():
        return here
    from importlib import resources

    return resources.files(__name__)


@functools.lru_cache(maxsize=None)
def _text(vendor: str, filename: str) -> str:
    if vendor not in VENDORS:
        raise KeyError(f"unknown vendor {vendor!r}; known: {', '.join(VENDORS)}")
    path = _root().joinpath(vendor, filename)
    if not path.is_file():
        raise FileNotFoundError(f"no schema file {vendor}/{filename}")
    return path.read_text(encoding="utf-8")


@functools.lru_cache(maxsize=None)
def _read(vendor: str, filename: str) -> Schema:
    """The parsed file, shared: read it, never change it (``load`` gives a copy to change)."""
    return json.loads(_text(vendor, filename))


def load(vendor: str, filename: str) -> Schema:
    """A fresh copy of one schema file exactly as written (refs unresolved). Parsed again from the text read
    once: 4-7x faster than a deep copy of the parsed file, and the mock's start reads the operation tables
    about fifteen times (issue 9)."""
    return json.loads(_text(vendor, filename))


def files(vendor: str) -> list[str]:
    """Every JSON file of a vendor, sorted: schemas, operations.json and catalog.json."""
    return sorted(p.name for p in _root().joinpath(vendor).iterdir() if p.name.endswith(".json"))


TABLES = ("operations.json", "catalog.json", "features.json")  # data tables, not JSON Schemas


def schema_files(vendor: str) -> list[str]:
    """The vendor's JSON Schema files (everything but the operation table and the catalog)."""
    return [f for f in files(vendor) if f not in TABLES]


def operations(vendor: str) -> list[dict[str, Any]]:
    """The vendor's operation table (a copy): the HTTP surface the mock serves and the suites probe."""
    return load(vendor, "operations.json")["operations"]


def operation(vendor: str, operation_id: str) -> dict[str, Any]:
    for op in operations(vendor):
        if op["operationId"] == operation_id:
            return op
    raise KeyError(f"{vendor} has no operation {operation_id!r}")


def is_safe(op: dict[str, Any]) -> bool:
    """Whether an operation has no side effects (HTTP's "safe"): a GET, or a read-only POST marked ``safe``.

    Property-based runs send generated requests only to safe operations of a real target, so they can
    never start, stop, delete, lock or create what the given keys do not own.
    """
    return bool(op.get("safe", op["method"].upper() in ("GET", "HEAD")))


def api_info(vendor: str) -> dict[str, Any]:
    """Title, seed file, servers and security schemes of a vendor's API (operations.json minus operations)."""
    doc = load(vendor, "operations.json")
    doc.pop("operations")
    return doc


def _split(ref: str) -> tuple[str, str]:
    file, _, pointer = ref.partition("#")
    return file, pointer


def _def_key(filename: str) -> str:
    return filename.removesuffix(".json")


def _rewrite(node: Any, current_file: str, seen: set[str], prefix: str) -> Any:
    """Copy ``node`` turning every ref into a local one under ``prefix`` and noting the files it needs."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                file, pointer = _split(value)
                file = file or current_file
                seen.add(file)
                out[key] = f"{prefix}{_def_key(file)}{pointer}"
            elif key in ("$id", "$schema"):
                continue
            else:
                out[key] = _rewrite(value, current_file, seen, prefix)
        return out
    if isinstance(node, list):
        return [_rewrite(v, current_file, seen, prefix) for v in node]
    return node


def bundle(vendor: str, ref: str, *, defs_prefix: str = "#/$defs/") -> Schema:
    """A self-contained schema for ``ref`` (``"file.json"`` or ``"file.json#/pointer"``).

    Every file the ref reaches is embedded whole under ``$defs/<file stem>`` so that compiled
    validators and OpenAPI components need no resolver. ``defs_prefix`` lets the OpenAPI
    assembler point the refs at ``#/components/schemas/`` instead.
    """
    file, pointer = _split(ref)
    seen: set[str] = {file}
    done: dict[str, Schema] = {}
    while pending := seen - done.keys():
        for name in sorted(pending):
            done[name] = _rewrite(_read(vendor, name), name, seen, defs_prefix)
    target = {"$ref": f"{defs_prefix}{_def_key(file)}{pointer}"}
    if defs_prefix == "#/$defs/":
        target["$defs"] = {_def_key(name): body for name, body in done.items()}
        target["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    else:
        target["x-components"] = {_def_key(name): body for name, body in done.items()}
    return target


def resolve_pointer(document: Any, pointer: str) -> Any:
    """Follow a JSON pointer (``/a/b/0``) inside a document."""
    node = document
    for raw in filter(None, pointer.split("/")):
        part = raw.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def examples(vendor: str) -> Iterator[tuple[str, Any]]:
    """Every ``examples`` entry of every schema file, as (file, example) pairs."""
    for name in schema_files(vendor):
        for example in _read(vendor, name).get("examples", []):
            yield name, example
