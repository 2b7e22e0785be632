"""Vendor requests in their everyday shape, served without aiohttp's per-request machinery (issue 9).

aiohttp pays for every request with a task step, a ``StreamReader``, a ``BaseRequest``, a
``StreamResponse`` and its writer: measured side by side on this machine, an aiohttp handler answering
a fixed JSON body costs 41 µs of CPU per request, a plain asyncio protocol doing the same 9 µs. So a
connection starts here, in :class:`FastLane`: a request read whole in ``data_received`` goes to its
operation's :meth:`~cdpkit.mockserver.pipeline.OperationRoute.serve` at once, and the answer is written
at the end of the loop's turn, with every connection's (:mod:`tick_writes`). A route that must wait (an
injected delay, Redis, SQLite's durability) is awaited, and the connection's later requests wait their
turn, so answers keep their order.

The lane takes only what it reads exactly as aiohttp would, and checks it strictly: an HTTP/1.1 request
line with GET, POST, PUT, PATCH or DELETE and a vendor operation's plain path (:mod:`fast_routes`);
header fields of visible ASCII; one well-formed ``Content-Length`` no larger than the body limit; no
``Transfer-Encoding``, ``Expect``, ``Upgrade``, ``Content-Encoding`` or ``Cookie``; ``Connection`` only
``keep-alive`` or ``close``. The first request that is anything else (the control API, an unknown path,
HEAD, a chunked, compressed or oversized body, a malformed request) and every request after it on that
connection go to aiohttp's own protocol, which is handed the connection from that request's first byte:
aiohttp answers them exactly as it did before the lane existed. So do requests aiohttp refuses although the
lane could read them (no Host, a second Host or Content-Type, ``Sec-WebSocket-Key1``), and the first bytes of
one that cannot become plain (TLS spoken to the port, a stray line), which aiohttp answers 400 at once.

Two differences are kept, both in the client's favour and both depending on how bytes were segmented: a
plain request followed in the same segment by one aiohttp refuses is answered before the refusal (aiohttp
drops every request of a segment it cannot parse whole), and requests sent before the client half-closes
are all answered (aiohttp answers as many as it reached).
"""

from __future__ import annotations

import asyncio
import logging
import time
import types
from functools import partial
from typing import TYPE_CHECKING, Any, Coroutine, Generator

from cdpkit.mockserver.lane_http import HEAD_LIMIT, Head, encode, may_become_plain
from cdpkit.mockserver.pipeline import Answer, Durable

if TYPE_CHECKING:
    from cdpkit.mockserver.lane_server import LaneServer

log = logging.getLogger("cdpkit.mock")

# answers written per step of the event loop: a client pipelining thousands of requests in one segment
# waits its turn behind the other connections instead of holding the loop (~2 ms at most)
BATCH = 32
_NEED_MORE = object()
# a bug of the lane itself (the route's own bugs are the route's MOCK-BUG answer): loud, and the connection closed
_BUG = Answer(500, "application/json", None, b'{"error": "cdpkit mock internal error"}')


class FastLane(asyncio.Protocol):
    """One connection: its plain vendor requests answered here, the rest handed to aiohttp (module docstring)."""

    def __init__(self, server: "LaneServer") -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._buffer = b""  # what is being read: whole requests, or the start of one
        self._parts: list[bytes] = []  # what arrived while nothing is read: joined once, when reading goes on
        self._held = 0  # bytes in _buffer and _parts
        self._head: Head | None = None  # a request whose body is still arriving: its head, read once
        self._wanted = 0  # the bytes of _buffer that request needs
        self._busy: asyncio.Task[None] | None = None  # the answer being awaited; later requests wait
        self._paused = False  # reading: while too much waits behind an awaited answer, a batch waits its turn,
        # or the client does not read its answers
        self._write_blocked = False
        self._closing = False  # the server is shutting down: close once the answer in hand is written
        self._eof = False  # the client half-closed while answers were due: close once they are written
        self._next_batch: asyncio.Handle | None = None  # a full batch was answered: the rest, next step
        self._last = 0.0  # when the connection opened, a request last came whole, or an awaited answer went out
        self._timer: asyncio.TimerHandle | None = None
        self._out: list[bytes] = []  # answers ready, written at the end of the loop's turn (tick_writes)
        self._drop = _Drop(self)

    # -- asyncio.Protocol -------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._server.lanes.add(self)
        self._last = self._server.loop.time()
        self._timer = self._server.loop.call_at(self._last + self._server.idle_timeout, self._expire)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._server.lanes.discard(self)
        self._cancel_timers()
        self._transport = None
        self._buffer, self._parts, self._head, self._held, self._out = b"", [], None, 0, []

    def data_received(self, data: bytes) -> None:
        if self._held:
            self._parts.append(data)  # a body in many segments is joined once, not once per segment
            self._held += len(data)
        else:
            self._buffer, self._held = data, len(data)
        if self._busy is not None or self._write_blocked or self._next_batch is not None:
            if self._held > self._server.buffer_limit:
                self._pause()
        elif self._held >= self._wanted:
            self._serve_buffer()

    def eof_received(self) -> bool | None:
        """The client will send no more: close now, or once the answers to what it sent are written."""
        if self._busy is None and self._next_batch is None:
            self.flush()  # answers made this turn, after the end was read, go out before the transport closes
            return None
        self._eof = True
        return True  # half-open until then (_serve_buffer closes it)

    def pause_writing(self) -> None:
        self._write_blocked = True
        self._pause()

    def resume_writing(self) -> None:
        self._write_blocked = False
        if self._busy is None and self._next_batch is None:
            self._resume()
            self._serve_buffer()

    # -- serving --------------------------------------------------------------------------------------------
    def _serve_buffer(self) -> None:
        """Answer every complete request in the buffer, in order, until one must wait or needs aiohttp."""
        if self._parts:
            self._buffer = b"".join((self._buffer, *self._parts))
            self._parts = []
        served = 0
        transport = self._transport
        while self._buffer and transport is not None and not self._write_blocked:
            if served == BATCH:
                self._pause()
                self._next_batch = self._server.loop.call_soon(self._serve_next_batch)
                return
            started = time.perf_counter()
            taken = self._take_request()
            if taken is _NEED_MORE:
                break
            if taken is None:
                self._hand_over()
                return
            route, request, params, body, close = taken
            served += 1
            try:
                result = route.serve(request, params, body, started)
                if type(result) is Durable:  # SQLite: due when its batch is on disk
                    self._busy = waiter = result.waiter
                    waiter.add_done_callback(partial(self._durable, result, close))
                    self._hold_reading()
                    return
                if not isinstance(result, Answer):
                    # Its first step runs now, as aiohttp runs a request's handler up to its first wait before
                    # the next request is read: Redis registers this request's writes in flight there, and a
                    # request read before that would find them changed at its check and run again (8 times
                    # per upsert, measured, at 32 connections).
                    try:
                        waiting_on = result.send(None)
                    except StopIteration as done:
                        result = done.value
                    else:
                        self._busy = self._server.loop.create_task(self._answer_later(result, waiting_on, close))
                        self._hold_reading()
                        return
                self._hold(encode(result, self._server.extra_headers, close))
            except Exception:
                log.exception("mock bug in the fast lane")
                self._hold(encode(_BUG, self._server.extra_headers, True))
                close = True
            if close or self._closing:
                self._close()
                return
        if self._eof and self._busy is None and self._next_batch is None and transport is not None:
            self._close()

    def _hold_reading(self) -> None:
        """An answer is awaited: reading goes on (a pause and resume cost two system calls per request), what
        arrives is held, and past buffer_limit reading pauses, here as in data_received, whichever path resumed
        it (an awaited answer that resumed reading and met another would otherwise read on without bound)."""
        if self._held > self._server.buffer_limit:
            self._pause()

    def _serve_next_batch(self) -> None:
        self._next_batch = None
        if self._busy is None and not self._write_blocked:
            self._resume()
            self._serve_buffer()

    def _take_request(self) -> Any:
        """The next request of the buffer as (route, request, path params, body, close), _NEED_MORE when it has
        not all arrived, None when aiohttp must serve it. Takes its bytes off the buffer only when complete."""
        buffer = self._buffer
        head = self._head
        if head is None:
            end = buffer.find(b"\r\n\r\n", 0, HEAD_LIMIT + 4)
            if end < 0:
                return _NEED_MORE if len(buffer) <= HEAD_LIMIT and may_become_plain(buffer) else None
            head = self._server.heads.read(buffer, end, self._drop)
            if head is None:
                return None
        if len(buffer) < head.stop:  # the body is on its way: the head is read once, the body waited for whole
            self._head, self._wanted = head, head.stop
            return _NEED_MORE
        self._head, self._wanted = None, 0
        self._buffer = buffer[head.stop:]
        self._held = len(self._buffer)
        self._last = self._server.loop.time()  # a request came whole: the connection is not idle
        return head.route, head.request, head.params, buffer[head.start:head.stop], head.close

    async def _answer_later(self, started: Coroutine[Any, Any, Answer], waiting_on: Any, close: bool) -> None:
        try:
            answer = await _carry_on(started, waiting_on)
            data = encode(answer, self._server.extra_headers, close)
        except asyncio.CancelledError:  # shut down with the answer still awaited
            if self._transport is not None:
                self._transport.abort()
            raise
        except Exception:
            log.exception("mock bug in the fast lane")
            data, close = encode(_BUG, self._server.extra_headers, True), True
        finally:
            self._busy = None
        self._answered(data, close)

    def _durable(self, result: Durable, close: bool, waiter: "asyncio.Future[None]") -> None:
        self._busy = None
        if waiter.cancelled():  # shut down with the answer still awaited (abort)
            if self._transport is not None:
                self._transport.abort()
            return
        self._answered(encode(result.outcome(), self._server.extra_headers, close), close)

    def _answered(self, data: bytes, close: bool) -> None:
        """Write an awaited answer, then serve what arrived meanwhile."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        self._hold(data)
        if close or self._closing:
            self._close()
            return
        self._last = self._server.loop.time()
        if not self._write_blocked and self._next_batch is None:
            self._resume()  # if what arrived meanwhile passed buffer_limit
            self._serve_buffer()

    def _hold(self, data: bytes) -> None:
        """Hold an answer to be written with every connection's at the end of this turn (tick_writes)."""
        if self._transport is not None and not self._transport.is_closing():
            if not self._out:
                self._server.writes.due(self)
            self._out.append(data)

    def flush(self) -> None:
        """Write the answers held: at the end of the turn, or now, before the connection closes or changes hands."""
        out, self._out = self._out, []
        transport = self._transport
        if out and transport is not None and not transport.is_closing():
            transport.write(out[0] if len(out) == 1 else b"".join(out))

    def _close(self) -> None:
        self.flush()
        if self._transport is not None:
            self._transport.close()

    def _pause(self) -> None:
        if not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    def _resume(self) -> None:
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()

    def _expire(self) -> None:
        """Close a connection idle (or half-sent) for idle_timeout seconds; one awaiting an answer is not idle."""
        self._timer = None
        transport = self._transport
        if transport is None:
            return
        loop = self._server.loop
        idle = self._server.idle_timeout
        # awaiting an answer is not idle, nor is a body arriving (aiohttp never times one out either): look again
        # a whole idle_timeout later, not in a loop of short waits for as long as the answer or the body takes
        if self._busy is not None or self._next_batch is not None or self._head is not None:
            self._timer = loop.call_at(loop.time() + idle, self._expire)
        elif self._last + idle > loop.time():
            self._timer = loop.call_at(self._last + idle, self._expire)
        else:
            self._close()

    def _cancel_timers(self) -> None:
        """Stop the idle clock and a batch waiting its turn: the connection is gone, or aiohttp's now."""
        for handle in (self._timer, self._next_batch):
            if handle is not None:
                handle.cancel()
        self._timer = self._next_batch = None

    def _hand_over(self) -> None:
        """Give the connection, from the buffered request on, to aiohttp's own protocol for good."""
        self.flush()  # aiohttp writes its answers at once: the lane's, before them, go first
        transport = self._transport
        if transport is None or transport.is_closing():  # reset meanwhile (its connection_lost is due)
            return
        self._server.lanes.discard(self)
        self._cancel_timers()
        self._resume()
        data, self._buffer, self._transport = self._buffer, b"", None
        handler = self._server.aiohttp_protocol()
        transport.set_protocol(handler)
        handler.connection_made(transport)
        if data:
            handler.data_received(data)

    def shut_down(self) -> None:
        """Close now when no answer is awaited, else once it is written; read no further request."""
        self._closing = True
        if self._next_batch is not None:
            self._next_batch.cancel()
            self._next_batch = None
        if self._busy is None:
            self._close()

    def abort(self) -> None:
        if self._busy is not None:
            self._busy.cancel()
        if self._transport is not None:
            self._transport.abort()


class _Drop:
    """What a route sees as a lane request's transport: a drop fault aborts the connection after the answers
    held for the requests before it are written, as aiohttp, answering one request after another, has written
    them by then."""

    __slots__ = ("_lane",)

    def __init__(self, lane: FastLane) -> None:
        self._lane = lane

    def abort(self) -> None:
        lane = self._lane
        lane.flush()
        if lane._transport is not None:
            lane._transport.abort()


@types.coroutine
def _carry_on(started: Coroutine[Any, Any, Answer], waiting_on: Any) -> Generator[Any, Any, Answer]:
    """Run ``started`` to its end in the awaiting task, as if that task had run its first step too: that step
    ran outside any task and yielded ``waiting_on`` (the future it waits for, or None), which goes up to the
    task here; what the task sends or throws back (a cancellation) goes on to ``started``."""
    while True:
        try:
            yield waiting_on
        except BaseException as thrown:
            step = partial(started.throw, thrown)
        else:
            step = partial(started.send, None)
        try:
            waiting_on = step()
        except StopIteration as done:
            return done.value
