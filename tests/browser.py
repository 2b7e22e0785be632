"""The real browser the project's browser tests drive: Debian's Chromium through Playwright's Python package.

One place decides how it is found and what a missing browser means: a skip on a developer machine, a
failure in CI (``CDPKIT_REQUIRE_BROWSER=1``, set by ``.ci/run``, which installs ``chromium``). Playwright's
own browser download is never used (it cannot be fetched here): ``CDPKIT_CHROMIUM`` or ``chromium`` on PATH.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def unavailable(reason: str, *, module_level: bool = True) -> None:
    """Skip on a developer machine; fail in CI, where the browser is installed on purpose."""
    if os.environ.get("CDPKIT_REQUIRE_BROWSER") == "1":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=module_level)


def chromium_path() -> str:
    """The Chromium executable, or the skip/failure that says how to install it."""
    path = os.environ.get("CDPKIT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        unavailable("Chromium not found: install it with `apt-get install -y chromium` (or set CDPKIT_CHROMIUM)")
    return path  # type: ignore[return-value]


PLAYWRIGHT_MISSING = "playwright not installed: `pip install -e '.[test]'` (never `playwright install`; the system Chromium is used)"


@contextlib.contextmanager
def serve_page(html: str, name: str) -> Iterator[int]:
    """Serve one fixed HTML page on a free loopback port (another origin than the mock's) and yield the port."""
    body = html.encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server hook name
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextlib.contextmanager
def launched_chromium(args: list[str] = CHROMIUM_ARGS) -> Iterator[Any]:
    """Debian's Chromium launched through Playwright (a module-scoped fixture's body): the skip or failure
    :func:`chromium_path` decides when it is missing."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=args, timeout=30_000)
        yield browser
        browser.close()


@contextlib.contextmanager
def fresh_page(browser: Any, width: int, height: int, timeout_ms: int) -> Iterator[Any]:
    """A page in a context of its own (no cookies or storage from another test), closed afterwards."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(timeout_ms)
    yield context.new_page()
    context.close()
