"""The implementation under test, as every check sees it: the ``cdp`` fixture's object.

A vendor suite module (``cdpkit/suites/test_<vendor>.py``) exports ``PROFILE = VendorProfile(...)``: the
``--cred`` keys it understands (each with what it enables), how a request is authenticated for the
schemathesis run, and what counts as a rejection. The framework needs nothing else per vendor.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import socket
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import pytest
import requests

from cdpkit.mockserver.client import MockClient
from cdpkit.schemas.tiers import features as vendor_features
from cdpkit.suites.checks import Exchange, Expect, default_is_rejection


@dataclass(frozen=True)
class CredKey:
    name: str
    help: str
    required: bool = False


@dataclass(frozen=True)
class FuzzAuth:
    """What the schemathesis run sends with every generated case so it gets past authentication."""

    headers: dict[str, str] = field(default_factory=dict)
    path_parameters: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    # Credentials that are request fields the document defines (TTO's api_key, in the JSON body and in
    # settings' query): each replaces the value generated for a body or query field of that name when
    # that value is a non-empty string; a missing field, another type or "" is sent as generated, so
    # negative cases still test the rule.
    fill: dict[str, str] = field(default_factory=dict)


def bearer(cred_key: str) -> Callable[[Mapping[str, str]], FuzzAuth]:
    """The fuzz authentication of an API that takes ``Authorization: Bearer ${<cred_key>}``."""
    return lambda creds: FuzzAuth(headers={"Authorization": f"Bearer {creds[cred_key]}"})


@dataclass(frozen=True)
class VendorProfile:
    vendor: str
    keys: tuple[CredKey, ...]
    fuzz_auth: Callable[[Mapping[str, str]], FuzzAuth]
    is_rejection: Callable[[Exchange], bool] = default_is_rejection
    # operationId -> the --cred key naming the base URL that operation is served at, when the document puts it
    # on a host of its own (Sensors: the look-ups on {online-domain}, the H5 page); the target's URL otherwise
    hosts: Mapping[str, str] = field(default_factory=dict)

    def key(self, name: str) -> CredKey:
        for key in self.keys:
            if key.name == name:
                return key
        raise KeyError(f"{self.vendor} takes no --cred {name}; known: {', '.join(k.name for k in self.keys)}")

    def check_creds(self, creds: Mapping[str, str]) -> list[str]:
        """Problems with a credential set: unknown keys and missing required ones."""
        known = {k.name for k in self.keys}
        problems = [f"unknown --cred key {k!r} for {self.vendor} (known: {', '.join(sorted(known))})" for k in creds if k not in known]
        problems += [f"missing --cred {k.name}=… ({k.help})" for k in self.keys if k.required and not creds.get(k.name)]
        return problems


def suite_module(vendor: str) -> str:
    return f"cdpkit.suites.test_{vendor}"


def has_suite(vendor: str) -> bool:
    return importlib.util.find_spec(suite_module(vendor)) is not None


def load_profile(vendor: str) -> VendorProfile:
    """The vendor's PROFILE from its suite module; LookupError when that suite is not written yet."""
    if not has_suite(vendor):
        raise LookupError(f"no conformance suite for {vendor!r} yet (expected module {suite_module(vendor)})")
    return importlib.import_module(suite_module(vendor)).PROFILE


def parse_cred(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"--cred takes KEY=VALUE, not {text!r}")
    return key.strip(), value


EXAMPLE_URL = "http://127.0.0.1:8080"


def url_problem(url: str, option: str = "--target") -> str | None:
    """What is wrong with ``url`` as a base URL given to ``option``, with the URL that was probably meant; None if fine."""
    parts = urllib.parse.urlsplit(url)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if parts.scheme in ("http", "https") and parts.hostname and port_ok:
        return None
    problem = f"{option} takes an http(s) base URL such as {EXAMPLE_URL}, not {url!r}"
    if "://" not in url and url.strip():
        return f"{problem}: did you mean {option} http://{url.strip()}?"
    return problem


def unreachable(url: str, timeout: float = 5.0) -> str | None:
    """Why nothing accepts connections at ``url``'s host and port (refused, unknown host, timed out), or None.

    Asked once before any check runs, so a server that is not running is one clear message, not a
    failure per check. Behind an HTTP proxy (``*_PROXY``) the proxy decides what is reachable: no probe."""
    import requests.utils

    if requests.utils.get_environ_proxies(url):
        return None
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        return f"cannot reach {url}: {reason}. Is the server running, and are the host and port right?"
    return None


def find_mock(url: str, vendor: str) -> tuple[str | None, str | None]:
    """(the cdpkit mock's base URL behind ``url``, None), or (None, what its control API said when it refused
    us: an admin token needed or wrong, a Host not allowed), or (None, None) when ``url`` is no cdpkit mock.
    ``url`` may carry the ``/<vendor>`` prefix. One GET of ``/__mock/`` per candidate base."""
    headers = {"X-Cdpkit-Token": os.environ["CDPKIT_ADMIN_TOKEN"]} if os.environ.get("CDPKIT_ADMIN_TOKEN") else {}
    url = url.rstrip("/")
    refused = None
    for base in dict.fromkeys((url, url.removesuffix(f"/{vendor}"))):
        try:
            answer = requests.get(f"{base}/__mock/", headers=headers, timeout=10)
            body = answer.json()
        except (requests.RequestException, ValueError):
            continue
        if not isinstance(body, dict):
            continue
        if answer.status_code == 200 and "endpoints" in body:
            return base, None
        if answer.status_code in (401, 403) and body.get("error") == "control_api_refused":
            refused = refused or str(body.get("message") or answer.status_code)
    return None, refused


def fill_from_mock(given: Mapping[str, str], mock: Mapping[str, str]) -> dict[str, str]:
    """The mock's credentials for the keys not given. A mock value already given under another key is
    left out: filling it in would make both sides of an isolation check the same tenant."""
    used = set(given.values())
    return {k: v for k, v in mock.items() if k not in given and v not in used}


def control_url(url: str, vendor: str) -> str | None:
    """The cdpkit mock's base URL behind ``url`` (which may carry the ``/<vendor>`` prefix), or None."""
    return find_mock(url, vendor)[0]


def mock_credentials(control: str, vendor: str) -> dict[str, str]:
    """The mock's ``check`` credentials for ``vendor`` (exactly the ``--cred`` keys ``cdpkit check`` takes)."""
    found = MockClient(control).credentials().get(vendor) or {}
    return {k: str(v) for k, v in found.get("check", {}).items()}


class Target:
    """The URL under test with its vendor, credentials and an HTTP session that records exchanges."""

    def __init__(
        self,
        url: str,
        profile: VendorProfile,
        creds: Mapping[str, str],
        *,
        strict: bool,
        control: str | None = None,
        timeout: float = 15.0,
        features: frozenset[str] | None = None,
        mock_unused: str | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.profile = profile
        self.vendor = profile.vendor
        self.creds = dict(creds)
        self.strict = strict
        self.control = control  # the mock's base URL when fixtures may be seeded through its control API
        self.is_mock = control is not None
        # the target is a cdpkit mock whose control API cdpkit does not use: what would make it usable
        self.mock_unused = None if self.is_mock else mock_unused
        self.features = features if features is not None else frozenset(f.name for f in vendor_features(profile.vendor))
        self.timeout = timeout
        self.session = requests.Session()
        self.requirement_id: str | None = None
        self.exchanges: list[Exchange] = []
        self.filled_from_mock: tuple[str, ...] = ()  # --cred keys not given that the mock's /__mock/credentials supplied

    @property
    def expect(self) -> Expect:
        return Expect(self.vendor, self.requirement_id, self.profile.is_rejection, strict=self.strict)

    def require(self, *names: str) -> tuple[str, ...] | str:
        """The named credentials, or skip the check saying which ``--cred`` key would enable it."""
        absent = [n for n in names if not self.creds.get(n)]
        if absent:
            hints = "; ".join(f"--cred {n}=… ({self.profile.key(n).help})" for n in absent)
            pytest.skip(f"needs {hints}")
        values = tuple(self.creds[n] for n in names)
        return values[0] if len(values) == 1 else values

    def has(self, name: str) -> bool:
        return bool(self.creds.get(name))

    @staticmethod
    def unique(prefix: str = "cdpkit") -> str:
        """A fresh id no earlier run used, so checks can share a long-lived target."""
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    def mock(self) -> MockClient:
        """The control API, when the target is a cdpkit mock; otherwise skip (only the documented API is used)."""
        if not self.is_mock:
            if self.mock_unused:
                pytest.skip(f"needs a fixture seeded through this cdpkit mock's control API: {self.mock_unused}")
            pytest.skip("needs a fixture the documented API cannot create; the target is not a cdpkit mock, and only a "
                        "cdpkit mock's control API can seed it")
        return MockClient(self.control or self.url)

    def accepted(self, exchange: Exchange) -> bool:
        """Whether ``exchange`` is a 2xx that is no refusal in this vendor's terms: what ``expect.success``
        demands, asked without judging (a positive control, a branch on what a server chose)."""
        return exchange.ok and not self.profile.is_rejection(exchange)

    def base_for(self, operation: str | None) -> str:
        """The base URL ``operation`` is served at: its host's ``--cred`` key when given (profile.hosts), else the target's."""
        key = self.profile.hosts.get(operation or "")
        return (self.creds.get(key) or self.url).rstrip("/") if key else self.url

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: bytes | str | None = None,
        operation: str | None = None,
    ) -> Exchange:
        """Send one request (of ``operation``, which may be served on a host of its own) and record it for the
        failure message."""
        base = self.base_for(operation)
        try:
            response = self.session.request(
                method, base + path, params=params, headers=dict(headers or {}), json=json, data=data, timeout=self.timeout
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            # one line, not the HTTP library's traceback: not a verdict on a requirement, the target did not answer
            pytest.fail(f"no answer from {base} to {method.upper()} {path}: {_no_answer(exc, self.timeout)}", pytrace=False)
        try:
            body = response.json()
        except ValueError:
            body = None
        sent = response.request
        exchange = Exchange(
            method=method.upper(),
            url=sent.url or base + path,
            request_headers=dict(sent.headers),
            request_body=json if json is not None else data.decode("utf-8", "replace") if isinstance(data, bytes) else data,
            status=response.status_code,
            headers=dict(response.headers),
            text=response.text,
            body=body,
            secrets=self.creds,
        )
        self.exchanges.append(exchange)
        return exchange


def _no_answer(exc: BaseException, timeout: float) -> str:
    """A short reason for a request that got no HTTP answer (the innermost OS error, or the timeout)."""
    if isinstance(exc, requests.Timeout) and not isinstance(exc, requests.ConnectTimeout):
        return f"no answer within {timeout:g} s"
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        nested = getattr(seen, "reason", None)
        seen = nested if isinstance(nested, BaseException) else (seen.__context__ or seen.__cause__)
    return type(exc).__name__
