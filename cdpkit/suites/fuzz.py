"""The property-based run: schemathesis over the vendor's OpenAPI document (``cdpkit.schemas.openapi.build``).

Per operation and generation mode (positive: requests the OpenAPI document allows; negative: requests
it does not), a bounded, seeded number of cases is sent with the target's credentials. Each answer is
judged by:

* ``not_a_server_error`` — no 5xx, ever, for any input;
* ``response_schema_conformance`` — an answer whose status the document describes matches its schema;
* our own rejection rule — a request *as it went over the wire* that breaks a documented server
  requirement of the request schemas (the ``x-requirement`` annotations name which) must be refused
  (the vendor's idea of a rejection: any 4xx unless its profile says more). Assumption entries count
  only with ``--strict``.

Without ``--strict`` the OpenAPI document is the *documented view* (:func:`cdpkit.schemas.tiers.documented_view`):
constraints cdpkit assumes are left out, so neither the generated requests nor the response schemas
judge a target by cdpkit's choices.

What reaches a target that is not a cdpkit mock: every generated request to a safe (read-only)
operation; to a write, only *negative* requests that break a documented rule, checked before they are
sent, which a correct server refuses and stores nothing for; positive writes only with
``--fuzz-writes`` (they create records with generated ids, which a target's owner may not want), and
never to an operation that deletes. On a cdpkit mock every operation gets both modes.

Not run, on purpose: schemathesis' ``negative_data_rejection`` and ``positive_data_acceptance`` judge
by the OpenAPI document alone, which cannot say that a constraint is an assumption (an empty
``user_id`` is refused by the mock, but the document never says so) nor express rules across
parameters (GPTBots' "at least one of user_id, anonymous_id"); ``status_code_conformance`` would fail
an implementation for a reasonable status the document never lists (a 404 for an unknown user);
``ignored_auth`` presumes a 401/403, while a vendor may signal errors in the body.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qsl, urlsplit

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

import requests

from cdpkit.schemas import is_safe, operations
from cdpkit.schemas.openapi import build
from cdpkit.schemas.tiers import TIER_LABELS, documented_view, features_of, tier
from cdpkit.schemas.validation import Validators
from cdpkit.suites.checks import CheckFailure, Exchange
from cdpkit.suites.registry import lookup
from cdpkit.suites.target import FuzzAuth, Target

MODES = ("positive", "negative")


def _without_examples(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_examples(v) for k, v in node.items() if k not in ("examples", "example")}
    if isinstance(node, list):
        return [_without_examples(v) for v in node]
    return node


@functools.lru_cache(maxsize=None)
def openapi_schema(vendor: str, strict: bool = False) -> Any:
    """The vendor's document without its examples (replayed, they would name the document's own
    records: a tag to delete, a user to overwrite, which may be a live target's real data), and
    without cdpkit's assumed constraints unless ``strict``."""
    document = _without_examples(build(vendor))
    return schemathesis.openapi.from_dict(document if strict else documented_view(document))


@functools.lru_cache(maxsize=None)
def _validators(vendor: str) -> Validators:
    return Validators([vendor])


def operation_ids(vendor: str) -> list[str]:
    return [op["operationId"] for op in operations(vendor)]


def writes_guarded(target: Target, operation_id: str) -> bool:
    """Whether generated requests to this operation must first be shown to break a documented rule:
    a write (not safe) on a target that is not a cdpkit mock."""
    return not target.is_mock and not is_safe(next(op for op in operations(target.vendor) if op["operationId"] == operation_id))


def destructive(op: dict[str, Any]) -> bool:
    """An operation that deletes (HTTP DELETE, or an operationId naming a delete)."""
    return op["method"].upper() == "DELETE" or op["operationId"].startswith("delete_")


def skip_reason(target: Target, operation_id: str, mode: str, fuzz_writes: bool) -> str | None:
    """Why this operation and mode get no generated requests on this target, or None."""
    op = next(o for o in operations(target.vendor) if o["operationId"] == operation_id)
    # An operation of a feature the target does not implement (Zebline's modeled read-back, by default on a
    # target that is not a cdpkit mock) is judged by nothing else, so not by generated requests either: the
    # target may serve something else at its path (found by an independent Zebline, which lists users there).
    off = [f for f in features_of(target.vendor, [operation_id]) if f not in target.features]
    if off:
        return f"feature not checked: {', '.join(off)}"
    if mode == "positive" and writes_guarded(target, operation_id) and destructive(op):
        return (f"{operation_id} deletes: generated valid requests never go to a target that is not a cdpkit mock, "
                "even with --fuzz-writes (the checks delete only what a key names as disposable)")
    if mode == "positive" and writes_guarded(target, operation_id) and not fuzz_writes:
        return (f"{operation_id} writes: generated valid requests would create records on the target; "
                "--fuzz-writes sends them (the negative run, which a correct server refuses, still ran)")
    return None


@functools.lru_cache(maxsize=None)
def _api_operations(vendor: str, strict: bool) -> dict[str, Any]:
    """The document's operations by operationId, built once: schemathesis builds every operation of the
    document to list them, and a run asks for each operation in both modes."""
    schema = openapi_schema(vendor, strict)
    return {schema.get_operation_id(op): op for op in (result.ok() for result in schema.get_all_operations())}


def _api_operation(vendor: str, operation_id: str, strict: bool = False) -> Any:
    try:
        return _api_operations(vendor, strict)[operation_id]
    except KeyError:
        raise KeyError(f"{vendor} OpenAPI document has no operation {operation_id!r}") from None


def wire_parts(request: Any, path_params: dict[str, Any]) -> dict[str, Any]:
    """What the server received, part by part, as the mock's request schemas describe it."""
    query: dict[str, str] = {}
    for key, value in parse_qsl(urlsplit(request.url).query, keep_blank_values=True):
        query.setdefault(key, value)
    body: Any = None
    raw = request.body
    if raw:
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            body = _UNREADABLE
    return {
        "query": query,
        "headers": {k.lower(): v for k, v in request.headers.items()},
        "path_params": {k: str(v) for k, v in (path_params or {}).items()},
        "body": body,
    }


_UNREADABLE = object()


def must_reject(target: Target, operation_id: str, parts: dict[str, Any]) -> list[tuple[str, str]]:
    """(requirement ID, message) for every rule the sent request breaks that obliges a rejection."""
    found = []
    for part, instance in parts.items():
        if part == "body" and (instance is None or instance is _UNREADABLE):
            continue
        for violation in _validators(target.vendor).violations(target.vendor, operation_id, part, instance):
            entry = lookup(violation.requirement_id)
            if entry is not None and entry.applies_to == "server" and (entry.documented or target.strict):
                found.append((entry.id, f"{violation.location}: {violation.message}"))
    return found


RESPONSE_CHECKS = [not_a_server_error, response_schema_conformance]
"""No 5xx, always; the answer's schema where the document gives it. Without ``--strict`` the document
is the documented view, so an assumed response schema (an error body or a modeled answer the
document never shows) accepts any JSON there and only what the document states is judged."""


def user_cache_dir() -> Path:
    """The user's cache directory for cdpkit ($XDG_CACHE_HOME/cdpkit, ~/Library/Caches/cdpkit, %LOCALAPPDATA%\\cdpkit)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "cdpkit"


def keep_hypothesis_storage_out_of_cwd() -> None:
    """Hypothesis keeps files under ``./.hypothesis`` (with ``database=None`` still its cache of the
    constants of every source module it reads); a ``cdpkit check`` must not leave that folder in the
    user's directory. Unless HYPOTHESIS_STORAGE_DIRECTORY says where, it goes to the user's cache."""
    if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        set_hypothesis_home_dir(user_cache_dir() / "hypothesis")


@contextlib.contextmanager
def cases_independent_of_loaded_modules() -> Iterator[None]:
    """Hypothesis (6.131 and later) mixes into what it draws constants it reads from every *local* module
    loaded in the process: source files outside site-packages, which in a checkout include cdpkit's own.
    Which of those a process has loaded depends on how ``check`` was started (the command, in-process from
    a test session, beside another vendor, an editable install or a wheel), so one ``--seed`` sent other
    cases in each, and a verdict could hang on it. A target is judged by its document, not by the source of
    the process that checks it: the run draws from Hypothesis's global constants only, and ``--seed N`` sends
    the same cases wherever it runs. (A Hypothesis without local constants needs nothing.)"""
    try:
        from hypothesis.internal.conjecture import providers

        empty, original, cache = providers.Constants(), providers._get_local_constants, providers.CONSTANTS_CACHE.cache
    except (ImportError, AttributeError):
        yield
        return
    cache.clear()  # values allowed per choice type, computed with whatever constants were there before
    providers._get_local_constants = lambda: empty
    try:
        yield
    finally:
        providers._get_local_constants = original
        cache.clear()


def run(target: Target, operation_id: str, mode: str, *, max_examples: int, seed: int) -> int:
    """Run one operation in one mode; raises on the first failure. Returns the number of cases sent."""
    keep_hypothesis_storage_out_of_cwd()
    operation = _api_operation(target.vendor, operation_id, target.strict)
    guarded = writes_guarded(target, operation_id)
    auth = target.profile.fuzz_auth(target.creds)
    base = target.base_for(operation_id)
    strategy = operation.as_strategy(
        generation_mode=GenerationMode(mode),
        path_parameters=auth.path_parameters or None,
        query=auth.query or None,
    )
    sent = 0

    @settings(max_examples=max_examples, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), print_blob=False)
    @hypothesis_seed(seed)
    @given(case=strategy)
    def one(case: Any) -> None:
        nonlocal sent
        if auth.fill:
            case.body, case.query = _filled(case.body, auth.fill), _filled(case.query, auth.fill)
        if guarded and not must_reject(target, operation_id, wire_parts(_prepared(case, base, auth), case.path_parameters or {})):
            return  # a write a correct server might accept: never sent to a target that is not a mock
        sent += 1
        response = case.call(base_url=base, session=target.session, headers=auth.headers or None, timeout=target.timeout)
        case.validate_response(response, checks=RESPONSE_CHECKS)
        broken = must_reject(target, operation_id, wire_parts(response.request, case.path_parameters or {}))
        exchange = _exchange(response, target)
        if broken and not target.profile.is_rejection(exchange):
            # the strongest rule first, and its tier said: a --strict run may break only an assumption
            rid, message = min(broken, key=lambda b: not lookup(b[0]).documented)
            raise CheckFailure(rid, exchange.describe_response(),
                               f"a rejection: the request breaks {rid}, {TIER_LABELS[tier(lookup(rid))]} ({message})",
                               exchange.describe_request())

    with cases_independent_of_loaded_modules():
        one()
    return sent


def _prepared(case: Any, base: str, auth: FuzzAuth) -> Any:
    """The request ``case`` would send to ``base``, prepared but not sent (to judge it before it leaves)."""
    kwargs = case.as_transport_kwargs(base_url=base, headers=auth.headers or None)
    kwargs = {k: v for k, v in kwargs.items() if k in ("method", "url", "headers", "params", "json", "data", "cookies", "files")}
    return requests.Request(**kwargs).prepare()


def _filled(generated: Any, fill: dict[str, str]) -> Any:
    """``generated`` with each non-empty string field named in ``fill`` replaced (see FuzzAuth.fill)."""
    if not isinstance(generated, dict):
        return generated
    return {**generated, **{k: v for k, v in fill.items() if isinstance(generated.get(k), str) and generated[k]}}


def _exchange(response: Any, target: Target) -> Exchange:
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        body = None
    request = response.request
    raw = request.body
    return Exchange(
        method=request.method, url=request.url, request_headers=dict(request.headers),
        request_body=raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw,
        status=response.status_code, headers=dict(response.headers),
        text=response.content.decode("utf-8", "replace") if response.content else "", body=body, secrets=target.creds,
    )
