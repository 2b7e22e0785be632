"""Quick Audience assumption checks (run only with --strict): the mock's envelopes, statuses, management
auth, isolation and the collection rules the document leaves open (QA-SIGNATURE, QA-COLLECT-*), on the
modeled surface. Helpers, fixtures and the documented checks are in :mod:`cdpkit.suites.test_quickaudience`.
"""

from __future__ import annotations

import orjson
import pytest

from cdpkit import generators
from cdpkit.generators import OMIT
from cdpkit.schemas.qa_signing import signed_query
from cdpkit.suites.checks import Exchange
from cdpkit.suites.registry import requirement
from cdpkit.suites.target import Target
from cdpkit.suites.test_quickaudience import (  # noqa: F401  (channels is a fixture)
    BASE, CREATE, EVENT, SURFACE, Channels, body_of_type, channels, collect, collect_raw, data_of, items_of, mgmt,
    names_listed, record_of,
)

REFUSALS = (*SURFACE, "QA-ERROR-ENVELOPE")  # a check asserting the mock's status and error envelope


def refused_as(cdp: Target, exchange: Exchange, status: int, documented: str) -> None:
    """The mock's status and its error envelope (QA-ERROR-ENVELOPE)."""
    cdp.expect.status(exchange, status, documented)
    cdp.expect.conforms(exchange, "error.json", "{data: null, errorCode, errorDesc, success: false, traceId}")


@requirement("QA-REST-SURFACE")
def test_every_modeled_operation_answers(cdp: Target, channels: Channels) -> None:
    """The model itself (a 'modeled' verdict, run by default): every modeled operation accepts a valid call
    (any 2xx; the mock's 200 is QA-ENVELOPE's, checked with --strict)."""
    record = channels.new("WEB")
    for exchange in (mgmt(cdp, "GET"), mgmt(cdp, "GET", f"/{record['apiId']}"),
                     mgmt(cdp, "PATCH", f"/{record['apiId']}", {"channelName": cdp.unique("cdpkit-qa")}),
                     collect(cdp, record), mgmt(cdp, "POST", f"/{record['apiId']}/secret")):
        cdp.expect.success(exchange, f"{exchange.method} {exchange.url} answers (any 2xx)")


@requirement("QA-ENVELOPE", relies_on=SURFACE)
def test_success_envelope(cdp: Target, channels: Channels) -> None:
    created = channels.create(body_of_type(cdp, "APP"))
    api_id = record_of(cdp, created)["apiId"]
    record = data_of(created)
    for exchange, ref in ((created, "responses.json#/$defs/api"), (mgmt(cdp, "GET"), "responses.json#/$defs/api_list"),
                          (mgmt(cdp, "GET", f"/{api_id}"), "responses.json#/$defs/api"),
                          (collect(cdp, record), "responses.json#/$defs/done"),
                          (mgmt(cdp, "POST", f"/{api_id}/secret"), "responses.json#/$defs/secret")):
        cdp.expect.status(exchange, 200, "200 with the envelope")
        cdp.expect.conforms(exchange, ref, "{data, errorCode: null, errorDesc: null, success: true, traceId}")


@requirement("QA-ERROR-ENVELOPE", relies_on=SURFACE)
def test_error_envelope(cdp: Target, channels: Channels) -> None:
    record = channels.new("WEB")
    for exchange in (mgmt(cdp, "GET", auth=""), mgmt(cdp, "GET", f"/{cdp.unique('qa-api-none')}"),
                     collect(cdp, record, secret="0" * 30), channels.create({"channelName": cdp.unique("cdpkit-qa")})):
        cdp.expect.rejected(exchange)
        cdp.expect.conforms(exchange, "error.json", "{data: null, errorCode, errorDesc, success: false, traceId}")


@requirement("QA-MGMT-AUTH", relies_on=REFUSALS)
def test_management_needs_a_bearer_console_token(cdp: Target) -> None:
    body = body_of_type(cdp, "WEB")
    for auth in ("", f"Bearer {cdp.unique('qa-no-token')}", cdp.creds["console_token"]):
        refused_as(cdp, mgmt(cdp, "GET", auth=auth), 401, "401: no, unknown or non-bearer console token")
        refused_as(cdp, mgmt(cdp, "POST", body=body, auth=auth), 401, "401 and nothing created")
    cdp.expect.that(not names_listed(cdp, body["channelName"]), cdp.exchanges[-1], cdp.exchanges[-1].describe_response(),
                    "an unauthenticated create creates nothing")


@requirement("QA-TENANT-ISOLATION", relies_on=REFUSALS)
def test_another_organization_sees_and_touches_nothing(cdp: Target, channels: Channels) -> None:
    other = cdp.require("other_console_token")
    own = other_organization_channel(cdp, other)  # the positive control: the other token works on its own data
    try:
        mine = items_of(cdp, mgmt(cdp, "GET"))
        cdp.expect.that(all(r.get("apiId") != own["apiId"] for r in mine), cdp.exchanges[-1], cdp.exchanges[-1].describe_response(),
                        "this organization's list does not show the other organization's API")
        refused_as(cdp, mgmt(cdp, "GET", f"/{own['apiId']}"), 404, "404: not this organization's API")
    finally:
        mgmt(cdp, "DELETE", f"/{own['apiId']}", token=other)
    record = channels.new("WEB")
    others = items_of(cdp, mgmt(cdp, "GET", token=other))
    cdp.expect.that(all(r.get("apiId") != record["apiId"] for r in others), cdp.exchanges[-1],
                    cdp.exchanges[-1].describe_response(), "another organization's list does not show the API")
    for method, suffix, body in (("GET", "", None), ("PATCH", "", {"channelName": "taken over"}),
                                 ("POST", "/secret", None), ("DELETE", "", None)):
        refused_as(cdp, mgmt(cdp, method, f"/{record['apiId']}{suffix}", body, token=other), 404, "404: not this organization's API")
    read = mgmt(cdp, "GET", f"/{record['apiId']}")
    cdp.expect.that(record_of(cdp, read) == record, read, read.describe_response(), "the API is unchanged")


def other_organization_channel(cdp: Target, other: str) -> dict:
    """A channel the other organization creates and reads back; skip (isolation proved nothing) when it cannot."""
    created = mgmt(cdp, "POST", body=body_of_type(cdp, "WEB"), token=other)
    record = data_of(created) if created.ok else None
    api_id = record.get("apiId") if isinstance(record, dict) else None
    read = mgmt(cdp, "GET", f"/{api_id}", token=other) if isinstance(api_id, str) else None
    if read is None or not read.ok:
        if isinstance(api_id, str):
            mgmt(cdp, "DELETE", f"/{api_id}", token=other)
        answer = (read or created).describe_response()
        pytest.skip(f"other_console_token could not create and read its own channel ({answer}): "
                    "isolation proved nothing without a working second organization")
    return record


@requirement("QA-NOT-FOUND", relies_on=REFUSALS)
def test_unknown_api_id_is_404(cdp: Target) -> None:
    api_id = cdp.unique("qa-api-none")
    for method, suffix, body in (("GET", "", None), ("PATCH", "", {"channelName": "x"}), ("POST", "/secret", None), ("DELETE", "", None)):
        refused_as(cdp, mgmt(cdp, method, f"/{api_id}{suffix}", body), 404, "404 for an apiId the organization does not have")


@requirement("QA-EDIT-EMPTY", relies_on=REFUSALS)
def test_an_edit_naming_no_field_is_400(cdp: Target, channels: Channels) -> None:
    record = channels.new("WEB")
    for body in ({}, {"cdpkitUnknownField": 1}):
        refused_as(cdp, mgmt(cdp, "PATCH", f"/{record['apiId']}", body), 400, "400: an edit that names no configuration field")


# create rules the mock enforces where the document only advises or is silent: (requirement, what)
CREATE_ASSUMPTIONS = [
    ("QA-COLLECTED-NO-REJECTED", "collectedByQuickTracking false ('Do not select No')"),
    ("QA-PLATFORM-MATCHES-TYPE", "a platform of the other application type"),
    ("QA-DOMAIN-ORIGIN-FORM", "a domain with a path"),
    ("QA-FIELDS-PER-TYPE", "platforms on WEB or domains on APP / Mini Program"),
]


def _create_refused(cdp: Target, channels: Channels, rid: str, what: str) -> None:
    body = generators.invalid(CREATE, rid, seed=cdp.unique(), channelName=cdp.unique("cdpkit-qa"))
    refused_as(cdp, channels.create(body), 400, f"400: {what}")
    cdp.expect.that(not names_listed(cdp, body["channelName"]), cdp.exchanges[-1], cdp.exchanges[-1].describe_response(),
                    "a refused create creates nothing")


@requirement("QA-COLLECTED-NO-REJECTED", relies_on=REFUSALS)
def test_collected_no_is_refused(cdp: Target, channels: Channels) -> None:
    _create_refused(cdp, channels, *CREATE_ASSUMPTIONS[0])
    record = channels.new("WEB")  # and on an edit, which would otherwise undo the create's rule
    refused_as(cdp, mgmt(cdp, "PATCH", f"/{record['apiId']}", {"collectedByQuickTracking": False}), 400,
               "400: collectedByQuickTracking false on an edit ('Do not select No')")
    read = mgmt(cdp, "GET", f"/{record['apiId']}")
    cdp.expect.that(record_of(cdp, read).get("collectedByQuickTracking") is True, read, read.describe_response(),
                    "the refused edit changes nothing: collectedByQuickTracking still true")


@requirement("QA-PLATFORM-MATCHES-TYPE", relies_on=REFUSALS)
def test_platform_of_other_type_is_refused(cdp: Target, channels: Channels) -> None:
    _create_refused(cdp, channels, *CREATE_ASSUMPTIONS[1])


@requirement("QA-DOMAIN-ORIGIN-FORM", relies_on=REFUSALS)
def test_domain_with_path_is_refused(cdp: Target, channels: Channels) -> None:
    _create_refused(cdp, channels, *CREATE_ASSUMPTIONS[2])


@requirement("QA-FIELDS-PER-TYPE", relies_on=REFUSALS)
def test_fields_of_other_type_are_refused(cdp: Target, channels: Channels) -> None:
    _create_refused(cdp, channels, *CREATE_ASSUMPTIONS[3])


@requirement("QA-ENUM-SPELLING", relies_on=REFUSALS)
def test_unknown_platform_is_refused(cdp: Target, channels: Channels) -> None:
    record = channels.new("APP")
    body = generators.invalid("quickaudience.update_api", "QA-ENUM-SPELLING", seed=cdp.unique())
    refused_as(cdp, mgmt(cdp, "PATCH", f"/{record['apiId']}", body), 400, f"400: platform types {body['platformTypes']}")


@requirement("QA-KEYS-STABLE", relies_on=SURFACE)
def test_rotation_and_edit_keep_the_key_id_and_appkey(cdp: Target, channels: Channels) -> None:
    record = channels.new("MINI_PROGRAM")
    rotated = mgmt(cdp, "POST", f"/{record['apiId']}/secret")
    edited = mgmt(cdp, "PATCH", f"/{record['apiId']}", {"channelName": cdp.unique("cdpkit-qa")})
    after = record_of(cdp, mgmt(cdp, "GET", f"/{record['apiId']}"))
    for exchange, shown in ((rotated, record_of(cdp, rotated)), (edited, record_of(cdp, edited)), (cdp.exchanges[-1], after)):
        cdp.expect.that(shown.get("accessKeyId") == record["accessKeyId"] and shown.get("appKey", record["appKey"]) == record["appKey"],
                        exchange, exchange.describe_response(), "the same AccessKeyId and APPKEY")
    cdp.expect.that(after.get("accessKeySecret") == record_of(cdp, rotated)["accessKeySecret"], cdp.exchanges[-1],
                    cdp.exchanges[-1].describe_response(), "an edit keeps the rotated secret")


@requirement("QA-SIGNATURE", relies_on=REFUSALS)
def test_signature_is_hmac_of_query_and_body(cdp: Target, channels: Channels) -> None:
    record = channels.new("WEB")
    origin = record["networkDomains"][0]
    body = orjson.dumps(generators.valid(EVENT, seed=cdp.unique(), appkey=record["appKey"], platform=OMIT))
    query = signed_query(record["accessKeyId"], record["accessKeySecret"], body, {"sdk": "cdpkit"})
    cdp.expect.success(collect_raw(cdp, {**query, "signature": query["signature"].upper()}, body, origin), "accepted (hex case is free)")
    for tampered, what in (({**query, "sdk": "other"}, "a signed query parameter changed"),
                           ({**query, "signature": "0" * 40}, "another signature"),
                           ({k: v for k, v in query.items() if k != "signature"}, "no signature")):
        refused_as(cdp, collect_raw(cdp, tampered, body, origin), 401, f"401: {what}")
    refused_as(cdp, collect_raw(cdp, query, body + b" ", origin), 401, "401: the body is not the one signed")


@requirement("QA-COLLECT-BODY", relies_on=REFUSALS)
def test_event_body_is_validated(cdp: Target, channels: Channels) -> None:
    record = channels.new("APP")
    for i in range(5):
        body = generators.invalid(EVENT, "QA-COLLECT-BODY", seed=f"{cdp.unique()}:{i}", appkey=record["appKey"], platform="ANDROID")
        data = orjson.dumps(body)
        refused_as(cdp, collect_raw(cdp, signed_query(record["accessKeyId"], record["accessKeySecret"], data), data), 400,
                   "400: an event needs id, ts (epoch ms), sdk_type httpapi and umid or puid")


@requirement("QA-COLLECT-APPKEY", relies_on=REFUSALS)
def test_appkey_must_be_the_channels(cdp: Target, channels: Channels) -> None:
    record, other = channels.new("WEB"), channels.new("WEB")
    refused_as(cdp, collect(cdp, record, appkey=other["appKey"]), 403, "403: the APPKEY of another channel")
    refused_as(cdp, collect(cdp, record, appkey=OMIT), 400, "400: no APPKEY")


@requirement("QA-COLLECT-PLATFORM", relies_on=REFUSALS)
def test_platform_must_be_declared(cdp: Target, channels: Channels) -> None:
    record = channels.new("APP", platformTypes=["ANDROID"])
    refused_as(cdp, collect(cdp, record, platform="IOS"), 403, "403: a platform the channel does not declare")
    refused_as(cdp, collect(cdp, record, platform=OMIT), 400, "400: an APP event names its platform")


@requirement("QA-COLLECT-ORIGIN", relies_on=REFUSALS)
def test_origin_must_be_a_channel_domain(cdp: Target, channels: Channels) -> None:
    record = channels.new("WEB")
    host = record["networkDomains"][0].split("://", 1)[1]
    cdp.expect.success(collect(cdp, record, origin=record["networkDomains"][0].upper() + "/"), "accepted: host case and a trailing slash are ignored")
    for origin in (f"https://{cdp.unique('evil')}.example", f"{'http' if record['networkDomains'][0].startswith('https') else 'https'}://{host}"):
        refused_as(cdp, collect(cdp, record, origin=origin), 403, f"403: Origin {origin} is not a domain of the channel")
    body = orjson.dumps(generators.valid(EVENT, seed=cdp.unique(), appkey=record["appKey"]))
    refused_as(cdp, collect_raw(cdp, signed_query(record["accessKeyId"], record["accessKeySecret"], body), body), 403, "403: no Origin")


@requirement("QA-BAD-INPUT", relies_on=REFUSALS)
def test_unreadable_bodies(cdp: Target) -> None:
    headers = {"Authorization": f"Bearer {cdp.creds['console_token']}"}
    malformed = cdp.request("POST", BASE + "/apis", headers={**headers, "Content-Type": "application/json"}, data=b'{"channelName": ')
    refused_as(cdp, malformed, 400, "400: malformed JSON")
    text = cdp.request("POST", BASE + "/apis", headers={**headers, "Content-Type": "text/plain"}, data=b"channelName=x")
    refused_as(cdp, text, 415, "415: a content type other than JSON")


@requirement("QA-CHANNEL-NAME-BLANK", relies_on=REFUSALS)
def test_blank_channel_name_is_refused(cdp: Target, channels: Channels) -> None:
    _create_refused(cdp, channels, "QA-CHANNEL-NAME-BLANK", "a channel name of only whitespace")
    record = channels.new("WEB")
    refused_as(cdp, mgmt(cdp, "PATCH", f"/{record['apiId']}", {"channelName": "   "}), 400, "400: an edit to a blank name")


@requirement("QA-PLATFORM-UNIQUE", relies_on=REFUSALS)
def test_repeated_platform_type_is_refused(cdp: Target, channels: Channels) -> None:
    _create_refused(cdp, channels, "QA-PLATFORM-UNIQUE", "a platform type listed twice")


@requirement("QA-DOMAIN-UNIQUE", relies_on=REFUSALS)
def test_repeated_domain_is_refused(cdp: Target, channels: Channels) -> None:
    _create_refused(cdp, channels, "QA-DOMAIN-UNIQUE", "a network domain listed twice")
