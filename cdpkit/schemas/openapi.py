"""Assemble a vendor's OpenAPI 3.1 document from its operation table and schema files.

Nothing here is written by hand twice: every schema is embedded from ``cdpkit/schemas/<vendor>/`` under
``components/schemas/<file stem>`` and every operation comes from ``operations.json``.

Every ``$ref`` of the document names a whole component (``#/components/schemas/<name>``), never a
place inside one: code generators (openapi-python-client, for one) resolve only those, and drop an
operation whose schema they cannot resolve. So a file's ``$defs`` entry becomes its own component
``<file stem>_<def name>`` (``user_request.json#/$defs/identifier`` → ``user_request_identifier``),
any other pointer into a schema is hoisted the same way (``h5_post_message_value_data``), and a file
that was only a bag of ``$defs`` (``common.json``) leaves no empty component behind. Annotations
(``x-requirement``, ``x-required-by``, …) and ``examples`` move with the subschema that holds them.

An operation entry (``operations.json``) looks like::

    {"operationId": "track", "method": "POST", "path": "/v1/track", "summary": "…",
     "requirements": ["TTO-…"], "security": [{"bearer": []}],
     "path_params": "file.json#/…", "query": "file.json#/…", "headers": "file.json#/…",
     "body": "track_request.json", "content_type": "application/json",
     "responses": {"200": {"description": "…", "schema": "x.json"}, "4XX": {"description": "…"}}}

A response ``schema`` may also be a list: any of them matches (a vendor whose failures share the
success status, say); the first decides whether the answer is judged without ``--strict``.

``path_params``, ``query`` and ``headers`` name object schemas whose properties become parameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cdpkit.schemas import _read, _rewrite, _split, api_info, operations, resolve_pointer

COMPONENTS = "#/components/schemas/"
# Keywords that hold subschemas by name or index; a hoisted component's name skips them.
_SCHEMA_KEYWORDS = {"$defs", "properties", "patternProperties", "items", "prefixItems", "allOf", "anyOf",
                    "oneOf", "not", "if", "then", "else", "additionalProperties", "contains",
                    "propertyNames", "dependentSchemas", "unevaluatedProperties", "unevaluatedItems"}
# Where a schema keyword holds one subschema, a map of them, or a list of them.
_ONE = {"items", "not", "if", "then", "else", "contains", "propertyNames", "additionalProperties",
        "unevaluatedProperties", "unevaluatedItems"}
_MAP = {"properties", "patternProperties", "$defs", "dependentSchemas"}
_LIST = {"allOf", "anyOf", "oneOf", "prefixItems"}
# What a schema file holds besides its schema; a file left with only these after hoisting is dropped.
_FILE_METADATA = {"title", "description", "x-seed", "$comment"}
# Headers OpenAPI forbids as parameters (they are described by securitySchemes or by the media type).
_RESERVED_HEADERS = {"authorization", "content-type", "accept"}


class _Components:
    """Collects every schema file an operation reaches, rewritten to point at components."""

    def __init__(self, vendor: str) -> None:
        self.vendor = vendor
        self.pending: set[str] = set()
        self.done: dict[str, Any] = {}

    def ref(self, ref: str) -> dict[str, Any]:
        file, pointer = _split(ref)
        self.pending.add(file)
        return {"$ref": f"{COMPONENTS}{file.removesuffix('.json')}{pointer}"}

    def subschema(self, node: Any, file: str) -> Any:
        return _rewrite(node, file, self.pending, COMPONENTS)

    def finish(self) -> dict[str, Any]:
        while todo := self.pending - self.done.keys():
            for name in sorted(todo):
                self.done[name] = _rewrite(_read(self.vendor, name), name, self.pending, COMPONENTS)
        return {name.removesuffix(".json"): _plain(body) for name, body in sorted(self.done.items())}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _retarget(node: Any, renames: dict[str, str]) -> Any:
    """Copy ``node`` with every ref into a renamed place pointing at its new component."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(COMPONENTS):
                out[key] = COMPONENTS + _renamed(value[len(COMPONENTS):], renames)
            else:
                out[key] = _retarget(value, renames)
        return out
    if isinstance(node, list):
        return [_retarget(v, renames) for v in node]
    return node


def _renamed(path: str, renames: dict[str, str]) -> str:
    """``path`` (``name/pointer``) with its longest renamed prefix replaced, until none applies."""
    while True:
        parts = path.split("/")
        for cut in range(len(parts), 1, -1):
            prefix = "/".join(parts[:cut])
            if prefix in renames:
                path = "/".join([renames[prefix], *parts[cut:]])
                break
        else:
            return path


def _unique(name: str, taken: dict[str, Any]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    return candidate


def _plain(schema: Any) -> Any:
    """``schema`` said the way generators read it, meaning the same: a boolean subschema becomes
    ``{}`` / ``{"not": {}}`` (``additionalProperties: false`` stays, OpenAPI 3.0 knew it); an
    array without ``items`` gets ``items: {}`` (openapi-python-client refuses an item-less array);
    ``const: true`` becomes ``type: boolean, not: {const: false}`` (openapi-python-client 0.29 writes
    ``!= Trueand not …`` for an optional boolean const, which does not parse); a schema without a
    ``type`` whose only ``allOf`` part is no object says ``anyOf`` instead, the same thing for one part
    (openapi-python-client reads any ``allOf`` as an object model, and a client would refuse the
    string ``"gold"`` as a custom attribute value)."""
    if schema is True:
        return {}
    if schema is False:
        return {"not": {}}
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if isinstance(value, bool) and key in ("additionalProperties", "unevaluatedProperties", "unevaluatedItems"):
            out[key] = value
        elif key in _ONE:
            out[key] = _plain(value)
        elif key in _MAP and isinstance(value, dict):
            out[key] = {name: _plain(sub) for name, sub in value.items()}
        elif key in _LIST and isinstance(value, list):
            out[key] = [_plain(sub) for sub in value]
        else:
            out[key] = value
    if isinstance(out.get("const"), bool) and "not" not in out:
        out.setdefault("type", "boolean")
        out["not"] = {"const": not out.pop("const")}
    parts = out.get("allOf")
    if (isinstance(parts, list) and len(parts) == 1 and isinstance(parts[0], dict) and not _objectish(parts[0])
            and not {"type", "properties", "anyOf", "oneOf", "$ref"} & out.keys()):
        out["anyOf"] = out.pop("allOf")
    types = out.get("type")
    if (types == "array" or (isinstance(types, list) and "array" in types)) and not {"items", "prefixItems"} & out.keys():
        out["items"] = {}
    return out


def _objectish(schema: dict[str, Any]) -> bool:
    return "$ref" in schema or "properties" in schema or schema.get("type") == "object" or "allOf" in schema


def _hoist(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with every ``$defs`` entry, and every other subschema a ref points into, moved to a
    component of its own, and every ref rewritten to name a whole component."""
    schemas: dict[str, Any] = doc["components"]["schemas"]
    renames: dict[str, str] = {}  # "<component>/$defs/<def>" -> new component name
    emptied: set[str] = set()
    work = list(schemas)
    while work:  # breadth first: a def may hold $defs of its own
        name = work.pop(0)
        for key, sub in schemas[name].pop("$defs", {}).items():
            new = _unique(f"{name}_{key}", schemas)
            schemas[new] = sub
            renames[f"{name}/$defs/{key}"] = new
            work.append(new)
        if schemas[name].keys() <= _FILE_METADATA:
            emptied.add(name)
    doc = _retarget(doc, renames)
    schemas = doc["components"]["schemas"]
    while inner := sorted({r[len(COMPONENTS):] for r in _refs(doc) if r.startswith(COMPONENTS) and "/" in r[len(COMPONENTS):]},
                          key=lambda path: (path.count("/"), path)):
        owner, *pointer = inner[0].split("/")
        parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer]
        holder = schemas[owner]
        for part in parts[:-1]:
            holder = holder[int(part)] if isinstance(holder, list) else holder[part]
        last = int(parts[-1]) if isinstance(holder, list) else parts[-1]
        # Name it after the property path: keywords drop out, a property called "items" stays.
        readable = [p for i, p in enumerate(parts) if p not in _SCHEMA_KEYWORDS or (i and parts[i - 1] == "properties")]
        new = _unique("_".join([owner, *readable]), schemas)
        schemas[new] = holder[last]
        holder[last] = {"$ref": COMPONENTS + new}
        doc = _retarget(doc, {inner[0]: new})
        schemas = doc["components"]["schemas"]
    referenced = {r[len(COMPONENTS):] for r in _refs(doc)}
    doc["components"]["schemas"] = {k: v for k, v in sorted(schemas.items()) if k not in emptied or k in referenced}
    return doc


def _parameters(comps: _Components, ref: str | None, location: str) -> list[dict[str, Any]]:
    if not ref:
        return []
    file, pointer = _split(ref)
    obj = resolve_pointer(_read(comps.vendor, file), pointer)
    required = set(obj.get("required", ()))
    params = []
    for name, prop in obj.get("properties", {}).items():
        if location == "header" and name.lower() in _RESERVED_HEADERS:
            continue
        param = {
            "name": name,
            "in": location,
            "required": location == "path" or name in required,
            "schema": _plain(comps.subschema(prop, file)),
        }
        if "description" in prop:
            param["description"] = prop["description"]
        params.append(param)
    return params


def _responses(comps: _Components, responses: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for status, spec in responses.items():
        entry: dict[str, Any] = {"description": spec.get("description", "")}
        if "schema" in spec:
            media = spec.get("content_type", "application/json")
            refs = [spec["schema"]] if isinstance(spec["schema"], str) else spec["schema"]
            schema = comps.ref(refs[0]) if len(refs) == 1 else {"anyOf": [comps.ref(r) for r in refs]}
            entry["content"] = {media: {"schema": schema}}
        out[status] = entry
    return out


def build(vendor: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``vendor``, ready for schemathesis or any OpenAPI tool."""
    info = api_info(vendor)
    comps = _Components(vendor)
    paths: dict[str, dict[str, Any]] = {}
    for op in operations(vendor):
        entry: dict[str, Any] = {
            "operationId": op["operationId"],
            "summary": op.get("summary", op["operationId"]),
            "description": op.get("description", ""),
            "responses": _responses(comps, op["responses"]),
        }
        if op.get("requirements"):
            entry["x-requirements"] = op["requirements"]
        params = (
            _parameters(comps, op.get("path_params"), "path")
            + _parameters(comps, op.get("query"), "query")
            + _parameters(comps, op.get("headers"), "header")
        )
        if params:
            entry["parameters"] = params
        if op.get("body"):
            media = op.get("content_type", "application/json")
            entry["requestBody"] = {
                "required": op.get("body_required", True),
                "content": {media: {"schema": comps.ref(op["body"])}},
            }
        if "security" in op:
            entry["security"] = op["security"]
        paths.setdefault(op["path"], {})[op["method"].lower()] = entry
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": info["title"],
            "version": info.get("version", "seed"),
            "description": info.get("description", ""),
            "x-seed": info["seed"],
        },
        "servers": info.get("servers", [{"url": "http://127.0.0.1:8080"}]),
        "paths": paths,
        "components": {"schemas": comps.finish()},
    }
    if info.get("securitySchemes"):
        doc["components"]["securitySchemes"] = info["securitySchemes"]
    return _hoist(doc)
