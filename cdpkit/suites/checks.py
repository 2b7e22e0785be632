"""Exchanges and the ``expect`` helpers whose failures read "Received: … Documented: …".

A failed check must let the reader reproduce and judge it without the suite's source: it shows the
request as sent (credentials replaced by the ``--cred`` key that supplied them), the answer received,
what the document says, and the catalog entry (ID, English gloss) that makes it a requirement.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import jsonschema

from cdpkit.schemas import bundle
from cdpkit.schemas.tiers import documented_view
from cdpkit.suites.registry import lookup

_BODY_LIMIT = 600


@dataclass
class Exchange:
    """One HTTP request the suite sent and the answer it received."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: Any
    status: int
    headers: dict[str, str]
    text: str
    body: Any = None  # the decoded JSON answer, or None
    secrets: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def _redact(self, text: str) -> str:
        for key, value in sorted(self.secrets.items(), key=lambda kv: -len(kv[1])):
            if value and len(value) >= 4:
                text = text.replace(value, "${" + key + "}")
        return text

    def describe_request(self) -> str:
        shown = {k: v for k, v in self.request_headers.items() if k.lower() not in _NOISE_HEADERS}
        parts = [f"{self.method} {self.url}"]
        parts += [f"{k}: {v}" for k, v in shown.items()]
        if self.request_body is not None:
            parts.append(_clip(self.request_body))
        return self._redact("  ".join(parts))

    def describe_response(self) -> str:
        shown = _clip(self.body) if self.body is not None else _clip(self.text)
        return self._redact(f"{self.status} {shown}")


_NOISE_HEADERS = {"user-agent", "accept-encoding", "accept", "connection", "content-length"}


def _clip(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= _BODY_LIMIT else text[:_BODY_LIMIT] + f"… ({len(text)} chars)"


class CheckFailure(AssertionError):
    """A conformance failure: the implementation answered what the document does not allow."""

    def __init__(self, requirement_id: str | None, received: str, documented: str, request: str | None = None) -> None:
        self.requirement_id = requirement_id
        self.received = received
        self.documented = documented
        self.request = request
        lines = []
        entry = lookup(requirement_id) if requirement_id else None
        if entry is not None:
            lines.append(f"[{requirement_id}] {entry.english}")
        if request:
            lines.append(f"Request:    {request}")
        lines.append(f"Received:   {received}")
        lines.append(f"Documented: {documented}")
        if entry is not None:
            lines.append(f"Source:     {entry.seed}: \u201c{entry.quote}\u201d")
        super().__init__("\n".join(lines))


def default_is_rejection(exchange: Exchange) -> bool:
    """Where the documents name no status, any 4xx is a reasonable way to refuse a request."""
    return 400 <= exchange.status < 500


def near_misses(secret: str) -> tuple[str, ...]:
    """``secret`` with its last character changed, with one more, and with one fewer: credentials nobody was
    issued that a server comparing only a prefix would let through (independent servers with each of these
    bugs passed every check of unknown credentials: ``given.startswith(issued)``, ``issued.startswith(given)``,
    a comparison of the first N characters)."""
    changed = secret[:-1] + ("0" if secret[-1:] != "0" else "1")
    return tuple(near for near in (changed, secret + "0", secret[:-1]) if near)


@functools.lru_cache(maxsize=None)
def _validator(vendor: str, ref: str, strict: bool) -> jsonschema.protocols.Validator:
    schema = bundle(vendor, ref)
    if not strict:
        schema = documented_view(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def schema_errors(vendor: str, ref: str, instance: Any, *, strict: bool = False) -> list[str]:
    """Messages for every way ``instance`` breaks the vendor schema ``ref`` (empty when it conforms).

    Without ``strict`` only what the document states is judged: the schema's assumed constraints are
    left out (:func:`cdpkit.schemas.tiers.documented_view`)."""
    errors = sorted(_validator(vendor, ref, strict).iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [f"at /{'/'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in errors]


class Expect:
    """Assertions bound to the current check's requirement and the vendor's idea of a rejection."""

    def __init__(self, vendor: str, requirement_id: str | None, is_rejection: Callable[[Exchange], bool],
                 *, strict: bool = False) -> None:
        self.strict = strict
        self.vendor = vendor
        self.requirement_id = requirement_id
        self._is_rejection = is_rejection

    def fail(self, received: str, documented: str, exchange: Exchange | None = None) -> None:
        raise CheckFailure(self.requirement_id, received, documented, exchange.describe_request() if exchange else None)

    def that(self, condition: bool, exchange: Exchange | None, received: str, documented: str) -> None:
        if not condition:
            self.fail(received, documented, exchange)

    def status(self, exchange: Exchange, codes: int | Iterable[int], documented: str) -> None:
        """The answer's status is one the document names (use only where it names one)."""
        allowed = {codes} if isinstance(codes, int) else set(codes)
        if exchange.status not in allowed:
            self.fail(exchange.describe_response(), documented, exchange)

    def success(self, exchange: Exchange, documented: str = "an accepted call (any 2xx)") -> None:
        if not exchange.ok or self._is_rejection(exchange):
            self.fail(exchange.describe_response(), documented, exchange)

    def rejected(self, exchange: Exchange, documented: str = "a rejection (any 4xx)") -> None:
        if not self._is_rejection(exchange):
            self.fail(exchange.describe_response(), documented, exchange)

    def conforms(self, exchange: Exchange, ref: str, documented: str | None = None) -> None:
        """The JSON answer matches the vendor schema ``ref`` (extra fields allowed unless it forbids them).

        A check of a documented (or modeled) entry judges only what the document states, even with
        ``--strict``: a failure it reports carries its own, documented ID, so an assumed constraint of the
        same schema must not make it fail. Only a check of an assumption entry, with ``--strict``, judges
        the whole schema."""
        if exchange.body is None:
            self.fail(exchange.describe_response(), documented or f"a JSON body matching {ref}", exchange)
        entry = lookup(self.requirement_id) if self.requirement_id else None
        whole = self.strict and entry is not None and not entry.documented and not entry.model
        errors = schema_errors(self.vendor, ref, exchange.body, strict=whole)
        if errors:
            received = exchange.describe_response() + "\n            " + "\n            ".join(errors[:5])
            self.fail(received, documented or f"a body matching {self.vendor}/{ref}", exchange)
