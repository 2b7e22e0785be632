"""The shared mock machinery through real HTTP: routing, control API, faults, journal, persistence.

GPTBots (the reference vendor) stands in for any vendor here; vendor behaviour has its own tests.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import signal
import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest
import requests

from cdpkit.mockserver.pytest_plugin import MockServer
from cdpkit.mockserver.runtime import MockConfig

AUTH = {"Authorization": "Bearer ${token}"}
PATH = "/v1/user/get-user-cdp"


@pytest.fixture(scope="module")
def server():
    with MockServer(MockConfig(port=0, vendors=["gptbots"], journal_limit=50, max_body_bytes=2048)) as srv:
        yield srv


@pytest.fixture
def mock(server):
    server.reset()
    return server


def test_unknown_path_lists_what_exists(mock):
    r = requests.get(mock.url + "/v2/nothing")
    assert r.status_code == 404
    body = r.json()
    assert "GET /v1/user/get-user-cdp" in body["vendors"]["gptbots"]
    assert body["control"] == "/__mock/"


def test_wrong_method_names_the_allowed_ones(mock):
    r = requests.delete(mock.url + PATH)
    assert r.status_code == 405
    assert r.json()["allowed"] == ["GET"]


def test_vendor_prefix_serves_the_same_operation(mock):
    direct = requests.get(mock.url + PATH, params={"user_id": "BC123"}, headers=AUTH)
    prefixed = requests.get(mock.url + "/gptbots" + PATH, params={"user_id": "BC123"}, headers=AUTH)
    assert direct.status_code == prefixed.status_code == 200
    assert direct.json() == prefixed.json()


def test_journal_records_verdicts_and_violations(mock):
    requests.get(mock.url + PATH, params={"user_id": "BC123"}, headers=AUTH)
    requests.get(mock.url + PATH, headers=AUTH)
    newest, older = mock.requests(vendor="gptbots")
    assert newest["verdict"] == "bad" and "GPT-QUERY-ONE-REQUIRED" in newest["violations"]
    assert older["verdict"] == "good" and older["request"]["query"] == {"user_id": "BC123"}
    assert [e["id"] for e in mock.requests(verdict="bad")] == [newest["id"]]
    assert mock.requests(limit=1) == [newest]
    assert mock.summary()["vendors"]["gptbots"] == {"good": 1, "bad": 1, "total": 2}


def test_journal_filters_are_checked(mock):
    assert requests.get(mock.url + "/__mock/requests?limit=x").status_code == 400
    assert requests.get(mock.url + "/__mock/requests?verdict=ok").status_code == 400


def test_journal_is_bounded(mock):
    for _ in range(60):
        requests.get(mock.url + PATH, params={"user_id": "u"}, headers=AUTH)
    assert len(mock.requests()) == 50
    assert mock.summary()["total"]["total"] == 60


def test_seed_adds_data_and_reset_removes_it(mock):
    mock.seed({"gptbots": {"agents": {"demo-agent": {"users": {"new-user": ["anon-x"]}}}}})
    r = requests.get(mock.url + PATH, params={"user_id": "new-user"}, headers=AUTH)
    assert r.json()["data"]["new-user"]["anonymous_ids"][0]["anonymous_id"] == "anon-x"
    mock.reset()
    r = requests.get(mock.url + PATH, params={"user_id": "new-user"}, headers=AUTH)
    assert r.json()["data"] == {}


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[]", b'{"zendesk": {}}', b'{"gptbots": {"tokens": {"t": {}}}}', b'{"gptbots": [1]}',
     b'{"gptbots": {"tokens": [1]}}'],
)
def test_bad_seeds_are_refused_and_change_nothing(mock, body):
    before = mock.state("gptbots")
    r = requests.post(mock.url + "/__mock/seed", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]
    assert mock.state("gptbots") == before


def test_a_seed_failing_part_way_leaves_nothing_for_the_next_request_to_commit(mock):
    body = {"gptbots": {"tokens": {"half-seeded": {"agent": "a"}}, "agents": {"a": {"users": ["not-a-mapping"]}}}}
    assert requests.post(mock.url + "/__mock/seed", json=body).status_code == 400
    assert requests.get(mock.url + PATH, params={"user_id": "BC123"}, headers=AUTH).status_code == 200
    assert "half-seeded" not in mock.state("gptbots")["tokens"]


def test_repeated_authorization_headers_are_judged_by_the_one_handlers_read(mock):
    conn = http.client.HTTPConnection(urlsplit(mock.url).netloc, timeout=10)
    try:
        conn.putrequest("GET", PATH + "?user_id=BC123")
        conn.putheader("Authorization", "not-bearer")
        conn.putheader("Authorization", "Bearer ${token}")
        conn.endheaders()
        answer = conn.getresponse()
        assert answer.status == 401
        assert set(json.loads(answer.read())) == {"code", "message"}
    finally:
        conn.close()


def test_state_and_credentials(mock):
    state = mock.state("gptbots")
    assert "user1" in state["users:demo-agent"]
    assert requests.get(mock.url + "/__mock/state/nobody").status_code == 404
    check = mock.credentials()["gptbots"]["check"]
    assert check["token"] == "${token}" and check["other_token"]


def test_control_404_lists_endpoints(mock):
    r = requests.get(mock.url + "/__mock/nothing")
    assert r.status_code == 404
    assert "GET /__mock/requests" in r.json()["endpoints"]


def test_injected_status_uses_the_vendor_envelope_then_expires(mock):
    mock.fault(PATH, status=500, count=1)
    first = requests.get(mock.url + PATH, params={"user_id": "BC123"}, headers=AUTH)
    second = requests.get(mock.url + PATH, params={"user_id": "BC123"}, headers=AUTH)
    assert first.status_code == 500 and set(first.json()) == {"code", "message"}
    assert second.status_code == 200
    assert mock.requests(limit=2)[1]["violations"] == ["FAULT-INJECTED"]


def test_injected_latency_delays_the_answer(mock):
    mock.fault("*get-user-cdp", latency_ms=300, count=1)
    started = time.perf_counter()
    requests.get(mock.url + PATH, params={"user_id": "BC123"}, headers=AUTH)
    assert time.perf_counter() - started >= 0.3


def test_dropped_connection(mock):
    mock.fault(PATH, drop=True, count=1)
    with pytest.raises(requests.ConnectionError):
        requests.get(mock.url + PATH, params={"user_id": "BC123"}, headers=AUTH)
    assert requests.get(mock.url + PATH, params={"user_id": "BC123"}, headers=AUTH).status_code == 200


def test_bad_fault_specs_answer_400(mock):
    r = requests.post(mock.url + "/__mock/faults", json={"path": "*", "status": 42})
    assert r.status_code == 400 and "status" in r.json()["error"]
    assert requests.delete(mock.url + "/__mock/faults", headers={"Content-Type": "application/json"}).json() == {"faults": []}


def test_oversized_body_is_refused_with_the_vendor_shape(mock):
    r = requests.get(mock.url + PATH, params={"user_id": "BC123"}, headers=AUTH, data=b"x" * 4096)
    assert r.status_code == 400
    assert set(r.json()) == {"code", "message"} and "limit" in r.json()["message"]


def test_a_handler_bug_is_a_loud_500_never_a_vendor_answer():
    server = MockServer(MockConfig(port=0, vendors=["gptbots"]))

    def broken(call):
        raise RuntimeError("boom")

    vendor = server.mock.vendors["gptbots"]
    server.mock.vendors["gptbots"] = dataclasses.replace(vendor, handlers={"get_user_cdp": broken})
    with server:
        r = requests.get(server.url + PATH, params={"user_id": "BC123"}, headers=AUTH)
        assert r.status_code == 500 and "internal error" in r.json()["error"]
        assert server.requests()[0]["violations"] == ["MOCK-BUG"]


def test_sqlite_state_survives_a_restart(tmp_path):
    config = MockConfig(port=0, vendors=["gptbots"], state=f"sqlite:{tmp_path / 'mock.sqlite'}")
    with MockServer(config) as first:
        first.seed({"gptbots": {"agents": {"demo-agent": {"users": {"kept": ["anon-k"]}}}}})
        requests.get(first.url + PATH, params={"user_id": "kept"}, headers=AUTH)
    with MockServer(config) as second:
        r = requests.get(second.url + PATH, params={"user_id": "kept"}, headers=AUTH)
        assert "kept" in r.json()["data"]
        assert [e["request"]["query"] for e in second.requests()] == [{"user_id": "kept"}] * 2


def test_cli_starts_prints_url_and_stops_on_sigterm(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "cdpkit", "mock", "--port", "0", "--vendors", "gptbots"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("cdpkit mock listening on http://127.0.0.1:")
        url = first.split()[-1]
        assert requests.get(url + PATH, params={"user_id": "BC123"}, headers=AUTH).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vendors", "segment"], "unknown vendor"),
        (["--state", "redis:x"], "sqlite:PATH"),
    ],
)
def test_cli_usage_errors_are_clear(args, message):
    result = subprocess.run(
        [sys.executable, "-m", "cdpkit", "mock", "--port", "0", *args], capture_output=True, text=True, timeout=20
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_fixture_works_in_a_fresh_project(pytester):
    pytester.makepyfile(
        """
        import requests

        def test_uses_the_mock(cdp_mock):
            r = requests.get(cdp_mock.url + "/v1/user/get-user-cdp", params={"user_id": "BC123"},
                             headers={"Authorization": "Bearer ${token}"})
            assert r.status_code == 200
            assert cdp_mock.requests(vendor="gptbots")[0]["verdict"] == "good"

        def test_is_reset_between_tests(cdp_mock):
            assert cdp_mock.requests() == []
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_config_file_and_flags_merge_with_flags_winning(tmp_path):
    import argparse

    from cdpkit.mockserver.cli import config_from_args, configure

    config = tmp_path / "mock.toml"
    config.write_text('port = 9100\nvendors = "gptbots,zebline"\nno-demo = true\njournal-limit = 7\n')
    parser = argparse.ArgumentParser()
    configure(parser)
    merged = config_from_args(parser.parse_args(["--config", str(config), "--port", "9200"]))
    assert (merged.port, merged.vendors, merged.demo, merged.journal_limit) == (9200, ["gptbots", "zebline"], False, 7)
    config.write_text("colour = 'red'\n")
    with pytest.raises(SystemExit, match="unknown option"):
        config_from_args(parser.parse_args(["--config", str(config)]))


def test_cli_seed_file_without_demo_serves_only_the_seeded_tenant(tmp_path):
    seed = tmp_path / "tenants.yaml"
    seed.write_text("gptbots:\n  tokens: {mine: {agent: a}}\n  agents: {a: {users: {u1: [anon-1]}}}\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cdpkit", "mock", "--port", "0", "--vendors", "gptbots", "--no-demo", "--seed", str(seed)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        url = proc.stdout.readline().split()[-1]
        mine = requests.get(url + PATH, params={"user_id": "u1"}, headers={"Authorization": "Bearer mine"})
        assert mine.json()["data"]["u1"]["anonymous_ids"][0]["anonymous_id"] == "anon-1"
        assert requests.get(url + PATH, params={"user_id": "u1"}, headers=AUTH).status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
