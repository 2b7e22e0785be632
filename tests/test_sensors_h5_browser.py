"""The Sensors Focus H5 tag page in a real browser (SF-H5-*), embedded the way the document says.

The HTTP tests (test_mock_sensors.py) only read the page's HTML; this file proves the page *works*:
Debian's Chromium, driven by Playwright, loads a business page from a second origin that embeds
the document's iframe URL and registers the document's ``message`` listener once; the form is
filled and saved inside the iframe; the business page must receive exactly one documented
``postMessage`` and the tag must then exist through the Open API.

The page acts for the organization of its session (SF-H5-PROJECT-RESOLVE), a SameSite=Lax cookie as
the real page's login is (SF-H5-SAME-SITE): here the business page passes its api-key in the iframe's
URL once (the mock's way to sign in), or the user signs in through the form the page shows.

Needs ``playwright`` (PyPI, in the ``[test]`` extra; never ``playwright install``: the system
Chromium is used) and Chromium (``apt-get install -y chromium``). Without them the tests skip,
unless ``CDPKIT_REQUIRE_BROWSER=1`` (CI) turns the skip into a failure.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any, Iterator

import jsonschema
import pytest
import requests

from cdpkit.mockserver.pytest_plugin import MockServer
from cdpkit.mockserver.runtime import MockConfig
from cdpkit.schemas import bundle
from tests.browser import CHROMIUM_ARGS, PLAYWRIGHT_MISSING
from tests.browser import fresh_page, launched_chromium
from tests.browser import serve_page
from tests.browser import unavailable as _unavailable

H5 = "/sf/h5/iframe-app/sf/realtime-tag"
TAG_GET = "/api/v3/focus/v1/real-time-tag/get"
SETTLE_MS = 300  # after the first message, how long a second (duplicate) one gets to show up
TIMEOUT_MS = 10_000


try:
    from playwright.sync_api import Browser, Frame, FrameLocator, Page
except ImportError:  # pragma: no cover - depends on the machine
    _unavailable(PLAYWRIGHT_MISSING)

# The business page. Its listener is the document's sample (前端 H5 接收创建成功通知), registered once
# at initialisation as SF-H5-LISTENER-ONCE advises, plus one line that records every message it sees.
# The iframe's src comes from the query string and is set only after the listener is registered.
BUSINESS_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>business system</title></head>
<body><h1>business system</h1>
<iframe id="sf-h5" width="640" height="560"></iframe>
<script>
window.received = [];
window.addEventListener('message', event => {
  window.received.push({data: event.data, origin: event.origin,
                        from_iframe: event.source === document.getElementById('sf-h5').contentWindow});
  const data = event.data;
  if (data?.key === 'SENSORS_SF_REALTIME_TAG_SEND') { // 触发来源为 SF 实时标签引擎
    if (data?.value?.type === 'CREATE_SUCCESS') { // 创建成功后执行自己的业务逻辑
      console.log(data?.value)
    }
  }
});
document.getElementById('sf-h5').src = new URLSearchParams(location.search).get('src');
</script></body></html>"""


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer(MockConfig(port=0, vendors=["sensors"])) as server:
        yield server


@pytest.fixture(scope="module")
def business_origin() -> Iterator[str]:
    """A second origin (another port), so the postMessage crosses origins as in a real embedding."""
    with serve_page(BUSINESS_PAGE, "business-page") as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched_chromium(CHROMIUM_ARGS) as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, mock: MockServer) -> Iterator[Page]:
    mock.reset()
    with fresh_page(browser, 720, 680, TIMEOUT_MS) as opened:
        yield opened


def demo_key(mock: MockServer) -> str:
    return mock.credentials()["sensors"]["check"]["api_key"]


class Embedded:
    """The business page with the H5 iframe loaded, plus what the sample listener logged. ``sign_in`` is
    the api-key the business page passes in the iframe's URL (None: it passes none, the page has the
    session from before or shows its sign-in form); ``expect_error`` accepts the page's error page."""

    def __init__(self, page: Page, mock: MockServer, business_origin: str, sign_in: str | None = None,
                 expect_error: bool = False, **query: str) -> None:
        self.page = page
        self.logged: list[Any] = []
        page.on("console", lambda msg: self.logged.append(msg.args[0].json_value() if msg.args else msg.text))
        src = f"{mock.url}{H5}?{urllib.parse.urlencode({**query, **({'api_key': sign_in} if sign_in else {})})}"
        page.goto(f"{business_origin}/?{urllib.parse.urlencode({'src': src})}")
        self.iframe: FrameLocator = page.frame_locator("#sf-h5")
        self.iframe.locator("#rt-tag-form, #rt-tag-error").first.wait_for(state="attached")
        error = self.iframe.locator("#rt-tag-error-message")
        if not expect_error:
            assert error.count() == 0, f"the H5 page answered an error: {error.inner_text()}"

    @property
    def frame(self) -> Frame:
        frame = self.page.frame(url=lambda url: H5 in url)
        assert frame is not None, "the H5 iframe did not load"
        return frame

    def fill(self, **fields: str) -> None:
        for name, value in fields.items():
            self.iframe.locator(f"#tag-{name}").fill(value)

    def save_and_collect(self) -> list[dict[str, Any]]:
        """Click save; wait for the page to finish and for its message, then let any duplicate arrive."""
        self.iframe.locator("#rt-tag-save").click()
        self.iframe.locator("#rt-tag-status[data-state='saved'], #rt-tag-status[data-state='error']").wait_for(state="attached")
        state = self.iframe.locator("#rt-tag-status").get_attribute("data-state")
        assert state == "saved", self.iframe.locator("#rt-tag-status").inner_text()
        self.page.wait_for_function("window.received.length >= 1")
        self.page.wait_for_timeout(SETTLE_MS)
        return self.received()

    def received(self) -> list[dict[str, Any]]:
        return self.page.evaluate("window.received")


def only_message(received: list[dict[str, Any]], mock: MockServer) -> dict[str, Any]:
    """SF-H5-POSTMESSAGE + SF-H5-LISTENER-ONCE: one save, one message, from the iframe, in the documented shape."""
    assert len(received) == 1, received
    message = received[0]
    assert message["from_iframe"] and message["origin"] == mock.url, message
    jsonschema.Draft202012Validator(bundle("sensors", "h5_post_message.json")).validate(message["data"])
    return message["data"]


def tag_through_api(mock: MockServer, name: str) -> dict[str, Any]:
    """The tag as the Open API sees it, with the demo tenant's credentials."""
    check = mock.credentials()["sensors"]["check"]
    headers = {"api-key": check["api_key"], "X-Organization-Id": check["organization_id"],
               "sensorsdata-project": check["project"]}
    resp = requests.get(mock.url + TAG_GET, params={"name": name}, headers=headers, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]["realtime_tag"]


def first_layer(tag: dict[str, Any]) -> str:
    return json.loads(tag["rule"])["segment_based_rule"]["groups"][0]["tag"]


NEW_TAG = {"name": "user_rt_tag_browser1", "cname": "浏览器创建", "comment": "made in Chromium", "eql": "user.age == 11",
           "layer": "分层 A"}


def create_in_browser(page: Page, mock: MockServer, business_origin: str) -> tuple[Embedded, list[dict[str, Any]]]:
    """The document's URL (project=default&mode=create&language=zh-cn), filled and saved."""
    embedded = Embedded(page, mock, business_origin, sign_in=demo_key(mock), project="default", mode="create", language="zh-cn")
    assert "api_key" not in embedded.frame.url, "the page drops the api-key from its URL once the session is set"
    embedded.fill(**NEW_TAG)
    return embedded, embedded.save_and_collect()


@pytest.mark.requirement("SF-H5-POSTMESSAGE")
def test_create_posts_one_create_success_and_the_tag_exists(page, mock, business_origin):
    embedded, received = create_in_browser(page, mock, business_origin)
    assert only_message(received, mock) == {"key": "SENSORS_SF_REALTIME_TAG_SEND", "value": {
        "type": "CREATE_SUCCESS", "data": {"tag_name": NEW_TAG["name"], "tag_cname": NEW_TAG["cname"]}}}
    assert embedded.logged == [received[0]["data"]["value"]], "the document's sample listener ran once"
    tag = tag_through_api(mock, NEW_TAG["name"])
    assert (tag["name"], tag["cname"], tag["comment"], tag["status"]) == (NEW_TAG["name"], NEW_TAG["cname"], NEW_TAG["comment"], "CREATED")
    assert first_layer(tag) == NEW_TAG["layer"]
    assert embedded.iframe.locator("#rt-tag-save").is_disabled(), "a created tag cannot be saved twice from the same page"


@pytest.mark.requirement("SF-H5-MODE")
def test_edit_prefills_posts_edit_success_and_the_change_is_visible(page, mock, business_origin):
    create_in_browser(page, mock, business_origin)
    edit = Embedded(page, mock, business_origin, project="default", mode="edit", tag_name=NEW_TAG["name"], language="zh-cn")
    assert edit.iframe.locator("#tag-name").input_value() == NEW_TAG["name"]
    assert edit.iframe.locator("#tag-name").get_attribute("readonly") is not None
    assert [edit.iframe.locator(f"#tag-{f}").input_value() for f in ("cname", "eql", "layer")] == \
        [NEW_TAG["cname"], NEW_TAG["eql"], NEW_TAG["layer"]]
    edit.fill(cname="改名", layer="分层 B")
    assert only_message(edit.save_and_collect(), mock) == {"key": "SENSORS_SF_REALTIME_TAG_SEND", "value": {
        "type": "EDIT_SUCCESS", "data": {"tag_name": NEW_TAG["name"], "tag_cname": "改名"}}}
    assert edit.logged == [], "the document's sample listener acts on CREATE_SUCCESS only"
    tag = tag_through_api(mock, NEW_TAG["name"])
    assert (tag["cname"], first_layer(tag)) == ("改名", "分层 B")


VIEW_TITLES = {"en-us": "View real-time tag", "ja": "リアルタイムタグを表示", "th": "ดูแท็กเรียลไทม์"}


@pytest.mark.requirement("SF-H5-LANGUAGE")
@pytest.mark.parametrize("language", sorted(VIEW_TITLES))
def test_view_is_read_only_in_the_requested_language(page, mock, business_origin, language):
    before = tag_through_api(mock, "user_rt_tag_if1")
    view = Embedded(page, mock, business_origin, sign_in=demo_key(mock), project="default", mode="view",
                    tag_name="user_rt_tag_if1", language=language)
    assert view.frame.evaluate("document.documentElement.lang") == language
    assert view.iframe.locator("#rt-tag-title").inner_text() == VIEW_TITLES[language]
    assert view.iframe.locator("#tag-cname").input_value() == before["cname"]
    assert view.iframe.locator("input").count() == 5 and view.iframe.locator("input:not([readonly])").count() == 0
    assert view.iframe.locator("#rt-tag-save").count() == 0
    view.iframe.locator("#tag-cname").press("Enter")
    page.wait_for_timeout(SETTLE_MS)
    assert view.received() == [] and view.iframe.locator("#rt-tag-status").get_attribute("data-state") == "idle"
    assert tag_through_api(mock, "user_rt_tag_if1") == before


# -- the session (SF-H5-PROJECT-RESOLVE, SF-H5-SAME-SITE) -------------------------------------------

@pytest.mark.requirement("SF-H5-PROJECT-RESOLVE")
def test_without_a_session_the_page_signs_in_then_saves(page, mock, business_origin):
    """No session: the page shows its sign-in form; an api-key signs in and the page the URL named opens."""
    embedded = Embedded(page, mock, business_origin, expect_error=True, project="default", mode="create", language="zh-cn")
    assert embedded.iframe.locator("#rt-tag-error").inner_text() == "401"
    embedded.iframe.locator("#login-api-key").fill(demo_key(mock))
    embedded.iframe.locator("#rt-tag-login-submit").click()
    embedded.iframe.locator("#rt-tag-form").wait_for(state="attached")
    assert "api_key" not in embedded.frame.url and "mode=create" in embedded.frame.url
    embedded.fill(**NEW_TAG)
    assert only_message(embedded.save_and_collect(), mock)["value"]["type"] == "CREATE_SUCCESS"
    assert tag_through_api(mock, NEW_TAG["name"])["cname"] == NEW_TAG["cname"]


@pytest.mark.requirement("SF-H5-PROJECT-RESOLVE")
def test_another_organizations_session_never_reaches_this_project(page, mock, business_origin):
    """Signed in as the second demo tenant (project production), the first tenant's project and tags are not found."""
    tenants = mock.credentials()["sensors"]["tenants"]
    other = next(t for t in tenants if t["api_key"] != demo_key(mock))
    before = tag_through_api(mock, "user_rt_tag_if1")
    view = Embedded(page, mock, business_origin, sign_in=other["api_key"], expect_error=True, project="default", mode="edit",
                    tag_name="user_rt_tag_if1")
    assert view.iframe.locator("#rt-tag-error").inner_text() == "404"
    own = Embedded(page, mock, business_origin, project=other["projects"][0], mode="view", tag_name="user_rt_tag_if1")
    assert own.iframe.locator("#tag-cname").input_value() == "tenant B tag", "the session names the second tenant's organization"
    assert tag_through_api(mock, "user_rt_tag_if1") == before


@pytest.mark.requirement("SF-H5-SAME-SITE")
def test_a_cross_site_embedding_gets_no_session(page, mock, business_origin):
    """The session cookie is SameSite=Lax: a business page on another site (localhost against 127.0.0.1)
    cannot sign the iframe in, as the document warns for the real page."""
    cross_site = business_origin.replace("127.0.0.1", "localhost")
    embedded = Embedded(page, mock, cross_site, sign_in=demo_key(mock), expect_error=True, project="default")
    assert embedded.iframe.locator("#rt-tag-error").inner_text() == "401"
    assert embedded.iframe.locator("#rt-tag-login").count() == 1
