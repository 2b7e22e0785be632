"""Second implementations of the five vendor APIs, written from the documents alone.

Each module was written by someone who had read only the vendor's document and VENDOR-NOTES (for Quick
Audience, also cdpkit's OpenAPI document of the modeled surface; for Zebline, the two modeled read-back
calls), never ``mockserver/``. Wherever the documents are open they chose differently from the mock
(202 instead of 200, errors at HTTP 200 with a code, other error bodies, coercion where a table is
silent, other orders), and each lists those choices in ``CHOICES``. ``make_app(defects)`` switches on
realistic bugs (``DEFECTS``: the document's sentence and what the bug does). ``tests/test_cleanroom.py``
is the proof: ``cdpkit check`` passes every correct implementation and catches every defect on its
exact requirement ID. This is cdpkit's own Bowtie: one suite judged by more than one implementation.
"""

from __future__ import annotations

import asyncio
import importlib
import socket
import threading
from types import ModuleType

from aiohttp import web

from cdpkit.schemas import VENDORS


def module(vendor: str) -> ModuleType:
    return importlib.import_module(f"tests.cleanroom.{vendor}")


class AppServer:
    """One aiohttp application served on a free loopback port from a background thread."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="cleanroom", daemon=True)
        self._runner: web.AppRunner | None = None
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def __enter__(self) -> "AppServer":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            # closed here, not by the collector: an unclosed loop's ResourceWarning would surface in whichever
            # later test happens to collect it (test_redis_shutdown counts them)
            self._loop.close()


__all__ = ["AppServer", "VENDORS", "module"]
