"""Quick Audience demo data and seed checks, kept apart from the handlers so both stay short.

The demo reproduces the document's own channel examples ("the same Mini Program on WeChat and
Alipay, the same app on Android and iOS, or the same web page loaded from different network
domains as one channel") with fixed keys, so a collection call can be signed by hand, and adds a
second organization to try isolation on.
"""

from __future__ import annotations

import functools
from typing import Any

import jsonschema_rs

from cdpkit.schemas import bundle

DEMO_CONSOLE_TOKEN = "${console_token}"  # QA-MGMT-AUTH: a documented-looking placeholder, accepted literally
OTHER_CONSOLE_TOKEN = "qa-console-token-org-b"
CONFIG_FIELDS = ("channelName", "collectedByQuickTracking", "applicationType", "platformTypes", "networkDomains")


RECORD_SCHEMAS = ("api_request.json#/$defs/create", "api_record.json")  # the record's configuration, the whole record


@functools.lru_cache(maxsize=None)
def _fast_validators() -> tuple[Any, ...]:
    """The compiled (Rust) validators of :data:`RECORD_SCHEMAS`: what the mock's create_api checks a body with."""
    return tuple(jsonschema_rs.validator_for(bundle("quickaudience", ref)) for ref in RECORD_SCHEMAS)


@functools.lru_cache(maxsize=None)
def _worded_validators() -> tuple[Any, ...]:
    """The same schemas in the Python ``jsonschema`` package, whose messages a refused seed has always carried.
    Imported only when a record is refused: the package costs the mock's start-up ~25 ms (issue 9), and every
    start loads the demo records, which pass."""
    from jsonschema import Draft202012Validator

    return tuple(Draft202012Validator(bundle("quickaudience", ref)) for ref in RECORD_SCHEMAS)


def record_problems(record: dict[str, Any]) -> list[str]:
    """Why a seeded record is not one the API could have created (empty when it is).

    The verdict is the compiled validators' (the engine create_api refuses a body with); the words, when there
    is a refusal, are the Python package's as before, or the compiled validators' where the two disagree."""
    config = {k: record[k] for k in CONFIG_FIELDS if k in record}
    instances = (config, record)
    fast = _fast_validators()
    if all(validator.is_valid(instance) for validator, instance in zip(fast, instances)):
        return []
    worded = [e.message for validator, instance in zip(_worded_validators(), instances) for e in validator.iter_errors(instance)]
    return worded or [e.message for validator, instance in zip(fast, instances) for e in validator.iter_errors(instance)]


def demo() -> dict[str, Any]:
    """Organization ``demo-org`` (token ``${console_token}``) with one channel per application type;
    ``demo-org-b`` (token ``qa-console-token-org-b``) with one WEB channel."""
    return {
        "tokens": {
            DEMO_CONSOLE_TOKEN: {"organization": "demo-org"},
            OTHER_CONSOLE_TOKEN: {"organization": "demo-org-b"},
        },
        "organizations": {
            "demo-org": {
                "apis": {
                    "qa-api-web": {
                        "channelName": "Demo web",
                        "applicationType": "WEB",
                        "networkDomains": ["https://www.example.com", "https://m.example.com"],
                        "accessKeyId": "LTAIqaDemoWeb00000001",
                        "accessKeySecret": "qaDemoWebSecret0000000000000001",
                        "appKey": "qademowebappkey00000001",
                    },
                    "qa-api-app": {
                        "channelName": "Demo app",
                        "applicationType": "APP",
                        "platformTypes": ["ANDROID", "IOS"],
                        "accessKeyId": "LTAIqaDemoApp00000001",
                        "accessKeySecret": "qaDemoAppSecret0000000000000001",
                        "appKey": "qademoappappkey00000001",
                    },
                    "qa-api-mini": {
                        "channelName": "Demo mini program",
                        "applicationType": "MINI_PROGRAM",
                        "platformTypes": ["WECHAT_MINI_PROGRAM", "ALIPAY_MINI_PROGRAM"],
                        "accessKeyId": "LTAIqaDemoMini0000001",
                        "accessKeySecret": "qaDemoMiniSecret000000000000001",
                        "appKey": "qademominiappkey0000001",
                    },
                }
            },
            "demo-org-b": {
                "apis": {
                    "qa-api-b-web": {
                        "channelName": "Org B web",
                        "applicationType": "WEB",
                        "networkDomains": ["https://shop.example.org"],
                        "accessKeyId": "LTAIqaOrgBWeb00000001",
                        "accessKeySecret": "qaOrgBWebSecret0000000000000001",
                        "appKey": "qaorgbwebappkey00000001",
                    }
                }
            },
        },
    }
