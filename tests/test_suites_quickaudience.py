"""Quick Audience beyond the shared mutant table (tests/test_mutants.py, strict-only mutants included):
``cdpkit gen --send`` reaching the mock: the management calls with the mock's own credentials and the
signed collection calls with a channel's keys."""

from __future__ import annotations


import pytest
import requests

from cdpkit import generators
from cdpkit.generators import transport
from cdpkit.mockserver.pytest_plugin import MockServer
from cdpkit.mockserver.runtime import MockConfig

V = "quickaudience"


# -- generators through the transport ---------------------------------------------------------
def test_gen_send_creates_channels_and_refuses_invalid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    from cdpkit.cli import main

    with MockServer(MockConfig(port=0, vendors=[V])) as server:
        code = main(["gen", "quickaudience.create_api", "--count", "40", "--seed", "3", "--locale", "market", "--send", server.url, "--quiet"])
        err = capsys.readouterr().err
        assert code == 0 and "answered as the payload calls for: 40/40" in err, err
        code = main(["gen", "quickaudience.channels", "--invalid", "all", "--count", "22", "--seed", "3", "--send", server.url, "--quiet"])
        err = capsys.readouterr().err
        assert code == 0 and "answered as the payload calls for: 22/22" in err, err
        assert server.credentials()[V]["tenants"][0]["apis"].__len__() == 3 + 40


def test_gen_send_signs_events_with_the_given_access_key(capsys: pytest.CaptureFixture[str]) -> None:
    from cdpkit.cli import main

    keys = ["access_key_id=LTAIqaDemoWeb00000001", "access_key_secret=qaDemoWebSecret0000000000000001",
            "app_key=qademowebappkey00000001", "origin=https://m.example.com"]
    with MockServer(MockConfig(port=0, vendors=[V])) as server:
        code = main(["gen", "quickaudience.events", "--count", "30", "--seed", "5", "--send", server.url, "--quiet",
                     *[arg for key in keys for arg in ("--cred", key)]])
        err = capsys.readouterr().err
        assert code == 0 and "answered as the payload calls for: 30/30" in err, err
        events = server.state(V)["organizations"]["demo-org"]["events"]["qa-api-web"]
        assert len(events) == 30 and {e["event"]["appkey"] for e in events} == {"qademowebappkey00000001"}
        # explicit credentials (as against a real target) that lack the channel's keys: named, nothing sent
        code = main(["gen", "quickaudience.events", "--count", "1", "--send", server.url, "--cred", "console_token=x"])
        assert code == 2 and "--cred app_key=" in capsys.readouterr().err


def test_transport_signs_the_exact_body_bytes() -> None:
    from cdpkit.schemas.qa_signing import COLLECT_SERVICE, verify

    payload = generators.valid("quickaudience.collect_event", seed=1)
    creds = {"access_key_id": "AK", "access_key_secret": "s3cret", "app_key": "k", "origin": "https://a.example"}
    req = transport.request_for("quickaudience.collect_event", payload, creds)
    assert req.json["appkey"] == "k" and req.query["accessKeyId"] == "AK" and req.headers["Origin"] == "https://a.example"
    assert verify("s3cret", COLLECT_SERVICE, req.query, req.content(), req.query["signature"])
    broken = generators.invalid("quickaudience.collect_event", "QA-COLLECT-APPKEY", seed=1)
    assert transport.request_for("quickaudience.collect_event", broken, creds).json.get("appkey", "") == ""
    mgmt = transport.request_for("quickaudience.get_api", {"apiId": "qa-api-x"}, {"console_token": "t"})
    assert (mgmt.path, mgmt.headers["Authorization"]) == ("/quickaudience/v1/apis/qa-api-x", "Bearer t")
    with MockServer(MockConfig(port=0, vendors=[V])) as server:
        made = generators.registry.lookup("quickaudience.rotate").spec.fixture(server.url, {"console_token": "${console_token}"}, {})
        req = transport.request_for("quickaudience.rotate_secret", {"apiId": "ignored"}, {"console_token": "${console_token}", **made})
        answer = requests.post(req.url(server.url), headers=req.headers, timeout=10)
        assert answer.status_code == 200 and answer.json()["data"]["apiId"] == made["apiId"]
