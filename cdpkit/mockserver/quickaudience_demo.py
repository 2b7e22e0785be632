"""Quick Audience demo data and seed checks, kept apart from the handlers so both stay short.

The demo reproduces the document's own channel examples ("the same Mini Program on WeChat and
Alipay, the same app on Android and iOS, or the same web page loaded from different network
domains as one channel") with fixed keys, so a collection call can be signed by hand, and adds a
second organization to try isolation on.
"""

from __future__ import annotations

import functools
from typing import Any

from jsonschema import Draft202012Validator

from cdpkit.schemas import bundle

DEMO_CONSOLE_TOKEN = "${console_token}"  # QA-MGMT-AUTH: a documented-looking placeholder, accepted literally
OTHER_CONSOLE_TOKEN = "qa-console-token-org-b"
CONFIG_FIELDS = ("channelName", "collectedByQuickTracking", "applicationType", "platformTypes", "networkDomains")


@functools.lru_cache(maxsize=None)
def _validators() -> tuple[Draft202012Validator, Draft202012Validator]:
    return (
        Draft202012Validator(bundle("quickaudience", "api_request.json#/$defs/create")),
        Draft202012Validator(bundle("quickaudience", "api_record.json")),
    )


def record_problems(record: dict[str, Any]) -> list[str]:
    """Why a seeded record is not one the API could have created (empty when it is)."""
    create, full = _validators()
    config = {k: record[k] for k in CONFIG_FIELDS if k in record}
    return [e.message for e in create.iter_errors(config)] + [e.message for e in full.iter_errors(record)]


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
