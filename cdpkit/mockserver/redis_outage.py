"""What a mock on Redis answers while Redis cannot be reached: a deliberate 503 that names the cause.

The house rule is *never a 5xx by accident*: a 5xx is the mock's own failure passed off as the vendor's, or a
traceback where an answer was due. An unreachable state store is neither a client's mistake nor a bug of the
mock: it is an outage of what the mock depends on, and HTTP has a status for exactly that. So the mock answers
**503 Service Unavailable** on purpose, with ``Retry-After``, a body that says which store is unreachable and
why ("cdpkit mock: its state store redis://HOST:PORT/DB is unreachable: …") and the violation
``MOCK-STORE-UNREACHABLE`` in the journal, instead of the 500 ``MOCK-BUG`` a stray exception would give. A 4xx
would blame the client for an outage; a 500 would report a bug that is not there.

Nothing of such a request is applied: a commit that cannot reach Redis is never sent, and the view forgets
what it knew, so every value is checked afresh once Redis is back. (When the connection breaks *after* a batch
was sent, Redis alone knows whether it ran: the 503 then says the outcome is unknown, as any HTTP timeout does,
and the request's retry is checked against whatever Redis holds.) The outage is logged once when it starts and
once when it ends, never per request and with no traceback; requests succeed again as soon as Redis answers,
without a restart. The journal lives in Redis too: an exchange answered while it is unreachable is journaled
if the journal's write gets through, and otherwise counted in :attr:`Outage.unjournaled` and dropped.

The control API (``/__mock/…``) reads Redis too (the journal, the counts, the faults, the state) and answers the
same 503, with the same wording and ``Retry-After``, from a route that met the outage
(:func:`cdpkit.mockserver.control.store_outage`); it is not journaled, as no control call is.

**Never waiting on the event loop.** A Redis that refuses (stopped) fails a call at once; one that does not answer
at all (a host gone, a firewall dropping packets) makes it wait for a timeout: 5 s to connect, 30 s for an
answer on an open connection. No such wait may hold the serving loop, where every other request waits behind
it. So a control route first asks Redis with :func:`probe`, through the asyncio client, before its synchronous
calls; a vendor request's round trips are asyncio's already, and the one synchronous check it may make (the
fault list's, while its listener is not live) goes through a client that waits at most :data:`QUICK_TIMEOUT`
(:meth:`cdpkit.mockserver.redis_faults.RedisFaults.take`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.parse
from typing import Any

from cdpkit.mockserver.vendor import Reply

log = logging.getLogger("cdpkit.mock")

RETRY_AFTER_SECONDS = 1  # what a client is told to wait: a Redis restart takes about that
VIOLATION = "MOCK-STORE-UNREACHABLE"
HEADERS = {"Retry-After": str(RETRY_AFTER_SECONDS)}  # on every 503 of an outage
PROBE_TIMEOUT = 5.0  # seconds a probe waits for PONG: the connect timeout; a PING takes well under a millisecond
# seconds the one synchronous call a vendor request may make on the loop waits (to connect, then for the answer):
# a round trip on a reachable Redis takes well under a millisecond (on a busy machine, rarely 10 ms), and the loop
# must never wait long
QUICK_TIMEOUT = 0.1


async def probe(client: Any, attempts: int) -> None:
    """PING Redis through ``client`` (a ``redis.asyncio`` client), waiting without holding the event loop; raise
    what :func:`unreachable` recognises if Redis refuses, or does not answer within :data:`PROBE_TIMEOUT`.

    A connection error is tried again, up to ``attempts`` PINGs: after Redis restarted, the pool still holds
    connections the old one closed, and each fails once (and is dropped) before a new one answers; a Redis that
    is away refuses every attempt at once."""
    import redis.exceptions

    loop = asyncio.get_running_loop()
    deadline = loop.time() + PROBE_TIMEOUT
    for attempt in range(1, attempts + 1):
        try:
            await asyncio.wait_for(client.ping(), max(deadline - loop.time(), 0.0))
            return
        except TimeoutError:  # asyncio's own, since Python 3.11
            raise redis.exceptions.TimeoutError(f"no answer to PING within {PROBE_TIMEOUT:g} s") from None
        except redis.exceptions.ConnectionError:
            if attempt == attempts or loop.time() >= deadline:
                raise


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says Redis cannot be reached (refused, reset, timed out, still loading its data), as
    opposed to an error Redis answered, which is a bug and stays one."""
    import redis.exceptions

    return isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, ConnectionError,
                            TimeoutError))


def public_url(url: str) -> str:
    """``url`` without credentials: what an answer or a log line may show."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class Outage:
    """Whether this process currently finds its Redis unreachable, and the answer it gives meanwhile."""

    def __init__(self, url: str) -> None:
        self.url = public_url(url)
        self.cause: str | None = None  # None: Redis answered last time it was asked
        self.since = 0.0
        self.answered = 0  # requests answered 503 in this outage
        self.unjournaled = 0  # journal entries dropped because the journal could not be written (all outages)

    def seen(self, exc: BaseException) -> None:
        """Redis could not be reached: log the outage the first time, not per request."""
        if self.cause is None:
            self.since, self.answered = time.monotonic(), 0
            log.error("cdpkit mock: its state store %s is unreachable: %s (answering 503 until it is back)",
                      self.url, str(exc).rstrip(".") or type(exc).__name__)
        self.cause = str(exc).rstrip(".") or type(exc).__name__

    def over(self) -> None:
        """Redis answered: end the outage, if there was one, saying so once."""
        if self.cause is not None:
            log.warning("cdpkit mock: its state store %s is reachable again after %.1f s (%d requests answered 503)",
                        self.url, time.monotonic() - self.since, self.answered)
            self.cause = None

    def message(self, exc: BaseException) -> str:
        """Count a request answered 503 for ``exc`` and say why, in the one wording every such answer uses
        (a vendor operation's or the control API's)."""
        self.seen(exc)
        self.answered += 1
        return f"cdpkit mock: its state store {self.url} is unreachable: {self.cause}"

    def reply(self, exc: BaseException, operation: str) -> Reply:
        """The 503 for a request that needed Redis (see the module's description for why a 503)."""
        return Reply(503, {"error": self.message(exc), "operation": operation}, headers=dict(HEADERS),
                     violations=(VIOLATION,))
