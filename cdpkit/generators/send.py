"""``cdpkit gen --send``: deliver generated requests with bounded concurrency and a rate limit.

A developer fills the mock or a staging system with realistic traffic and wants to see it happen:
a live progress line on stderr (count, rate, statuses) and a final tally of statuses, including
whether each answer is the one the payload calls for (2xx/3xx for valid payloads, 4xx for invalid
ones). Payloads are generated lazily, so a million requests never sit in memory at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Iterator, TextIO

import aiohttp

from cdpkit.generators.transport import PreparedRequest

Item = tuple[bool, PreparedRequest]  # (payload meant to be valid, request)


class Unreachable(ConnectionError):
    """The target answered nothing at all (refused, unresolvable, timed out)."""


class TokenBucket:
    """At most ``rate`` acquisitions per second on average, bursts of at most ``burst``."""

    def __init__(self, rate: float | None, burst: float = 1.0) -> None:
        self.rate = rate
        self.capacity = max(1.0, burst)
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        if not self.rate:
            return
        async with self._lock:  # one waiter at a time keeps the order fair and the arithmetic simple
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)


@dataclass
class Tally:
    """What came back: statuses (or error names), and how many answers matched the payload's intent."""

    total: int
    statuses: Counter[str] = field(default_factory=Counter)
    as_expected: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    last_error: str = ""

    @property
    def done(self) -> int:
        return sum(self.statuses.values())

    @property
    def undelivered(self) -> int:
        return sum(n for key, n in self.statuses.items() if not key.isdigit())

    def rate(self) -> float:
        elapsed = (self.finished or time.monotonic()) - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def record(self, meant_valid: bool, status: int | None, error: str | None = None) -> None:
        self.statuses[str(status) if status is not None else f"error:{error}"] += 1
        if status is not None and (status < 400 if meant_valid else 400 <= status < 500):
            self.as_expected += 1

    def line(self) -> str:
        width = 24
        filled = width * self.done // self.total if self.total else width
        statuses = " ".join(f"{k}x{v}" for k, v in sorted(self.statuses.items()))
        return f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {self.rate():8.1f}/s  {statuses}"

    def table(self) -> str:
        rows = [f"{'status':<28}{'count':>8}{'share':>8}"]
        for key, n in sorted(self.statuses.items()):
            rows.append(f"{key:<28}{n:>8}{n / max(self.done, 1):>8.1%}")
        elapsed = (self.finished or time.monotonic()) - self.started
        rows.append(f"sent {self.done} in {elapsed:.2f} s ({self.rate():.1f}/s); "
                    f"answered as the payload calls for: {self.as_expected}/{self.done}")
        return "\n".join(rows)


class Progress:
    """A single stderr line redrawn at most ``hz`` times a second, then a newline."""

    def __init__(self, stream: TextIO | None, hz: float = 10.0) -> None:
        self.stream = stream
        self.interval = 1.0 / hz
        self.last = 0.0

    def show(self, tally: Tally, force: bool = False) -> None:
        now = time.monotonic()
        if self.stream is None or (not force and now - self.last < self.interval):
            return
        self.last = now
        self.stream.write("\r" + tally.line())
        self.stream.flush()

    def close(self, tally: Tally) -> None:
        if self.stream is not None:
            self.show(tally, force=True)
            self.stream.write("\n")
            self.stream.flush()


async def _deliver(session: aiohttp.ClientSession, base_url: str, request: PreparedRequest) -> int:
    async with session.request(
        request.method, base_url.rstrip("/") + request.path, params=request.query or None,
        data=request.content(), headers=request.headers,
    ) as response:
        await response.read()
        return response.status


async def send_all(
    base_url: str,
    items: Iterable[Item],
    total: int,
    concurrency: int = 8,
    rate: float | None = None,
    progress: TextIO | None = None,
    timeout: float = 30.0,
) -> Tally:
    """Send every item; raises :class:`Unreachable` if the very first request gets no answer."""
    tally = Tally(total)
    bar = Progress(progress)
    bucket = TokenBucket(rate, burst=min(concurrency, rate or 1))
    queue: Iterator[Item] = iter(items)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)) as session:

        async def one(meant_valid: bool, request: PreparedRequest) -> None:
            await bucket.take()
            try:
                tally.record(meant_valid, await _deliver(session, base_url, request))
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                tally.record(meant_valid, None, type(exc).__name__)
                tally.last_error = str(exc) or type(exc).__name__
            bar.show(tally)

        async def worker() -> None:
            for meant_valid, request in queue:  # a shared iterator: next() never yields to the loop
                await one(meant_valid, request)

        first = next(queue, None)
        if first is not None:
            await one(*first)
            if tally.undelivered:
                bar.close(tally)
                raise Unreachable(f"cannot reach {base_url}: {tally.last_error}; is the server running?")
            await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    tally.finished = time.monotonic()
    bar.close(tally)
    return tally
