"""The fast lane's answers, written once per turn of the event loop for every connection together (issue 9).

Why: writing an answer to a loopback socket wakes the client's thread if it sleeps, and that wake-up was the
largest single cost of a lane request. Measured with ``perf record -g`` on the mock under ``wrk -c32``, 11-14%
of its CPU went to ``sock_def_readable`` waking the client from inside the ``write`` system call: answers
went out one by one, tens of microseconds of Python apart, so the client was back asleep before each of
them. Written together at the end of the turn, the first answer wakes the client and the rest find it awake.
Measured on the same run (Zebline upserts, memory store, same machine, same load): 43 µs of user and 19 of
system CPU per request before, 35 and 6-9 after; 15,500 against 21,400-23,000 requests/s.

What a client sees: an answer leaves once the requests that arrived with it, on every connection, are
answered, instead of as soon as it is ready; one connection alone on the mock waits for nothing (the turn
holds only its request). Order and content per connection are unchanged, and whatever closes a connection
(the client's half-close included), hands it to aiohttp or drops it for a fault writes that connection's
answers first (:meth:`FastLane.flush <cdpkit.mockserver.fast_lane.FastLane.flush>`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

log = logging.getLogger("cdpkit.mock")


class Flushes(Protocol):
    def flush(self) -> None: ...


class TickWrites:
    """The connections holding answers this turn; the first to hold one asks the loop to write them all."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._due: list[Flushes] = []

    def due(self, lane: Flushes) -> None:
        """``lane`` holds answers to write this turn (called once per turn by each lane, when it starts holding)."""
        if not self._due:
            # call_soon runs after every I/O callback of the turn: every request that came with this one is served
            self._loop.call_soon(self._write_all)
        self._due.append(lane)

    def _write_all(self) -> None:
        due, self._due = self._due, []
        for lane in due:
            try:
                lane.flush()
            except Exception:  # one connection's failure must not keep the others' answers unsent
                log.exception("mock bug writing a fast lane's answers")
