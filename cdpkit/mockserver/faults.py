"""Injected faults: latency, a status code, or a dropped connection, for a path pattern.

Clients rehearse their retry paths against these; they are the only way the mock answers 5xx on
purpose (besides a vendor 500 the catalog names precisely).
"""

from __future__ import annotations

import fnmatch
import random
from dataclasses import asdict, dataclass, field
from typing import Any


class FaultSpecError(ValueError):
    pass


@dataclass
class Fault:
    path: str = "*"  # glob over the request path, e.g. "/v1/*" or "*/users"
    method: str | None = None
    latency_ms: float | list[float] | None = None  # fixed, or [low, high]
    status: int | None = None
    drop: bool = False
    count: int | None = None  # the next N matching calls; None: until cleared
    percent: float = 100.0
    id: int = 0
    hits: int = field(default=0)

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return fnmatch.fnmatchcase(path, self.path)

    def delay_seconds(self, rng: random.Random) -> float:
        if self.latency_ms is None:
            return 0.0
        if isinstance(self.latency_ms, list):
            low, high = self.latency_ms
            return rng.uniform(low, high) / 1000
        return float(self.latency_ms) / 1000


MAX_LATENCY_MS = 60_000  # every latency, a range's bounds included: a shutdown never waits on a fault for longer
_FIELDS = {"path", "method", "latency_ms", "status", "drop", "count", "percent"}


def parse_fault(data: Any) -> Fault:
    """Build a fault from the control API's JSON, with a message naming what is wrong."""
    if not isinstance(data, dict):
        raise FaultSpecError("a fault is a JSON object, e.g. {\"path\": \"/v1/*\", \"status\": 503, \"count\": 2}")
    unknown = set(data) - _FIELDS
    if unknown:
        raise FaultSpecError(f"unknown fault fields {sorted(unknown)}; known: {sorted(_FIELDS)}")
    fault = Fault(**data)
    if not isinstance(fault.path, str):
        raise FaultSpecError("path must be a glob string")
    if fault.method is not None and not isinstance(fault.method, str):
        raise FaultSpecError("method must be an HTTP method name, e.g. \"POST\"")
    if fault.status is not None and (not isinstance(fault.status, int) or not 100 <= fault.status <= 599):
        raise FaultSpecError("status must be an HTTP status code (100-599)")
    latency = fault.latency_ms
    if latency is not None:
        values = latency if isinstance(latency, list) else [latency]
        ok = len(values) in (1, 2) and (len(values) == 1 or isinstance(latency, list))
        ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= MAX_LATENCY_MS
                        for v in values) and values[0] <= values[-1]
        if not ok:
            raise FaultSpecError(f"latency_ms must be milliseconds (0 to {MAX_LATENCY_MS}) or [low, high] within that")
    if fault.count is not None and (not isinstance(fault.count, int) or fault.count < 1):
        raise FaultSpecError("count must be a positive integer")
    if not isinstance(fault.percent, (int, float)) or not 0 < fault.percent <= 100:
        raise FaultSpecError("percent must be in (0, 100]")
    if fault.status is None and not fault.drop and latency is None:
        raise FaultSpecError("a fault needs at least one of status, drop, latency_ms")
    return fault


class Faults:
    """The active faults, first match wins."""

    def __init__(self, seed: int | None = None) -> None:
        self._faults: list[Fault] = []
        self._next = 1
        self._rng = random.Random(seed)

    def add(self, fault: Fault) -> Fault:
        fault.id = self._next
        self._next += 1
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        self._faults.clear()

    # What the control API awaits on the serving loop: here nothing waits, so the plain calls; a list shared
    # with other processes (RedisFaults) waits for their acknowledgements in a thread instead.
    async def add_async(self, fault: Fault) -> Fault:
        return self.add(fault)

    async def clear_async(self) -> None:
        self.clear()

    def delay_seconds(self, fault: Fault) -> float:
        """How long to hold this call (a latency range is drawn from the seeded generator)."""
        return fault.delay_seconds(self._rng)

    def list(self) -> list[dict[str, Any]]:
        return [asdict(f) for f in self._faults]

    def take(self, method: str, path: str) -> Fault | None:
        """The fault to apply to this call, if any, counting it against its budget."""
        if not self._faults:
            return None
        for fault in self._faults:
            if not fault.matches(method, path):
                continue
            if fault.percent < 100 and self._rng.uniform(0, 100) >= fault.percent:
                continue
            fault.hits += 1
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
            return fault
        return None
