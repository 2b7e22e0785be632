"""Quick Audience (seed 001): data-collection channels of an organization and signed event collection.

Channel payloads follow the document's own shapes (QA-ONE-CHANNEL-MANY-PLATFORMS): "the same Mini
Program on WeChat and Alipay, the same app on Android and iOS, or the same web page loaded from
different network domains as one channel", with "Collected by Quick Tracking: Yes" (QA-COLLECTED-BY-QT)
and WEB domains written in full with http(s) (QA-DOMAIN-HTTP). Channel names and domains come from the
market's companies (zh_CN first: Quick Audience is sold by Alibaba Cloud). Events are Quick Tracking
server-side events (QA-COLLECT-BODY): an event code, a device id and/or a user id, ts in epoch
milliseconds, ``sdk_type: httpapi``, custom properties.

The AccessKey, the APPKEY and the apiId are never invented as credentials: an event's ``appkey`` is the
stand-in ``${app_key}`` that :mod:`cdpkit.generators.transport` replaces with ``--cred app_key``, and the
request is signed there (QA-SIGNATURE, QA-SDK-USES-KEY). Operations whose requests name a stored
channel declare a ``fixture`` that creates one through the management API (used by the generic HTTP
tests, which only have the console token).
"""

from __future__ import annotations

import random
import re
from typing import Any, Mapping

import requests

from cdpkit.generators import transport
from cdpkit.generators.draw import Draw
from cdpkit.generators.registry import Operation, Payload

MARKETS = ("zh_CN", "en_US")
APP_PLATFORMS = ("ANDROID", "IOS")
MINI_PLATFORMS = ("WECHAT_MINI_PROGRAM", "ALIPAY_MINI_PROGRAM")
PLATFORMS_BY_TYPE = {"APP": APP_PLATFORMS, "MINI_PROGRAM": MINI_PLATFORMS}
TYPE_OF_PLATFORM = {p: t for t, ps in PLATFORMS_BY_TYPE.items() for p in ps}
APPLICATION_TYPES = ("APP", "MINI_PROGRAM", "WEB")
# What a channel is called after its company, per application type and language.
CHANNEL_SUFFIX = {
    "zh": {"APP": ("APP", "客户端", "会员APP"), "MINI_PROGRAM": ("小程序", "商城小程序"), "WEB": ("官网", "商城", "H5站")},
    "en": {"APP": ("App", "Mobile App"), "MINI_PROGRAM": ("Mini Program", "Mini Shop"), "WEB": ("Website", "Web Store", "H5")},
}
SUBDOMAINS = ("www", "m", "shop", "h5", "mall", "events")
APPKEY_PLACEHOLDER = "${app_key}"  # the channel's APPKEY goes here: cdpkit.generators.transport fills it from --cred app_key
EVENT_CODES = ("click", "open", "page_view", "add_to_cart", "purchase", "login", "register", "share", "search", "view_item")
PAGE_NAMES = ("page_index", "page_detail", "page_cart", "page_checkout", "page_search", "page_member")
CURRENCIES = {"zh": "CNY", "en": "USD"}
_NON_HOST = re.compile(r"[^a-z0-9.-]")


# -- channels ----------------------------------------------------------------------------------
def _language(d: Draw) -> str:
    return "zh" if d.locale.startswith("zh") else "en"


def channel_name(d: Draw, application_type: str) -> str:
    """The company's name and what the channel is: ``星辰科技 小程序``, ``Acme Inc Website``."""
    suffixes = CHANNEL_SUFFIX[_language(d)][application_type]
    return f"{d.fake('company')} {d.choice(suffixes)}"


def _domain(d: Draw) -> str:
    """A registrable domain of the market (Faker's, lowercased, only host characters)."""
    return _NON_HOST.sub("", d.fake("domain_name").lower()) or "example.com"


def network_domains(d: Draw) -> list[str]:
    """One page on one to three origins of the same site (QA-DOMAIN-MULTI), http(s) and full."""
    domain = _domain(d)
    hosts = d.rng.sample(SUBDOMAINS, d.integer(1, 3))
    scheme = "http" if d.chance(0.1) else "https"
    return [f"{scheme}://{host}.{domain}" for host in hosts]


def platform_types(d: Draw, application_type: str) -> list[str]:
    """One or both platforms of the type, in the document's order (QA-PLATFORM-MULTI)."""
    options = PLATFORMS_BY_TYPE[application_type]
    chosen = set(d.rng.sample(options, d.integer(1, len(options))))
    return [p for p in options if p in chosen]


def channel(d: Draw, application_type: str | None = None) -> Payload:
    """A create body: name, Quick Tracking yes, the type, and its platforms or domains."""
    kind = application_type or d.choice(APPLICATION_TYPES)
    body: Payload = {"channelName": channel_name(d, kind), "collectedByQuickTracking": True, "applicationType": kind}
    if kind == "WEB":
        body["networkDomains"] = network_domains(d)
    else:
        body["platformTypes"] = platform_types(d, kind)
    return body


def edit(d: Draw) -> Payload:
    """An edit: a new name, new platforms or new domains, sometimes repeating the type (allowed)."""
    kind = d.choice(APPLICATION_TYPES)
    roll = d.rng.random()
    if roll < 0.4:
        body: Payload = {"channelName": channel_name(d, kind)}
    elif kind == "WEB":
        body = {"networkDomains": network_domains(d)}
    else:
        body = {"platformTypes": platform_types(d, kind)}
    if d.chance(0.3):
        body["applicationType"] = kind
    return body


def api_id(d: Draw) -> Payload:
    """Path parameters naming one channel, in the shape the mock gives ids (a stand-in; see fixture)."""
    return {"apiId": f"qa-api-{d.hex(12)}"}


# -- events ------------------------------------------------------------------------------------
def _device_id(d: Draw) -> str:
    return d.alnum(d.integer(9, 24))


def _user_id(d: Draw) -> str:
    return d.choice((lambda: f"user_{d.integer(1, 999_999):06d}", lambda: d.digits(11), lambda: d.fake("user_name")))()


def event(d: Draw) -> Payload:
    """A Quick Tracking server-side event; ``platform`` for APP / Mini Program channels (two in three)."""
    body: Payload = {"appkey": APPKEY_PLACEHOLDER, "id": d.choice(EVENT_CODES)}
    who = d.integer(0, 2)
    if who != 1:
        body["umid"] = _device_id(d)
    if who != 0:
        body["puid"] = _user_id(d)
    millis = d.epoch_millis()
    body["ts"] = str(millis) if d.chance(0.5) else millis
    body["sdk_type"] = "httpapi"
    if d.chance(2 / 3):
        body["platform"] = d.choice(APP_PLATFORMS + MINI_PLATFORMS)
    if d.chance(0.6):
        body["page_name"] = d.choice(PAGE_NAMES)
    if body["id"] in ("add_to_cart", "purchase", "view_item"):
        body["cusp"] = {"item_id": d.digits(8), "price": f"{d.integer(100, 99_999) / 100:.2f}",
                        "currency": CURRENCIES[_language(d)], "quantity": d.integer(1, 5)}
    elif d.chance(0.4):
        body["cusp"] = {"source": d.choice(("push", "banner", "search", "share"))}
    if d.chance(0.3):
        body["gp"] = {"city": d.fake("city"), "member_level": d.choice(("normal", "silver", "gold"))}
    return body


# -- one-violation builders ------------------------------------------------------------------
def _empty_name(d: Draw, body: Payload) -> Payload:
    """QA-CHANNEL-NAME: an empty name (nothing entered)."""
    return {**body, "channelName": ""}


def _blank_name(d: Draw, body: Payload) -> Payload:
    """QA-CHANNEL-NAME-BLANK (assumption): a name of only whitespace."""
    return {**body, "channelName": d.choice(("   ", "\t", " \n "))}


def _no_name(d: Draw, body: Payload) -> Payload:
    """QA-CHANNEL-NAME: no name at all, or an empty one, on create."""
    if d.chance(0.5):
        return {k: v for k, v in body.items() if k != "channelName"}
    return _empty_name(d, body)


def _not_collected(d: Draw, body: Payload) -> Payload:
    """QA-COLLECTED-NO-REJECTED: 'Do not select No.'"""
    return {**body, "collectedByQuickTracking": False}


def _unknown_type(d: Draw, body: Payload) -> Payload:
    """QA-APP-TYPE: a type the console does not offer (the platforms/domains stay as they were). Never another
    spelling of an offered one ("app", "Mini Program"): refusing those is QA-ENUM-SPELLING, cdpkit's
    assumption, and a server that reads types case-insensitively (a divergent implementation does) is right."""
    return {**body, "applicationType": d.choice(("DESKTOP", "H5", "SERVER", "SMART_TV"))}


def _no_platforms(d: Draw, body: Payload) -> Payload:
    """QA-PLATFORM-REQUIRED: an APP or Mini Program channel without platform types (absent or [])."""
    out = channel(d, d.choice(("APP", "MINI_PROGRAM")))
    out["channelName"] = body["channelName"]
    if d.chance(0.5):
        del out["platformTypes"]
    else:
        out["platformTypes"] = []
    return out


def _repeated_platform(d: Draw, body: Payload) -> Payload:
    """QA-PLATFORM-UNIQUE (assumption): one platform type listed twice."""
    out = channel(d, d.choice(("APP", "MINI_PROGRAM")))
    out["channelName"] = body["channelName"]
    platform = d.choice(PLATFORMS_BY_TYPE[out["applicationType"]])
    out["platformTypes"] = [platform, platform]
    return out


def _web(body: Payload) -> Payload:
    out = {k: v for k, v in body.items() if k != "platformTypes"}
    if "applicationType" in body:
        out["applicationType"] = "WEB"
    return out


def _domain_without_scheme(d: Draw, body: Payload) -> Payload:
    """QA-DOMAIN-HTTP: a domain with a scheme other than http(s) (a bare host also breaks QA-DOMAIN-ORIGIN-FORM)."""
    domains = network_domains(d)
    bare = domains[0].split("://", 1)[1]
    domains[0] = d.choice((f"ftp://{bare}", f"ws://{bare}", f"htps://{bare}", f"file://{bare}"))
    return {**_web(body), "networkDomains": domains}


def _repeated_domain(d: Draw, body: Payload) -> Payload:
    """QA-DOMAIN-UNIQUE (assumption): one domain listed twice."""
    domain = network_domains(d)[0]
    return {**_web(body), "networkDomains": [domain, domain]}


def _domain_with_path(d: Draw, body: Payload) -> Payload:
    """QA-DOMAIN-ORIGIN-FORM: a full page URL where the origin belongs."""
    domains = network_domains(d)
    domains[-1] += d.choice(("/index.html", "/shop?from=ad", "/#/home", "/m/"))
    return {**_web(body), "networkDomains": domains}


def _unknown_platform(d: Draw, body: Payload) -> Payload:
    """QA-ENUM-SPELLING: an edit naming a platform spelled otherwise or one the mock does not know
    (on create the type's own platform list would be broken too: QA-PLATFORM-MATCHES-TYPE)."""
    return {"platformTypes": [d.choice(("Android", "iOS", "HARMONYOS", "BYTEDANCE_MINI_PROGRAM", "wechat"))]}


def _platform_of_other_type(d: Draw, body: Payload) -> Payload:
    """QA-PLATFORM-MATCHES-TYPE: an app on WeChat, a Mini Program on Android."""
    kind = d.choice(("APP", "MINI_PROGRAM"))
    other = "MINI_PROGRAM" if kind == "APP" else "APP"
    return {"channelName": body["channelName"], "collectedByQuickTracking": True, "applicationType": kind,
            "platformTypes": [d.choice(PLATFORMS_BY_TYPE[other])]}


def _fields_of_other_type(d: Draw, body: Payload) -> Payload:
    """QA-FIELDS-PER-TYPE: domains on an app, or platforms on a web page."""
    base = {"channelName": body["channelName"], "collectedByQuickTracking": True}
    if d.chance(0.5):
        return {**base, "applicationType": "WEB", "networkDomains": network_domains(d), "platformTypes": platform_types(d, "APP")}
    kind = d.choice(("APP", "MINI_PROGRAM"))
    return {**base, "applicationType": kind, "platformTypes": platform_types(d, kind), "networkDomains": network_domains(d)}


def _empty_edit(d: Draw, body: Payload) -> Payload:
    """QA-EDIT-EMPTY: an edit that names no field of the configuration."""
    return d.choice(({}, {"apiId": "qa-api-web"}, {"channel_name": "renamed"}))


def _bad_event(d: Draw, body: Payload) -> Payload:
    """QA-COLLECT-BODY: no event code, no user or device, a ts that is not epoch ms, another sdk_type."""
    out = dict(body)
    flaw = d.integer(0, 4)
    if flaw == 0:
        del out["id"]
    elif flaw == 1:
        out.pop("umid", None)
        out.pop("puid", None)
    elif flaw == 2:
        out["ts"] = d.choice(("2024-05-01T08:00:00Z", "", "-1", 1.5e12 + 0.5))
    elif flaw == 3:
        out["sdk_type"] = d.choice(("js", "android", "HTTPAPI"))
    else:
        del out["ts"]
    return out


def _no_appkey(d: Draw, body: Payload) -> Payload:
    """QA-COLLECT-APPKEY: the APPKEY missing or empty (transport fills only the ``${app_key}`` stand-in)."""
    out = dict(body)
    if d.chance(0.5):
        del out["appkey"]
    else:
        out["appkey"] = ""
    return out


def _empty_platform(d: Draw, body: Payload) -> Payload:
    """QA-COLLECT-PLATFORM: the platform field sent empty or not as text."""
    return {**body, "platform": d.choice(("", 1, ["ANDROID"]))}


# -- fixtures: stored channels for requests that name one --------------------------------------
def _create(base_url: str, creds: Mapping[str, Any], body: Payload) -> dict[str, Any]:
    request = transport.request_for("quickaudience.create_api", body, creds)
    response = requests.request(request.method, request.url(base_url), data=request.content(), headers=request.headers, timeout=10)
    response.raise_for_status()
    answer = response.json()
    return answer.get("data", answer) if isinstance(answer, dict) else answer


def _type_for(payload: Mapping[str, Any]) -> str:
    """The channel type a payload fits: by its platform/domains, else its application type, else WEB."""
    platforms = payload.get("platformTypes") or ([payload["platform"]] if "platform" in payload else [])
    if isinstance(platforms, list) and platforms:
        return TYPE_OF_PLATFORM.get(platforms[0], "APP") if isinstance(platforms[0], str) else "APP"
    if "platform" in payload:
        return "APP"
    if payload.get("networkDomains"):
        return "WEB"
    return payload["applicationType"] if payload.get("applicationType") in APPLICATION_TYPES else "WEB"


def channel_fixture(base_url: str, creds: Mapping[str, Any], payload: Payload) -> dict[str, str]:
    """Create a channel the payload fits (through the management API) and return what a request needs:
    ``apiId`` and the collection credentials ``access_key_id``, ``access_key_secret``, ``app_key`` and,
    for a WEB channel, ``origin``."""
    kind = _type_for(payload)
    body = channel(Draw(random.Random(repr(sorted(payload.items(), key=str)))), kind)
    if kind in PLATFORMS_BY_TYPE:
        body["platformTypes"] = list(PLATFORMS_BY_TYPE[kind])
    record = _create(base_url, creds, body)
    out = {"apiId": record["apiId"], "access_key_id": record["accessKeyId"],
           "access_key_secret": record["accessKeySecret"], "app_key": record["appKey"]}
    if kind == "WEB":
        out["origin"] = record["networkDomains"][0]
    return out


CREATE_BREAKS = {
    "QA-CHANNEL-NAME": _no_name,
    "QA-CHANNEL-NAME-BLANK": _blank_name,
    "QA-COLLECTED-NO-REJECTED": _not_collected,
    "QA-APP-TYPE": _unknown_type,
    "QA-PLATFORM-REQUIRED": _no_platforms,
    "QA-PLATFORM-UNIQUE": _repeated_platform,
    "QA-DOMAIN-HTTP": _domain_without_scheme,
    "QA-DOMAIN-UNIQUE": _repeated_domain,
    "QA-DOMAIN-ORIGIN-FORM": _domain_with_path,
    "QA-PLATFORM-MATCHES-TYPE": _platform_of_other_type,
    "QA-FIELDS-PER-TYPE": _fields_of_other_type,
}
EDIT_BREAKS = {
    "QA-EDIT-EMPTY": _empty_edit,
    "QA-CHANNEL-NAME": _empty_name,
    "QA-CHANNEL-NAME-BLANK": _blank_name,
    "QA-COLLECTED-NO-REJECTED": _not_collected,
    "QA-APP-TYPE": _unknown_type,
    "QA-DOMAIN-HTTP": _domain_without_scheme,
    "QA-DOMAIN-UNIQUE": _repeated_domain,
    "QA-DOMAIN-ORIGIN-FORM": _domain_with_path,
    "QA-ENUM-SPELLING": _unknown_platform,
}

OPERATIONS = [
    Operation("create_api", valid=channel, invalid=CREATE_BREAKS, aliases=("channels", "create"),
              summary="create a data-collection channel (APP, MINI_PROGRAM or WEB)"),
    Operation("list_apis", valid=lambda d: {}, aliases=("list",), summary="list the organization's channels (no payload)"),
    Operation("get_api", valid=api_id, fixture=channel_fixture, summary="read one channel (path apiId)"),
    Operation("update_api", valid=edit, invalid=EDIT_BREAKS, fixture=channel_fixture, aliases=("edit",),
              summary="edit a channel's name, platforms or domains (path apiId)"),
    Operation("delete_api", valid=api_id, fixture=channel_fixture, aliases=("remove",), summary="remove a channel (path apiId)"),
    Operation("rotate_secret", valid=api_id, fixture=channel_fixture, aliases=("rotate",),
              summary="update a channel's AccessKeySecret (path apiId)"),
    Operation("collect_event", valid=event, aliases=("events", "collect"), fixture=channel_fixture,
              invalid={"QA-COLLECT-BODY": _bad_event, "QA-COLLECT-APPKEY": _no_appkey, "QA-COLLECT-PLATFORM": _empty_platform},
              summary="one Quick Tracking event, signed with the channel's AccessKey"),
]
