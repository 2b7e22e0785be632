"""The contract between the shared pipeline and a vendor module.

A vendor module (``cdpkit/mockserver/<vendor>.py``) exports ``VENDOR = Vendor(...)``: a table of handlers
keyed by the operationIds of ``cdpkit/schemas/<vendor>/operations.json``, the vendor's error envelope, its
demo data and how to show its state. The pipeline (:mod:`cdpkit.mockserver.pipeline`) does everything
that is the same for all vendors: routing, body parsing and limits, faults, the journal, commits.

Handlers are plain synchronous functions ``(call: Call) -> Reply``. They read and write state only
through ``call.state``; writes become visible (and durable, with SQLite) only when the pipeline
commits after a successful reply, so a handler that raises :class:`Rejection` changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from cdpkit.schemas.validation import headers_pass

if TYPE_CHECKING:
    from aiohttp import web
    from multidict import CIMultiDictProxy

    from cdpkit.mockserver.store import Scope
    from cdpkit.schemas.validation import Validators, Violation


@dataclass
class Reply:
    """What a handler answers. ``body`` is JSON-able, or ``str``/``bytes`` with another content type."""

    status: int
    body: Any = None
    content_type: str = "application/json"
    headers: Mapping[str, str] | None = None
    violations: tuple[str, ...] = ()


class Rejection(Exception):
    """Raised by a handler (or the pipeline) to refuse a request; the vendor renders the body.

    ``requirement_ids`` name the catalog entries the request violated; ``detail`` carries
    vendor-specific data for the envelope (an error code, say).
    """

    def __init__(
        self,
        status: int,
        message: str,
        requirement_ids: tuple[str, ...] | list[str] = (),
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.requirement_ids = tuple(requirement_ids)
        self.detail = dict(detail or {})


@dataclass(slots=True)
class Call:
    """One request as a handler sees it (slotted: one is made per request, issue 9)."""

    vendor: str
    operation_id: str
    request: "web.Request"
    path_params: dict[str, str]
    query: dict[str, str]
    headers: "CIMultiDictProxy[str]"
    body: Any
    state: "Scope"
    validators: "Validators"
    now: float
    # The body exactly as received: what a signature over the body (Quick Audience) is computed on.
    raw_body: bytes = b""

    def violations(self, part: str) -> "list[Violation]":
        """Schema violations of one part (``"body"``, ``"query"``, ``"headers"``, ``"path_params"``)."""
        if part == "headers":
            rules = self.validators.header_rules(self.vendor, self.operation_id)
            if rules is not None and headers_pass(rules, self.headers):  # surely valid: no copy to validate
                return []
            # The first of repeated headers, as ``headers[name]`` gives handlers: validate what they read.
            instance: Any = {k.lower(): v for k, v in self.headers.items()}
            if len(instance) != len(self.headers):  # a repeated header: the comprehension kept the last
                instance = {}
                for k, v in self.headers.items():
                    instance.setdefault(k.lower(), v)
        elif part == "body":
            instance = self.body
        elif part == "query":
            instance = self.query
        elif part == "path_params":
            instance = self.path_params
        else:
            raise KeyError(part)
        return self.validators.violations(self.vendor, self.operation_id, part, instance)

    def bearer_token(self) -> str:
        """The token of an ``Authorization: Bearer <token>`` header the headers schema has accepted."""
        return self.headers["Authorization"].split(" ", 1)[1].strip()

    def require_valid(self, part: str, status: int = 400) -> None:
        """Raise a :class:`Rejection` naming every violated requirement if ``part`` breaks its schema."""
        found = self.violations(part)
        if found:
            raise Rejection(
                status,
                "; ".join(f"{v.location}: {v.message}" for v in found),
                tuple(dict.fromkeys(v.requirement_id for v in found)),
                {"violations": [v.as_dict() for v in found]},
            )


def seed_string(record: Any, key: str, problem: str) -> str:
    """``record[key]`` of a seed entry when it is a string, else a ValueError saying ``problem``.

    Seed data is user input: a wrong shape must be refused in words, not crash a vendor's load_seed.
    """
    if not isinstance(record, dict) or not isinstance(record.get(key), str):
        raise ValueError(problem)
    return record[key]


Handler = Callable[[Call], Reply]
ErrorRenderer = Callable[[Rejection, "Call | None"], Reply]


@dataclass
class InputErrors:
    """Requirement IDs (and statuses) the pipeline uses for bad input before any handler runs."""

    malformed_json: tuple[str, int]
    wrong_content_type: tuple[str, int]
    too_large: tuple[str, int]
    too_deep: tuple[str, int]


@dataclass
class Vendor:
    name: str
    title: str
    handlers: dict[str, Handler]
    render_error: ErrorRenderer
    input_errors: InputErrors
    demo: Callable[[], dict[str, Any]]
    load_seed: Callable[["Scope", dict[str, Any]], None]
    credentials: Callable[["Scope"], dict[str, Any]]
    state_view: Callable[["Scope"], dict[str, Any]] | None = None
    # Documented 5xx answers a client may need to rehearse; reachable via the fault API.
    documented_5xx: tuple[int, ...] = ()
    notes: list[str] = field(default_factory=list)
