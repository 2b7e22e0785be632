"""Keeps the control API (``/__mock/``) out of reach of web pages and of other machines.

A mock on a developer's laptop is reachable by every page their browser opens. Without a guard, a page
could reset the mock or inject faults with a cross-site ``text/plain`` POST (browsers send those
without asking), or read the journal through DNS rebinding (a hostile name that resolves to
127.0.0.1). So, for every ``/__mock`` request:

* the ``Host`` header must name the mock itself (a loopback name, the ``--host`` it listens on, or an
  ``--allow-host``): a rebinding page's Host is its own domain, and is refused;
* an ``Origin`` header, when a browser sends one, must be such a host too: a cross-site page is refused;
* a write (POST, PUT, PATCH, DELETE) must say ``Content-Type: application/json``, which a browser cannot
  send across sites without a CORS preflight, and the mock answers no preflight;
* with an admin token (``--admin-token``, or generated when the mock listens beyond loopback), every
  control request must carry it: ``Authorization: Bearer <token>`` or ``X-Cdpkit-Token: <token>``,
  compared in constant time; only the dashboard's page itself, which holds no data, opens without it.

Vendor routes are untouched: they are the APIs under test, and a real vendor API is reachable too.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Awaitable, Callable
from urllib.parse import urlsplit

import orjson
from aiohttp import web

PREFIX = "/__mock"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TOKEN_HEADER = "X-Cdpkit-Token"


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the mock on this machine."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _hostname(value: str) -> str:
    """The host of a ``Host`` header value or an origin, lower-cased, without port or brackets."""
    netloc = urlsplit(value).netloc if "://" in value else value
    if netloc.startswith("["):
        return netloc[1:].split("]", 1)[0].lower()
    return netloc.rsplit(":", 1)[0].lower() if netloc.count(":") == 1 else netloc.lower()


def _refuse(status: int, message: str) -> web.Response:
    body = {"error": "control_api_refused", "message": message}
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


class ControlGuard:
    """The rules above for one mock: its listening host, extra allowed hosts and its admin token."""

    def __init__(self, listen_host: str, allowed_hosts: tuple[str, ...] = (), admin_token: str | None = None) -> None:
        names = set(LOOPBACK_NAMES) | {h.lower().strip("[]") for h in allowed_hosts}
        if listen_host not in ("0.0.0.0", "::", ""):
            names.add(listen_host.lower().strip("[]"))
        self.allowed = frozenset(names)
        self.admin_token = admin_token

    def problem(self, request: web.Request) -> tuple[int, str] | None:
        """(status, why) when the request must be refused, else None."""
        host = request.headers.get("Host")
        if host is not None and not self._allowed_name(_hostname(host)):
            return 403, (f"Host {host!r} is not this mock (allowed: {', '.join(sorted(self.allowed))}; "
                         "add one with --allow-host)")
        origin = request.headers.get("Origin")
        if origin is not None and (origin == "null" or not self._allowed_name(_hostname(origin))):
            return 403, f"requests from the web page at {origin!r} may not use the control API"
        if request.method in WRITES and request.content_type != "application/json":
            return 415, "control API writes must be sent as Content-Type: application/json"
        if self.admin_token is not None and not self._is_page_shell(request) and not self._has_token(request):
            return 401, f"the control API needs the admin token: Authorization: Bearer <token> or {TOKEN_HEADER}"
        return None

    @staticmethod
    def _is_page_shell(request: web.Request) -> bool:
        """The dashboard's own page (``GET /__mock/ui``) serves no data, and a browser cannot add the token
        header to a navigation: it is let through the token check (Host and Origin still apply), and the
        page then sends the token with every call it makes."""
        return request.method == "GET" and request.path in (PREFIX + "/ui", PREFIX + "/ui/")

    def _allowed_name(self, name: str) -> bool:
        return name in self.allowed or is_loopback(name)

    def _has_token(self, request: web.Request) -> bool:
        given = request.headers.get(TOKEN_HEADER)
        if given is None:
            scheme, _, value = request.headers.get("Authorization", "").partition(" ")
            given = value.strip() if scheme.lower() == "bearer" else ""
        return hmac.compare_digest(given.encode(), (self.admin_token or "").encode())

    def middleware(self) -> Callable[..., Awaitable[web.StreamResponse]]:
        @web.middleware
        async def guard(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                        ) -> web.StreamResponse:
            if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
                refused = self.problem(request)
                if refused is not None:
                    return _refuse(*refused)
            return await handler(request)

        return guard
