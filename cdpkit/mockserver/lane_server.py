"""The protocol factory a site listens with when the fast lane serves (:mod:`cdpkit.mockserver.fast_lane`):
aiohttp's ``Server`` wrapped so that every connection starts in a :class:`~cdpkit.mockserver.fast_lane.FastLane`,
with what the lanes of one server share (the head memory, the answers of a loop turn, the live connections)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Mapping

from cdpkit.mockserver.fast_lane import FastLane
from cdpkit.mockserver.lane_http import HEAD_LIMIT, HeadReader
from cdpkit.mockserver.tick_writes import TickWrites

if TYPE_CHECKING:
    from aiohttp.web_server import Server

    from cdpkit.mockserver.fast_routes import VendorRoutes


class StaticHeaders:
    """An ``on_response_prepare`` hook that sets fixed headers, which the lane can set too (``--workers``
    names the process in every answer this way). Any other hook keeps every connection on aiohttp."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self.headers = dict(headers)

    async def __call__(self, request: Any, response: Any) -> None:
        response.headers.update(self.headers)


class LaneServer:
    """The protocol factory a site listens with: aiohttp's ``Server``, whose connections start in a
    :class:`FastLane`. Everything else (the handler, aiohttp's own connections, shutting down) is the
    wrapped server's."""

    def __init__(self, server: "Server", routes: "VendorRoutes", extra_headers: Mapping[str, str], idle_timeout: float,
                 body_limit: int) -> None:
        self.server = server
        self.heads = HeadReader(routes, body_limit)
        self.extra_headers = "".join(f"{k}: {v}\r\n" for k, v in extra_headers.items())
        self.idle_timeout = idle_timeout
        self.buffer_limit = HEAD_LIMIT + body_limit  # what a connection may hold while its answer is awaited
        self.loop = asyncio.get_running_loop()
        self.lanes: set[FastLane] = set()
        self.writes = TickWrites(self.loop)

    @classmethod
    def wrapping(cls, server: "Server", routes: "VendorRoutes", hooks: Any, idle_timeout: float,
                 body_limit: int) -> "LaneServer | Server":
        """A lane server around ``server``, or ``server`` itself when an ``on_response_prepare`` hook does
        what the lane cannot (anything but :class:`StaticHeaders`)."""
        headers: dict[str, str] = {}
        for hook in hooks:
            if not isinstance(hook, StaticHeaders):
                return server
            headers.update(hook.headers)
        return cls(server, routes, headers, idle_timeout, body_limit)

    def __call__(self) -> FastLane:
        return FastLane(self)

    def aiohttp_protocol(self) -> asyncio.Protocol:
        return self.server()

    @property
    def request_handler(self) -> Any:
        return self.server.request_handler

    @request_handler.setter
    def request_handler(self, handler: Any) -> None:
        self.server.request_handler = handler

    @property
    def connections(self) -> list[Any]:
        return self.server.connections + list(self.lanes)

    @property
    def requests_count(self) -> int:
        return self.server.requests_count

    def pre_shutdown(self) -> None:
        for lane in list(self.lanes):
            lane.shut_down()
        self.server.pre_shutdown()

    async def shutdown(self, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` seconds for the answers in hand, then drop what is left."""
        busy = [lane._busy for lane in self.lanes if lane._busy is not None]
        if busy:
            await asyncio.wait(busy, timeout=timeout)
        for lane in list(self.lanes):
            lane.abort()
        self.lanes.clear()
        await self.server.shutdown(timeout)
