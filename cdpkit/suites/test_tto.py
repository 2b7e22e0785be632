"""TTO CDP (seed 000): ``POST /v1/track``, ``/v1/identify``, ``/v1/alias`` and ``/v1/settings``.

The document publishes requests only (its Swagger is not public): an accepted call is any 2xx and a
refused one any 4xx; every status or body beyond that is an assumption and runs with ``--strict``.
The API has no read endpoint, so what a message does to the stored data (msg_id dedup, identify and
alias merges, per-source isolation) can be seen only through a cdpkit mock's control API: those
checks run against a mock and skip elsewhere. Payloads come from :mod:`cdpkit.generators.tto` with fresh
ids, and the key goes where :mod:`cdpkit.generators.transport` puts it (the body; the query for settings).
"""

from __future__ import annotations

import random
from typing import Any, Mapping

import pytest

from cdpkit import generators
from cdpkit import schemas
from cdpkit.generators import OMIT, transport
from cdpkit.generators import tto as tto_generators
from cdpkit.generators.draw import Draw
from cdpkit.suites.checks import Exchange, near_misses
from cdpkit.suites.registry import requirement
from cdpkit.suites.target import CredKey, FuzzAuth, Target, VendorProfile

MESSAGE_OPS = ("track", "identify", "alias")
ID_FIELDS = ("user_id", "anonymous_id", "previous_id")


def _fuzz_auth(creds: Mapping[str, str]) -> FuzzAuth:
    """settings takes the key in the query; track/identify/alias in the JSON body (no OpenAPI scheme can say so)."""
    return FuzzAuth(fill={"api_key": creds["api_key"]})


def is_rejection(exchange: Exchange) -> bool:
    """The document publishes no answers (VENDOR-NOTES: no response bodies or error codes), so a refusal is a
    4xx, or an answer of any status whose JSON body says ``success: false``: a server that signals failure in
    the body, as many do, refuses just as plainly (TTO-ERROR-BODY, TTO-API-KEY-STATUS: the mock's own forms)."""
    body = exchange.body
    return 400 <= exchange.status < 500 or (isinstance(body, dict) and body.get("success") is False)


PROFILE = VendorProfile(
    vendor="tto",
    keys=(
        CredKey("api_key", "the API key of an HTTP API source (the body's api_key; ?api_key= for settings)", required=True),
        CredKey("other_api_key", "the key of an HTTP API source of another project (isolation: settings answers a "
                "project's configuration, so two sources of one project may rightly share it)"),
    ),
    fuzz_auth=_fuzz_auth,
    is_rejection=is_rejection,
)


# -- requests --------------------------------------------------------------------------------------


def send(cdp: Target, op: str, payload: Any, api_key: str | None = None) -> Exchange:
    """Send a payload as the transport does: the key replaces the placeholder (body, or query for settings)."""
    request = transport.request_for(f"tto.{op}", payload, {"api_key": api_key or cdp.creds["api_key"]})
    return cdp.request(request.method, request.path, params=request.query or None, headers=request.headers, json=request.json)


def fresh(cdp: Target, op: str, **overrides: Any) -> dict[str, Any]:
    """A generated message with a fresh msg_id and fresh ids, so no earlier run (or dedup) interferes.

    Products are left out: where they go is the mock's assumption (TTO-PRODUCTS-PLACEMENT), and only
    the checks about products send them.
    """
    payload = generators.valid(f"tto.{op}", seed=cdp.unique(), locale="market")
    if op != "settings":
        payload["msg_id"] = cdp.unique("tto-msg")
        payload.update({k: cdp.unique(f"tto-{k[:-3]}") for k in ID_FIELDS if k in payload})
        payload.pop("products", None)
        if isinstance(payload.get("properties"), dict):
            payload["properties"].pop("products", None)
    return generators.apply_overrides(payload, overrides)


def broken(cdp: Target, op: str, requirement_id: str, seed: int = 0) -> dict[str, Any]:
    """The generator's payload that breaks ``requirement_id`` only, with fresh ids."""
    ids = {"msg_id": cdp.unique("tto-msg"), "user_id": cdp.unique("tto-user")}
    if op == "alias":
        ids["previous_id"] = cdp.unique("tto-previous")
    return generators.invalid(f"tto.{op}", requirement_id, seed=f"{cdp.unique()}:{seed}", locale="market", **ids)


def document_example(cdp: Target, op: str) -> dict[str, Any]:
    """The document's own example body (api_key your_api_key_here is the placeholder the key replaces)."""
    example = dict(schemas.load("tto", f"{op}_request.json")["examples"][0])
    example["msg_id"] = cdp.unique("tto-msg")
    example.update({k: cdp.unique(f"tto-{k[:-3]}") for k in ID_FIELDS if k in example})
    return example


def settings_call(cdp: Target, api_key: str | None, content_type: bool = True) -> Exchange:
    """The document's curl: POST /v1/settings?api_key=…, Content-Type: application/json, no body."""
    params = {"api_key": api_key} if api_key is not None else None
    headers = {"accept": "application/json", **({"Content-Type": "application/json"} if content_type else {})}
    return cdp.request("POST", "/v1/settings", params=params, headers=headers)


# -- the mock's stored data (control API) ----------------------------------------------------------


def needs_stored_state(cdp: Target) -> None:
    """Skip unless the target is a cdpkit mock: no documented call reads back what a message stored."""
    if not cdp.is_mock:
        pytest.skip("the API has no read endpoint: what a message stored is visible only through a cdpkit mock's control API")


def source_state(cdp: Target, api_key: str) -> dict[str, Any]:
    """The stored data of the source ``api_key`` belongs to (mock only: skips elsewhere)."""
    needs_stored_state(cdp)
    for source in cdp.mock().state("tto")["sources"].values():
        if api_key in source["api_keys"]:
            return source
    raise LookupError("the mock lists no source for the check's api_key")


def profile_of(cdp: Target, identifier: str, api_key: str | None = None) -> dict[str, Any] | None:
    source = source_state(cdp, api_key or cdp.creds["api_key"])
    pid = source["ids"].get(identifier)
    return source["profiles"].get(pid) if pid else None


def events_with(cdp: Target, msg_id: str) -> list[dict[str, Any]]:
    return [e for e in source_state(cdp, cdp.creds["api_key"])["events"] if e.get("msg_id") == msg_id]


def stored_anywhere(cdp: Target, identifier: str) -> bool:
    return any(identifier in s["ids"] for s in cdp.mock().state("tto")["sources"].values())


# Endpoints ---------------------------------------------------------------------------------------
@requirement("TTO-TRACK-ENDPOINT")
def test_track_example_and_generated_events_are_accepted(cdp: Target) -> None:
    cdp.expect.success(send(cdp, "track", document_example(cdp, "track")), "the document's track example is accepted (any 2xx)")
    for _ in range(4):
        cdp.expect.success(send(cdp, "track", fresh(cdp, "track")), "a track event in the document's shape is accepted (any 2xx)")


@requirement("TTO-IDENTIFY-ENDPOINT")
def test_identify_example_and_generated_profiles_are_accepted(cdp: Target) -> None:
    cdp.expect.success(send(cdp, "identify", document_example(cdp, "identify")), "the document's identify example is accepted")
    for _ in range(3):
        cdp.expect.success(send(cdp, "identify", fresh(cdp, "identify")), "an identify with standard traits is accepted")


@requirement("TTO-ALIAS-ENDPOINT")
def test_alias_example_and_generated_aliases_are_accepted(cdp: Target) -> None:
    cdp.expect.success(send(cdp, "alias", document_example(cdp, "alias")), "the document's alias example is accepted")
    cdp.expect.success(send(cdp, "alias", fresh(cdp, "alias")), "an alias of user_id and previous_id is accepted")


@requirement("TTO-SETTINGS-ENDPOINT")
def test_settings_answers_a_known_key(cdp: Target) -> None:
    cdp.expect.success(send(cdp, "settings", fresh(cdp, "settings")), "POST /v1/settings?api_key=<key> answers the configuration (any 2xx)")


@requirement("TTO-SETTINGS-QUERY-KEY")
def test_settings_takes_the_key_in_the_query_and_no_body(cdp: Target) -> None:
    cdp.expect.success(settings_call(cdp, cdp.creds["api_key"]), "the document's curl (empty body, Content-Type: application/json) is accepted")
    cdp.expect.rejected(settings_call(cdp, None), "a rejection (any 4xx): no ?api_key names the project")


def _carries_configuration(body: Any) -> bool:
    """Whether a settings answer shows any configuration (a nested object or list), not only a flag."""
    return isinstance(body, dict) and any(isinstance(v, (dict, list)) and v for v in body.values())


@requirement("TTO-SETTINGS-ENDPOINT")
def test_settings_answers_the_keys_own_source(cdp: Target) -> None:
    """查詢指定項目的配置信息: each key's settings are its own project's, so the keys of two projects' sources that
    both show configuration do not show the same one (an implementation that ignores the key shows one for both).
    Two sources of one project may share their project's configuration: other_api_key names another project's."""
    other = cdp.require("other_api_key")
    mine, theirs = settings_call(cdp, cdp.creds["api_key"]), settings_call(cdp, other)
    cdp.expect.success(mine, "POST /v1/settings?api_key=<key> answers the configuration (any 2xx)")
    if not cdp.accepted(theirs):
        pytest.skip(f"other_api_key was refused by settings ({theirs.describe_response()}): nothing to compare")
    if not (_carries_configuration(mine.body) and _carries_configuration(theirs.body)):
        pytest.skip("the settings answers show no configuration to compare (the document publishes no shape)")
    cdp.expect.that(mine.body != theirs.body, theirs, theirs.describe_response(),
                    f"another source's configuration than api_key's ({mine.describe_response()}): settings answers the key's own project")


# Authentication ----------------------------------------------------------------------------------
@requirement("TTO-API-KEY-BODY")
def test_message_without_api_key_is_refused(cdp: Target) -> None:
    for op in MESSAGE_OPS:
        for payload in (fresh(cdp, op, api_key=OMIT), fresh(cdp, op, api_key="")):
            cdp.expect.rejected(send(cdp, op, payload), "a rejection (any 4xx): 請求體中必須添加 API 密鑰字段")
        keyed = fresh(cdp, op, api_key=cdp.creds["api_key"])
        for body in ([keyed], "api_key"):  # JSON, but no object that could carry the api_key field
            exchange = cdp.request("POST", f"/v1/{op}", headers={"Content-Type": "application/json"}, json=body)
            cdp.expect.rejected(exchange, "a rejection (any 4xx): the body is no JSON object carrying the API key field")


@requirement("TTO-API-KEY-AUTH")
def test_unknown_api_key_is_refused_and_nothing_is_stored(cdp: Target) -> None:
    nears = near_misses(cdp.creds["api_key"])
    for op in MESSAGE_OPS:
        payload = broken(cdp, op, "TTO-API-KEY-AUTH")
        cdp.expect.rejected(send(cdp, op, payload), "a rejection (any 4xx) for a key no source was issued")
        if cdp.is_mock:
            cdp.expect.that(not stored_anywhere(cdp, payload["user_id"]), None, f"{payload['user_id']!r} stored by a refused {op}",
                            "nothing is stored for a refused message")
        for near in nears:
            cdp.expect.rejected(send(cdp, op, fresh(cdp, op), api_key=near),
                                f"a rejection (any 4xx) for a key one character off the source's ({len(near)} characters)")
        # a replay is recognised by its msg_id only once the key says whose it is: an unknown key is refused
        accepted = fresh(cdp, op)
        cdp.expect.success(send(cdp, op, accepted), f"the {op} message, with the source's key, is accepted")
        cdp.expect.rejected(send(cdp, op, accepted, api_key=cdp.unique("tto-unknown-key")),
                            "a rejection (any 4xx) for the same message (same msg_id) under a key no source was issued")
    for near in nears:  # settings authenticates by the same key, in its query
        cdp.expect.rejected(settings_call(cdp, near), f"a rejection (any 4xx): settings with a key one character off ({len(near)} characters)")
    cdp.expect.rejected(settings_call(cdp, cdp.unique("tto-unknown-key")), "a rejection (any 4xx) for an unknown settings key")
    for near in nears:
        cdp.expect.rejected(settings_call(cdp, near), "a rejection (any 4xx) for settings with a key one character off")


# Data fields -------------------------------------------------------------------------------------
@requirement("TTO-PROPERTIES")
def test_custom_properties_and_no_properties_are_accepted(cdp: Target) -> None:
    custom = fresh(cdp, "track", event="Lead", properties={"currency": "HKD", "value": 20.24, "key1": "diy 1"})
    cdp.expect.success(send(cdp, "track", custom), "custom property keys (key1: diy 1) beside currency and value are accepted")
    cdp.expect.success(send(cdp, "track", fresh(cdp, "track", properties=OMIT)), "properties:可選 — a track without properties is accepted")


@requirement("TTO-PRODUCTS")
def test_products_with_standard_fields_are_accepted(cdp: Target) -> None:
    items = tto_generators.products(Draw(random.Random(cdp.unique()), "zh_TW"), tto_generators.HK)
    top = send(cdp, "track", fresh(cdp, "track", event="Purchase", products=items))
    if cdp.profile.is_rejection(top):  # the document does not say where products goes: either place will do
        inside = send(cdp, "track", fresh(cdp, "track", event="Purchase", properties={"currency": "HKD", "value": 1, "products": items}))
        cdp.expect.success(inside, "a products list of standard fields is accepted beside properties or inside them")
    else:
        cdp.expect.success(top, "a products list of standard fields is accepted")


# Stored data (cdpkit mock only: the API has no read endpoint) ------------------------------------
@requirement("TTO-MSG-ID-DEDUP", via_control_api=True)
def test_replayed_msg_id_is_stored_once(cdp: Target) -> None:
    needs_stored_state(cdp)
    payload = fresh(cdp, "track")
    cdp.expect.success(send(cdp, "track", payload), "the first message is accepted")
    send(cdp, "track", {**payload, "properties": {"replayed": True}})
    stored = events_with(cdp, payload["msg_id"])
    cdp.expect.that(len(stored) == 1, None, f"{len(stored)} stored events with msg_id {payload['msg_id']!r}",
                    "a msg_id the source has seen is stored once (消息唯一標識符,用於去重)")


@requirement("TTO-IDENTIFIERS", via_control_api=True)
def test_messages_with_the_same_id_name_one_profile(cdp: Target) -> None:
    needs_stored_state(cdp)
    user, anon = cdp.unique("tto-user"), cdp.unique("tto-anon")
    for body in (fresh(cdp, "track", user_id=user, anonymous_id=OMIT), fresh(cdp, "identify", user_id=user, anonymous_id=OMIT),
                 fresh(cdp, "track", anonymous_id=anon, user_id=OMIT), fresh(cdp, "track", anonymous_id=anon, user_id=OMIT)):
        cdp.expect.success(send(cdp, body["type"], body), "a message naming a user is accepted")
    source = source_state(cdp, cdp.creds["api_key"])
    by_user = {e["profile"] for e in source["events"] if e.get("user_id") == user}
    by_anon = {e["profile"] for e in source["events"] if e.get("anonymous_id") == anon}
    cdp.expect.that(len(by_user) == 1 and len(by_anon) == 1 and by_user != by_anon, None,
                    f"profiles of {user!r}: {sorted(map(str, by_user))}; of {anon!r}: {sorted(map(str, by_anon))}",
                    "messages with the same user_id (or anonymous_id) belong to one profile, different ids to different ones")


@requirement("TTO-IDENTIFY-MERGE", via_control_api=True)
def test_identify_updates_the_profile(cdp: Target) -> None:
    needs_stored_state(cdp)
    user = cdp.unique("tto-user")
    for traits in ({"email": "mary@example.com", "city": "hongkong"}, {"email": "mary.chan@example.com", "phone": "85291234567"}):
        cdp.expect.success(send(cdp, "identify", fresh(cdp, "identify", user_id=user, anonymous_id=OMIT, traits=traits)), "identify accepted")
        stored = (profile_of(cdp, user) or {}).get("traits") or {}
        cdp.expect.that(all(stored.get(k) == v for k, v in traits.items()), None, f"profile of {user!r}: {stored}",
                        f"after identify the profile holds the traits sent (更新用戶畫像信息): {traits}")


@requirement("TTO-IDENTIFY-MERGE-RULES", via_control_api=True)
def test_identify_merges_traits_and_links_ids(cdp: Target) -> None:
    needs_stored_state(cdp)
    user, anon = cdp.unique("tto-user"), cdp.unique("tto-anon")
    first = {"email": "mary@example.com", "first_name": "mary", "city": "hongkong"}
    cdp.expect.success(send(cdp, "identify", fresh(cdp, "identify", user_id=user, anonymous_id=OMIT, traits=first)), "identify accepted")
    cdp.expect.success(send(cdp, "identify", fresh(cdp, "identify", user_id=user, anonymous_id=anon,
                                                 traits={"email": "mary.chan@example.com", "phone": "85291234567"})), "identify accepted")
    profile = profile_of(cdp, user) or {}
    expected = {"email": "mary.chan@example.com", "first_name": "mary", "city": "hongkong", "phone": "85291234567"}
    cdp.expect.that(profile.get("traits") == expected, None, f"profile of {user!r}: {profile}",
                    f"traits merged (sent keys overwrite, others kept): {expected}")
    cdp.expect.that((profile_of(cdp, anon) or {}).get("id") == profile.get("id"), None, f"{anon!r} -> {profile_of(cdp, anon)}",
                    "an identify with user_id and anonymous_id links both to one profile")


@requirement("TTO-ALIAS-MERGE", via_control_api=True)
def test_alias_links_previous_id_and_user_id(cdp: Target) -> None:
    needs_stored_state(cdp)
    user, previous = cdp.unique("tto-user"), cdp.unique("tto-anon")
    cdp.expect.success(send(cdp, "identify", fresh(cdp, "identify", anonymous_id=previous, user_id=OMIT)), "identify accepted")
    cdp.expect.success(send(cdp, "identify", fresh(cdp, "identify", user_id=user, anonymous_id=OMIT)), "identify accepted")
    cdp.expect.success(send(cdp, "alias", fresh(cdp, "alias", user_id=user, previous_id=previous)), "alias accepted")
    merged, old = profile_of(cdp, user) or {}, profile_of(cdp, previous) or {}
    cdp.expect.that(bool(merged) and merged.get("id") == old.get("id"), None, f"{user!r} -> {merged}; {previous!r} -> {old}",
                    "after alias, previous_id and user_id name one profile (合併用戶的不同身份標識)")


@requirement("TTO-ALIAS-PRECEDENCE", via_control_api=True)
def test_alias_merges_previous_id_into_user_id(cdp: Target) -> None:
    needs_stored_state(cdp)
    user, previous = cdp.unique("tto-user"), cdp.unique("tto-anon")
    send(cdp, "identify", fresh(cdp, "identify", anonymous_id=previous, user_id=OMIT, traits={"city": "kowloon", "gender": "f"}))
    send(cdp, "identify", fresh(cdp, "identify", user_id=user, anonymous_id=OMIT, traits={"city": "taipei", "email": "a@example.com"}))
    cdp.expect.success(send(cdp, "alias", fresh(cdp, "alias", user_id=user, previous_id=previous)), "alias accepted")
    merged, old = profile_of(cdp, user) or {}, profile_of(cdp, previous) or {}
    expected = {"city": "taipei", "gender": "f", "email": "a@example.com"}
    cdp.expect.that(merged.get("id") == old.get("id") and merged.get("traits") == expected, None,
                    f"{user!r} -> {merged}; {previous!r} -> {old}",
                    f"one profile for both ids with traits {expected} (user_id's values win)")


def other_source_works(cdp: Target, other: str, op: str, payload: dict[str, Any]) -> None:
    """The positive control of an isolation check: the other key must first be accepted on its own."""
    exchange = send(cdp, op, payload, api_key=other)
    if not cdp.accepted(exchange):
        pytest.skip(f"other_api_key was refused on its own message ({exchange.describe_response()}): "
                    "isolation proved nothing without a working second source")


def events_of(cdp: Target, api_key: str, msg_id: str) -> list[dict[str, Any]]:
    return [e for e in source_state(cdp, api_key)["events"] if e.get("msg_id") == msg_id]


@requirement("TTO-SOURCE-ISOLATION", via_control_api=True)
def test_each_message_belongs_to_its_keys_source(cdp: Target) -> None:
    other = cdp.require("other_api_key")
    needs_stored_state(cdp)
    theirs, mine = fresh(cdp, "track"), fresh(cdp, "track")
    other_source_works(cdp, other, "track", theirs)
    cdp.expect.success(send(cdp, "track", mine), "this source accepts its own track")
    placed = {name: {key: len(events_of(cdp, key, body["msg_id"])) for key in (cdp.creds["api_key"], other)}
              for name, body in (("mine", mine), ("theirs", theirs))}
    ok = placed["mine"] == {cdp.creds["api_key"]: 1, other: 0} and placed["theirs"] == {cdp.creds["api_key"]: 0, other: 1}
    cdp.expect.that(ok, None, f"events stored per key: {placed}", "each event is stored in the source of the key it was sent with (數據歸屬)")


@requirement("TTO-SOURCE-PROFILES", via_control_api=True)
def test_sources_keep_their_own_profiles(cdp: Target) -> None:
    other = cdp.require("other_api_key")
    needs_stored_state(cdp)
    user = cdp.unique("tto-user")
    other_source_works(cdp, other, "identify", fresh(cdp, "identify", user_id=user, anonymous_id=OMIT, traits={"phone": "85261234567"}))
    send(cdp, "identify", fresh(cdp, "identify", user_id=user, anonymous_id=OMIT, traits={"email": "a@example.com"}))
    mine, theirs = profile_of(cdp, user) or {}, profile_of(cdp, user, other) or {}
    cdp.expect.that(mine.get("traits") == {"email": "a@example.com"} and theirs.get("traits") == {"phone": "85261234567"}, None,
                    f"this source: {mine}; the other: {theirs}", "the same user_id in two sources is two profiles")


# Assumptions (run only with --strict) -------------------------------------------------------------
@requirement("TTO-API-KEY-STATUS")
def test_missing_or_unknown_key_is_401(cdp: Target) -> None:
    for op in MESSAGE_OPS:
        cdp.expect.status(send(cdp, op, fresh(cdp, op, api_key=OMIT)), 401, "401 for a message without api_key")
        cdp.expect.status(send(cdp, op, broken(cdp, op, "TTO-API-KEY-AUTH")), 401, "401 for an unknown api_key")
    cdp.expect.status(settings_call(cdp, None), 401, "401 for settings without ?api_key")
    cdp.expect.status(settings_call(cdp, cdp.unique("tto-unknown-key")), 401, "401 for settings with an unknown key")


@requirement("TTO-SETTINGS-BODY")
def test_settings_body_names_source_and_destinations(cdp: Target) -> None:
    exchange = settings_call(cdp, cdp.creds["api_key"])
    body = exchange.body if isinstance(exchange.body, dict) else {}
    source = body.get("source") if isinstance(body.get("source"), dict) else {}
    ok = (exchange.status == 200 and body.get("success") is True and source.get("type") == "HTTP API"
          and all(isinstance(source.get(k), str) for k in ("id", "name")) and isinstance(body.get("destinations"), list))
    cdp.expect.that(ok, exchange, exchange.describe_response(),
                    '200 {"success": true, "source": {"id", "name", "type": "HTTP API"}, "destinations": [{name, enabled}]}')


@requirement("TTO-TYPE-MATCH")
def test_type_must_name_the_endpoint(cdp: Target) -> None:
    for op in MESSAGE_OPS:
        cdp.expect.rejected(send(cdp, op, broken(cdp, op, "TTO-TYPE-MATCH")), f"refused (any 4xx; the mock: 400): type names another operation than {op}")
        for other in MESSAGE_OPS:  # each of TTO's own other operations too, not only a drawn one (a server that
            if other != op:        # checked only that type is one of the three passed a draw of "page")
                cdp.expect.rejected(send(cdp, op, fresh(cdp, op, type=other)), f"refused (any 4xx): type {other!r} sent to /v1/{op}")
        cdp.expect.success(send(cdp, op, fresh(cdp, op, type=OMIT)), f"a {op} without type is accepted (type is optional)")


@requirement("TTO-DEDUP-REPLAY-ACK", relies_on=("TTO-RESPONSE-SUCCESS",))
def test_replay_is_acknowledged_like_the_first(cdp: Target) -> None:
    payload = fresh(cdp, "identify")
    first, replay = send(cdp, "identify", payload), send(cdp, "identify", payload)
    cdp.expect.that(first.status == replay.status == 200 and first.body == replay.body, replay, replay.describe_response(),
                    f"the same answer as the first: {first.describe_response()}")
    cdp.expect.success(send(cdp, "track", fresh(cdp, "track", msg_id=OMIT)), "msg_id is optional: a track without it is accepted")


@requirement("TTO-IDENTITY-REQUIRED")
def test_message_naming_nobody_is_400(cdp: Target) -> None:
    for op in ("track", "identify"):
        cdp.expect.rejected(send(cdp, op, broken(cdp, op, "TTO-IDENTITY-REQUIRED")), "refused (any 4xx; the mock: 400): neither user_id nor anonymous_id")


@requirement("TTO-ID-TYPES")
def test_empty_or_non_string_ids_are_400(cdp: Target) -> None:
    cases = [("track", {"user_id": ""}), ("track", {"event": ""}), ("identify", {"msg_id": 123}),
             ("identify", {"anonymous_id": ["a"]}), ("alias", {"previous_id": ""})]
    for op, change in cases:
        cdp.expect.rejected(send(cdp, op, fresh(cdp, op, **change)), f"refused (any 4xx; the mock: 400): {change} is not a non-empty string")


@requirement("TTO-TIMESTAMP-ACCEPTED")
def test_epoch_seconds_are_accepted_other_times_are_400(cdp: Target) -> None:
    for value in ("1767174918", 1767174918, 1767174918.5, OMIT):
        cdp.expect.success(send(cdp, "track", fresh(cdp, "track", timestamp=value)), f"timestamp {value!r} accepted (epoch seconds, or none)")
    for value in ("2025-12-31T10:00:00Z", "yesterday", -5):
        cdp.expect.rejected(send(cdp, "track", fresh(cdp, "track", timestamp=value)), f"refused (any 4xx; the mock: 400): {value!r} is not epoch seconds")


@requirement("TTO-DATA-OBJECT-TYPE")
def test_traits_properties_context_must_be_objects(cdp: Target) -> None:
    text = '{"email": "a@example.com"}'
    for op, field in (("track", "properties"), ("track", "traits")):  # the track table's STRING: the text of an object
        cdp.expect.success(send(cdp, op, fresh(cdp, op, **{field: text})), f"accepted: {field} sent as the text of a JSON object")
        cdp.expect.rejected(send(cdp, op, fresh(cdp, op, **{field: "alelos"})), f"refused (any 4xx; the mock: 400): {field} as text that holds no object")
    for op, field in (("identify", "traits"), ("alias", "context")):  # OBJECT in its table, or no table's STRING
        cdp.expect.rejected(send(cdp, op, fresh(cdp, op, **{field: text})), f"refused (any 4xx; the mock: 400): {field} sent as a string")


@requirement("TTO-REQUIRED-COLUMN-EMPTY")
def test_minimal_messages_are_accepted(cdp: Target) -> None:
    key = "your_api_key_here"  # the placeholder, replaced by the transport
    minimal = {"track": {"api_key": key, "user_id": cdp.unique("tto-user"), "event": "PageView"},
               "identify": {"api_key": key, "anonymous_id": cdp.unique("tto-anon")},
               "alias": {"api_key": key, "user_id": cdp.unique("tto-user"), "previous_id": cdp.unique("tto-anon")}}
    for op, body in minimal.items():
        cdp.expect.success(send(cdp, op, body), f"only api_key, an identity{' and event' if op == 'track' else ''}: accepted")


@requirement("TTO-PRODUCTS-PLACEMENT")
def test_products_beside_or_inside_properties(cdp: Target) -> None:
    items = tto_generators.products(Draw(random.Random(cdp.unique()), "zh_TW"), tto_generators.TW)
    cdp.expect.success(send(cdp, "track", fresh(cdp, "track", products=items)), "products beside properties accepted")
    cdp.expect.success(send(cdp, "track", fresh(cdp, "track", properties={"currency": "TWD", "products": items})), "products inside properties accepted")
    cdp.expect.rejected(send(cdp, "track", broken(cdp, "track", "TTO-PRODUCTS-PLACEMENT")), "refused (any 4xx; the mock: 400): products is not a list of objects")


@requirement("TTO-TRACK-EVENT")
def test_track_without_event_is_400(cdp: Target) -> None:
    cdp.expect.rejected(send(cdp, "track", fresh(cdp, "track", event=OMIT)), "refused (any 4xx; the mock: 400): a track without event")


@requirement("TTO-ALIAS-IDS")
def test_alias_without_either_id_is_400(cdp: Target) -> None:
    for field in ("previous_id", "user_id"):
        cdp.expect.rejected(send(cdp, "alias", fresh(cdp, "alias", **{field: OMIT})), f"refused (any 4xx; the mock: 400): an alias without {field}")


@requirement("TTO-RESPONSE-SUCCESS")
def test_accepted_message_answers_success_and_msg_id(cdp: Target) -> None:
    for op in MESSAGE_OPS:
        payload = fresh(cdp, op)
        exchange = send(cdp, op, payload)
        cdp.expect.that(exchange.status == 200 and exchange.body == {"success": True, "msg_id": payload["msg_id"]}, exchange,
                        exchange.describe_response(), f'200 {{"success": true, "msg_id": "{payload["msg_id"]}"}}')


@requirement("TTO-ERROR-BODY", relies_on=("TTO-DATA-OBJECT-TYPE", "TTO-API-KEY-STATUS"))
def test_errors_say_success_false_and_why(cdp: Target) -> None:
    for exchange in (send(cdp, "track", fresh(cdp, "track", api_key=OMIT)), settings_call(cdp, None),
                     send(cdp, "identify", fresh(cdp, "identify", traits="x"))):
        body = exchange.body if isinstance(exchange.body, dict) else {}
        cdp.expect.that(exchange.status >= 400 and body.get("success") is False and isinstance(body.get("message"), str) and body["message"],
                        exchange, exchange.describe_response(), '4xx {"success": false, "message": "<what is wrong>"}')


@requirement("TTO-BAD-INPUT")
def test_unreadable_bodies_are_400(cdp: Target) -> None:
    key = cdp.creds["api_key"]
    json_type = {"Content-Type": "application/json"}
    for headers, data in ((json_type, '{"api_key": "%s", "event": ' % key), (json_type, '[{"api_key": "%s"}]' % key), (json_type, ""),
                          ({"Content-Type": "text/plain"}, '{"api_key": "%s", "user_id": "u", "event": "PageView"}' % key)):
        exchange = cdp.request("POST", "/v1/track", headers=headers, data=data)
        cdp.expect.status(exchange, 400, "400: the body is not a JSON object")


@requirement("TTO-PAYLOAD-LIMIT")
def test_body_over_32_kb_is_400_and_not_stored(cdp: Target) -> None:
    payload = broken(cdp, "track", "TTO-PAYLOAD-LIMIT")
    cdp.expect.rejected(send(cdp, "track", payload), "refused (any 4xx; the mock: 400): the body is over 32 KB")
    if cdp.is_mock:
        cdp.expect.that(not events_with(cdp, payload["msg_id"]), None, "the oversized event was stored", "nothing stored")


@requirement("TTO-TRACK-TRAITS-MERGE", via_control_api=True)
def test_track_traits_reach_the_profile(cdp: Target) -> None:
    needs_stored_state(cdp)
    user = cdp.unique("tto-user")
    send(cdp, "track", fresh(cdp, "track", user_id=user, anonymous_id=OMIT, traits={"email": "t@example.com", "gender": "m"}))
    profile = profile_of(cdp, user) or {}
    cdp.expect.that(profile.get("traits") == {"email": "t@example.com", "gender": "m"}, None, f"profile: {profile}",
                    "a track's traits are merged into the user's profile")
