"""The control API is out of reach of web pages and other machines (issue 10): each test stood for an
attack that worked before the guard: a cross-site text/plain POST reset the mock, a DNS-rebinding page
read the journal, and --host 0.0.0.0 opened the control API to the network without a word."""

from __future__ import annotations

import argparse

import pytest
import requests

from cdpkit.mockserver import cli as mock_cli
from cdpkit.mockserver.client import MockClient, MockControlError
from cdpkit.mockserver.control_guard import ControlGuard, is_loopback
from cdpkit.mockserver.pytest_plugin import MockServer
from cdpkit.mockserver.runtime import Mock, MockConfig

PATH = "/v1/user/get-user-cdp"


@pytest.fixture(scope="module")
def server():
    with MockServer(MockConfig(port=0, vendors=["gptbots"])) as srv:
        yield srv


def test_a_cross_site_text_plain_post_changes_nothing(server: MockServer) -> None:
    server.fault("*", status=503)
    answer = requests.post(server.url + "/__mock/faults", data='{"path": "*", "status": 500}',
                           headers={"Content-Type": "text/plain"}, timeout=10)
    assert answer.status_code == 415
    reset = requests.post(server.url + "/__mock/reset", headers={"Content-Type": "text/plain"}, timeout=10)
    assert reset.status_code == 415
    assert [f["status"] for f in MockClient(server.url)._call("GET", "faults")["faults"]] == [503]
    MockClient(server.url).clear_faults()


def test_a_page_of_another_site_is_refused_even_with_json(server: MockServer) -> None:
    answer = requests.post(server.url + "/__mock/reset", headers={"Content-Type": "application/json",
                                                                  "Origin": "https://evil.example"}, timeout=10)
    assert answer.status_code == 403 and "web page" in answer.json()["message"]
    assert requests.get(server.url + "/__mock/requests", headers={"Origin": "null"}, timeout=10).status_code == 403
    same = requests.get(server.url + "/__mock/summary", headers={"Origin": server.url}, timeout=10)
    assert same.status_code == 200


def test_a_rebound_host_name_cannot_read_the_journal(server: MockServer) -> None:
    port = server.url.rsplit(":", 1)[1]
    answer = requests.get(server.url + "/__mock/requests", headers={"Host": f"attacker.example:{port}"}, timeout=10)
    assert answer.status_code == 403 and "--allow-host" in answer.json()["message"]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
        assert requests.get(server.url + "/__mock/summary", headers={"Host": host}, timeout=10).status_code == 200


def test_vendor_routes_are_not_guarded(server: MockServer) -> None:
    answer = requests.get(server.url + PATH, params={"user_id": "BC123"}, timeout=10,
                          headers={"Authorization": "Bearer ${token}", "Origin": "https://app.example",
                                   "Host": "api.example"})
    assert answer.status_code == 200


def test_the_admin_token_is_required_when_set() -> None:
    with MockServer(MockConfig(port=0, vendors=["gptbots"], admin_token="s3cret-admin-token")) as server:
        assert requests.get(server.url + "/__mock/summary", timeout=10).status_code == 401
        wrong = requests.get(server.url + "/__mock/summary", headers={"X-Cdpkit-Token": "guess"}, timeout=10)
        assert wrong.status_code == 401
        with pytest.raises(MockControlError):
            MockClient(server.url, token="").summary()
        assert "total" in MockClient(server.url, token="s3cret-admin-token").summary()
        bearer = requests.get(server.url + "/__mock/summary", headers={"Authorization": "Bearer s3cret-admin-token"},
                              timeout=10)
        assert bearer.status_code == 200


def _config(*argv: str) -> MockConfig:
    parser = argparse.ArgumentParser()
    mock_cli.configure(parser)
    return mock_cli.config_from_args(parser.parse_args(list(argv)))


def test_beyond_loopback_the_control_api_gets_a_token_and_the_banner_says_so() -> None:
    open_config = _config("--host", "0.0.0.0", "--vendors", "gptbots")
    assert open_config.admin_token and len(open_config.admin_token) >= 20
    text = mock_cli.banner(Mock(open_config), "http://0.0.0.0:8080")
    assert "WARNING" in text and open_config.admin_token in text
    assert _config("--vendors", "gptbots").admin_token is None
    assert _config("--host", "0.0.0.0", "--admin-token", "mine", "--vendors", "gptbots").admin_token == "mine"


def test_the_banner_shows_no_credential() -> None:
    mock = Mock(MockConfig(vendors=["gptbots", "tto"]))
    text = mock_cli.banner(mock, "http://127.0.0.1:8080")
    for vendor in ("gptbots", "tto"):
        for value in mock.vendors[vendor].credentials(mock.scopes[vendor])["check"].values():
            assert str(value) not in text
    assert "/__mock/credentials" in text


def test_loopback_detection() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "127.0.0.2", "[::1]"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.5", "example.com"))
    guard = ControlGuard("10.0.0.5", ("mock.internal",))
    assert {"10.0.0.5", "mock.internal", "localhost"} <= guard.allowed


def test_with_a_token_only_the_dashboard_page_itself_opens_without_it() -> None:
    with MockServer(MockConfig(port=0, vendors=["gptbots"], admin_token="s3cret-admin-token")) as server:
        assert requests.get(server.url + "/__mock/ui", timeout=10).status_code == 200
        for path in ("/__mock/ui/state/gptbots", "/__mock/requests", "/__mock/catalog/GPT-ENDPOINT"):
            assert requests.get(server.url + path, timeout=10).status_code == 401, path
        assert requests.get(server.url + "/__mock/ui", headers={"Host": "evil.example"}, timeout=10).status_code == 403
