"""Quick Audience schemas: every example valid, hand-picked invalid documents refused for the stated reason."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from jsonschema import Draft202012Validator

from cdpkit.schemas import bundle, load, schema_files

VENDOR = "quickaudience"
WEB = {"channelName": "Demo web", "collectedByQuickTracking": True, "applicationType": "WEB",
       "networkDomains": ["https://www.example.com"]}
APP = {"channelName": "Demo app", "collectedByQuickTracking": True, "applicationType": "APP",
       "platformTypes": ["ANDROID", "IOS"]}
MINI = {"channelName": "Demo mini program", "collectedByQuickTracking": True, "applicationType": "MINI_PROGRAM",
        "platformTypes": ["WECHAT_MINI_PROGRAM"]}
EVENT = {"appkey": "k", "id": "click", "puid": "user_001", "ts": "1659493170125", "sdk_type": "httpapi"}
RECORD = {"apiId": "a", "channelName": "c", "collectedByQuickTracking": True, "applicationType": "WEB",
          "accessKeyId": "K", "accessKeySecret": "S", "appKey": "A"}
OK = {"errorCode": None, "errorDesc": None, "success": True, "traceId": "t"}


def validator(ref: str) -> Draft202012Validator:
    return Draft202012Validator(bundle(VENDOR, ref))


def failures(ref: str, instance: Any) -> set[tuple[str, str]]:
    """(keyword, instance path) of every leaf failure, descending into anyOf/oneOf contexts."""
    found: set[tuple[str, str]] = set()
    stack = list(validator(ref).iter_errors(instance))
    while stack:
        error = stack.pop()
        found.add((str(error.validator), "/".join(str(p) for p in error.absolute_path)))
        stack.extend(error.context or ())
    return found


def _examples(node: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for example in node.get("examples", []) if isinstance(node.get("examples"), list) else []:
            yield pointer, example
        for key, value in node.items():
            if key != "examples":
                yield from _examples(value, f"{pointer}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _examples(value, f"{pointer}/{i}")


ALL_EXAMPLES = [(f, p, e) for f in schema_files(VENDOR) for p, e in _examples(load(VENDOR, f))]


def test_every_schema_file_has_examples() -> None:
    assert {f for f, _, _ in ALL_EXAMPLES} == set(schema_files(VENDOR))


@pytest.mark.parametrize("file,pointer,example", ALL_EXAMPLES, ids=[f"{f}#{p}-{i}" for i, (f, p, _) in enumerate(ALL_EXAMPLES)])
def test_examples_are_valid(file: str, pointer: str, example: Any) -> None:
    ref = f"{file}#{pointer}" if pointer else file
    errors = [e.message for e in validator(ref).iter_errors(example)]
    assert not errors


@pytest.mark.parametrize("body", [WEB, APP, MINI, {**APP, "platformTypes": ["IOS"]},
                                  {**WEB, "networkDomains": ["http://localhost:3000", "https://a.example.com/"]}])
def test_valid_creates(body: dict) -> None:
    assert validator("api_request.json#/$defs/create").is_valid(body)


INVALID = [
    # (ref, instance, expected (keyword, path), reason)
    ("api_request.json#/$defs/create", {**WEB, "channelName": ""}, ("minLength", "channelName"), "QA-CHANNEL-NAME empty"),
    ("api_request.json#/$defs/create", {**WEB, "channelName": "  "}, ("pattern", "channelName"), "QA-CHANNEL-NAME-BLANK"),
    ("api_request.json#/$defs/create", {k: v for k, v in WEB.items() if k != "channelName"}, ("required", ""), "QA-CHANNEL-NAME missing"),
    ("api_request.json#/$defs/create", {**WEB, "collectedByQuickTracking": False}, ("const", "collectedByQuickTracking"), "QA-COLLECTED-NO-REJECTED"),
    ("api_request.json#/$defs/create", {**WEB, "applicationType": "Mini Program"}, ("enum", "applicationType"), "QA-APP-TYPE"),
    ("api_request.json#/$defs/create", {k: v for k, v in APP.items() if k != "platformTypes"}, ("required", ""), "QA-PLATFORM-REQUIRED"),
    ("api_request.json#/$defs/create", {**MINI, "platformTypes": []}, ("minItems", "platformTypes"), "QA-PLATFORM-REQUIRED empty"),
    ("api_request.json#/$defs/create", {**APP, "platformTypes": ["IOS", "IOS"]}, ("uniqueItems", "platformTypes"), "QA-PLATFORM-UNIQUE"),
    ("api_request.json#/$defs/create", {**APP, "platformTypes": ["HARMONY"]}, ("enum", "platformTypes/0"), "QA-ENUM-SPELLING"),
    ("api_request.json#/$defs/create", {**APP, "platformTypes": ["ALIPAY_MINI_PROGRAM"]}, ("enum", "platformTypes/0"), "QA-PLATFORM-MATCHES-TYPE"),
    ("api_request.json#/$defs/create", {**WEB, "networkDomains": ["www.example.com"]}, ("pattern", "networkDomains/0"), "QA-DOMAIN-HTTP"),
    ("api_request.json#/$defs/create", {k: v for k, v in WEB.items() if k != "networkDomains"}, ("required", ""), "QA-DOMAIN-HTTP missing"),
    ("api_request.json#/$defs/create", {**WEB, "networkDomains": ["https://a.com", "https://a.com"]}, ("uniqueItems", "networkDomains"), "QA-DOMAIN-UNIQUE"),
    ("api_request.json#/$defs/create", {**WEB, "networkDomains": ["https://a.com/path"]}, ("pattern", "networkDomains/0"), "QA-DOMAIN-ORIGIN-FORM"),
    ("api_request.json#/$defs/create", {**WEB, "platformTypes": ["ANDROID"]}, ("not", ""), "QA-FIELDS-PER-TYPE web"),
    ("api_request.json#/$defs/create", {**APP, "networkDomains": ["https://a.com"]}, ("not", ""), "QA-FIELDS-PER-TYPE app"),
    ("api_request.json#/$defs/update", {}, ("required", ""), "QA-EDIT-EMPTY"),
    ("api_request.json#/$defs/update", {"applicationType": "TV"}, ("pattern", "applicationType"), "QA-APP-TYPE on edit"),
    ("api_request.json#/$defs/update", {"applicationType": "Mini Program"}, ("enum", "applicationType"),
     "QA-ENUM-SPELLING: the console's own spelling of a known type"),
    ("collect_request.json#/$defs/body", {k: v for k, v in EVENT.items() if k != "puid"}, ("required", ""), "QA-COLLECT-BODY umid/puid"),
    ("collect_request.json#/$defs/body", {**EVENT, "sdk_type": "js"}, ("const", "sdk_type"), "QA-COLLECT-BODY sdk_type"),
    ("collect_request.json#/$defs/body", {**EVENT, "ts": "2024-01-01"}, ("pattern", "ts"), "QA-COLLECT-BODY ts"),
    ("collect_request.json#/$defs/body", {**EVENT, "cusp": []}, ("type", "cusp"), "QA-COLLECT-BODY cusp"),
    ("collect_request.json#/$defs/body", {k: v for k, v in EVENT.items() if k != "appkey"}, ("required", ""), "QA-COLLECT-APPKEY"),
    ("collect_request.json#/$defs/query", {"accessKeyId": "K"}, ("required", ""), "QA-SIGNATURE missing"),
    ("collect_request.json#/$defs/query", {"accessKeyId": "K", "signature": "xyz"}, ("pattern", "signature"), "QA-SIGNATURE not hex"),
    ("collect_request.json#/$defs/query", {"signature": "0" * 40}, ("required", ""), "QA-KEYS-AUTHENTICATE"),
    ("collect_request.json#/$defs/headers", {"origin": 5}, ("type", "origin"), "QA-COLLECT-ORIGIN type"),
    ("common.json#/$defs/management_headers", {"authorization": "Token x"}, ("pattern", "authorization"), "QA-MGMT-AUTH scheme"),
    ("common.json#/$defs/management_headers", {}, ("required", ""), "QA-MGMT-AUTH missing"),
    ("common.json#/$defs/api_path", {}, ("required", ""), "apiId missing"),
    ("api_record.json", {k: v for k, v in RECORD.items() if k != "accessKeySecret"}, ("required", ""), "QA-CREATE-RETURNS-KEYS"),
    ("api_record.json", {**RECORD, "accessKeyId": ""}, ("minLength", "accessKeyId"), "QA-ACCESSKEYID-VIEW"),
    ("error.json", {"data": None, "errorCode": "X", "errorDesc": "y", "success": True}, ("const", "success"), "QA-ERROR-ENVELOPE success"),
    ("error.json", {"data": None, "errorDesc": "y", "success": False}, ("required", ""), "QA-ERROR-ENVELOPE errorCode"),
    ("responses.json#/$defs/envelope", {**OK, "data": True, "success": False}, ("const", "success"), "QA-ENVELOPE success"),
    ("responses.json#/$defs/envelope", {**OK, "data": True, "errorCode": "E"}, ("type", "errorCode"), "QA-ENVELOPE errorCode null"),
    ("responses.json#/$defs/done", {**OK, "data": False}, ("const", "data"), "done data true"),
    ("responses.json#/$defs/api", {**OK, "data": {"apiId": "a"}}, ("required", "data"), "record in envelope"),
    ("responses.json#/$defs/api_list", {**OK, "data": {"items": []}}, ("required", "data"), "list total"),
    ("responses.json#/$defs/secret", {**OK, "data": {"apiId": "a", "accessKeyId": "K"}}, ("required", "data"), "new secret"),
    ("seed.json", {"tokens": {"t": {"organization": 3}}}, ("type", "tokens/t/organization"), "seed token's organization"),
]


@pytest.mark.parametrize("ref,instance,expected,reason", INVALID, ids=[r for *_, r in INVALID])
def test_invalid_documents_fail_for_the_stated_reason(ref: str, instance: Any, expected: tuple[str, str], reason: str) -> None:
    found = failures(ref, instance)
    assert expected in found, f"{reason}: expected {expected}, got {sorted(found)}"


def test_invalid_cases_cover_every_schema_file() -> None:
    assert {ref.partition("#")[0] for ref, *_ in INVALID} == set(schema_files(VENDOR))
