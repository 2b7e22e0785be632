"""Wiring: the aiohttp application that serves every vendor's operations and the control API.

Each operation of ``cdpkit/schemas/<vendor>/operations.json`` is served at its documented path and again
under ``/<vendor>`` for clients that want one base URL per vendor.
"""

from __future__ import annotations

import gc
import logging
from typing import AsyncIterator, Awaitable, Callable

import orjson
from aiohttp import web

from cdpkit.mockserver import control, journal_entry
from cdpkit.mockserver.control_guard import ControlGuard
from cdpkit.mockserver.fast_routes import VendorFirstRunner, VendorRoutes
from cdpkit.mockserver.pipeline import OperationRoute
from cdpkit.mockserver.runtime import MOCK_KEY, Mock, MockConfig
from cdpkit.mockserver.store import Store
from cdpkit.schemas import operations

log = logging.getLogger("cdpkit.mock")


def base_paths(mock: Mock) -> dict[str, list[str]]:
    """Per vendor, the operations it serves (``METHOD path``), for 404 bodies and the start-up banner."""
    return {
        name: [f"{op['method']} {op['path']}" for op in operations(name)] + [f"(also under /{name})"]
        for name in mock.vendors
    }


# Garbage collection while serving (issue 9: gen2 passes over the start-up objects paused requests for up to
# 67 ms and set the p99). Once started, everything built so far (schemas, validators, seed data) is frozen
# out of the collector's view, and young collections run every GC_GEN0 allocations instead of 700.
GC_THRESHOLD = (20_000, 20, 20)


def _gc_for_serving() -> tuple[int, int, int]:
    """Freeze what start-up built and raise the thresholds; returns the thresholds to restore."""
    previous = gc.get_threshold()
    gc.collect(1)  # the young generations only: a full pass costs start-up 13-70 ms and found nothing to free
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
    return previous


# The 404 body's listing of served operations: fixed once the app is built, so built once.
_SERVED = web.AppKey("cdp_served_paths", dict)
# The vendor operations, for the runner that serves them ahead of the router (issue 9).
VENDOR_ROUTES = web.AppKey("cdp_vendor_routes", VendorRoutes)


def _json_error(status: int, body: dict) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


@web.middleware
async def _unknown_routes(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Unknown paths and methods answer JSON that lists what exists, never aiohttp's HTML page."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return _json_error(
            404,
            {
                "error": "not_found",
                "message": f"no operation at {request.method} {request.path}",
                "vendors": request.app[_SERVED],
                "control": "/__mock/",
            },
        )
    except web.HTTPMethodNotAllowed as exc:
        return _json_error(
            405,
            {
                "error": "method_not_allowed",
                "message": f"{request.method} is not allowed on {request.path}",
                "allowed": sorted(exc.allowed_methods),
            },
        )


async def close_store(store: Store) -> None:
    """Close ``store`` on the serving loop, awaiting what it runs there (Redis: its fault listener, commit
    batches and connection pool are tasks of this loop, which a synchronous ``close`` could only schedule)."""
    await store.aclose()


def build_app(config: MockConfig | None = None, mock: Mock | None = None) -> web.Application:
    """The application; give a ready :class:`Mock` to share its store with the caller (tests do)."""
    mock = mock or Mock(config or MockConfig())
    guard = ControlGuard(mock.config.host, mock.config.allowed_hosts, mock.config.admin_token)
    # the control API's own 503 while Redis is away (control.store_outage) inside the JSON 404/405
    middlewares = [guard.middleware(), _unknown_routes, control.store_outage]
    app = web.Application(client_max_size=mock.config.max_body_bytes, middlewares=middlewares)
    app[MOCK_KEY] = mock
    app[_SERVED] = base_paths(mock)
    vendor_routes = VendorRoutes()
    for name, vendor in mock.vendors.items():
        for op in operations(name):
            route = OperationRoute(mock, vendor, op)
            for prefix in ("", f"/{name}"):
                app.router.add_route(op["method"], prefix + op["path"], route.handle)
                vendor_routes.add(op["method"], prefix + op["path"], route)
    app[VENDOR_ROUTES] = vendor_routes
    control.add_routes(app)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        mock.start()
        previous = _gc_for_serving()
        yield
        await close_store(mock.store)
        gc.unfreeze()  # a process that serves several apps in turn (the tests) can collect this one's objects
        gc.set_threshold(*previous)

    app.cleanup_ctx.append(lifecycle)
    return app


def runner_for(app: web.Application, config: MockConfig) -> web.AppRunner:
    """The runner every way of starting the mock uses: idle and half-sent connections are closed after
    ``idle_timeout`` seconds (200 slowloris connections would otherwise be held for ever), and a
    shutdown waits at most ``shutdown_timeout`` seconds for requests in flight. Vendor operations are
    matched ahead of the application's router and middleware (:mod:`cdpkit.mockserver.fast_routes`)."""
    journal_entry.keep_credentials_out_of_server_logs()  # aiohttp logs an unparsable request's bytes
    return VendorFirstRunner(app, app[VENDOR_ROUTES], body_limit=config.max_body_bytes, fast_lane=config.fast_lane,
                             access_log=None, keepalive_timeout=config.idle_timeout,
                             shutdown_timeout=config.shutdown_timeout)
