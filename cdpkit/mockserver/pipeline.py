"""What every vendor request goes through, once: faults, body limits and parsing, the handler,
the commit and the journal entry. Vendor modules only see a :class:`~cdpkit.mockserver.vendor.Call`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import orjson
from aiohttp import web

from cdpkit.mockserver.journal_entry import record, scrub
from cdpkit.mockserver.vendor import Call, Rejection, Reply, Vendor

if TYPE_CHECKING:
    from cdpkit.mockserver.runtime import Mock

log = logging.getLogger("cdpkit.mock")

JSON_TYPES = ("application/json",)


def too_deep(value: Any, limit: int) -> bool:
    """Whether a parsed JSON value nests deeper than ``limit`` (iterative: no recursion limit hit)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in node if isinstance(v, (dict, list)))
    return False


def to_response(reply: Reply) -> web.Response:
    if reply.content_type == "application/json":
        body = orjson.dumps(reply.body, option=orjson.OPT_NON_STR_KEYS)
    elif isinstance(reply.body, str):
        body = reply.body.encode()
    else:
        body = reply.body or b""
    # A str body was encoded as UTF-8 above; say so, or clients decode text/html as Latin-1.
    charset = "utf-8" if isinstance(reply.body, str) and reply.content_type != "application/json" else None
    return web.Response(body=body, status=reply.status, content_type=reply.content_type, charset=charset, headers=reply.headers)


def _body_reader(mock: "Mock", vendor: Vendor, op: dict[str, Any]) -> Callable[[web.Request], Awaitable[tuple[bytes, Any]]]:
    """What reads one operation's body: its raw bytes and parsed JSON, or a Rejection naming what is wrong
    with it; the limits and error IDs are looked up once, not per request (issue 9)."""
    limit = mock.config.max_body_bytes
    depth_limit = mock.config.max_depth
    errors = vendor.input_errors
    takes_body = bool(op.get("body"))

    async def read_body(request: web.Request) -> tuple[bytes, Any]:
        length = request.content_length
        if length is not None and length > limit:
            rid, status = errors.too_large
            raise Rejection(status, f"request body of {length} bytes exceeds the {limit}-byte limit", (rid,))
        content = request.content
        try:
            if length is not None and content.is_eof():
                # the whole body (no more than the limit, checked above) has arrived: take it without the
                # read loop's two awaits; whatever arrives in pieces or chunked goes through read() below
                raw = content.read_nowait(-1)
                if len(raw) > limit:  # a compressed body that inflated past the limit, as read() refuses it
                    raise web.HTTPRequestEntityTooLarge(limit, len(raw))
            else:
                raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            rid, status = errors.too_large
            raise Rejection(status, f"request body exceeds the {limit}-byte limit", (rid,)) from None
        if not raw or not takes_body:
            return raw, None
        # the header as sent is almost always exactly this; only another spelling pays for aiohttp's parse
        if request.headers.get("Content-Type") != "application/json":
            content_type = request.content_type
            if content_type not in JSON_TYPES and not content_type.endswith("+json"):
                rid, status = errors.wrong_content_type
                raise Rejection(status, f"Content-Type must be application/json, not {content_type!r}", (rid,))
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            rid, status = errors.malformed_json
            raise Rejection(status, f"request body is not valid JSON: {exc}", (rid,)) from None
        # Nesting cannot exceed the number of opening brackets; counting them is C-speed, walking is not.
        if raw.count(b"{") + raw.count(b"[") > depth_limit and too_deep(parsed, depth_limit):
            rid, status = errors.too_deep
            raise Rejection(status, f"request body nests deeper than {depth_limit} levels", (rid,))
        return raw, parsed

    return read_body


def make_route(mock: "Mock", vendor: Vendor, op: dict[str, Any]) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler for one vendor operation.

    Compiled once per operation (issue 9): everything that is the same for every request of the operation
    (the handler, the body limits, the vendor's scope and validators, the journal's names) is looked up
    here, so a request pays only for what is its own.
    """
    operation_id = op["operationId"]
    name = vendor.name
    handler = vendor.handlers[operation_id]
    render_error = vendor.render_error
    read_body = _body_reader(mock, vendor, op)
    scope = mock.scopes[name]
    validators = mock.validators
    faults = mock.faults
    perf_counter, now = time.perf_counter, time.time

    async def route(request: web.Request, path_params: dict[str, str] | None = None) -> web.StreamResponse:
        """``path_params``: the template's values when matched ahead of aiohttp's router (fast_routes.py)."""
        started = perf_counter()
        raw, parsed, call, state = b"", None, None, None
        keep = False
        fault = faults.take(request.method, request.path)
        try:
            if fault is not None:
                delay = faults.delay_seconds(fault)
                if delay:
                    await asyncio.sleep(delay)
                if fault.drop:
                    mock.journal(name, operation_id, request, b"", None, 0, ("FAULT-DROP",), started)
                    if request.transport is not None:
                        request.transport.abort()
                    return web.Response(status=499)
                if fault.status is not None:
                    raise Rejection(fault.status, f"injected fault (status {fault.status})", ("FAULT-INJECTED",))
            raw, parsed = await read_body(request)
            state = scope.for_request()  # this request's own write set
            call = Call(name, operation_id, request, dict(request.match_info) if path_params is None else path_params,
                        dict(request.query) if request.query_string else {}, request.headers, parsed, state,
                        validators, now(), raw)
            reply = handler(call)
            if not isinstance(reply, Reply):  # a shared store's handler awaits its commit's round trip
                reply = await reply
            keep = reply.status < 400
            violations = reply.violations
        except Rejection as rejection:
            reply = render_error(rejection, call)
            violations = rejection.requirement_ids
        except Exception:  # a bug in the mock: say so loudly, never pass it off as the vendor's answer
            log.error("mock bug in %s.%s:\n%s", name, operation_id,  # without the request's credentials
                      scrub(traceback.format_exc(), request.headers.items(), request.query.items(), parsed))
            reply = Reply(500, {"error": "cdpkit mock internal error", "operation": f"{name}.{operation_id}"})
            violations = ("MOCK-BUG",)
        response = to_response(reply)
        # Mock.journal, inlined: commit (or drop) this request's writes and record the exchange, in one step
        query_string = request.query_string
        entry = record(
            now(), name, operation_id, request.method, request.path, query_string,
            request.query.items() if query_string else (), request.headers.items(), raw, parsed, reply.status,
            response.body if isinstance(response.body, bytes) else b"",
            reply.body if reply.content_type == "application/json" else None, violations,
            round((perf_counter() - started) * 1000, 3),
        )
        durable = mock.store.finish_request(entry, keep, state.writes if state is not None else {})
        if durable is not None:  # SQLite: answered once the batch holding this request's writes is on disk
            await durable
        return response

    return route
