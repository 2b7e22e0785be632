"""TTO beyond the shared mutant table (tests/test_mutants.py): generated payloads reach the mock
through the transport (``cdpkit gen tto.… --send``) with the key where the document puts it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests

from cdpkit import generators
from cdpkit.generators import transport
from cdpkit.mockserver import tto
from cdpkit.mockserver.pytest_plugin import MockServer
from cdpkit.mockserver.runtime import MockConfig
from cdpkit.mockserver.vendor import Call, Handler, Rejection, Reply
from tests.mutants import Mutant, run_check, wrapping

V = "tto"


def _other_key_refused(original: Handler) -> Handler:
    def handler(call: Call) -> Reply:
        if isinstance(call.body, dict) and call.body.get("api_key") == tto.OTHER_KEY:
            raise Rejection(401, "this key is disabled", ("TTO-API-KEY-AUTH",))
        return original(call)
    return handler


def skipped(junit: Path) -> dict[str, str]:
    """Skipped test cases of a JUnit report: name -> the skip message."""
    return {case.get("name", ""): (case.find("skipped").get("message") or "")
            for case in ET.parse(junit).iter("testcase") if case.find("skipped") is not None}


def test_isolation_without_a_working_second_source_proves_nothing(tmp_path: Path) -> None:
    """The positive control: when other_api_key is refused on its own, the isolation checks skip and say so."""
    mutant = Mutant("other-key-refused", V, (), wrapping(("track", "identify", "alias"), _other_key_refused))
    run = run_check(mutant, V, tmp_path, fuzz=False, strict=True)
    reasons = {name: why for name, why in skipped(tmp_path / "other-key-refused-strict.xml").items() if "SOURCE-" in name}
    assert set(reasons) == {"test_each_message_belongs_to_its_keys_source[TTO-SOURCE-ISOLATION]",
                            "test_sources_keep_their_own_profiles[TTO-SOURCE-PROFILES]"}, reasons
    assert all("proved nothing" in why for why in reasons.values()), reasons
    assert not any("SOURCE-" in f["name"] for f in run.failed), run.failed












def test_transport_puts_the_key_where_the_document_says() -> None:
    body = generators.valid("tto.track", seed=1)
    req = transport.request_for("tto.track", body, {"api_key": "k-123"})
    assert (req.method, req.path, req.query) == ("POST", "/v1/track", {}) and req.json["api_key"] == "k-123"
    req = transport.request_for("tto.settings", generators.valid("tto.settings", seed=1), {"api_key": "k-123"})
    assert (req.method, req.path, req.query, req.content()) == ("POST", "/v1/settings", {"api_key": "k-123"}, None)
    unknown = generators.invalid("tto.identify", "TTO-API-KEY-AUTH", seed=1)
    assert transport.request_for("tto.identify", unknown, {"api_key": "k-123"}).json["api_key"] == unknown["api_key"]
    assert "api_key" not in transport.request_for("tto.alias", {"user_id": "u", "previous_id": "p"}, {"api_key": "k"}).json
    with pytest.raises(transport.MissingCredential, match="--cred api_key="):
        transport.request_for("tto.track", body, {})


def test_generated_traffic_is_stored_as_the_document_describes() -> None:
    """Valid payloads of every operation are accepted with the mock's key; an identify lands in the profile."""
    with MockServer(MockConfig(port=0, vendors=["tto"])) as server, requests.Session() as http:
        creds = server.credentials()["tto"]["check"]
        statuses = []
        for op in ("tto.track", "tto.identify", "tto.alias", "tto.settings"):
            for seed in range(20):
                req = transport.request_for(op, generators.valid(op, seed=seed, locale="market"), creds)
                statuses.append(http.request(req.method, req.url(server.url), data=req.content(), headers=req.headers).status_code)
        assert set(statuses) == {200}
        identify = generators.valid("tto.identify", seed=3, locale="market")
        state = server.state("tto")["sources"]["demo-http-api"]
        user = identify.get("user_id") or identify["anonymous_id"]
        assert state["profiles"][state["ids"][user]]["traits"] == identify["traits"]
