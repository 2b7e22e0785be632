"""The implementation under test, as every check sees it: the ``cdp`` fixture's object.

A vendor suite module (``suites/test_<vendor>.py``) exports ``PROFILE = VendorProfile(...)``: the
``--cred`` keys it understands (each with what it enables), how a request is authenticated for the
schemathesis run, and what counts as a rejection. The framework needs nothing else per vendor.
"""

from __future__ import annotations

import importlib
import importlib.util
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import pytest
import requests

from mockserver.client import MockClient
from schemas.tiers import features as vendor_features
from suites.checks import Exchange, Expect, default_is_rejection


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
    return f"suites.test_{vendor}"


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


def control_url(url: str, vendor: str) -> str | None:
    """The cdpkit mock's base URL behind ``url`` (which may carry the ``/<vendor>`` prefix), or None."""
    url = url.rstrip("/")
    for base in (url, url.removesuffix(f"/{vendor}")):
        if MockClient(base).is_mock():
            return base
    return None


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
    ) -> None:
        self.url = url.rstrip("/")
        self.profile = profile
        self.vendor = profile.vendor
        self.creds = dict(creds)
        self.strict = strict
        self.control = control  # the mock's base URL when fixtures may be seeded through its control API
        self.is_mock = control is not None
        self.features = features if features is not None else frozenset(f.name for f in vendor_features(profile.vendor))
        self.timeout = timeout
        self.session = requests.Session()
        self.requirement_id: str | None = None
        self.exchanges: list[Exchange] = []

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
            pytest.skip("needs a fixture the documented API cannot create; seeded only on a cdpkit mock")
        return MockClient(self.control or self.url)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: bytes | str | None = None,
    ) -> Exchange:
        """Send one request to the target and record it for the failure message."""
        response = self.session.request(
            method, self.url + path, params=params, headers=dict(headers or {}), json=json, data=data, timeout=self.timeout
        )
        try:
            body = response.json()
        except ValueError:
            body = None
        sent = response.request
        exchange = Exchange(
            method=method.upper(),
            url=sent.url or self.url + path,
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
