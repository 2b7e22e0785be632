"""cdpkit.mockserver.fast_routes: a vendor request matched ahead of aiohttp's router gets the route and
path parameters the router would give it, and every request the router might read differently is left
to the application."""

from __future__ import annotations

import asyncio
import re

import pytest
from aiohttp.test_utils import make_mocked_request

from cdpkit.mockserver import fast_routes
from cdpkit.mockserver.app import VENDOR_ROUTES, build_app
from cdpkit.mockserver.runtime import MockConfig
from cdpkit.schemas import operations


@pytest.fixture(scope="module")
def app():
    return build_app(MockConfig(demo=False))


def _routed(app, method: str, path: str, headers: dict[str, str] | None = None):
    """(aiohttp's route handler and match_info, or None for a 404/405), and what VendorRoutes found."""
    request = make_mocked_request(method, path, headers=headers or {}, app=app)
    match = asyncio.run(app.router.resolve(request))
    router = None if match.http_exception is not None else (match.handler, dict(match))
    return router, app[VENDOR_ROUTES].find(request)


def _sample_paths() -> list[tuple[str, str]]:
    out = []
    for vendor in ("tto", "quickaudience", "sensors", "gptbots", "zebline"):
        for op in operations(vendor):
            for prefix in ("", f"/{vendor}"):
                template = prefix + op["path"]
                for value in ("LICENSE_CODE", "a-b_c.d~e", "x:y@z", "9c1f6d1e-4b9d-4a43-9b40-3c1d0e3e6a53"):
                    out.append((op["method"], re.sub(r"\{\w+\}", value, template)))
                out.append((op["method"], template + "/"))
                if "{" in template:  # a parameter is one segment: two are another path (or none)
                    out.append((op["method"], re.sub(r"\{\w+\}", "a/b", template, count=1)))
                    out.append((op["method"], re.sub(r"\{\w+\}", "", template, count=1)))
                out.append(("PUT" if op["method"] != "PUT" else "GET", re.sub(r"\{\w+\}", "x", template)))
    return out


@pytest.mark.parametrize("method,path", _sample_paths())
def test_every_operation_path_is_matched_as_the_router_matches_it(app, method: str, path: str) -> None:
    router, fast = _routed(app, method, path)
    if fast is None:
        assert router is None, f"{method} {path}: a plain vendor path left to the router"
    else:
        assert router is not None and fast[0].handle == router[0] and fast[1] == router[1]


def test_a_path_seen_before_gets_the_same_route_and_its_own_parameters(app) -> None:
    """The kept match of a templated path (VendorRoutes._seen) answers as the first match did, hands each
    request a copy (a handler may change its parameters), and stays bounded."""
    request = make_mocked_request("POST", "/v1/accounts/SEEN_TWICE/users", app=app)
    routes = app[VENDOR_ROUTES]
    first = routes.find(request)
    assert first is not None and first[1] == {"license_code": "SEEN_TWICE"}
    first[1]["license_code"] = "changed by a handler"
    again = routes.find(request)
    assert again is not None and again[0] is first[0] and again[1] == {"license_code": "SEEN_TWICE"}
    for n in range(fast_routes.SEEN_PATHS + 10):
        routes.find(make_mocked_request("POST", f"/v1/accounts/L{n}/users", app=app))
    assert len(routes._seen) <= fast_routes.SEEN_PATHS
    router, fast = _routed(app, "POST", "/v1/accounts/SEEN_TWICE/users")
    assert fast is not None and router is not None and fast[0].handle == router[0] and fast[1] == router[1]


@pytest.mark.parametrize("path", [
    "/v1/accounts/LICENSE%5FCODE/users",  # percent-encoded: the router decodes it
    "/v1/accounts/./LICENSE_CODE/users",  # a dot segment: normalised away
    "/v1/accounts/../v1/track",
    "/v1/accounts/../users",  # ".." would be a license code here; the router sees /v1/users
    "/v1/accounts/./users",
    "/v1/accounts/L#x/users",  # a fragment ends the path
    "/v1/accounts/L C/users",
    "/zebline/v1/accounts/caf\u00e9/users",
])
def test_a_path_the_router_might_read_differently_is_left_to_it(app, path: str) -> None:
    request = make_mocked_request("POST", path, app=app)
    assert app[VENDOR_ROUTES].find(request) is None


def test_expect_100_continue_is_left_to_the_application(app) -> None:
    request = make_mocked_request("POST", "/v1/track", headers={"Expect": "100-continue"}, app=app)
    assert app[VENDOR_ROUTES].find(request) is None
    assert app[VENDOR_ROUTES].find(make_mocked_request("POST", "/v1/track", app=app)) is not None


def test_control_api_and_unknown_paths_are_left_to_the_application(app) -> None:
    for method, path in (("GET", "/__mock/requests"), ("POST", "/__mock/reset"), ("GET", "/nope"), ("GET", "/v1/track")):
        assert app[VENDOR_ROUTES].find(make_mocked_request(method, path, app=app)) is None
