"""Seed data is validated before anything is applied (issue 10: "a seed accepted with wrong types makes later
vendor calls answer MOCK-BUG 500").

Each vendor's seed section has a JSON Schema of its own (``cdpkit/schemas/<vendor>/seed.json``), and Sensors' EQL
conditions are parsed by the mock's own parser. A bad seed is refused naming the vendor, the path of the
field and what was expected; nothing changes, and the call that the bad value would have broken answers
exactly as it did before.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import jsonschema_rs
import pytest
import requests

from cdpkit.mockserver.pytest_plugin import MockServer
from cdpkit.mockserver.runtime import Mock, MockConfig, _seed_validator, load_vendor
from cdpkit.schemas import VENDORS, bundle, load

SF_ORG, SF_KEY = "org-sep-3164dp4", "#K-7IGwJpE2M9CpID4101qj2hWg9t59hoF3"
SF_TAG = "/api/v3/focus/v1/real-time-tag"
SF_AT = f"sensors/organizations/{SF_ORG}/projects/default"
ZEB_LICENSE, ZEB_TOKEN = "LICENSE_CODE", "ACCESS_TOKEN"
UNSTABLE = {"request_id", "traceId", "create_time", "update_time", "time", "ready_at"}  # differ between two identical calls


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(MockConfig(port=0)) as srv:
        yield srv


@pytest.fixture(autouse=True)
def fresh(server: MockServer) -> None:
    server.reset()


def _stable(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: _stable(v) for k, v in body.items() if k not in UNSTABLE}
    if isinstance(body, list):
        return [_stable(v) for v in body]
    return body


def _answer(response: requests.Response) -> tuple[int, Any]:
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return response.status_code, _stable(body)


# -- the calls a bad value would break ------------------------------------------------------------------
def sensors(path: str, body: dict[str, Any] | None = None) -> Callable[[MockServer], requests.Response]:
    headers = {"api-key": SF_KEY, "X-Organization-Id": SF_ORG, "sensorsdata-project": "default"}
    return lambda s: requests.post(s.url + SF_TAG + path, json=body or {}, headers=headers, timeout=10)


def gptbots_lookup(s: MockServer) -> requests.Response:
    return requests.get(s.url + "/v1/user/get-user-cdp", params={"user_id": "BC123"},
                        headers={"Authorization": "Bearer ${token}"}, timeout=10)


def tto_settings(s: MockServer) -> requests.Response:
    return requests.post(s.url + "/v1/settings?api_key=your_api_key_here", timeout=10)


def zebline_lookup(s: MockServer) -> requests.Response:
    return requests.get(f"{s.url}/v1/accounts/{ZEB_LICENSE}/users", params={"userId": "z-1"},
                        headers={"authorization": ZEB_TOKEN}, timeout=10)


def qa_list(s: MockServer) -> requests.Response:
    return requests.get(s.url + "/quickaudience/v1/apis", headers={"Authorization": "Bearer ${console_token}"}, timeout=10)


def _sf_project(**project: Any) -> dict[str, Any]:
    return {"sensors": {"organizations": {SF_ORG: {"projects": {"default": project}}}}}


BAD_EQL_RULE = ('{"segment_based_rule":{"groups":[{"segment":{"type":"GROUP_EXPRESSION_BASED","group_expression_rule":'
                '{"groups":[{"type":"EQL_BASED","eql_segment_rule":{"eql":"(user.age >>> 3)"}}],"group_expression":"\\"$1\\""}},'
                '"tag":"x"}]},"tag_type":"SEGMENT_BASED","version":2.0}')

# (case, seed, the field's path, what the refusal says was expected, the call the value would break)
BAD_SEEDS = [
    # issue 10's own examples
    ("sensors-quota-total-text", _sf_project(quota={"total": "abc"}), f"{SF_AT}/quota/total",
     'is not of type "integer"', sensors("/quota/query")),
    ("sensors-compute-delay-text", _sf_project(compute_delay_seconds="x"), f"{SF_AT}/compute_delay_seconds",
     'is not of type "number"', sensors("/start", {"name": "user_rt_tag_if1"})),
    ("sensors-tag-eql-unreadable", _sf_project(tags=[{"name": "user_rt_tag_bad_eql", "status": "STOPPED",
                                                      "layers": [{"eql": "user.age >>> 3", "tag": "x"}]}]),
     f"{SF_AT}/tags/0/layers/0/eql", "an EQL condition the mock reads", sensors("/start", {"name": "user_rt_tag_bad_eql"})),
    ("sensors-tag-rule-eql-unreadable", _sf_project(tags=[{"name": "user_rt_tag_bad_rule", "rule": BAD_EQL_RULE}]),
     f"{SF_AT}/tags/0/rule", "a rule the mock can evaluate", sensors("/start", {"name": "user_rt_tag_bad_rule"})),
    ("sensors-tag-rule-not-json", _sf_project(tags=[{"name": "user_rt_tag_if1", "rule": "user.age == 11"}]),
     f"{SF_AT}/tags/0/rule", "a JSON text", sensors("/start", {"name": "user_rt_tag_if1"})),
    # one bad field per vendor
    ("sensors-tag-status", _sf_project(tags=[{"name": "user_rt_tag_if1", "status": "PAUSED"}]),
     f"{SF_AT}/tags/0/status", "is not one of", sensors("/quota/query")),
    ("gptbots-permissions-not-a-list", {"gptbots": {"tokens": {"${token}": {"agent": "demo-agent", "permissions": 5}}}},
     "gptbots/tokens/${token}/permissions", 'is not of type "array"', gptbots_lookup),
    ("tto-user-id-number", {"tto": {"profiles": {"demo-http-api": {"p-1": {"user_ids": [12345]}}}}},
     "tto/profiles/demo-http-api/p-1/user_ids/0", 'is not of type "string"', tto_settings),
    ("zebline-attributes-text", {"zebline": {"accounts": {ZEB_LICENSE: {"access_token": ZEB_TOKEN,
                                                                        "users": [{"userId": "z-1", "attributes": "gold"}]}}}},
     f"zebline/accounts/{ZEB_LICENSE}/users/0/attributes", 'is not of type "object"', zebline_lookup),
    ("quickaudience-key-id-number", {"quickaudience": {"organizations": {"demo-org": {"apis": {"qa-api-new": {
        "channelName": "New", "applicationType": "WEB", "networkDomains": ["https://n.example.com"],
        "accessKeyId": 12345, "accessKeySecret": "S", "appKey": "A"}}}}}},
     "quickaudience/organizations/demo-org/apis/qa-api-new/accessKeyId", 'is not of type "string"', qa_list),
]


@pytest.mark.parametrize(("seed", "path", "expected", "call"), [c[1:] for c in BAD_SEEDS], ids=[c[0] for c in BAD_SEEDS])
def test_a_bad_seed_is_refused_naming_the_field_and_changes_nothing(server: MockServer, seed, path, expected, call) -> None:
    before = _answer(call(server))
    server.reset()  # the call above may have written (a start): compare from the same state
    vendor = next(iter(seed))
    state = server.state(vendor)
    refused = requests.post(server.url + "/__mock/seed", json=seed, timeout=10)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert f"bad {vendor} seed data at {path}: " in error and expected in error, error
    assert "\n" not in error
    assert server.state(vendor) == state
    after = _answer(call(server))
    assert after[0] < 500 and after == before, (before, after)


def test_the_refusal_names_every_bad_field_on_one_line(server: MockServer) -> None:
    seed = _sf_project(quota={"total": "abc", "other_use": -1}, compute_delay_seconds="x", colour="red")
    error = requests.post(server.url + "/__mock/seed", json=seed, timeout=10).json()["error"]
    for field in ("quota/total", "quota/other_use", "compute_delay_seconds"):
        assert f"{SF_AT}/{field}: " in error, error
    assert "'colour' was unexpected" in error and "\n" not in error


def test_a_running_tag_with_unreadable_eql_is_refused_by_path_too(server: MockServer) -> None:
    """Before, a RUNNING tag failed while computing, with the parser's words and no path."""
    seed = _sf_project(tags=[{"name": "t_running", "status": "RUNNING", "layers": [{"eql": "user.age ==", "tag": "x"}]}])
    error = requests.post(server.url + "/__mock/seed", json=seed, timeout=10).json()["error"]
    assert f"{SF_AT}/tags/0/layers/0/eql: an EQL condition the mock reads: " in error


def test_a_rule_of_another_shape_is_refused_and_an_unsegmented_one_accepted(server: MockServer) -> None:
    groups_not_list = '{"segment_based_rule": {"groups": 5}}'
    group_not_object = '{"segment_based_rule": {"groups": ["x"]}}'
    for rule in (groups_not_list, group_not_object):
        r = requests.post(server.url + "/__mock/seed", json=_sf_project(tags=[{"name": "t", "rule": rule}]), timeout=10)
        assert r.status_code == 400 and f"{SF_AT}/tags/0/rule: a rule the mock can evaluate" in r.json()["error"]
    other = '{"tag_type": "VALUE_BASED"}'  # computes no value: nothing can fail
    server.seed(_sf_project(tags=[{"name": "t_other", "rule": other, "status": "RUNNING"}]))
    assert sensors("/start", {"name": "t_other"})(server).status_code < 500


def test_a_good_seed_in_the_same_request_is_not_applied_either(server: MockServer) -> None:
    seed = {"gptbots": {"tokens": {"fresh-token": {"agent": "a"}}}, **_sf_project(quota={"total": "abc"})}
    assert requests.post(server.url + "/__mock/seed", json=seed, timeout=10).status_code == 400
    assert "fresh-token" not in server.state("gptbots")["tokens"]


# -- the schemas accept what the mock itself and the tests seed ------------------------------------------
@pytest.mark.parametrize("vendor", VENDORS)
def test_demo_data_and_schema_examples_validate_and_load(vendor: str) -> None:
    validator = jsonschema_rs.validator_for(bundle(vendor, "seed.json"))
    assert [e.message for e in validator.iter_errors(load_vendor(vendor).demo())] == []
    mock = Mock(MockConfig(vendors=[vendor], demo=False))
    for example in load(vendor, "seed.json")["examples"]:
        assert mock.apply_seed({vendor: example}) == [vendor]


def test_the_validator_is_compiled_once() -> None:
    assert _seed_validator("sensors") is _seed_validator("sensors")


def test_yaml_values_are_seeded_as_json() -> None:
    """A YAML seed may hold numeric keys or dates; they are seeded as the JSON text they would be."""
    import datetime

    mock = Mock(MockConfig(vendors=["gptbots"], demo=False))
    mock.apply_seed({"gptbots": {"tokens": {"t": {"agent": "a"}}, "agents": {"a": {"users": {123: ["x"]}}}}})
    assert mock.store.scope("gptbots").get("users:a", "123")["user_id"] == "123"
    mock.apply_seed({"gptbots": {"tokens": {"t": {"agent": datetime.date(2024, 1, 1)}}}})
    assert mock.store.scope("gptbots").get("tokens", "t")["agent"] == "2024-01-01"
    with pytest.raises(ValueError, match=r"bad gptbots seed data at gptbots/tokens/t/agent: 5 is not of type \"string\""):
        mock.apply_seed({"gptbots": {"tokens": {"t": {"agent": 5}}}})
    with pytest.raises(ValueError, match="seed data must be JSON data"):
        mock.apply_seed({"gptbots": {"tokens": {"t": {"agent": {1, 2}}}}})


# -- cdpkit mock --seed --------------------------------------------------------------------------------
def test_cli_refuses_a_bad_seed_file_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("sensors:\n  organizations:\n    my-org:\n      projects:\n        default:\n          quota: {total: abc}\n")
    result = subprocess.run([sys.executable, "-m", "cdpkit", "mock", "--quiet", "--port", "0", "--seed", str(bad)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("cdpkit mock: ")
    assert "sensors/organizations/my-org/projects/default/quota/total: \"abc\" is not of type \"integer\"" in result.stderr


def test_a_rule_nested_past_the_json_parser_is_refused_not_a_500(server: MockServer) -> None:
    deep = "[" * 100_000 + "]" * 100_000  # json.loads raises RecursionError, not ValueError
    r = requests.post(server.url + "/__mock/seed", json=_sf_project(tags=[{"name": "t_deep", "rule": deep}]), timeout=30)
    assert r.status_code == 400 and "a JSON text" in r.json()["error"], r.text[:300]
