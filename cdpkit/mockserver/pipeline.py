"""What every vendor request goes through, once: faults, body limits and parsing, the handler,
the commit and the journal entry. Vendor modules only see a :class:`~cdpkit.mockserver.vendor.Call`.

A request reaches an :class:`OperationRoute` two ways: through aiohttp (``route.handle``, the router's
handler) or through the fast lane (:mod:`cdpkit.mockserver.fast_lane`), which hands ``route.serve`` a
request whose body it has read whole. ``serve`` runs synchronously as far as it can and returns the
:class:`Answer` itself; only an injected delay, a store that awaits its commit (Redis) or its durability
(SQLite) makes it return an awaitable instead (issue 9: no task per request where none waits).
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Mapping

import orjson
from aiohttp import web

from cdpkit.mockserver.journal_entry import scrub
from cdpkit.mockserver.vendor import Call, Rejection, Reply, Vendor

if TYPE_CHECKING:
    from cdpkit.mockserver.faults import Fault
    from cdpkit.mockserver.runtime import Mock
    from cdpkit.mockserver.store import Scope

log = logging.getLogger("cdpkit.mock")

JSON_TYPES = ("application/json",)
STORE_WRITE_FAILED = "MOCK-STORE-WRITE-FAILED"


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


@dataclass(slots=True)
class Answer:
    """An answer as bytes, for aiohttp (:meth:`response`) and the fast lane alike."""

    status: int
    content_type: str
    charset: str | None
    body: bytes
    headers: Mapping[str, str] | None = None

    def response(self) -> web.Response:
        return web.Response(body=self.body, status=self.status, content_type=self.content_type,
                            charset=self.charset, headers=self.headers)


def to_answer(reply: Reply) -> Answer:
    if reply.content_type == "application/json":
        body = orjson.dumps(reply.body, option=orjson.OPT_NON_STR_KEYS)
    elif isinstance(reply.body, str):
        body = reply.body.encode()
    else:
        body = reply.body or b""
    # A str body was encoded as UTF-8 above; say so, or clients decode text/html as Latin-1.
    charset = "utf-8" if isinstance(reply.body, str) and reply.content_type != "application/json" else None
    return Answer(reply.status, reply.content_type, charset, body, reply.headers)


class OperationRoute:
    """One vendor operation, from request to answer.

    Built once per operation (issue 9): everything that is the same for every request of the operation
    (the handler, the body limits, the vendor's scope and validators, the journal's names) is looked up
    here, so a request pays only for what is its own.
    """

    def __init__(self, mock: "Mock", vendor: Vendor, op: dict[str, Any]) -> None:
        self.mock = mock
        self.vendor = vendor.name
        self.operation_id = op["operationId"]
        self.handler = vendor.handlers[self.operation_id]
        self.render_error = vendor.render_error
        self.errors = vendor.input_errors
        self.takes_body = bool(op.get("body"))
        self.limit = mock.config.max_body_bytes
        self.depth_limit = mock.config.max_depth
        self.scope: "Scope" = mock.scopes[vendor.name]
        self.validators = mock.validators
        self.faults = mock.faults

    async def handle(self, request: web.Request, path_params: dict[str, str] | None = None) -> web.StreamResponse:
        """The aiohttp handler; ``path_params`` when matched ahead of aiohttp's router (fast_routes.py)."""
        started = time.perf_counter()
        body = await self._read(request)
        answer = self.serve(request, dict(request.match_info) if path_params is None else path_params, body, started)
        if not isinstance(answer, Answer):
            answer = await answer
        return answer.response()

    async def _read(self, request: web.Request) -> bytes | Rejection:
        """The raw body, or the Rejection of one too large (answered after any injected fault, as before)."""
        limit = self.limit
        length = request.content_length
        if length is not None and length > limit:
            rid, status = self.errors.too_large
            return Rejection(status, f"request body of {length} bytes exceeds the {limit}-byte limit", (rid,))
        content = request.content
        try:
            if length is not None and content.is_eof():
                # the whole body (no more than the limit, checked above) has arrived: take it without the
                # read loop's two awaits; whatever arrives in pieces or chunked goes through read() below
                raw = content.read_nowait(-1)
                if len(raw) > limit:  # a compressed body that inflated past the limit, as read() refuses it
                    raise web.HTTPRequestEntityTooLarge(limit, len(raw))
                return raw
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            rid, status = self.errors.too_large
            return Rejection(status, f"request body exceeds the {limit}-byte limit", (rid,))

    def _parse(self, request: Any, raw: bytes) -> Any:
        """The body's JSON (None when the operation takes none or nothing was sent), or a Rejection naming
        what is wrong with it."""
        if not raw or not self.takes_body:
            return None
        errors = self.errors
        # the header as sent is almost always exactly this; only another spelling pays for parsing it
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
        if raw.count(b"{") + raw.count(b"[") > self.depth_limit and too_deep(parsed, self.depth_limit):
            rid, status = errors.too_deep
            raise Rejection(status, f"request body nests deeper than {self.depth_limit} levels", (rid,))
        return parsed

    def serve(self, request: Any, path_params: dict[str, str], body: bytes | Rejection,
              started: float) -> Answer | Awaitable[Answer]:
        """Answer one request whose body has been read (``body``, or the Rejection reading it met).

        ``request`` is aiohttp's or the fast lane's: what is read of it is its method, path, raw path, query
        string and query, headers, content type, cookies and transport."""
        fault = self.faults.take(request.method, request.path)
        if fault is not None:
            return self._faulted(fault, request, path_params, body, started)
        return self._serve_now(request, path_params, body, started)

    def _serve_now(self, request: Any, path_params: dict[str, str], body: bytes | Rejection,
                   started: float) -> Answer | Awaitable[Answer]:
        raw, parsed, call, state = b"", None, None, None
        try:
            if isinstance(body, Rejection):
                raise body
            raw = body
            parsed = self._parse(request, raw)
            state = self.scope.for_request()  # this request's own write set
            query_string = request.query_string
            call = Call(self.vendor, self.operation_id, request, path_params,
                        dict(request.query) if query_string else {}, request.headers, parsed, state,
                        self.validators, time.time(), raw)
            reply = self.handler(call)
            if not isinstance(reply, Reply):  # a shared store's handler awaits its commit's round trip
                return self._reply_later(reply, request, raw, parsed, call, state, started)
            violations = reply.violations
            keep = reply.status < 400
        except Exception as exc:
            reply, violations = self._refusal(exc, request, call, parsed)
            keep = False
        return self._finish(request, raw, parsed, state, reply, violations, keep, started)

    def _refusal(self, exc: Exception, request: Any, call: Call | None, parsed: Any) -> tuple[Reply, tuple[str, ...]]:
        if isinstance(exc, Rejection):
            return self.render_error(exc, call), exc.requirement_ids
        # a bug in the mock: say so loudly, never pass it off as the vendor's answer (without the credentials)
        log.error("mock bug in %s.%s:\n%s", self.vendor, self.operation_id,
                  scrub(traceback.format_exc(), request.headers.items(), request.query.items(), parsed))
        return Reply(500, {"error": "cdpkit mock internal error", "operation": f"{self.vendor}.{self.operation_id}"}), ("MOCK-BUG",)

    async def _reply_later(self, pending: Awaitable[Reply], request: Any, raw: bytes, parsed: Any, call: Call,
                           state: "Scope", started: float) -> Answer:
        try:
            reply = await pending
            violations = reply.violations
            keep = reply.status < 400
        except Exception as exc:
            reply, violations = self._refusal(exc, request, call, parsed)
            keep = False
        answer = self._finish(request, raw, parsed, state, reply, violations, keep, started)
        return answer if isinstance(answer, Answer) else await answer

    def _finish(self, request: Any, raw: bytes, parsed: Any, state: "Scope | None", reply: Reply,
                violations: tuple[str, ...], keep: bool, started: float) -> Answer | Awaitable[Answer]:
        """Commit (or drop) this request's writes and record the exchange, in one step."""
        answer = to_answer(reply)
        durable = self.mock.journal(self.vendor, self.operation_id, request, raw, parsed, reply.status, violations,
                                    started, reply, keep, answer.body, state.writes if state is not None else None)
        if durable is not None:  # SQLite: answered once the batch holding this request's writes is on disk
            return Durable(durable, answer) if isinstance(durable, asyncio.Future) else _once_durable(durable, answer)
        return answer

    async def _faulted(self, fault: "Fault", request: Any, path_params: dict[str, str], body: bytes | Rejection,
                       started: float) -> Answer:
        """A request the fault API chose: delayed, dropped, or answered with the injected status."""
        delay = self.faults.delay_seconds(fault)
        if delay:
            await asyncio.sleep(delay)
        if fault.drop:
            self.mock.journal(self.vendor, self.operation_id, request, b"", None, 0, ("FAULT-DROP",), started)
            if request.transport is not None:
                request.transport.abort()
            return Answer(499, "application/octet-stream", None, b"")
        if fault.status is not None:
            rejection = Rejection(fault.status, f"injected fault (status {fault.status})", ("FAULT-INJECTED",))
            answer = self._finish(request, b"", None, None, self.render_error(rejection, None),
                                  rejection.requirement_ids, False, started)
        else:
            answer = self._serve_now(request, path_params, body, started)
        return answer if isinstance(answer, Answer) else await answer


async def _once_durable(durable: Awaitable[None], answer: Answer) -> Answer:
    """``answer`` once the batch holding the request's writes is durable; if that batch failed (a full disk, a
    file gone), a deliberate 503 that says so: the outage of what the mock depends on, neither the client's
    mistake nor a bug (redis_outage.py says the same of Redis). The store has logged the failure."""
    try:
        await durable
    except Exception as exc:
        return not_durable(exc)
    return answer


def not_durable(exc: BaseException) -> Answer:
    body = {"error": "cdpkit mock: its state store could not make this request's writes durable",
            "cause": getattr(exc, "cause", None) or f"{type(exc).__name__}: {exc}", "violation": STORE_WRITE_FAILED}
    return Answer(503, "application/json", None, orjson.dumps(body), {"Retry-After": "1"})


class Durable:
    """An answer due once ``waiter`` (the future of the batch holding its request's writes) is done. Awaited
    as :func:`_once_durable` by aiohttp's handler; the fast lane hangs a callback on ``waiter`` instead and reads
    :meth:`outcome` (a task and three coroutine frames per request less, issue 9)."""

    __slots__ = ("waiter", "answer")

    def __init__(self, waiter: "asyncio.Future[None]", answer: Answer) -> None:
        self.waiter, self.answer = waiter, answer

    def __await__(self) -> Any:
        return _once_durable(self.waiter, self.answer).__await__()

    def outcome(self) -> Answer:
        """The answer to send, ``waiter`` being done (not cancelled)."""
        exc = self.waiter.exception()
        return self.answer if exc is None else not_durable(exc)
