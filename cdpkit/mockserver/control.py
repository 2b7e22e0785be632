"""The control API under ``/__mock/``: plain verbs to look at and steer the mock, as Snowplow Micro's.

GET  /__mock/requests?vendor=&verdict=&operation=&limit=&before=   the journal, newest first, paged
GET  /__mock/summary                                       counts per vendor and verdict
POST /__mock/reset                                         back to the start-up state
POST /__mock/seed                                          load {vendor: data} (400 bad seed, 409 state kept changing)
GET  /__mock/state/{vendor}                                profiles, tags, channels, type locks …
GET  /__mock/credentials                                   what works, per vendor and tenant
GET|POST|DELETE /__mock/faults                             list, add, clear injected faults
GET  /__mock/ui                                            the dashboard (cdpkit/mockserver/dashboard.py)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from cdpkit.mockserver.faults import FaultSpecError, parse_fault
from cdpkit.mockserver.pipeline import not_durable
from cdpkit.mockserver.runtime import MOCK_KEY, Mock

PREFIX = "/__mock"
ENDPOINTS = {
    "GET /__mock/requests": "the journal, newest first, 1000 a page; filters vendor, verdict (good|bad), operation, "
                            "limit; before=<id> for the next page (the answer's next)",
    "GET /__mock/summary": "request counts per vendor and verdict since the last reset",
    "POST /__mock/reset": "forget everything and reload the start-up data",
    "POST /__mock/seed": "load {vendor: data} (the --seed file format); 400: a bad seed, 409: the state kept "
                         "changing under it (nothing applied, send it again)",
    "GET /__mock/state/{vendor}": "the vendor's state (collections cut at ?limit=, default 1000)",
    "GET /__mock/credentials": "credentials that work, per vendor and tenant, and the keys `cdpkit check` takes",
    "GET /__mock/faults": "the active faults",
    "POST /__mock/faults": "add a fault: {path, method?, latency_ms?, status?, drop?, count?, percent?}",
    "DELETE /__mock/faults": "clear all faults",
    "GET /__mock/ui": "the dashboard: live counts, the newest requests, what a bad one broke, reset, state",
    "GET /__mock/catalog/{id}": "one catalog entry: the document's sentence (its language and English)",
    "GET /__mock/ui/state/{vendor}": "the vendor's state as the dashboard shows it, credentials masked",
}


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_INDENT_2),
        status=status,
        content_type="application/json",
    )


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return _json({"error": message, **extra}, status)


class _BadBody(ValueError):
    pass


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _BadBody(f"body is not valid JSON: {exc}") from None


def _mock(request: web.Request) -> Mock:
    return request.app[MOCK_KEY]


async def index(request: web.Request) -> web.Response:
    return _json({"endpoints": ENDPOINTS, "vendors": sorted(_mock(request).vendors)})


JOURNAL_PAGE = 1000  # entries per page of /__mock/requests unless ?limit= says otherwise
STATE_PAGE = 1000  # entries per collection of /__mock/state/<vendor> unless ?limit= says otherwise


def _int_param(request: web.Request, name: str, default: int | None) -> int | None:
    value = request.query.get(name)
    if value is None:
        return default
    if not value.isdigit():
        raise _BadBody(f"{name} must be a non-negative integer")
    return int(value)


async def requests_(request: web.Request) -> web.Response:
    """The journal, newest first, a page at a time: ``next`` is the ``before`` of the following page."""
    q = request.query
    try:
        limit = _int_param(request, "limit", JOURNAL_PAGE) or JOURNAL_PAGE
        before = _int_param(request, "before", None)
    except _BadBody as exc:
        return _error(400, str(exc))
    verdict = q.get("verdict")
    if verdict not in (None, "good", "bad"):
        return _error(400, "verdict must be good or bad")
    entries = _mock(request).store.journal(
        vendor=q.get("vendor"), verdict=verdict, operation=q.get("operation"), limit=limit + 1, before=before
    )
    page, more = entries[:limit], len(entries) > limit
    return _json({"count": len(page), "requests": page, "next": page[-1]["id"] if more else None})


async def summary(request: web.Request) -> web.Response:
    mock = _mock(request)
    per_vendor: dict[str, dict[str, int]] = {name: {"good": 0, "bad": 0, "total": 0} for name in mock.vendors}
    for (vendor, verdict), n in mock.store.counts().items():
        row = per_vendor.setdefault(vendor, {"good": 0, "bad": 0, "total": 0})
        row[verdict] = row.get(verdict, 0) + n
        row["total"] += n
    total = {k: sum(r[k] for r in per_vendor.values()) for k in ("good", "bad", "total")}
    return _json({"vendors": per_vendor, "total": total})


async def reset(request: web.Request) -> web.Response:
    await _mock(request).reset_async()
    return _json({"reset": True})


async def seed(request: web.Request) -> web.Response:
    try:
        data = await _json_body(request)
    except _BadBody as exc:
        return _error(400, str(exc))
    if not isinstance(data, dict):
        return _error(400, "seed body must be a JSON object {vendor: data}")
    # imported here, not at start-up: only a Redis seed raises it
    from cdpkit.mockserver.redis_seed import SeedConflict

    try:
        touched = _mock(request).apply_seed(data)
    except SeedConflict as exc:  # the seed is fine, the moment is not: 409, as for any write that lost a race
        return _error(409, f"seed not applied: {exc}")
    except ValueError as exc:  # apply_seed has dropped whatever the seed wrote before it failed
        return _error(400, f"seed rejected: {exc}")
    return _json({"seeded": touched})


async def state(request: web.Request) -> web.Response:
    """The vendor's state; a collection longer than ``?limit=`` (default 1000) is cut, saying so."""
    mock = _mock(request)
    name = request.match_info["vendor"]
    if name not in mock.vendors:
        return _error(404, f"vendor {name!r} is not served", vendors=sorted(mock.vendors))
    try:
        limit = _int_param(request, "limit", STATE_PAGE) or STATE_PAGE
    except _BadBody as exc:
        return _error(400, str(exc))
    vendor, scope = mock.vendors[name], mock.scopes[name]
    return _json(_cut(vendor.state_view(scope) if vendor.state_view else scope.dump(), limit))


def _cut(view: Any, limit: int) -> Any:
    """``view`` with every mapping or list of more than ``limit`` entries cut to its first ``limit``."""
    if isinstance(view, dict):
        items = list(view.items())
        out = {k: _cut(v, limit) for k, v in items[:limit]}
        if len(items) > limit:
            out["…"] = f"{len(items) - limit} more entries not shown (?limit= to see more)"
        return out
    if isinstance(view, list):
        return [_cut(v, limit) for v in view[:limit]] + ([f"… {len(view) - limit} more"] if len(view) > limit else [])
    return view


async def credentials(request: web.Request) -> web.Response:
    mock = _mock(request)
    return _json({name: v.credentials(mock.scopes[name]) for name, v in mock.vendors.items()})


async def faults_list(request: web.Request) -> web.Response:
    return _json({"faults": _mock(request).faults.list()})


async def faults_add(request: web.Request) -> web.Response:
    """Add a fault. On Redis the change waits for every other process to load it (up to 2 s for one that does
    not answer): that wait runs in a thread (``add_async``), so the loop serves on meanwhile."""
    faults = _mock(request).faults
    try:
        fault = parse_fault(await _json_body(request))
    except (FaultSpecError, TypeError, _BadBody) as exc:
        return _error(400, str(exc))
    fault = await faults.add_async(fault)
    return _json({"added": fault.id, "faults": faults.list()}, 201)


async def faults_clear(request: web.Request) -> web.Response:
    """Clear every fault; on Redis, waiting for the other processes off the loop, as :func:`faults_add` does."""
    faults = _mock(request).faults
    await faults.clear_async()
    return _json({"faults": []})


# Control handlers that never read the store: they answer during an outage as at any time (filled by add_routes)
_STORE_FREE: set[Callable[..., Any]] = set()


@web.middleware
async def store_outage(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """A control route that cannot reach the mock's Redis answers the 503 a vendor operation does (same wording,
    ``Retry-After``; :mod:`cdpkit.mockserver.redis_outage`), never aiohttp's 500 with a traceback: the journal,
    counts, faults and state it reads are in the Redis that is away.

    A route that reads the store first asks Redis through the asyncio client (``store.probe()``: one PING, a
    fraction of a millisecond), which waits without holding the event loop: the route's synchronous calls, the
    first to meet a Redis that does not answer at all, would hold the loop for their timeout (5 s to connect, 30 s
    on an open connection), and every other request with it. Redis answering ends the outage (also one that only
    the control API met), and the route runs."""
    if not request.path.startswith(PREFIX):
        return await handler(request)
    store = request.app[MOCK_KEY].store
    outage = getattr(store, "outage", None)  # only the Redis store has one
    if outage is None or request.match_info.route.handler in _STORE_FREE:
        try:
            return await handler(request)
        except Exception as exc:
            if not getattr(exc, "store_write_failed", False):  # SQLite's (sqlite_link.WriteFailed)
                raise
            return not_durable(exc).response()
    # imported here, not at start-up: a Redis store has loaded it already
    from cdpkit.mockserver.redis_outage import HEADERS, unreachable

    try:
        await store.probe()
        outage.over()
        return await handler(request)
    except Exception as exc:
        if not unreachable(exc):
            raise
        body = {"error": outage.message(exc), "endpoint": f"{request.method} {request.path}"}
        return web.Response(body=orjson.dumps(body), status=503, content_type="application/json", headers=HEADERS)


async def not_found(request: web.Request) -> web.Response:
    return _error(404, f"no control endpoint {request.method} {request.path}", endpoints=ENDPOINTS)


def add_routes(app: web.Application) -> None:
    app.router.add_get(PREFIX, index)
    app.router.add_get(PREFIX + "/", index)
    app.router.add_get(PREFIX + "/requests", requests_)
    app.router.add_get(PREFIX + "/summary", summary)
    app.router.add_post(PREFIX + "/reset", reset)
    app.router.add_post(PREFIX + "/seed", seed)
    app.router.add_get(PREFIX + "/state/{vendor}", state)
    app.router.add_get(PREFIX + "/credentials", credentials)
    app.router.add_get(PREFIX + "/faults", faults_list)
    app.router.add_post(PREFIX + "/faults", faults_add)
    app.router.add_delete(PREFIX + "/faults", faults_clear)
    from cdpkit.mockserver import dashboard  # imports this module: loaded here, once the handlers above exist

    dashboard.add_routes(app)
    _STORE_FREE.update((index, not_found, dashboard.ui, dashboard.catalog_entry))
    app.router.add_route("*", PREFIX + "/{tail:.*}", not_found)
