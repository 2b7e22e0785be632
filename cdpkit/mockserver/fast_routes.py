"""Vendor operations served ahead of aiohttp's router and middleware chain (issue 9).

A vendor request through ``web.Application`` pays for the router's walk over URL prefixes, a match-info
object, and three middleware frames (the control API's guard, the JSON 404/405) that never act on a
vendor route: ~12% of the CPU of a Zebline upsert, measured side by side. :class:`VendorRoutes` matches
the vendor operations first, with a dict for fixed paths and one anchored pattern per templated one, and
hands the route its path parameters; every other request (the control API, unknown paths, wrong
methods) goes to the application exactly as before.

Only a request aiohttp would route identically is taken here: its path is plain (no ``%`` to decode, no
``/.`` segment to normalise, no ``#``, only characters a path may hold as they are) and it carries no
``Expect`` header (the application answers ``100-continue``). For such a path a template parameter is
the raw segment, which is what aiohttp's router decodes it to. The application's ``on_response_prepare``
hooks (``--workers`` names the process in every answer) run for these answers too.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from cdpkit.mockserver.lane_server import LaneServer

if TYPE_CHECKING:
    from cdpkit.mockserver.pipeline import OperationRoute as Route

_TEMPLATE_PARAM = re.compile(r"\\\{(\w+)\\\}")  # a {name} of an escaped template
# What a path may hold as it is (RFC 3986 pchar without pct-encoding, and "/"): anything else, the full way.
SEEN_PATHS = 4096  # templated paths whose match is kept (a few hundred bytes each)
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*").fullmatch


class VendorRoutes:
    """The vendor operations' paths, by method: fixed paths in a dict, templated ones as patterns."""

    def __init__(self) -> None:
        self._fixed: dict[tuple[str, str], Route] = {}
        self._templated: dict[str, list[tuple[re.Pattern[str], Route]]] = {}
        # (method, path) -> what a templated path matched: a client sends the same few paths again and again,
        # and the two patterns' walk over each character cost ~5% of a request's instructions (issue 9).
        # Bounded in entries (paths are the client's to choose), emptied when full.
        self._seen: dict[tuple[str, str], tuple[Route, dict[str, str]]] = {}

    def add(self, method: str, path: str, route: Route) -> None:
        """Serve ``method path`` (aiohttp's ``{name}`` template syntax) with ``route``; the first added wins.
        A path the router would not read as written is left to the router."""
        if _PLAIN_PATH(path.replace("{", "").replace("}", "")) is None or "/." in path:
            return
        if "{" not in path:
            self._fixed.setdefault((method, path), route)
            return
        # a parameter is one non-empty segment without braces, as aiohttp's DynamicResource reads it
        pattern = _TEMPLATE_PARAM.sub(lambda m: f"(?P<{m[1]}>[^{{}}/]+)", re.escape(path))
        self._templated.setdefault(method, []).append((re.compile(pattern), route))

    def find(self, request: web.BaseRequest) -> tuple[Route, dict[str, str]] | None:
        """The route and path parameters for ``request``, or None when the application must route it."""
        if "Expect" in request.headers:
            return None
        return self.find_path(request.method, request.raw_path.partition("?")[0])

    def find_path(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route and path parameters for ``method path`` (a raw path, without its query), or None."""
        route = self._fixed.get((method, path))  # a fixed path is plain (add() took no other)
        if route is not None:
            return route, {}
        seen = self._seen.get((method, path))
        if seen is not None:
            return seen[0], dict(seen[1])  # the route's own copy: a handler may change its path parameters
        if _PLAIN_PATH(path) is None or "/." in path:
            return None
        for pattern, route in self._templated.get(method, ()):
            found = pattern.fullmatch(path)
            if found is not None:
                params = found.groupdict()
                if len(self._seen) >= SEEN_PATHS:
                    self._seen.clear()
                self._seen[(method, path)] = (route, dict(params))
                return route, params
        return None


class VendorFirstRunner(web.AppRunner):
    """An ``AppRunner`` whose server asks :class:`VendorRoutes` before the application, and whose
    connections start in the fast lane (:mod:`cdpkit.mockserver.fast_lane`) unless ``fast_lane`` is False."""

    def __init__(self, app: web.Application, routes: VendorRoutes, *, body_limit: int, fast_lane: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._routes = routes
        self._fast_lane = fast_lane
        self._body_limit = body_limit
        self._idle_timeout = float(kwargs.get("keepalive_timeout", 75.0))  # aiohttp's default

    async def _make_server(self) -> Any:
        server = await super()._make_server()
        if not self._fast_lane:
            return server
        return LaneServer.wrapping(server, self._routes, self.app.on_response_prepare,
                                   idle_timeout=self._idle_timeout, body_limit=self._body_limit)

    async def setup(self) -> None:
        await super().setup()
        server = self.server
        assert server is not None
        application = server.request_handler
        find = self._routes.find
        prepare = self.app.on_response_prepare  # frozen by now; the application runs it from response.prepare

        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            hit = find(request)
            if hit is None:
                return await application(request)
            response = await hit[0].handle(request, hit[1])
            if prepare:
                await prepare.send(request, response)
            return response

        server.request_handler = handle
