"""A small Python client for the control API, so tests and scripts need not spell URLs."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class MockControlError(RuntimeError):
    pass


class MockClient:
    """Talks to ``<url>/__mock/``. Every method returns the decoded JSON answer."""

    def __init__(self, url: str, timeout: float = 10.0, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        # the admin token of a mock that requires one (--admin-token); CDPKIT_ADMIN_TOKEN by default
        self.token = token if token is not None else os.environ.get("CDPKIT_ADMIN_TOKEN")

    def _call(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        url = f"{self.url}/__mock/{path}"
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["X-Cdpkit-Token"] = self.token
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise MockControlError(f"{method} {url}: {exc.code} {exc.read().decode(errors='replace')}") from None

    def is_mock(self) -> bool:
        """Whether the URL serves a cdpkit mock (its control index answers)."""
        try:
            return "endpoints" in self._call("GET", "")
        except (MockControlError, urllib.error.URLError, OSError, ValueError):
            return False

    def requests(
        self, vendor: str | None = None, verdict: str | None = None, operation: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The journal, newest first; every page of it when ``limit`` is None."""
        q: dict[str, Any] = {"vendor": vendor, "verdict": verdict, "operation": operation, "limit": limit}
        out: list[dict[str, Any]] = []
        while True:
            page = self._call("GET", "requests", query=q)
            out += page["requests"]
            if limit is not None or page.get("next") is None:
                return out
            q["before"] = page["next"]

    def summary(self) -> dict[str, Any]:
        return self._call("GET", "summary")

    def reset(self) -> None:
        self._call("POST", "reset")

    def seed(self, data: dict[str, Any]) -> list[str]:
        return self._call("POST", "seed", body=data)["seeded"]

    def state(self, vendor: str) -> dict[str, Any]:
        return self._call("GET", f"state/{vendor}")

    def credentials(self) -> dict[str, Any]:
        return self._call("GET", "credentials")

    def fault(self, path: str = "*", **spec: Any) -> int:
        """Add a fault (``status=``, ``latency_ms=``, ``drop=``, ``count=``, ``percent=``, ``method=``)."""
        return self._call("POST", "faults", body={"path": path, **spec})["added"]

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")
