"""Sensors beyond the shared mutant table (tests/test_mutants.py): generated requests carry the three
headers the document requires and reach the mock."""

from __future__ import annotations

import pytest
import requests

import generators
from generators import transport
from mockserver.pytest_plugin import MockServer
from mockserver.runtime import MockConfig










def test_generated_requests_reach_the_mock_with_its_credentials() -> None:
    """`cdpkit gen sensors.* --send` builds the three headers from the check keys; the mock accepts them."""
    with MockServer(MockConfig(port=0, vendors=["sensors"])) as server:
        creds = server.credentials()["sensors"]["check"]
        request = transport.request_for("sensors.quota", generators.valid("sensors.quota", seed=1), creds)
        assert {request.headers[h] for h in ("api-key", "X-Organization-Id", "sensorsdata-project")} == \
            {creds["api_key"], creds["organization_id"], creds["project"]}
        answer = requests.post(request.url(server.url), data=request.content(), headers=request.headers, timeout=10)
        assert answer.status_code == 200 and answer.json()["code"] == "SUCCESS"
        name = creds["tag_name"]
        for op in ("sensors.get", "sensors.start", "sensors.stop"):
            request = transport.request_for(op, generators.valid(op, seed=1, name=name), creds)
            answer = requests.request(request.method, request.url(server.url), data=request.content(), headers=request.headers, timeout=10)
            assert answer.json()["code"] == "SUCCESS", (op, answer.text)
        with pytest.raises(transport.MissingCredential, match="--cred project="):
            transport.request_for("sensors.quota", {}, {"api_key": "k", "organization_id": "o"})
