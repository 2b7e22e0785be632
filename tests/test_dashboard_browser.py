"""The dashboard (``GET /__mock/ui``) in a real browser: what a developer who keeps it open sees.

Debian's Chromium, driven by Playwright as in test_sensors_h5_browser.py: a request sent through the
API shows within a second, counted per vendor; a bad one opened shows every requirement ID it broke
with the document's sentence, in its language and in English; filters narrow the list; reset empties
the view; each vendor's state shows, with no credential in the clear; a page of another site can
neither drive the control API nor frame the dashboard. Against a two-worker mock (``cdpkit mock --workers 2
--state redis://…``, its own ``redis-server`` as in test_redis_workers.py) a request shows within a second
whichever worker served it, and reset empties the view.

Needs ``playwright`` (PyPI, in the ``[test]`` extra; never ``playwright install``: the system
Chromium is used) and Chromium (``apt-get install -y chromium``). Without them the tests skip,
unless ``CDPKIT_REQUIRE_BROWSER=1`` (CI) turns the skip into a failure.
``CDPKIT_UPDATE_SCREENSHOTS=1`` rewrites the README's screenshot, docs/dashboard.png.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from cdpkit import generators
from cdpkit.generators.transport import request_for
from cdpkit.mockserver import dashboard
from cdpkit.mockserver.pytest_plugin import MockServer
from cdpkit.mockserver.runtime import MockConfig
from cdpkit.mockserver.workers import WORKER_HEADER
from cdpkit.schemas import catalog
from tests.browser import CHROMIUM_ARGS as BASE_CHROMIUM_ARGS
from tests.browser import PLAYWRIGHT_MISSING
from tests.browser import fresh_page, launched_chromium
from tests.browser import serve_page
from tests.browser import unavailable as _unavailable
from tests.test_redis_workers import redis_server  # noqa: F401  (the session's redis-server fixture)

DOCS = Path(__file__).resolve().parent.parent / "docs"
EVIL = "evil.example"  # a site that is not the mock; Chromium resolves it to 127.0.0.1 (below)
CHROMIUM_ARGS = [*BASE_CHROMIUM_ARGS, f"--host-resolver-rules=MAP {EVIL} 127.0.0.1"]
TIMEOUT_MS = 10_000
LIVE_MS = 1_000  # a request sent through the API must show within this
GOOD_GPTBOTS = {"user_id": "BC123"}
BAD_GPTBOTS: dict[str, str] = {}  # neither user_id nor anonymous_id: GPT-QUERY-ONE-REQUIRED


try:
    from playwright.sync_api import Browser, Page, expect
except ImportError:  # pragma: no cover - depends on the machine
    _unavailable(PLAYWRIGHT_MISSING)


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer(MockConfig(port=0)) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched_chromium(CHROMIUM_ARGS) as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, mock: MockServer) -> Iterator[Page]:
    mock.reset()
    with fresh_page(browser, 1280, 900, TIMEOUT_MS) as opened:
        yield opened


def open_dashboard(page: Page, url: str) -> Page:
    page.goto(url + "/__mock/ui")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    return page


def send(mock: MockServer, op: str, payload: Any) -> requests.Response:
    """``payload`` sent to ``op`` ("vendor.operation") the way a client would, with the demo credentials."""
    vendor = op.split(".", 1)[0]
    prepared = request_for(op, payload, mock.credentials()[vendor]["check"])
    return requests.request(prepared.method, prepared.url(mock.url), headers=prepared.headers, data=prepared.content(),
                            timeout=10)


def row(page: Page, vendor: str = "*") -> dict[str, str]:
    cells = page.locator(f"#summary tr[data-vendor='{vendor}']")
    return {k: cells.locator(f".{k}").inner_text() for k in ("good", "bad", "total")}


# Records, in the page, when the list of requests changes (the page's CSP allows no string evaluation, so
# Playwright's wait_for_function cannot poll it; page.evaluate runs as the debugger does).
WATCH_ROWS = """() => { window.rowsAt = [];
  new MutationObserver(() => window.rowsAt.push([Date.now(), document.querySelectorAll('#requests tbody tr').length]))
    .observe(document.querySelector('#requests tbody'), {childList: true}); }"""


def test_a_request_sent_through_the_api_shows_within_a_second(page: Page, mock: MockServer) -> None:
    open_dashboard(page, mock.url)
    expect(page.locator("#requests tbody tr")).to_have_count(0)
    assert row(page, "gptbots") == {"good": "0", "bad": "0", "total": "0"}
    page.evaluate(WATCH_ROWS)
    latencies = []
    for n in range(1, 6):
        page.wait_for_timeout(97 * n)  # land at different points of the page's polling
        sent_ms = time.time() * 1000
        assert send(mock, "gptbots.get_user_cdp", GOOD_GPTBOTS).status_code == 200
        expect(page.locator("#requests tbody tr")).to_have_count(n)
        latencies.append(next(at for at, rows in page.evaluate("window.rowsAt") if rows >= n) - sent_ms)
    assert max(latencies) < LIVE_MS, latencies
    shown = page.locator("#requests tbody tr").first
    cells = [shown.locator(f"td.{c}").inner_text() for c in ("vendor", "operation", "status", "verdict")]
    assert cells == ["gptbots", "get_user_cdp", "200", "good"]
    expect(page.locator("#summary tr[data-vendor='gptbots'] .good")).to_have_text("5")
    assert row(page) == {"good": "5", "bad": "0", "total": "5"}


@pytest.mark.parametrize("vendor", ["", "gptbots"], ids=["all", "filtered"])
def test_a_stream_of_requests_shows_each_once_newest_first(page: Page, mock: MockServer, vendor: str) -> None:
    """While requests keep coming (here without a pause, also while the page is between its calls) the page
    fetches only what arrived since its last look; the list it builds that way is the journal's, filter included."""
    open_dashboard(page, mock.url)
    page.select_option("#filter-vendor", vendor)
    stop = threading.Event()

    def client() -> None:
        session, i = requests.Session(), 0
        gptbots = request_for("gptbots.get_user_cdp", GOOD_GPTBOTS, mock.credentials()["gptbots"]["check"])
        tto = request_for("tto.track", generators.valid("tto.track", seed=8), mock.credentials()["tto"]["check"])
        while not stop.is_set() and i < 400:
            session.get(gptbots.url(mock.url), headers=gptbots.headers, timeout=10)
            if i % 3 == 0:
                session.post(tto.url(mock.url), headers=tto.headers, data=tto.content(), timeout=10)
            i += 1
            time.sleep(0.004 * (i % 5))

    sender = threading.Thread(target=client)
    sender.start()
    page.wait_for_timeout(2_500)
    stop.set()
    sender.join()
    journal = [str(e["id"]) for e in mock.requests(vendor=vendor or None)][:100]
    expect(page.locator("#requests tbody tr").first).to_have_attribute("data-id", journal[0])
    assert page.locator("#requests tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)") == journal


def test_a_bad_request_shows_every_id_it_broke_with_the_documents_sentence(page: Page, mock: MockServer) -> None:
    open_dashboard(page, mock.url)
    payload = generators.invalid("zebline.upsert_user", "ZEB-ATTRIBUTES-REQUIRED", seed=1)
    answer = send(mock, "zebline.upsert_user", payload)
    assert answer.status_code == 400
    journal = mock.requests(vendor="zebline")[0]
    assert journal["violations"], journal
    bad = page.locator("#requests tbody tr[data-verdict='bad']")
    expect(bad).to_have_count(1)
    expect(bad.locator("td.ids")).to_have_text(" ".join(journal["violations"]))
    bad.click()
    detail = page.locator("#detail")
    expect(detail).to_be_visible()
    for requirement_id in journal["violations"]:
        entry = catalog.get(requirement_id)
        item = detail.locator(f"#violations li[data-id='{requirement_id}']")
        expect(item.locator(".quote")).to_have_text(entry.quote)
        expect(item.locator(".english")).to_have_text(entry.english)
    request_text = detail.locator("#detail-request").inner_text()
    assert request_text.startswith(f"POST {journal['request']['path']}")
    assert request_text.endswith(json.dumps(journal["request"]["body"], indent=2, ensure_ascii=False))
    expect(detail.locator("#detail-status")).to_have_text("400")
    assert "ZEB-ATTRIBUTES-REQUIRED" in journal["violations"]
    assert page.locator("#detail-response").inner_text().strip().startswith("{")
    expect(page.locator("#summary tr[data-vendor='zebline'] .bad")).to_have_text("1")


def test_the_documents_sentence_in_its_own_language(page: Page, mock: MockServer) -> None:
    """GPTBots' document is in Thai: the quote shows as written, the English under it."""
    open_dashboard(page, mock.url)
    assert send(mock, "gptbots.get_user_cdp", BAD_GPTBOTS).status_code == 400
    page.locator("#requests tbody tr[data-verdict='bad']").click()
    item = page.locator("#violations li[data-id='GPT-QUERY-ONE-REQUIRED']")
    expect(item.locator(".quote")).to_contain_text("ต้องระบุอย่างน้อย 1 ค่าใน user_id")
    expect(item.locator(".english")).to_have_text(catalog.get("GPT-QUERY-ONE-REQUIRED").english)


def test_the_list_filters_by_vendor_verdict_and_text(page: Page, mock: MockServer) -> None:
    open_dashboard(page, mock.url)
    send(mock, "gptbots.get_user_cdp", GOOD_GPTBOTS)
    send(mock, "gptbots.get_user_cdp", BAD_GPTBOTS)
    send(mock, "zebline.upsert_user", generators.valid("zebline.upsert_user", seed=2))
    rows = page.locator("#requests tbody tr")
    expect(rows).to_have_count(3)
    page.select_option("#filter-vendor", "gptbots")
    expect(rows).to_have_count(2)
    page.select_option("#filter-verdict", "bad")
    expect(rows).to_have_count(1)
    expect(rows.locator("td.ids")).to_have_text("GPT-QUERY-ONE-REQUIRED")
    page.select_option("#filter-vendor", "")
    page.select_option("#filter-verdict", "")
    expect(rows).to_have_count(3)
    page.fill("#filter-text", "upsert")
    expect(rows).to_have_count(1)
    expect(rows.locator("td.vendor")).to_have_text("zebline")
    page.fill("#filter-text", "GPT-QUERY")
    expect(rows.locator("td.verdict")).to_have_text("bad")


def test_reset_empties_the_view(page: Page, mock: MockServer) -> None:
    open_dashboard(page, mock.url)
    send(mock, "gptbots.get_user_cdp", GOOD_GPTBOTS)
    send(mock, "gptbots.get_user_cdp", BAD_GPTBOTS)
    expect(page.locator("#requests tbody tr")).to_have_count(2)
    page.locator("#requests tbody tr[data-verdict='bad']").click()
    expect(page.locator("#detail")).to_be_visible()
    page.click("#reset")
    expect(page.locator("#requests tbody tr")).to_have_count(0)
    expect(page.locator("#detail")).to_be_hidden()
    expect(page.locator("#empty")).to_be_visible()
    expect(page.locator("#summary tr[data-vendor='*'] .total")).to_have_text("0")
    assert mock.summary()["total"]["total"] == 0, "the button reset the mock, not only the page"
    send(mock, "gptbots.get_user_cdp", GOOD_GPTBOTS)
    expect(page.locator("#requests tbody tr")).to_have_count(1)


def test_each_vendors_state_shows_and_follows_changes(page: Page, mock: MockServer) -> None:
    open_dashboard(page, mock.url)
    page.select_option("#state-vendor", "sensors")
    state = page.locator("#state[data-vendor='sensors']")
    expect(state).to_contain_text("user_rt_tag_if1")
    expect(state).to_contain_text('"RUNNING"')
    page.select_option("#state-vendor", "zebline")
    expect(page.locator("#state[data-vendor='zebline']")).to_contain_text("type_locks")
    user = generators.valid("zebline.upsert_user", seed=3)
    assert send(mock, "zebline.upsert_user", user).status_code < 300
    user_id = next(v for k, v in user.items() if k.lower().endswith("id") and isinstance(v, str))
    expect(page.locator("#state[data-vendor='zebline']")).to_contain_text(user_id)


def test_no_credential_shows_in_the_clear(page: Page, mock: MockServer) -> None:
    """The journal masks credentials; so does the state the page shows (tokens, api keys, secrets)."""
    open_dashboard(page, mock.url)
    send(mock, "gptbots.get_user_cdp", GOOD_GPTBOTS)
    send(mock, "tto.track", generators.valid("tto.track", seed=4))
    page.locator("#requests tbody tr[data-vendor='tto']").click()
    expect(page.locator("#detail-request")).to_contain_text("****")
    creds = mock.credentials()
    for vendor in creds:
        page.select_option("#state-vendor", vendor)
        expect(page.locator(f"#state[data-vendor='{vendor}']")).to_be_visible()
        page.locator("#state details:not([open])").evaluate_all("boxes => boxes.forEach(b => b.open = true)")
        text = page.locator("body").inner_text()
        secrets = {s for s in dashboard._secrets(creds[vendor]) if len(s) >= 8}
        assert secrets, vendor
        assert not [s for s in secrets if s in text], vendor


# -- a page of another site -------------------------------------------------------------------------

EVIL_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>another site</title></head><body>
<iframe id="framed" width="400" height="300"></iframe>
<form id="form" method="POST" enctype="text/plain" target="sink"><input name='{"x":"' value='"}'></form>
<iframe name="sink"></iframe>
<script>
const mock = new URLSearchParams(location.search).get('mock');
window.outcome = {};
async function attempt(name, run) {
  try { const r = await run(); window.outcome[name] = r && r.type === 'opaque' ? 'opaque' : 'read:' + (r && r.status); }
  catch (e) { window.outcome[name] = 'blocked'; }
}
(async () => {
  document.getElementById('framed').src = mock + '/__mock/ui';
  await attempt('json_reset', () => fetch(mock + '/__mock/reset', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{}'}));
  await attempt('plain_reset', () => fetch(mock + '/__mock/reset', {method: 'POST', mode: 'no-cors', headers: {'Content-Type': 'text/plain'}, body: '{}'}));
  await attempt('read_journal', () => fetch(mock + '/__mock/requests'));
  const form = document.getElementById('form'); form.action = mock + '/__mock/reset'; form.submit();
  window.done = true;
})();
</script></body></html>"""


@pytest.fixture(scope="module")
def evil_origin() -> Iterator[str]:
    with serve_page(EVIL_PAGE, "evil-page") as port:
        yield f"http://{EVIL}:{port}"


def test_a_page_of_another_site_cannot_drive_it(page: Page, mock: MockServer, evil_origin: str) -> None:
    send(mock, "gptbots.get_user_cdp", GOOD_GPTBOTS)
    page.goto(f"{evil_origin}/?mock={mock.url}")
    page.wait_for_function("window.done === true")
    page.wait_for_timeout(500)  # let the form post and the frame settle
    outcome = page.evaluate("window.outcome")
    assert outcome["json_reset"] == "blocked", outcome  # the preflight is refused
    assert outcome["read_journal"] == "blocked", outcome
    assert outcome["plain_reset"] == "opaque", outcome  # sent blind: refused by the guard (Origin, 415)
    assert mock.summary()["total"]["total"] == 1, "nothing the other site sent reset the mock"
    framed = next(f for f in page.frames if f.parent_frame is not None and f.name != "sink")
    assert "/__mock/ui" not in framed.url or framed.locator("#reset").count() == 0, \
        "the dashboard refuses to be framed by another site (no borrowed clicks)"


def test_a_rebound_host_name_gets_no_dashboard(page: Page, mock: MockServer) -> None:
    """DNS rebinding: a page at evil.example:<the mock's port> is this mock by address, not by name."""
    port = mock.url.rsplit(":", 1)[1]
    answer = page.goto(f"http://{EVIL}:{port}/__mock/ui")
    assert answer is not None and answer.status == 403
    assert page.locator("#reset").count() == 0


# -- two worker processes on one port, one Redis -------------------------------------------------------


@pytest.fixture(scope="module")
def two_workers(redis_server) -> Iterator[MockServer]:  # noqa: F811
    with MockServer(MockConfig(port=0, state=redis_server.url()), workers=2) as server:
        yield server


def shown_after(page: Page, sent_ms: float, count: int) -> float:
    """Milliseconds from ``sent_ms`` until the list first held ``count`` rows (WATCH_ROWS records it)."""
    return next(at for at, rows in page.evaluate("window.rowsAt") if at >= sent_ms and rows >= count) - sent_ms


def send_until_both_workers_served(page: Page, server: MockServer, each: int) -> list[float]:
    """Send requests, each on a fresh connection (the kernel picks the worker), until every worker has served
    ``each`` of them; every one must show in the list. How long each took to show, in ms."""
    rows = page.locator("#requests tbody tr")
    shown = rows.count()
    workers = {str(pid) for pid in server.worker_pids()}
    served: Counter[str] = Counter()
    latencies = []
    while min(served[w] for w in workers) < each:
        assert sum(served.values()) < 40, f"the requests did not reach both workers: {served}"
        page.wait_for_timeout(97 * (shown % 5))  # land at different points of the page's polling
        sent_ms = time.time() * 1000
        answer = send(server, "gptbots.get_user_cdp", GOOD_GPTBOTS)
        assert answer.status_code == 200, answer.text
        served[answer.headers[WORKER_HEADER]] += 1
        shown += 1
        expect(rows).to_have_count(shown)
        latencies.append(shown_after(page, sent_ms, shown))
    assert set(served) == workers, served
    return latencies


def test_with_two_workers_a_request_shows_within_a_second_whichever_served_it(browser: Browser,
                                                                              two_workers: MockServer) -> None:
    """The page reads the journal from one worker at a time; the journal is Redis's, so what the other
    worker served shows as fast, and the reset button (served by either) empties every worker's view."""
    two_workers.reset()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        open_dashboard(page, two_workers.url)
        expect(page.locator("#requests tbody tr")).to_have_count(0)
        page.evaluate(WATCH_ROWS)
        latencies = send_until_both_workers_served(page, two_workers, each=2)
        assert max(latencies) < LIVE_MS, latencies
        assert row(page, "gptbots")["good"] == str(len(latencies))
        page.click("#reset")
        expect(page.locator("#requests tbody tr")).to_have_count(0)
        expect(page.locator("#empty")).to_be_visible()
        expect(page.locator("#summary tr[data-vendor='*'] .total")).to_have_text("0")
        assert two_workers.summary()["total"]["total"] == 0, "the button reset the mock, not only the page"
        after = send_until_both_workers_served(page, two_workers, each=1)
        assert max(after) < LIVE_MS, after
    finally:
        context.close()


# -- with an admin token ----------------------------------------------------------------------------

TOKEN = "dashboard-admin-token-0123"


@pytest.fixture(scope="module")
def token_mock() -> Iterator[MockServer]:
    with MockServer(MockConfig(port=0, vendors=["gptbots"], admin_token=TOKEN)) as server:
        yield server


def test_with_an_admin_token_the_page_takes_it_once_and_keeps_it_for_the_tab(browser: Browser,
                                                                             token_mock: MockServer) -> None:
    """``/__mock/ui?token=T``: the page keeps T in sessionStorage, drops it from the address bar and sends it
    as X-Cdpkit-Token on every call. The guard asks for the token on the page's own GET too, which a browser
    cannot send as a header: the route below adds it to that one request, as a guard that lets the page
    shell (no data) through would; every fetch of the page carries the token on its own."""
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    ui = token_mock.url + "/__mock/ui"
    page.route(ui + "?*", lambda route: route.continue_(headers={**route.request.headers, "x-cdpkit-token": TOKEN}))
    page.goto(ui + "?token=" + TOKEN)
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    assert "token" not in page.url
    assert page.evaluate("sessionStorage.getItem('cdpkit-admin-token')") == TOKEN
    requests.get(token_mock.url + "/v1/user/get-user-cdp", params=GOOD_GPTBOTS,
                 headers={"Authorization": "Bearer ${token}"}, timeout=10)
    expect(page.locator("#requests tbody tr")).to_have_count(1)
    page.evaluate("sessionStorage.setItem('cdpkit-admin-token', 'wrong')")
    page.click("#reset")
    expect(page.locator("#token-form")).to_be_visible()
    summary = requests.get(token_mock.url + "/__mock/summary", headers={"X-Cdpkit-Token": TOKEN}, timeout=10).json()
    assert summary["total"]["total"] == 1, "a wrong token reset nothing"
    page.fill("#token-input", TOKEN)
    page.click("#token-form button[type=submit]")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    page.click("#reset")
    expect(page.locator("#requests tbody tr")).to_have_count(0)
    context.close()


def test_with_an_admin_token_the_page_itself_opens(browser: Browser, token_mock: MockServer) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        answer = page.goto(token_mock.url + "/__mock/ui?token=" + TOKEN)
        assert answer is not None and answer.status == 200
    finally:
        context.close()


# -- the README's screenshot -------------------------------------------------------------------------

def test_screenshot(page: Page, mock: MockServer) -> None:
    """A developer's morning: a few vendors' requests, one bad one opened. Rewrites docs/dashboard.png
    with CDPKIT_UPDATE_SCREENSHOTS=1."""
    open_dashboard(page, mock.url)
    send(mock, "gptbots.get_user_cdp", GOOD_GPTBOTS)
    send(mock, "tto.track", generators.valid("tto.track", seed=5))
    send(mock, "zebline.upsert_user", generators.valid("zebline.upsert_user", seed=6))
    send(mock, "gptbots.get_user_cdp", {"anonymous_id": "aId3"})
    send(mock, "zebline.upsert_user", generators.invalid("zebline.upsert_user", "ZEB-ATTRIBUTES-REQUIRED", seed=7))
    bad = page.locator("#requests tbody tr[data-verdict='bad']")
    expect(bad).to_have_count(1)
    bad.click()
    expect(page.locator("#violations .english").first).not_to_be_empty()
    page.select_option("#state-vendor", "zebline")
    expect(page.locator("#state[data-vendor='zebline']")).to_be_visible()
    if os.environ.get("CDPKIT_UPDATE_SCREENSHOTS") == "1":
        page.set_viewport_size({"width": 1280, "height": 1000})
        page.screenshot(path=str(DOCS / "dashboard.png"))
