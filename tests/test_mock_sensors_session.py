"""The Sensors H5 page's session (SF-H5-PROJECT-RESOLVE, issue 10): no page or save without one, and
one organization's session never reads or writes another organization's project or tag of the same
name. The browser side (sign-in form, SameSite) is tests/test_sensors_h5_browser.py."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from cdpkit.mockserver.pytest_plugin import MockServer
from tests.mock_fixtures import one_vendor_mock


server = one_vendor_mock("sensors")[0]

KEY, ORG, PROJECT = "#K-7IGwJpE2M9CpID4101qj2hWg9t59hoF3", "org-sep-3164dp4", "default"
# A second organization whose project and running tag have the demo's names (every real org has a "default").
TWIN_KEY, TWIN_ORG = "#K-cdpkitTwinTenant00000000000000000", "org-aaa-twin"
H5 = "/sf/h5/iframe-app/sf/realtime-tag"
TAG_GET = "/api/v3/focus/v1/real-time-tag/get"
NAME = "user_rt_tag_if1"
EDIT = {"project": PROJECT, "mode": "edit", "tag_name": NAME, "tag_cname": "changed", "eql": "user.age >= 0", "layer": "x"}


@pytest.fixture(autouse=True)
def fresh(server: MockServer) -> None:
    server.reset()
    twin = {"api_keys": [TWIN_KEY], "projects": {PROJECT: {"tags": [
        {"name": NAME, "cname": "twin tag", "status": "RUNNING", "layers": [{"eql": "user.age >= 0", "tag": "twin"}]}]}}}
    server.seed({"sensors": {"organizations": {TWIN_ORG: twin}}})


def api_tag(server: MockServer, key: str, org: str) -> dict[str, Any]:
    headers = {"api-key": key, "X-Organization-Id": org, "sensorsdata-project": PROJECT}
    resp = requests.get(server.url + TAG_GET, params={"name": NAME}, headers=headers, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]["realtime_tag"]


def signed_in(server: MockServer, key: str) -> requests.Session:
    session = requests.Session()
    session.get(server.url + H5, params={"project": PROJECT, "api_key": key}, timeout=10)
    return session


def test_no_session_no_page_and_no_save(server):
    before = (api_tag(server, KEY, ORG), api_tag(server, TWIN_KEY, TWIN_ORG))
    page = requests.get(server.url + H5, params={"project": PROJECT, "mode": "view", "tag_name": NAME}, timeout=10)
    assert page.status_code == 401 and page.headers["Content-Type"].startswith("text/html")
    assert 'id="rt-tag-login"' in page.text and "SF-H5-PROJECT-RESOLVE" in page.text and "twin tag" not in page.text
    assert 'name="tag_name" value="user_rt_tag_if1"' in page.text, "the form keeps the page's parameters"
    save = requests.post(server.url + H5 + "/save", json=EDIT, timeout=10)
    assert save.status_code == 401 and "SF-H5-PROJECT-RESOLVE" in save.json()["error_info"]["context"]["requirements"]
    assert (api_tag(server, KEY, ORG), api_tag(server, TWIN_KEY, TWIN_ORG)) == before


def test_sign_in_on_the_page_url_sets_a_lax_http_only_cookie_and_drops_the_key(server):
    resp = requests.get(server.url + H5, params={"project": PROJECT, "mode": "create", "api_key": KEY}, timeout=10,
                        allow_redirects=False)
    assert resp.status_code == 303 and resp.headers["Location"] == H5 + "?project=default&mode=create"
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("sf_h5_session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie and KEY not in cookie
    unknown = requests.get(server.url + H5, params={"project": PROJECT, "api_key": "#K-nobody"}, timeout=10, allow_redirects=False)
    assert unknown.status_code == 401 and "set-cookie" not in unknown.headers and 'id="rt-tag-login"' in unknown.text


@pytest.mark.parametrize("key,org,cname", [(KEY, ORG, "iframe 创建11121"), (TWIN_KEY, TWIN_ORG, "twin tag")])
def test_each_session_reads_and_writes_its_own_organization_only(server, key, org, cname):
    other = (TWIN_KEY, TWIN_ORG) if key == KEY else (KEY, ORG)
    untouched = api_tag(server, *other)
    with signed_in(server, key) as session:
        view = session.get(server.url + H5, params={"project": PROJECT, "mode": "view", "tag_name": NAME}, timeout=10)
        assert view.status_code == 200 and f'value="{cname}"' in view.text
        saved = session.post(server.url + H5 + "/save", json=EDIT, timeout=10)
        assert saved.status_code == 200, saved.text
    assert api_tag(server, key, org)["cname"] == "changed"
    assert api_tag(server, *other) == untouched


def test_api_headers_are_a_session_for_plain_http_clients(server):
    headers = {"api-key": TWIN_KEY, "X-Organization-Id": TWIN_ORG}
    assert requests.post(server.url + H5 + "/save", json=EDIT, headers=headers, timeout=10).status_code == 200
    assert api_tag(server, TWIN_KEY, TWIN_ORG)["cname"] == "changed" and api_tag(server, KEY, ORG)["cname"] != "changed"
    mismatch = requests.post(server.url + H5 + "/save", json=EDIT, headers={"api-key": TWIN_KEY, "X-Organization-Id": ORG}, timeout=10)
    assert mismatch.status_code == 403 and api_tag(server, KEY, ORG)["cname"] != "changed"
    unknown = requests.post(server.url + H5 + "/save", json=EDIT, headers={"api-key": "#K-nobody"}, timeout=10)
    assert unknown.status_code == 401


def test_a_forged_or_foreign_cookie_is_no_session(server):
    from cdpkit.mockserver.sensors_h5 import session_cookie

    value = session_cookie(ORG)
    encoded, _, signature = value.partition(".")
    twin_encoded = session_cookie(TWIN_ORG).partition(".")[0]
    for forged in (f"{twin_encoded}.{signature}", f"{encoded}.{'0' * len(signature)}", "garbage", f"{encoded}",
                   f"{encoded}.{signature[:-1]}\u00e9", "\u00e9.\u00e9"):
        resp = requests.post(server.url + H5 + "/save", json=EDIT, cookies={"sf_h5_session": forged}, timeout=10)
        assert resp.status_code == 401, (forged, resp.text)
    assert requests.post(server.url + H5 + "/save", json=EDIT, cookies={"sf_h5_session": value}, timeout=10).status_code == 200


def test_a_project_only_another_organization_has_is_not_found(server):
    with signed_in(server, KEY) as session:
        resp = session.get(server.url + H5, params={"project": "production"}, timeout=10)  # the second demo tenant's
    assert resp.status_code == 404 and "SF-H5-ERRORS" in resp.text
