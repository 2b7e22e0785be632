"""Universal negative checks: every documented operation of every target, fed a client's mistakes.

For each operation the cases are built from its request schema, seen as the document states it
(:func:`cdpkit.schemas.tiers.documented_view`): malformed JSON, a body of another JSON type, each documented
property with a value of the wrong type, each documented-required property missing, and, for query
parameters, a value that is not UTF-8. Whatever the document leaves open, the answer is never 5xx
(``<P>-NO-5XX``); where the documented request schema is broken, the answer is the vendor's idea of a
refusal (named by the broken rule's ID); where the document names the status of a malformed request
(Zebline's 400), that status.

A correct server stores nothing for a refused request, and the cases use freshly generated ids, so
this runs on shared targets too. Operations whose feature the target does not implement are skipped.
"""

from __future__ import annotations

import functools
import re
import uuid
from typing import Any, Callable, Iterator

import orjson
import pytest

from cdpkit import generators
from cdpkit.generators import transport
from cdpkit.generators.tto import API_KEY_PLACEHOLDER as TTO_KEY_PLACEHOLDER
from cdpkit.schemas import VENDORS, bundle, operations, resolve_pointer
from cdpkit.schemas.tiers import documented_view, features_of
from cdpkit.suites import fuzz
from cdpkit.suites.checks import Exchange
from cdpkit.suites.plugin import TARGET_KEY
from cdpkit.suites.registry import requirement
from cdpkit.suites.target import Target

NO_5XX = {"tto": "TTO-NO-5XX", "quickaudience": "QA-NO-5XX", "sensors": "SF-NO-5XX", "gptbots": "GPT-NO-5XX",
          "zebline": "ZEB-NO-5XX"}
# vendor -> (requirement, status) where the document names the answer to a request it cannot parse
MALFORMED_STATUS = {"zebline": ("ZEB-STATUS-400", 400)}
RELIES_ON = {"quickaudience": ("QA-REST-SURFACE",)}
MALFORMED = b'{"cdpkit": "unterminated'
CREDENTIAL_FIELDS = ("api_key",)  # body fields that carry a credential (TTO): kept in every case but their own
WRONG_VALUE = {"string": {"cdpkit": ["an object"]}, "object": "a string", "array": "a string", "integer": "a string",
               "number": "a string", "boolean": "a string", "null": "a string"}


@functools.lru_cache(maxsize=None)
def _documented(vendor: str, ref: str, whole: bool = False) -> dict[str, Any]:
    """The documented view of a request schema (``whole``: with cdpkit's assumptions too), its top-level ``$ref``
    (a bundled ``#/$defs/…``) followed."""
    schema = bundle(vendor, ref) if whole else documented_view(bundle(vendor, ref))
    while isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#/"):
        schema = {**resolve_pointer(schema, schema["$ref"][1:]), "$defs": schema.get("$defs", {})}
    return schema


def _resolved(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """A (documented) property schema with its local ``$ref``s and typed ``allOf`` followed."""
    for _ in range(8):
        if isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#/"):
            schema = resolve_pointer(root, schema["$ref"][1:])
        elif "type" not in schema and isinstance(schema.get("allOf"), list) and schema["allOf"]:
            schema = next((s for s in schema["allOf"] if isinstance(s, dict) and ("type" in s or "$ref" in s)), {})
        else:
            break
    return schema


def _first_type(schema: dict[str, Any], root: dict[str, Any]) -> str | None:
    """The first JSON type a (documented) property schema declares, following local ``$ref``s and ``allOf``."""
    kind = _resolved(schema, root).get("type")
    return kind[0] if isinstance(kind, list) and kind else kind if isinstance(kind, str) else None


def cases(vendor: str, op: dict[str, Any]) -> Iterator[tuple[str, Callable[[Any], Any]]]:
    """(case name, how it turns a valid payload into the bad one); ``MALFORMED`` bytes stand for a body."""
    if op.get("body"):
        body = _documented(vendor, op["body"])
        yield "malformed-json", lambda payload: MALFORMED
        if _first_type(body, body) == "object":
            yield "body-not-an-object", lambda payload: [payload]
        for name, prop in sorted((body.get("properties") or {}).items()):
            kind = _first_type(prop, body) if isinstance(prop, dict) else None
            if kind in WRONG_VALUE:
                yield f"wrong-type:{name}", lambda payload, n=name, k=kind: {**payload, n: WRONG_VALUE[k]}
        # A list of the wrong things, judged only as "never a 5xx" (so read from the whole schema, assumptions
        # included: what the items are may be cdpkit's reading): an independent server's 500 was there.
        whole = _documented(vendor, op["body"], whole=True)
        for name, prop in sorted((whole.get("properties") or {}).items()):
            if not isinstance(prop, dict) or _first_type(prop, whole) != "array":
                continue
            items = _resolved(prop, whole).get("items")
            item_kind = _first_type(items, whole) if isinstance(items, dict) else None
            wrong = WRONG_VALUE.get(item_kind or "string", WRONG_VALUE["string"])  # items unsaid: an object will do
            yield f"wrong-item-type:{name}", lambda payload, n=name, w=wrong: {**payload, n: [w]}
        for name in body.get("required") or []:
            yield f"missing:{name}", lambda payload, n=name: {k: v for k, v in payload.items() if k != n}
    elif op.get("query"):
        query = _documented(vendor, op["query"])
        for name in sorted(query.get("properties") or {}):
            yield f"not-utf8:{name}", lambda payload, n=name: {**payload, n: b"\xff\xfe"}


def _payload(target: Target, op_id: str, holding: str | None = None) -> dict[str, Any]:
    """A fresh valid payload (credentials enter in :func:`send`), or ``{}`` where no generator exists;
    ``holding``: one that carries that field, where the generator draws one within 20 tries (a Quick Audience
    WEB channel has no platformTypes for a case to spoil)."""
    name = f"{target.vendor}.{op_id}"
    if name not in generators.operations():
        return {}
    for _ in range(20):
        payload = generators.valid(name, seed=f"bad-input:{uuid.uuid4().hex}")
        if holding is None or (isinstance(payload, dict) and holding in payload):
            break
    if isinstance(payload, dict) and payload.get("api_key") == TTO_KEY_PLACEHOLDER:
        payload = {**payload, "api_key": target.creds.get("api_key", "")}
    return payload


def send(target: Target, op: dict[str, Any], payload: Any) -> Exchange:
    """Send ``payload`` the way the vendor authenticates. Without the credentials an operation needs (a
    Quick Audience collection key) it goes unauthenticated: never 5xx holds all the same."""
    try:
        request = transport.request_for(f"{target.vendor}.{op['operationId']}", {}, target.creds)
    except transport.MissingCredential:
        request = transport.PreparedRequest(op["method"].upper(), re.sub(r"\{[^}/]+\}", "cdpkit-none", op["path"]))
    headers = {"Content-Type": "application/json", **request.headers} if op.get("body") else request.headers
    if not op.get("body"):
        return target.request(request.method, request.path, params={**request.query, **payload}, headers=headers,
                              operation=op["operationId"])
    if isinstance(payload, dict) and isinstance(request.json, dict):
        payload = {**{k: v for k, v in request.json.items() if k in CREDENTIAL_FIELDS}, **payload}
    data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return target.request(request.method, request.path, params=request.query, headers=headers, data=data,
                          operation=op["operationId"])


def judge(target: Target, op: dict[str, Any], case: str, payload: Any, exchange: Exchange) -> None:
    vendor = target.vendor
    expect = target.expect
    expect.requirement_id = NO_5XX[vendor]
    expect.that(exchange.status < 500, exchange, exchange.describe_response(),
                f"a 4xx or an answer, never 5xx: {case} is the client's mistake")
    if payload is MALFORMED and vendor in MALFORMED_STATUS:
        expect.requirement_id, status = MALFORMED_STATUS[vendor]
        expect.status(exchange, status, f"{status} for a request whose format is wrong")
        return
    if not case.startswith(("wrong-type:", "missing:")):
        return
    part = "body" if op.get("body") else "query"
    # only the part this case changed: the request's other parts carry the credentials, which the case leaves alone
    broken = fuzz.must_reject(target, op["operationId"], {part: payload})
    if broken:
        expect.requirement_id = broken[0][0]
        expect.rejected(exchange, f"a refusal: {case} breaks {broken[0][0]} ({broken[0][1]})")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "bad_case" not in metafunc.fixturenames:
        return
    target = metafunc.config.stash.get(TARGET_KEY, None)
    vendor = metafunc.function.__name__.removeprefix("test_bad_input_is_never_a_server_error_")
    params = []
    if target is not None and target.vendor == vendor:
        params = [(op["operationId"], case) for op in operations(vendor) for case, _ in cases(vendor, op)]
    metafunc.parametrize("bad_case", params, ids=[f"{o}:{c}" for o, c in params])


def _check(cdp: Target, bad_case: tuple[str, str]) -> None:
    op_id, case = bad_case
    op = next(o for o in operations(cdp.vendor) if o["operationId"] == op_id)
    off = [f for f in features_of(cdp.vendor, [op_id]) if f not in cdp.features]
    if off:
        pytest.skip(f"feature not checked: {', '.join(off)}")
    change = dict(cases(cdp.vendor, op))[case]
    payload = change(_payload(cdp, op_id, case.partition(":")[2] if case.startswith("wrong-item-type:") else None))
    judge(cdp, op, case, payload, send(cdp, op, payload))


def _register(vendor: str) -> None:
    """One check function per vendor (each carries its vendor's ID), parametrized by operation and case."""
    def check(cdp: Target, bad_case: tuple[str, str]) -> None:
        _check(cdp, bad_case)

    check.__name__ = check.__qualname__ = f"test_bad_input_is_never_a_server_error_{vendor}"
    globals()[check.__name__] = requirement(NO_5XX[vendor], relies_on=RELIES_ON.get(vendor, ()))(check)


for _vendor in VENDORS:
    _register(_vendor)
