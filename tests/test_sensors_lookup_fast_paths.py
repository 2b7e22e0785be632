"""The Sensors online look-up's shortcuts (issue 9) answer exactly as the long way does.

* Headers the operation's schema plainly accepts skip the validator's copy (validation.plain_header_rules;
  tests/test_header_rules.py holds it to the validator's verdicts); an empty value, or a repeated header
  whose first value is empty, is still refused naming the requirement.
* A batch reads each named tag once, yet answers every user as the single look-up answers that user.
"""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from cdpkit.mockserver.pytest_plugin import MockServer
from tests.mock_fixtures import one_vendor_mock

server, fresh = one_vendor_mock("sensors")

HEADERS = {"api-key": "#K-7IGwJpE2M9CpID4101qj2hWg9t59hoF3", "X-Organization-Id": "org-sep-3164dp4",
           "sensorsdata-project": "default"}
ONLINE = "/api/v3/focus/v1/express-attribute-online"
NAMES = ["user_rt_tag_fencengshuzhiyunsuanfuyanzheng", "user_rt_tag_if1", "user_rt_tag_nope", "",
         "user_rt_tag_fencengshuzhiyunsuanfuyanzheng"]
# Ages on each side of the running demo tag's layers (age 11: 分层1, 18 and over: 分层2, else no value).
USERS = [{"entity_id": str(700 + age), "identities": {"distinct_id": f"fast-{age}"}, "profile": {"age": age}}
         for age in (5, 11, 17, 18, 40)]


def _post(server: MockServer, path: str, body: Any, headers: Any = None) -> requests.Response:
    return requests.post(server.url + path, json=body, headers=HEADERS if headers is None else headers, timeout=10)


def _single(identity: dict[str, str]) -> dict[str, Any]:
    return {"entity_name": "user", "audience_entity_id": {"identity_id_map": identity}, "attribute_names": NAMES}


def _refused_by_the_headers_schema(body: dict[str, Any]) -> None:
    """The validator's refusal (a violation of headers.json), not a later one (no such key, organization...)."""
    context = body["error_info"]["context"]
    assert context["requirements"] == ["SF-HEADERS-ENFORCED"], body
    assert [v["location"].split("/")[0] for v in context["violations"]] == ["headers"], body


@pytest.mark.parametrize("blank", ["api-key", "X-Organization-Id", "sensorsdata-project"])
def test_an_empty_header_is_still_refused_naming_SF_HEADERS_ENFORCED(server, blank):
    resp = _post(server, f"{ONLINE}/get", _single({"distinct_id": "sddd"}), {**HEADERS, blank: ""})
    assert resp.status_code == 401, resp.text
    _refused_by_the_headers_schema(resp.json())


@pytest.mark.parametrize(("values", "status"), [(["", "key"], 401), (["key", ""], 200)])
def test_a_repeated_header_is_judged_by_its_first_value(server, values, status):
    """The validator judges the first of repeated headers, as handlers read them; the shortcut must too."""
    body = json.dumps(_single({"distinct_id": "sddd"})).encode()
    sent = [(k, v) for k, v in HEADERS.items() if k != "api-key"]
    sent += [("api-key", HEADERS["api-key"] if v == "key" else v) for v in values]
    conn = http.client.HTTPConnection(urlsplit(server.url).netloc, timeout=10)
    try:
        conn.putrequest("POST", f"{ONLINE}/get")
        for name, value in [*sent, ("Content-Type", "application/json"), ("Content-Length", str(len(body)))]:
            conn.putheader(name, value)
        conn.endheaders(body)
        answer = conn.getresponse()
        assert answer.status == status
        if status == 401:
            _refused_by_the_headers_schema(json.loads(answer.read()))
    finally:
        conn.close()


def test_a_batch_answers_each_user_as_the_single_look_up_does(server):
    server.seed({"sensors": {"organizations": {HEADERS["X-Organization-Id"]: {"projects": {"default": {"users": USERS}}}}}})
    singles = []
    for user in USERS:
        resp = _post(server, f"{ONLINE}/get", _single(user["identities"]))
        assert resp.status_code == 200, resp.text
        singles.append(resp.json()["data"]["audience_entity"])
    batch = _post(server, f"{ONLINE}/batch-get", {
        "entity_name": "user", "audience_entity_ids": [{"identity_id_map": u["identities"]} for u in USERS],
        "attribute_names": NAMES})
    assert batch.status_code == 200, batch.text
    assert batch.json()["data"]["audience_entities"] == singles
    values = [[a.get("value", {}).get("string_value") for a in entity["audience_entity_attributes"]] for entity in singles]
    assert [v[0] for v in values] == [None, "分层1", None, "分层2", "分层2"], values  # the layers, each side of them
    assert all(v[0] == v[4] and v[1:4] == [None, None, None] for v in values), values
