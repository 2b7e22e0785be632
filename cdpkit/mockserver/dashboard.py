"""The dashboard a developer keeps open: ``GET /__mock/ui``, in the spirit of Snowplow Micro's UI and
WireMock's request journal.

One self-contained page (HTML, CSS and JavaScript from ``cdpkit/mockserver/dashboard/``, shipped as package data,
inlined into one document: no CDN, it works offline) that reads the control API of the mock that
served it: counts of good and bad requests per vendor, the newest requests (filterable), one request
opened with its body, the answer and, for a bad one, every requirement it broke with the document's
sentence in its language and in English, a reset button, and each vendor's state.

It is part of the control API, so ``control_guard`` protects it like the rest: a Host that is this
mock, no cross-site Origin, JSON-only writes, the admin token when there is one. On top of that the
page forbids framing (``frame-ancestors 'none'``: no other site can overlay it and borrow a click) and
runs only its own inline script (a CSP hash), and it writes every journal value as text, never HTML.

Two small endpoints serve what the page needs beyond the existing control API:

* ``GET /__mock/catalog/<ID>``: one catalog entry (the document's sentence, English, kind, seed, section);
* ``GET /__mock/ui/state/<vendor>?limit=``: ``/__mock/state/<vendor>`` with every credential masked
  (``****last4``), as the journal masks them; the unmasked credentials stay in ``/__mock/credentials``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from typing import Any

from aiohttp import web

from cdpkit.mockserver import control
from cdpkit.mockserver.journal_entry import mask, secret_field

STATE_PAGE = 50  # entries per state collection on the page unless ?limit= says otherwise

# Fields of a vendor's ``credentials()`` tenants whose values are secrets (identifiers such as an
# organization id, a Quick Audience accessKeyId or a Zebline license code are left as the journal leaves them).
CREDENTIAL_FIELDS = frozenset({"api_key", "token", "console_tokens", "access_token", "accesskeysecret", "appkey"})


def _asset(name: str) -> str:
    # importlib.resources here: the page's assets are read when it is first served, not at start (issue 9)
    from importlib import resources

    return resources.files(__package__ or "cdpkit.mockserver").joinpath("dashboard", name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@functools.lru_cache(maxsize=1)
def page() -> tuple[bytes, str]:
    """The page as one document, and the Content-Security-Policy that admits exactly its inline parts."""
    css, js = _asset("dashboard.css"), _asset("dashboard.js")
    html = _asset("index.html").replace("/*CSS*/", css, 1).replace("/*JS*/", js, 1)
    csp = ("default-src 'none'; connect-src 'self'; img-src 'self' data:; "
           f"style-src {_csp_hash(css)}; script-src {_csp_hash(js)}; "
           "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
    return html.encode(), csp


async def ui(request: web.Request) -> web.Response:
    body, csp = page()
    return web.Response(body=body, content_type="text/html", charset="utf-8", headers={
        "Content-Security-Policy": csp,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    })


async def catalog_entry(request: web.Request) -> web.Response:
    """``GET /__mock/catalog/<ID>``: what the page shows for a violated requirement."""
    from cdpkit.schemas import catalog  # here, not on every start of the mock (issue 9)

    requirement_id = request.match_info["id"]
    try:
        entry = catalog.get(requirement_id)
    except KeyError as exc:
        return control._error(404, str(exc.args[0]))
    return control._json({
        "id": entry.id, "vendor": entry.vendor, "kind": entry.kind, "applies_to": entry.applies_to,
        "seed": entry.seed, "section": entry.section, "quote": entry.quote, "english": entry.english,
        "source": entry.source,
    })


def _secrets(credentials: dict[str, Any]) -> set[str]:
    """Every secret string a vendor's ``credentials()`` lists, at any depth of its tenants."""
    found: set[str] = set()

    def walk(value: Any, secret: bool) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, secret or str(k).lower() in CREDENTIAL_FIELDS)
        elif isinstance(value, list):
            for v in value:
                walk(v, secret)
        elif secret and isinstance(value, str) and value:
            found.add(value)

    walk(credentials.get("tenants", []), False)
    return found


def masked(view: Any, secrets: set[str]) -> Any:
    """``view`` with each secret (as a key, a value or inside one) and each secret-named field masked."""
    ordered = sorted(secrets, key=len, reverse=True)

    def text(value: str) -> str:
        if value in secrets:
            return mask(value)
        for secret in ordered:
            if secret in value:
                value = value.replace(secret, mask(secret))
        return value

    def walk(value: Any, secret: bool) -> Any:
        if isinstance(value, dict):
            return {text(k) if isinstance(k, str) else k: walk(v, secret or secret_field(str(k)))
                    for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, secret) for v in value]
        if isinstance(value, str):
            return mask(value) if secret else text(value)
        return value

    return walk(view, False)


async def state(request: web.Request) -> web.Response:
    """``GET /__mock/ui/state/<vendor>?limit=``: the vendor's state as the page shows it, credentials masked."""
    mock = control._mock(request)
    name = request.match_info["vendor"]
    if name not in mock.vendors:
        return control._error(404, f"vendor {name!r} is not served", vendors=sorted(mock.vendors))
    try:
        limit = control._int_param(request, "limit", STATE_PAGE) or STATE_PAGE
    except control._BadBody as exc:
        return control._error(400, str(exc))
    vendor, scope = mock.vendors[name], mock.scopes[name]
    view = control._cut(vendor.state_view(scope) if vendor.state_view else scope.dump(), limit)
    return control._json(masked(view, _secrets(vendor.credentials(scope))))


def add_routes(app: web.Application) -> None:
    app.router.add_get(control.PREFIX + "/ui", ui)
    app.router.add_get(control.PREFIX + "/ui/", ui)
    app.router.add_get(control.PREFIX + "/ui/state/{vendor}", state)
    app.router.add_get(control.PREFIX + "/catalog/{id}", catalog_entry)
