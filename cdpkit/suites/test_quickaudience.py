"""Quick Audience (seed 001): data-collection channels and signed event collection, on cdpkit's modeled
REST surface (QA-REST-SURFACE: the document describes console steps; paths, camelCase field names, the
bearer console token and the collection signature are the model's).

What the document states (channel types, http(s) domains, keys returned, secret rotation invalidates the
old secret, the application type cannot be changed, remove) is checked on that surface with any 2xx for
an accepted call and any 4xx for a refused one. Every check relies on the model (``relies_on=SURFACE``),
so its verdict is "documented, through cdpkit's model": it holds for implementations of cdpkit's REST
model of the console, not for Quick Audience's console itself. Envelopes, exact statuses, management
auth, isolation and the collection checks the document leaves open are assumption checks (--strict only).

Fixtures: every check creates its own channels with fresh unique names through the management API,
takes the keys from the create answer, and removes only the channels it created.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

import orjson
import pytest

from cdpkit import generators
from cdpkit.generators import OMIT, transport
from cdpkit.schemas.qa_signing import signed_query
from cdpkit.suites.checks import Exchange, near_misses
from cdpkit.suites.registry import requirement
from cdpkit.suites.target import CredKey, Target, VendorProfile, bearer

BASE = "/quickaudience/v1"
CREATE = "quickaudience.create_api"
EVENT = "quickaudience.collect_event"
KEYS = ("accessKeyId", "accessKeySecret", "appKey")
SURFACE = ("QA-REST-SURFACE",)  # every check talks to cdpkit's modeled REST surface


PROFILE = VendorProfile(
    vendor="quickaudience",
    keys=(
        CredKey("console_token", "a console token of an organization (Authorization: Bearer ${console_token})", required=True),
        CredKey("other_console_token", "a console token of another organization (tenant isolation)"),
    ),
    fuzz_auth=bearer("console_token"),
)


# -- requests ----------------------------------------------------------------------------------
def mgmt(cdp: Target, method: str, path: str = "", body: Any = None, token: str | None = None, auth: str | None = None) -> Exchange:
    """A management call; ``auth`` replaces the whole Authorization header ("" sends none)."""
    header = auth if auth is not None else f"Bearer {token or cdp.creds['console_token']}"
    return cdp.request(method, BASE + "/apis" + path, headers={"Authorization": header} if header else {}, json=body)


def data_of(exchange: Exchange) -> Any:
    """The result of an accepted call: the envelope's ``data`` (QA-ENVELOPE) or, leniently, the body itself."""
    body = exchange.body
    return body["data"] if isinstance(body, dict) and "data" in body else body


def items_of(cdp: Target, exchange: Exchange) -> list[dict[str, Any]]:
    cdp.expect.success(exchange, "the organization's API records (any 2xx)")
    data = data_of(exchange)
    items = data.get("items") if isinstance(data, dict) else data
    cdp.expect.that(isinstance(items, list), exchange, exchange.describe_response(), "a list of API records")
    return [i for i in items if isinstance(i, dict)]


def record_of(cdp: Target, exchange: Exchange, documented: str = "the API record (any 2xx)") -> dict[str, Any]:
    cdp.expect.success(exchange, documented)
    data = data_of(exchange)
    cdp.expect.that(isinstance(data, dict), exchange, exchange.describe_response(), "an API record object")
    return data


def body_of_type(cdp: Target, kind: str, **overrides: Any) -> dict[str, Any]:
    """A generated create body of ``kind`` with a fresh unique channel name."""
    seed = cdp.unique("qa-seed")
    for i in range(200):
        body = generators.valid(CREATE, seed=f"{seed}:{i}")
        if body["applicationType"] == kind:
            return {**body, "channelName": cdp.unique("cdpkit-qa"), **overrides}
    raise AssertionError(f"the generator never drew a {kind} channel")


def configuration(record: Mapping[str, Any], keys: Any) -> dict[str, Any]:
    """The record's values of ``keys``, lists sorted: the document gives domains and platforms no order,
    so an implementation may store and show them in any."""
    return {k: sorted(v) if isinstance(v := record.get(k), list) else v for k in keys}


def listed(cdp: Target, api_id: str) -> dict[str, Any] | None:
    return next((r for r in items_of(cdp, mgmt(cdp, "GET")) if r.get("apiId") == api_id), None)


def names_listed(cdp: Target, name: str) -> list[dict[str, Any]]:
    return [r for r in items_of(cdp, mgmt(cdp, "GET")) if r.get("channelName") == name]


class Channels:
    """Channels this check created (removed again at teardown unless the check removed them)."""

    def __init__(self, cdp: Target) -> None:
        self.cdp = cdp
        self.created: list[str] = []

    def create(self, body: dict[str, Any]) -> Exchange:
        exchange = mgmt(self.cdp, "POST", body=body)
        data = data_of(exchange)
        if exchange.ok and isinstance(data, dict) and isinstance(data.get("apiId"), str):
            self.created.append(data["apiId"])
        return exchange

    def new(self, kind: str, **overrides: Any) -> dict[str, Any]:
        exchange = self.create(body_of_type(self.cdp, kind, **overrides))
        record = record_of(self.cdp, exchange, "the created record with its AccessKeyId, AccessKeySecret and APPKEY")
        missing = [k for k in ("apiId", *KEYS) if not isinstance(record.get(k), str) or not record[k]]
        self.cdp.expect.that(not missing, exchange, exchange.describe_response(), f"the record carries {', '.join(missing)}")
        return record

    def cleanup(self) -> None:
        for api_id in self.created:
            mgmt(self.cdp, "DELETE", f"/{api_id}")


@pytest.fixture
def channels(cdp: Target) -> Iterator[Channels]:
    made = Channels(cdp)
    yield made
    made.cleanup()


def collect(cdp: Target, record: Mapping[str, Any], *, secret: str | None = None, key_id: str | None = None,
            origin: str | None = None, **overrides: Any) -> Exchange:
    """A generated event for ``record``'s channel, signed (QA-SIGNATURE) with its keys, from a declared
    platform or from its first domain unless told otherwise."""
    creds = {"access_key_id": key_id or record["accessKeyId"], "access_key_secret": secret or record["accessKeySecret"],
             "app_key": record["appKey"], "origin": origin if origin is not None else (record.get("networkDomains") or [""])[0]}
    platform = (record.get("platformTypes") or [OMIT])[-1]
    payload = generators.valid(EVENT, seed=cdp.unique("qa-event"), **{"platform": platform, **overrides})
    req = transport.request_for(EVENT, payload, creds)
    return cdp.request(req.method, req.path, params=req.query, headers=req.headers, data=req.content())


def collect_raw(cdp: Target, query: Mapping[str, str], body: bytes, origin: str | None = None) -> Exchange:
    headers = {"Content-Type": "application/json", **({"Origin": origin} if origin else {})}
    return cdp.request("POST", BASE + "/collect", params=query, headers=headers, data=body)


# == documented =================================================================================
@requirement("QA-CREATE-RETURNS-KEYS", relies_on=SURFACE)
@pytest.mark.parametrize("kind", ["APP", "MINI_PROGRAM", "WEB"])
def test_create_returns_access_key_and_appkey(cdp: Target, channels: Channels, kind: str) -> None:
    record = channels.new(kind)
    cdp.expect.success(collect(cdp, record), "a collection call with the keys the create answer returned is accepted")


@requirement("QA-CREATE-SAVES", relies_on=SURFACE)
def test_created_api_is_listed_and_readable(cdp: Target, channels: Channels) -> None:
    body = body_of_type(cdp, "WEB")
    created = record_of(cdp, channels.create(body))
    read = mgmt(cdp, "GET", f"/{created['apiId']}")
    record = record_of(cdp, read)
    sent = {k: v for k, v in body.items() if k != "collectedByQuickTracking"}
    cdp.expect.that(configuration(record, sent) == configuration(sent, sent), read, read.describe_response(),
                    f"the configuration sent: {sent}")
    cdp.expect.that(listed(cdp, created["apiId"]) is not None, cdp.exchanges[-1], cdp.exchanges[-1].describe_response(),
                    f"the list shows the new API {created['apiId']!r}")


@requirement("QA-ACCESSKEYID-VIEW", relies_on=SURFACE)
def test_list_and_read_show_the_access_key_id(cdp: Target, channels: Channels) -> None:
    record = channels.new("APP")
    read = record_of(cdp, mgmt(cdp, "GET", f"/{record['apiId']}"))
    cdp.expect.that(read.get("accessKeyId") == record["accessKeyId"], cdp.exchanges[-1], cdp.exchanges[-1].describe_response(),
                    "the record shows the AccessKeyId the create answer gave")
    row = listed(cdp, record["apiId"]) or {}
    cdp.expect.that(row.get("accessKeyId") == record["accessKeyId"], cdp.exchanges[-1], cdp.exchanges[-1].describe_response(),
                    "the list shows the AccessKeyId")


@requirement("QA-SECRET-VIEW-UPDATE", relies_on=SURFACE)
def test_secret_is_shown_and_can_be_updated(cdp: Target, channels: Channels) -> None:
    record = channels.new("MINI_PROGRAM")
    read = record_of(cdp, mgmt(cdp, "GET", f"/{record['apiId']}"))
    cdp.expect.that(read.get("accessKeySecret") == record["accessKeySecret"], cdp.exchanges[-1],
                    cdp.exchanges[-1].describe_response(), "the record shows the AccessKeySecret")
    rotated = mgmt(cdp, "POST", f"/{record['apiId']}/secret")
    new = record_of(cdp, rotated, "the updated secret (any 2xx)").get("accessKeySecret")
    cdp.expect.that(isinstance(new, str) and bool(new) and new != record["accessKeySecret"], rotated,
                    rotated.describe_response(), "a new AccessKeySecret, not the previous one")
    again = mgmt(cdp, "GET", f"/{record['apiId']}")
    cdp.expect.that(record_of(cdp, again).get("accessKeySecret") == new, again, again.describe_response(),
                    "the record now shows the new secret")


@requirement("QA-SECRET-ROTATE-INVALIDATES", relies_on=SURFACE)
@pytest.mark.parametrize("kind", ["APP", "WEB"])
def test_rotation_invalidates_the_previous_secret_at_once(cdp: Target, channels: Channels, kind: str) -> None:
    record = channels.new(kind)
    cdp.expect.success(collect(cdp, record), "accepted with the current secret")
    rotated = mgmt(cdp, "POST", f"/{record['apiId']}/secret")
    new = record_of(cdp, rotated, "the updated secret (any 2xx)").get("accessKeySecret")
    cdp.expect.rejected(collect(cdp, record), "refused (any 4xx): the previous AccessKeySecret became invalid")
    # Whether the AccessKeyId survives the update is QA-KEYS-STABLE, an assumption: sign with the id the
    # API record shows now (the same one on the mock).
    current = record_of(cdp, mgmt(cdp, "GET", f"/{record['apiId']}"))
    cdp.expect.success(collect(cdp, record, secret=new, key_id=current.get("accessKeyId") or record["accessKeyId"]),
                       "accepted with the new AccessKeySecret (and the AccessKeyId the record now shows)")


@requirement("QA-EDIT", relies_on=SURFACE)
def test_edit_changes_the_configuration(cdp: Target, channels: Channels) -> None:
    record = channels.new("WEB")
    change = {"channelName": cdp.unique("cdpkit-qa-renamed"), "networkDomains": body_of_type(cdp, "WEB")["networkDomains"]}
    edited = mgmt(cdp, "PATCH", f"/{record['apiId']}", change)
    record_of(cdp, edited, "the edited record (any 2xx)")
    read = mgmt(cdp, "GET", f"/{record['apiId']}")
    shown = record_of(cdp, read)
    cdp.expect.that(configuration(shown, change) == configuration(change, change), read, read.describe_response(),
                    f"later reads show {change}")
    bad = mgmt(cdp, "PATCH", f"/{record['apiId']}", {"networkDomains": ["ftp://" + change["networkDomains"][0].split("://")[1]]})
    cdp.expect.rejected(bad, "refused (any 4xx): the edited configuration breaks the create rules (http(s) domains)")
    after = record_of(cdp, mgmt(cdp, "GET", f"/{record['apiId']}"))
    cdp.expect.that(configuration(after, ["networkDomains"]) == configuration(change, ["networkDomains"]), cdp.exchanges[-1],
                    cdp.exchanges[-1].describe_response(), "a refused edit changes nothing")


@requirement("QA-APP-TYPE-IMMUTABLE", relies_on=SURFACE)
def test_application_type_cannot_be_changed(cdp: Target, channels: Channels) -> None:
    record = channels.new("WEB")
    app = body_of_type(cdp, "APP")
    # The type alone (with a new name, so an edit that drops the type and keeps the rest is seen), and the
    # type with the platforms an APP needs (so an edit that takes the new type is seen).
    for change in ({"applicationType": "APP", "channelName": cdp.unique("cdpkit-qa-app")},
                   {"applicationType": "APP", "platformTypes": app["platformTypes"], "channelName": cdp.unique("cdpkit-qa-app")}):
        refused = mgmt(cdp, "PATCH", f"/{record['apiId']}", change)
        cdp.expect.rejected(refused, f"refused (any 4xx): the application type cannot be changed ({change})")
        read = mgmt(cdp, "GET", f"/{record['apiId']}")
        after = record_of(cdp, read)
        same = {k: after.get(k) for k in ("applicationType", "channelName", "networkDomains")}
        before = {k: record.get(k) for k in same}
        cdp.expect.that(same == before and not after.get("platformTypes"), read, read.describe_response(),
                        f"the stored API is unchanged: {before}")
    mobile = channels.new("APP")  # between the two types that share platforms, too
    mini = body_of_type(cdp, "MINI_PROGRAM")
    change = {"applicationType": "MINI_PROGRAM", "platformTypes": mini["platformTypes"], "channelName": cdp.unique("cdpkit-qa-mini")}
    cdp.expect.rejected(mgmt(cdp, "PATCH", f"/{mobile['apiId']}", change), f"refused (any 4xx): the application type cannot be changed ({change})")
    read = mgmt(cdp, "GET", f"/{mobile['apiId']}")
    cdp.expect.that(record_of(cdp, read).get("applicationType") == "APP", read, read.describe_response(), "the stored API is still an APP")
    # Whether an edit may name the unchanged type is left open ("cannot be changed"): accepting it and
    # refusing the field outright are both faithful, but a refusal must change nothing.
    renamed = mgmt(cdp, "PATCH", f"/{record['apiId']}", {"applicationType": "WEB", "channelName": cdp.unique("cdpkit-qa")})
    if cdp.profile.is_rejection(renamed):
        again = mgmt(cdp, "GET", f"/{record['apiId']}")
        cdp.expect.that(record_of(cdp, again).get("channelName") == record["channelName"], again, again.describe_response(),
                        f"a refused edit changes nothing: channelName {record['channelName']!r}")
    else:
        record_of(cdp, renamed, "accepted (any 2xx), or refused (any 4xx): repeating the same application type is no change of it")


@requirement("QA-REMOVE", relies_on=SURFACE)
def test_remove_deletes_the_api_and_its_keys(cdp: Target, channels: Channels) -> None:
    record = channels.new("APP")
    cdp.expect.success(collect(cdp, record), "accepted before the API is removed")
    removed = mgmt(cdp, "DELETE", f"/{record['apiId']}")
    cdp.expect.success(removed, "removed (any 2xx)")
    channels.created.remove(record["apiId"])
    cdp.expect.rejected(mgmt(cdp, "GET", f"/{record['apiId']}"), "reading a removed API is refused (any 4xx)")
    cdp.expect.that(listed(cdp, record["apiId"]) is None, cdp.exchanges[-1], cdp.exchanges[-1].describe_response(),
                    "a removed API is no longer listed")
    cdp.expect.rejected(collect(cdp, record), "refused (any 4xx): a removed API's keys authenticate nothing")


@requirement("QA-KEYS-AUTHENTICATE", relies_on=SURFACE)
def test_collection_needs_a_known_access_key(cdp: Target, channels: Channels) -> None:
    record = channels.new("WEB")
    cdp.expect.success(collect(cdp, record), "accepted with the channel's AccessKey and APPKEY")
    cdp.expect.rejected(collect(cdp, record, key_id=cdp.unique("LTAInone")), "refused (any 4xx): an AccessKeyId no API has")
    for near in near_misses(record["appKey"]):  # a server comparing a prefix of the APPKEY took these
        cdp.expect.rejected(collect(cdp, record, appkey=near), f"refused (any 4xx): an APPKEY one character off ({near!r})")
    body = orjson.dumps(generators.valid(EVENT, seed=cdp.unique(), appkey=record["appKey"], platform=OMIT))
    query = {k: v for k, v in signed_query(record["accessKeyId"], record["accessKeySecret"], body).items() if k != "accessKeyId"}
    cdp.expect.rejected(collect_raw(cdp, query, body, record["networkDomains"][0]), "refused (any 4xx): no AccessKeyId")


@requirement("QA-CHANNEL-NAME", relies_on=SURFACE)
def test_channel_name_is_required(cdp: Target, channels: Channels) -> None:
    body = body_of_type(cdp, "WEB")
    for refused, what in (({k: v for k, v in body.items() if k != "channelName"}, "no channelName"),
                          ({**body, "channelName": ""}, "an empty channelName")):
        cdp.expect.rejected(channels.create(refused), f"refused (any 4xx): Channel Name is required ({what})")
    channels.new("MINI_PROGRAM")


@requirement("QA-APP-TYPE", relies_on=SURFACE)
def test_application_type_is_one_of_three(cdp: Target, channels: Channels) -> None:
    for kind in ("APP", "MINI_PROGRAM", "WEB"):
        channels.new(kind)
    body = generators.invalid(CREATE, "QA-APP-TYPE", seed=cdp.unique(), channelName=cdp.unique("cdpkit-qa"))
    cdp.expect.rejected(channels.create(body), f"refused (any 4xx): application type {body['applicationType']!r}")
    missing = {k: v for k, v in body_of_type(cdp, "WEB").items() if k != "applicationType"}
    cdp.expect.rejected(channels.create(missing), "refused (any 4xx): no application type")
    cdp.expect.that(not names_listed(cdp, body["channelName"]), cdp.exchanges[-1], cdp.exchanges[-1].describe_response(),
                    "a refused create creates nothing")


@requirement("QA-PLATFORM-REQUIRED", relies_on=SURFACE)
def test_app_and_mini_program_need_platforms(cdp: Target, channels: Channels) -> None:
    for kind in ("APP", "MINI_PROGRAM"):
        full = body_of_type(cdp, kind)
        for body, what in (({k: v for k, v in full.items() if k != "platformTypes"}, "no platformTypes"),
                           ({**full, "channelName": cdp.unique("cdpkit-qa"), "platformTypes": []}, "an empty list")):
            cdp.expect.rejected(channels.create(body), f"refused (any 4xx): a {kind} channel without a platform type ({what})")
            cdp.expect.that(not names_listed(cdp, body["channelName"]), cdp.exchanges[-1], cdp.exchanges[-1].describe_response(),
                            "a refused create creates nothing")


@requirement("QA-PLATFORM-MULTI", relies_on=SURFACE)
def test_several_platform_types(cdp: Target, channels: Channels) -> None:
    for kind, both in (("APP", ["ANDROID", "IOS"]), ("MINI_PROGRAM", ["WECHAT_MINI_PROGRAM", "ALIPAY_MINI_PROGRAM"])):
        record = channels.new(kind, platformTypes=both)
        read = mgmt(cdp, "GET", f"/{record['apiId']}")
        shown = record_of(cdp, read).get("platformTypes") or []
        cdp.expect.that(sorted(shown) == sorted(both), read, read.describe_response(), f"both platform types: {both}")


@requirement("QA-DOMAIN-HTTP", relies_on=SURFACE)
def test_web_needs_http_domains(cdp: Target, channels: Channels) -> None:
    base = body_of_type(cdp, "WEB")
    host = base["networkDomains"][0].split("://", 1)[1]
    for domains in ([host], [f"ftp://{host}"], []):
        body = {**base, "channelName": cdp.unique("cdpkit-qa"), "networkDomains": domains}
        cdp.expect.rejected(channels.create(body), f"refused (any 4xx): network domains {domains} (full, starting with http or https)")
    no_domains = {k: v for k, v in base.items() if k != "networkDomains"}
    cdp.expect.rejected(channels.create(no_domains), "refused (any 4xx): a WEB channel without a network domain")
    cdp.expect.that(not names_listed(cdp, base["channelName"]), cdp.exchanges[-1], cdp.exchanges[-1].describe_response(),
                    "a refused create creates nothing")
    for scheme in ("http", "https"):
        channels.new("WEB", networkDomains=[f"{scheme}://{host}"])


@requirement("QA-DOMAIN-MULTI", relies_on=SURFACE)
def test_several_network_domains(cdp: Target, channels: Channels) -> None:
    host = body_of_type(cdp, "WEB")["networkDomains"][0].split("://", 1)[1].split(".", 1)[1]
    domains = [f"https://www.{host}", f"https://m.{host}", f"http://shop.{host}"]
    record = channels.new("WEB", networkDomains=domains)
    read = mgmt(cdp, "GET", f"/{record['apiId']}")
    cdp.expect.that(sorted(record_of(cdp, read).get("networkDomains") or []) == sorted(domains), read,
                    read.describe_response(), f"every domain: {domains}")
    for origin in domains:
        cdp.expect.success(collect(cdp, record, origin=origin), f"an event from {origin}, one of the channel's domains")


@requirement("QA-ONE-CHANNEL-MANY-PLATFORMS", relies_on=SURFACE)
@pytest.mark.parametrize("kind,platforms", [("APP", ["ANDROID", "IOS"]), ("MINI_PROGRAM", ["WECHAT_MINI_PROGRAM", "ALIPAY_MINI_PROGRAM"])])
def test_one_channel_collects_from_each_platform(cdp: Target, channels: Channels, kind: str, platforms: list[str]) -> None:
    record = channels.new(kind, platformTypes=platforms)
    for platform in platforms:
        cdp.expect.success(collect(cdp, record, platform=platform), f"an event from {platform} with the one channel's keys")


