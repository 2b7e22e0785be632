"""Assemble a vendor's OpenAPI 3.1 document from its operation table and schema files.

Nothing here is written by hand twice: every schema is embedded from ``schemas/<vendor>/`` under
``components/schemas/<file stem>`` and every operation comes from ``operations.json``.

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

from typing import Any

from schemas import _read, _rewrite, _split, api_info, operations, resolve_pointer

COMPONENTS = "#/components/schemas/"
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
        return {name.removesuffix(".json"): body for name, body in sorted(self.done.items())}


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
            "schema": comps.subschema(prop, file),
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
    return doc
