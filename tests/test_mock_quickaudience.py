"""The Quick Audience mock through the real HTTP stack: the document's examples, one test per catalog
entry the mock enforces, the signing function, bad input, isolation, and "a refusal changes nothing".
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, Iterator

import pytest
import requests
from jsonschema import Draft202012Validator

from cdpkit.mockserver.pytest_plugin import MockServer
from cdpkit.schemas.qa_signing import COLLECT_SERVICE, canonical_string, sign, signed_query, verify
from cdpkit.mockserver.runtime import MockConfig
from cdpkit.schemas import bundle, operations

BASE = "/quickaudience/v1"
TOKEN = "${console_token}"
OTHER = "qa-console-token-org-b"
WEB = {"apiId": "qa-api-web", "key": "LTAIqaDemoWeb00000001", "secret": "qaDemoWebSecret0000000000000001",
       "appkey": "qademowebappkey00000001"}
APP = {"apiId": "qa-api-app", "key": "LTAIqaDemoApp00000001", "secret": "qaDemoAppSecret0000000000000001",
       "appkey": "qademoappappkey00000001"}
MINI = {"apiId": "qa-api-mini", "key": "LTAIqaDemoMini0000001", "secret": "qaDemoMiniSecret000000000000001",
        "appkey": "qademominiappkey0000001"}
EXAMPLES = {
    "WEB": {"channelName": "Demo web", "collectedByQuickTracking": True, "applicationType": "WEB",
            "networkDomains": ["https://www.example.com", "https://m.example.com"]},
    "APP": {"channelName": "Demo app", "collectedByQuickTracking": True, "applicationType": "APP",
            "platformTypes": ["ANDROID", "IOS"]},
    "MINI_PROGRAM": {"channelName": "Demo mini program", "collectedByQuickTracking": True,
                     "applicationType": "MINI_PROGRAM", "platformTypes": ["WECHAT_MINI_PROGRAM", "ALIPAY_MINI_PROGRAM"]},
}
MAX_BODY = 64 * 1024


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(MockConfig(port=0, vendors=["quickaudience"], max_body_bytes=MAX_BODY)) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(server: MockServer) -> None:
    server.reset()


# -- helpers -----------------------------------------------------------------------------------
def mgmt(server: MockServer, method: str, path: str, token: str | None = TOKEN, **kw: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.request(method, server.url + BASE + path, headers={**headers, **kw.pop("headers", {})}, timeout=10, **kw)


def event(channel: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"appkey": channel["appkey"], "id": "click", "puid": "user_001", "ts": "1659493170125",
            "sdk_type": "httpapi", **extra}


def collect(server: MockServer, key: str, secret: str, body: Any, headers: dict[str, str] | None = None,
            extra_query: dict[str, str] | None = None, raw: bytes | None = None) -> requests.Response:
    data = raw if raw is not None else json.dumps(body).encode()
    return requests.post(server.url + BASE + "/collect", params=signed_query(key, secret, data, extra_query), data=data,
                         headers={"Content-Type": "application/json", **(headers or {})}, timeout=10)


def web_event(server: MockServer, channel: dict[str, str] = WEB, origin: str = "https://www.example.com") -> requests.Response:
    return collect(server, channel["key"], channel["secret"], event(channel), {"Origin": origin})


def refused(response: requests.Response, status: int | None, requirement: str | None) -> dict[str, Any]:
    """A refusal: the status (or any 4xx), QA-ERROR-ENVELOPE, and the named requirement."""
    if status is None:
        assert 400 <= response.status_code < 500, response.text
    else:
        assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and body["data"] is None
    assert isinstance(body["errorCode"], str) and body["errorCode"] and body["errorDesc"]
    if requirement:
        assert requirement in body["requirements"], body
    return body


def succeeded(response: requests.Response) -> Any:
    """QA-ENVELOPE: {data, errorCode: null, errorDesc: null, success: true, traceId}."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"data", "errorCode", "errorDesc", "success", "traceId"}
    assert body["success"] is True and body["errorCode"] is None and body["errorDesc"] is None and body["traceId"]
    return body["data"]


def create(server: MockServer, kind: str = "WEB", **changes: Any) -> dict[str, Any]:
    return succeeded(mgmt(server, "POST", "/apis", json={**EXAMPLES[kind], **changes}))


def channel_of(record: dict[str, Any]) -> dict[str, str]:
    return {"apiId": record["apiId"], "key": record["accessKeyId"], "secret": record["accessKeySecret"],
            "appkey": record["appKey"]}


# -- the signing function ------------------------------------------------------------------------
def test_sign_matches_a_hand_computed_vector() -> None:
    query = {"b": "2", "accessKeyId": "LTAIqaDemoWeb00000001", "a": "1", "signature": "left out"}
    body = b'{"id":"click"}'
    expected_canonical = b'quickaudience.collect\na=1&accessKeyId=LTAIqaDemoWeb00000001&b=2\n{"id":"click"}'
    assert canonical_string(COLLECT_SERVICE, query, body) == expected_canonical
    independent = hmac.new(b"qaDemoWebSecret0000000000000001", expected_canonical, hashlib.sha1).hexdigest()
    assert independent == "34402027d3b538f60ef8af4a3f2923d6dedcf222"
    assert sign("qaDemoWebSecret0000000000000001", COLLECT_SERVICE, query, body) == independent


def test_sign_empty_query_and_body() -> None:
    assert canonical_string(COLLECT_SERVICE, {}, b"") == b"quickaudience.collect\n\n"
    assert sign("key", COLLECT_SERVICE, {}, b"") == "3bade2f14ffc8c205eb59c1566aa9b4d89cedf68"


def test_verify_accepts_upper_hex_and_rejects_other_secret() -> None:
    query = signed_query("AK", "secret", b"{}")
    assert verify("secret", COLLECT_SERVICE, query, b"{}", query["signature"].upper())
    assert not verify("other", COLLECT_SERVICE, query, b"{}", query["signature"])
    assert not verify("secret", COLLECT_SERVICE, query, b"{ }", query["signature"])


# -- the document's examples ---------------------------------------------------------------------
@pytest.mark.requirement("QA-ONE-CHANNEL-MANY-PLATFORMS")
def test_demo_holds_the_documents_channel_examples(server: MockServer) -> None:
    items = {r["apiId"]: r for r in succeeded(mgmt(server, "GET", "/apis"))["items"]}
    assert items["qa-api-mini"]["platformTypes"] == ["WECHAT_MINI_PROGRAM", "ALIPAY_MINI_PROGRAM"]
    assert items["qa-api-app"]["platformTypes"] == ["ANDROID", "IOS"]
    assert len(items["qa-api-web"]["networkDomains"]) == 2


@pytest.mark.requirement("QA-CREATE-RETURNS-KEYS")
@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_create_each_documented_example_returns_working_keys(server: MockServer, kind: str) -> None:
    record = create(server, kind)
    assert all(isinstance(record[k], str) and record[k] for k in ("accessKeyId", "accessKeySecret", "appKey"))
    assert {k: record[k] for k in EXAMPLES[kind]} == EXAMPLES[kind]
    channel = channel_of(record)
    if kind == "WEB":
        response = web_event(server, channel)
    else:
        platform = EXAMPLES[kind]["platformTypes"][-1]
        response = collect(server, channel["key"], channel["secret"], event(channel, platform=platform))
    assert succeeded(response) is True


@pytest.mark.requirement("QA-CREATE-SAVES")
def test_created_api_is_listed_and_readable(server: MockServer) -> None:
    record = create(server, "APP")
    assert succeeded(mgmt(server, "GET", f"/apis/{record['apiId']}")) == record
    assert record in succeeded(mgmt(server, "GET", "/apis"))["items"]


@pytest.mark.requirement("QA-ACCESSKEYID-VIEW")
@pytest.mark.requirement("QA-SECRET-VIEW-UPDATE")
def test_read_shows_the_key_pair_and_appkey(server: MockServer) -> None:
    data = succeeded(mgmt(server, "GET", "/apis/qa-api-web"))
    assert (data["accessKeyId"], data["accessKeySecret"], data["appKey"]) == (WEB["key"], WEB["secret"], WEB["appkey"])


@pytest.mark.requirement("QA-REST-SURFACE")
def test_doubled_vendor_prefix_also_serves(server: MockServer) -> None:
    response = requests.get(server.url + "/quickaudience" + BASE + "/apis",
                            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert succeeded(response)["total"] == 3


# -- management authentication and isolation ---------------------------------------------------
@pytest.mark.requirement("QA-MGMT-AUTH")
@pytest.mark.parametrize("token", [None, "not-a-token"])
def test_management_needs_a_known_console_token(server: MockServer, token: str | None) -> None:
    refused(mgmt(server, "GET", "/apis", token=token), 401, "QA-MGMT-AUTH")
    refused(mgmt(server, "POST", "/apis", token=token, json=EXAMPLES["WEB"]), 401, "QA-MGMT-AUTH")
    assert succeeded(mgmt(server, "GET", "/apis"))["total"] == 3


@pytest.mark.requirement("QA-TENANT-ISOLATION")
def test_other_organization_sees_and_touches_nothing(server: MockServer) -> None:
    listed = succeeded(mgmt(server, "GET", "/apis", token=OTHER))["items"]
    assert [r["apiId"] for r in listed] == ["qa-api-b-web"]
    for method, path, body in [("GET", "/apis/qa-api-web", None), ("PATCH", "/apis/qa-api-web", {"channelName": "x"}),
                               ("POST", "/apis/qa-api-web/secret", None), ("DELETE", "/apis/qa-api-web", None)]:
        refused(mgmt(server, method, path, token=OTHER, json=body), 404, "QA-NOT-FOUND")
    assert succeeded(mgmt(server, "GET", "/apis/qa-api-web"))["accessKeySecret"] == WEB["secret"]


@pytest.mark.requirement("QA-NOT-FOUND")
@pytest.mark.parametrize("method,suffix", [("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/secret")])
def test_unknown_api_id_is_404(server: MockServer, method: str, suffix: str) -> None:
    body = {"channelName": "x"} if method == "PATCH" else None
    refused(mgmt(server, method, f"/apis/qa-api-nope{suffix}", json=body), 404, "QA-NOT-FOUND")


# -- create validation: every refusal creates nothing -------------------------------------------
INVALID_CREATES = [
    ("QA-CHANNEL-NAME-BLANK", "WEB", {"channelName": "   "}),
    ("QA-CHANNEL-NAME", "WEB", {"channelName": ""}),
    ("QA-CHANNEL-NAME", "WEB", {"channelName": None}),
    ("QA-COLLECTED-NO-REJECTED", "WEB", {"collectedByQuickTracking": False}),
    ("QA-COLLECTED-NO-REJECTED", "APP", {"collectedByQuickTracking": None}),
    ("QA-APP-TYPE", "WEB", {"applicationType": "DESKTOP"}),
    ("QA-APP-TYPE", "WEB", {"applicationType": None}),
    ("QA-ENUM-SPELLING", "APP", {"platformTypes": ["ANDROID", "HARMONY"]}),
    ("QA-PLATFORM-REQUIRED", "APP", {"platformTypes": None}),
    ("QA-PLATFORM-REQUIRED", "MINI_PROGRAM", {"platformTypes": []}),
    ("QA-PLATFORM-UNIQUE", "APP", {"platformTypes": ["IOS", "IOS"]}),
    ("QA-PLATFORM-MATCHES-TYPE", "APP", {"platformTypes": ["ANDROID", "WECHAT_MINI_PROGRAM"]}),
    ("QA-PLATFORM-MATCHES-TYPE", "MINI_PROGRAM", {"platformTypes": ["IOS"]}),
    ("QA-DOMAIN-HTTP", "WEB", {"networkDomains": ["www.example.com"]}),
    ("QA-DOMAIN-HTTP", "WEB", {"networkDomains": ["ftp://www.example.com"]}),
    ("QA-DOMAIN-HTTP", "WEB", {"networkDomains": None}),
    ("QA-DOMAIN-UNIQUE", "WEB", {"networkDomains": ["https://a.example.com", "https://a.example.com"]}),
    ("QA-DOMAIN-ORIGIN-FORM", "WEB", {"networkDomains": ["https://www.example.com/shop?x=1"]}),
    ("QA-FIELDS-PER-TYPE", "WEB", {"platformTypes": ["ANDROID"]}),
    ("QA-FIELDS-PER-TYPE", "APP", {"networkDomains": ["https://www.example.com"]}),
]


@pytest.mark.parametrize("requirement,kind,change", INVALID_CREATES, ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(INVALID_CREATES)])
def test_invalid_create_is_refused_and_creates_nothing(server: MockServer, requirement: str, kind: str, change: dict) -> None:
    body = {**EXAMPLES[kind], **change}
    body = {k: v for k, v in body.items() if v is not None}
    refused(mgmt(server, "POST", "/apis", json=body), 400, requirement)
    assert succeeded(mgmt(server, "GET", "/apis"))["total"] == 3


@pytest.mark.requirement("QA-DOMAIN-ORIGIN-FORM")
def test_domain_with_port_or_trailing_slash_is_accepted(server: MockServer) -> None:
    record = create(server, "WEB", networkDomains=["http://localhost:3000", "https://shop.example.com/"])
    assert succeeded(web_event(server, channel_of(record), origin="http://localhost:3000")) is True


# -- edit ------------------------------------------------------------------------------------------
@pytest.mark.requirement("QA-EDIT")
def test_edit_changes_the_configuration(server: MockServer) -> None:
    edited = succeeded(mgmt(server, "PATCH", "/apis/qa-api-web", json={"channelName": "Renamed",
                                                                       "networkDomains": ["https://shop.example.com"]}))
    assert edited["channelName"] == "Renamed" and edited["networkDomains"] == ["https://shop.example.com"]
    assert succeeded(mgmt(server, "GET", "/apis/qa-api-web")) == edited
    refused(web_event(server), 403, "QA-COLLECT-ORIGIN")
    assert succeeded(web_event(server, origin="https://shop.example.com")) is True


@pytest.mark.requirement("QA-EDIT-EMPTY")
@pytest.mark.parametrize("body", [{}, {"unknown": 1}], ids=["empty", "nothing-known"])
def test_edit_naming_nothing_is_refused(server: MockServer, body: dict) -> None:
    refused(mgmt(server, "PATCH", "/apis/qa-api-app", json=body), 400, "QA-EDIT-EMPTY")


@pytest.mark.requirement("QA-APP-TYPE-IMMUTABLE")
@pytest.mark.parametrize("api_id,new_type,extra", [
    ("qa-api-web", "APP", {"platformTypes": ["ANDROID"]}),
    ("qa-api-app", "MINI_PROGRAM", {}),
    ("qa-api-mini", "WEB", {"networkDomains": ["https://www.example.com"]}),
])
def test_application_type_cannot_be_changed(server: MockServer, api_id: str, new_type: str, extra: dict) -> None:
    before = succeeded(mgmt(server, "GET", f"/apis/{api_id}"))
    refused(mgmt(server, "PATCH", f"/apis/{api_id}", json={"applicationType": new_type, **extra}), None,
            "QA-APP-TYPE-IMMUTABLE")
    assert succeeded(mgmt(server, "GET", f"/apis/{api_id}")) == before


@pytest.mark.requirement("QA-APP-TYPE-IMMUTABLE")
def test_repeating_the_same_application_type_is_allowed(server: MockServer) -> None:
    data = succeeded(mgmt(server, "PATCH", "/apis/qa-api-app", json={"applicationType": "APP", "channelName": "A"}))
    assert data["applicationType"] == "APP" and data["channelName"] == "A"


@pytest.mark.requirement("QA-FIELDS-PER-TYPE")
@pytest.mark.parametrize("api_id,body,requirement", [
    ("qa-api-app", {"networkDomains": ["https://www.example.com"]}, "QA-FIELDS-PER-TYPE"),
    ("qa-api-web", {"platformTypes": ["IOS"]}, "QA-FIELDS-PER-TYPE"),
    ("qa-api-mini", {"platformTypes": ["ANDROID"]}, "QA-PLATFORM-MATCHES-TYPE"),
    ("qa-api-web", {"collectedByQuickTracking": False}, "QA-COLLECTED-NO-REJECTED"),
])
def test_edit_must_keep_the_create_rules(server: MockServer, api_id: str, body: dict, requirement: str) -> None:
    before = succeeded(mgmt(server, "GET", f"/apis/{api_id}"))
    refused(mgmt(server, "PATCH", f"/apis/{api_id}", json=body), 400, requirement)
    assert succeeded(mgmt(server, "GET", f"/apis/{api_id}")) == before


@pytest.mark.requirement("QA-KEYS-STABLE")
def test_edit_keeps_the_keys(server: MockServer) -> None:
    edited = succeeded(mgmt(server, "PATCH", "/apis/qa-api-app", json={"platformTypes": ["IOS"]}))
    assert (edited["accessKeyId"], edited["accessKeySecret"], edited["appKey"]) == (APP["key"], APP["secret"], APP["appkey"])


# -- rotate and remove -----------------------------------------------------------------------------
@pytest.mark.requirement("QA-SECRET-ROTATE-INVALIDATES")
def test_rotated_secret_fails_at_once_and_the_new_one_works(server: MockServer) -> None:
    assert succeeded(web_event(server)) is True
    data = succeeded(mgmt(server, "POST", "/apis/qa-api-web/secret"))
    assert data["accessKeySecret"] != WEB["secret"]
    refused(web_event(server), 401, "QA-SECRET-ROTATE-INVALIDATES")
    assert succeeded(web_event(server, {**WEB, "secret": data["accessKeySecret"]})) is True
    assert succeeded(mgmt(server, "GET", "/apis/qa-api-web"))["accessKeySecret"] == data["accessKeySecret"]
    retired = server.state("quickaudience")["organizations"]["demo-org"]["retired_secrets"]
    assert [(r["accessKeySecret"], r["reason"]) for r in retired] == [(WEB["secret"], "rotated")]


@pytest.mark.requirement("QA-KEYS-STABLE")
def test_rotation_keeps_key_id_and_appkey(server: MockServer) -> None:
    data = succeeded(mgmt(server, "POST", "/apis/qa-api-app/secret"))
    record = succeeded(mgmt(server, "GET", "/apis/qa-api-app"))
    assert data["accessKeyId"] == record["accessKeyId"] == APP["key"] and record["appKey"] == APP["appkey"]


@pytest.mark.requirement("QA-REMOVE")
def test_removed_api_is_gone_and_its_keys_fail(server: MockServer) -> None:
    assert succeeded(mgmt(server, "DELETE", "/apis/qa-api-web")) is True
    refused(mgmt(server, "GET", "/apis/qa-api-web"), 404, "QA-NOT-FOUND")
    assert "qa-api-web" not in [r["apiId"] for r in succeeded(mgmt(server, "GET", "/apis"))["items"]]
    refused(web_event(server), 401, "QA-KEYS-AUTHENTICATE")
    refused(mgmt(server, "DELETE", "/apis/qa-api-web"), 404, "QA-NOT-FOUND")


# -- collection ------------------------------------------------------------------------------------
@pytest.mark.requirement("QA-KEYS-AUTHENTICATE")
def test_collection_without_or_with_unknown_key_id_is_401(server: MockServer) -> None:
    data = json.dumps(event(WEB)).encode()
    query = signed_query(WEB["key"], WEB["secret"], data)
    response = requests.post(server.url + BASE + "/collect", params={"signature": query["signature"]}, data=data,
                             headers={"Content-Type": "application/json", "Origin": "https://www.example.com"}, timeout=10)
    refused(response, 401, "QA-KEYS-AUTHENTICATE")
    refused(collect(server, "LTAIqaNoSuchKey000001", WEB["secret"], event(WEB), {"Origin": "https://www.example.com"}),
            401, "QA-KEYS-AUTHENTICATE")


@pytest.mark.requirement("QA-SIGNATURE")
def test_signature_is_checked(server: MockServer) -> None:
    origin = {"Origin": "https://www.example.com"}
    refused(collect(server, WEB["key"], "not-the-secret", event(WEB), origin), 401, "QA-SIGNATURE")
    refused(collect(server, WEB["key"], APP["secret"], event(WEB), origin), 401, "QA-SIGNATURE")
    data = json.dumps(event(WEB)).encode()
    query = signed_query(WEB["key"], WEB["secret"], data)
    tampered = json.dumps(event(WEB, id="purchase")).encode()
    response = requests.post(server.url + BASE + "/collect", params=query, data=tampered,
                             headers={"Content-Type": "application/json", **origin}, timeout=10)
    refused(response, 401, "QA-SIGNATURE")
    response = requests.post(server.url + BASE + "/collect", params={**query, "extra": "1"}, data=data,
                             headers={"Content-Type": "application/json", **origin}, timeout=10)
    refused(response, 401, "QA-SIGNATURE")
    no_signature = requests.post(server.url + BASE + "/collect", params={"accessKeyId": WEB["key"]}, data=data,
                                 headers={"Content-Type": "application/json", **origin}, timeout=10)
    refused(no_signature, 401, "QA-SIGNATURE")
    assert succeeded(collect(server, WEB["key"], WEB["secret"], event(WEB), origin, extra_query={"ts": "1"})) is True


@pytest.mark.requirement("QA-SIGNATURE")
def test_signature_covers_the_raw_body_bytes(server: MockServer) -> None:
    spaced = b'{ "appkey": "qademowebappkey00000001", "id": "click", "umid": "d1", "ts": 1, "sdk_type": "httpapi" }'
    assert succeeded(collect(server, WEB["key"], WEB["secret"], None, {"Origin": "https://www.example.com"}, raw=spaced)) is True


INVALID_EVENTS = [
    ("QA-COLLECT-BODY", {"puid": None}),
    ("QA-COLLECT-BODY", {"sdk_type": "js"}),
    ("QA-COLLECT-BODY", {"ts": "yesterday"}),
    ("QA-COLLECT-BODY", {"id": None}),
    ("QA-COLLECT-BODY", {"cusp": "not an object"}),
    ("QA-COLLECT-APPKEY", {"appkey": None}),
]


@pytest.mark.parametrize("requirement,change", INVALID_EVENTS, ids=[f"{r}-{i}" for i, (r, _) in enumerate(INVALID_EVENTS)])
def test_invalid_event_is_400_and_stores_nothing(server: MockServer, requirement: str, change: dict) -> None:
    body = {k: v for k, v in {**event(WEB), **change}.items() if v is not None}
    refused(collect(server, WEB["key"], WEB["secret"], body, {"Origin": "https://www.example.com"}), 400, requirement)
    assert server.state("quickaudience")["organizations"]["demo-org"]["events"] == {}


@pytest.mark.requirement("QA-COLLECT-BODY")
def test_umid_alone_and_integer_ts_are_accepted(server: MockServer) -> None:
    body = {**{k: v for k, v in event(WEB).items() if k != "puid"}, "umid": "djajdjdk1", "ts": 1659493170125,
            "cusp": {"foo": "bar"}, "gp": {"g": 1}}
    assert succeeded(collect(server, WEB["key"], WEB["secret"], body, {"Origin": "https://www.example.com"})) is True


@pytest.mark.requirement("QA-COLLECT-APPKEY")
def test_another_channels_appkey_is_403(server: MockServer) -> None:
    body = event(WEB, appkey=APP["appkey"])
    refused(collect(server, WEB["key"], WEB["secret"], body, {"Origin": "https://www.example.com"}), 403, "QA-COLLECT-APPKEY")


@pytest.mark.requirement("QA-COLLECT-PLATFORM")
def test_platform_must_be_declared(server: MockServer) -> None:
    refused(collect(server, APP["key"], APP["secret"], event(APP)), 400, "QA-COLLECT-PLATFORM")
    refused(collect(server, APP["key"], APP["secret"], event(APP, platform="WECHAT_MINI_PROGRAM")), 403, "QA-COLLECT-PLATFORM")
    assert succeeded(collect(server, MINI["key"], MINI["secret"], event(MINI, platform="ALIPAY_MINI_PROGRAM"))) is True
    succeeded(mgmt(server, "PATCH", "/apis/qa-api-app", json={"platformTypes": ["ANDROID"]}))
    refused(collect(server, APP["key"], APP["secret"], event(APP, platform="IOS")), 403, "QA-COLLECT-PLATFORM")


@pytest.mark.requirement("QA-COLLECT-ORIGIN")
@pytest.mark.requirement("QA-DOMAIN-MULTI")
def test_web_origin_must_be_a_channel_domain(server: MockServer) -> None:
    assert succeeded(web_event(server, origin="https://m.example.com")) is True
    assert succeeded(web_event(server, origin="https://WWW.example.com/")) is True
    for origin in ("http://www.example.com", "https://evil.example.com", "https://www.example.com:8443"):
        refused(web_event(server, origin=origin), 403, "QA-COLLECT-ORIGIN")
    refused(collect(server, WEB["key"], WEB["secret"], event(WEB)), 403, "QA-COLLECT-ORIGIN")
    refused(web_event(server, {**WEB, "key": "LTAIqaOrgBWeb00000001", "secret": "qaOrgBWebSecret0000000000000001",
                               "appkey": "qaorgbwebappkey00000001"}), 403, "QA-COLLECT-ORIGIN")


@pytest.mark.requirement("QA-EVENTS-STORED")
def test_collected_events_are_kept_per_channel(server: MockServer) -> None:
    succeeded(web_event(server))
    succeeded(collect(server, APP["key"], APP["secret"], event(APP, platform="IOS", id="open")))
    events = server.state("quickaudience")["organizations"]["demo-org"]["events"]
    assert [e["event"]["id"] for e in events["qa-api-web"]] == ["click"]
    assert events["qa-api-web"][0]["origin"] == "https://www.example.com"
    assert [(e["event"]["id"], e["platform"]) for e in events["qa-api-app"]] == [("open", "IOS")]


# -- bad input -------------------------------------------------------------------------------------
@pytest.mark.requirement("QA-BAD-INPUT")
@pytest.mark.parametrize("case", ["malformed", "content-type", "oversize", "deep"])
def test_unreadable_bodies_get_the_error_envelope(server: MockServer, case: str) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    data = {
        "malformed": b'{"channelName": ',
        "content-type": json.dumps(EXAMPLES["WEB"]).encode(),
        "oversize": json.dumps({**EXAMPLES["WEB"], "pad": "x" * (MAX_BODY + 10)}).encode(),
        "deep": json.dumps({**EXAMPLES["WEB"], "nest": json.loads("[" * 100 + "]" * 100)}).encode(),
    }[case]
    if case == "content-type":
        headers["Content-Type"] = "text/plain"
    status = {"malformed": 400, "content-type": 415, "oversize": 413, "deep": 400}[case]
    response = requests.post(server.url + BASE + "/apis", data=data, headers=headers, timeout=10)
    refused(response, status, "QA-BAD-INPUT")
    assert succeeded(mgmt(server, "GET", "/apis"))["total"] == 3


# -- seeding and credentials -----------------------------------------------------------------------
def test_credentials_check_keys_work(server: MockServer) -> None:
    check = server.credentials()["quickaudience"]["check"]
    assert set(check) == {"console_token", "other_console_token"}
    mine = {r["apiId"] for r in succeeded(mgmt(server, "GET", "/apis", token=check["console_token"]))["items"]}
    theirs = {r["apiId"] for r in succeeded(mgmt(server, "GET", "/apis", token=check["other_console_token"]))["items"]}
    assert mine and theirs and not mine & theirs


def test_seed_refuses_a_record_the_api_could_not_create(server: MockServer) -> None:
    bad = {"organizations": {"o": {"apis": {"x": {"channelName": "x", "applicationType": "WEB",
                                                  "networkDomains": ["www.example.com"], "accessKeyId": "K",
                                                  "accessKeySecret": "S", "appKey": "A"}}}}}
    response = requests.post(server.url + "/__mock/seed", json={"quickaudience": bad}, timeout=10)
    assert response.status_code == 400 and "www.example.com" in response.text
    assert "o" not in server.state("quickaudience")["organizations"]


# -- the modeled surface answers what operations.json documents ----------------------------------
def _call_each_operation(server: MockServer) -> dict[str, requests.Response]:
    signed = event(MINI, platform="WECHAT_MINI_PROGRAM")
    return {
        "create_api": mgmt(server, "POST", "/apis", json=EXAMPLES["APP"]),
        "list_apis": mgmt(server, "GET", "/apis"),
        "get_api": mgmt(server, "GET", "/apis/qa-api-web"),
        "update_api": mgmt(server, "PATCH", "/apis/qa-api-web", json={"channelName": "Web 2"}),
        "collect_event": collect(server, MINI["key"], MINI["secret"], signed),
        "rotate_secret": mgmt(server, "POST", "/apis/qa-api-app/secret"),
        "delete_api": mgmt(server, "DELETE", "/apis/qa-api-mini"),
    }


@pytest.mark.requirement("QA-REST-SURFACE")
@pytest.mark.requirement("QA-ENVELOPE")
def test_every_modeled_operation_answers_its_documented_schema(server: MockServer) -> None:
    answers = _call_each_operation(server)
    assert set(answers) == {op["operationId"] for op in operations("quickaudience")}
    for op in operations("quickaudience"):
        response = answers[op["operationId"]]
        succeeded(response)
        spec = op["responses"].get("200") or op["responses"]["2XX"]
        errors = [e.message for e in Draft202012Validator(bundle("quickaudience", spec["schema"])).iter_errors(response.json())]
        assert not errors, (op["operationId"], errors)


@pytest.mark.requirement("QA-ERROR-ENVELOPE")
def test_refusals_match_the_error_schema(server: MockServer) -> None:
    check = Draft202012Validator(bundle("quickaudience", "error.json"))
    for response in (mgmt(server, "GET", "/apis", token=None), mgmt(server, "GET", "/apis/nope"),
                     collect(server, WEB["key"], "wrong", event(WEB)), mgmt(server, "POST", "/apis", json={})):
        assert 400 <= response.status_code < 500
        assert not [e.message for e in check.iter_errors(response.json())]
