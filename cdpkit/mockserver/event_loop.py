"""Which event loop ``cdpkit mock`` serves on: uvloop where it is installed, asyncio's own otherwise.

Why (issue 9): asyncio's selector loop writes every answer through a Python ``transport.write`` and runs
each callback through Python ``Handle`` objects; uvloop does both in C. Measured side by side on the
Zebline upsert on a quiet machine (5 alternating rounds, wrk -c32): the mock's CPU per request falls 2-3%
(113 → 110 µs), a bare aiohttp handler's 10% (47 → 42 µs); the mock's own Python is the larger part.
It comes with cdpkit wherever it has a wheel (CPython, not Windows); ``--loop asyncio`` keeps the standard
loop, e.g. to compare the two or to rule the loop out when chasing a problem. Every behaviour of the mock is
the same on both: the tests run the mock on the default loop, and every vendor's ``check --strict`` on
asyncio's (tests/test_event_loop.py).
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

LOOPS = ("auto", "uvloop", "asyncio")
T = TypeVar("T")


def uvloop_installed() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def resolve(choice: str) -> str:
    """The loop a ``--loop`` choice runs on: ``auto`` is uvloop when installed; ValueError for a choice that
    cannot run here, in words a user can act on."""
    if choice not in LOOPS:
        raise ValueError(f"--loop must be one of {', '.join(LOOPS)}, not {choice!r}")
    if choice == "auto":
        return "uvloop" if uvloop_installed() else "asyncio"
    if choice == "uvloop" and not uvloop_installed():
        raise ValueError("--loop uvloop: uvloop is not installed (pip install uvloop; it has no wheel for Windows)")
    return choice


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes a new loop of the resolved ``choice``."""
    if resolve(choice) == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def run(main: Coroutine[Any, Any, T], choice: str = "auto") -> T:
    """``asyncio.run(main)`` on the loop ``choice`` names (``asyncio.Runner``: same shutdown of tasks and
    async generators as ``asyncio.run``)."""
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:
        return runner.run(main)
