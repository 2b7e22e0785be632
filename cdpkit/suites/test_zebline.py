"""Zebline (seed 004): ``POST /v1/accounts/{license_code}/users``, a write-only user upsert.

The documented API answers only ``queued``: what it stored cannot be read back. So documented checks
observe what a black box shows (authentication, refusals, the queued envelope, and the type lock,
whose refusal proves an attribute and its type were remembered) and every look inside a profile
goes through the MODELED lookups (ZEB-MODELED-GET-USER, ZEB-MODELED-GET-TRACK). A check that reads
through them declares it (``relies_on``): its verdict is "documented, through cdpkit's model", and it
runs by default on a cdpkit mock, on another target only when the ``readback`` feature is enabled.

What the document leaves open stays out of the documented checks: whether a value of another JSON
type is coerced into a system column (ZEB-SYSTEM-TYPES-EXACT), what becomes of a custom value of none
of the four types (ZEB-CUSTOM-TYPES-ONLY), when a string is a datetime (ZEB-DATETIME-DETECTION).

Type locks hold for the whole account (a long-lived, shared target), so every check sends custom
attributes under fresh unique names and fresh unique ids; nothing is ever deleted. Request bodies
come from the generators, with the ids and attributes of the check as overrides.
"""

from __future__ import annotations

import uuid
from typing import Any, Mapping

import pytest

from cdpkit import generators
from cdpkit.generators import OMIT
from cdpkit.suites.checks import Exchange, near_misses
from cdpkit.suites.registry import requirement
from cdpkit.suites.target import CredKey, FuzzAuth, Target, VendorProfile

OP = "zebline.upsert_user"


def _fuzz_auth(creds: Mapping[str, str]) -> FuzzAuth:
    return FuzzAuth(headers={"authorization": creds["access_token"]}, path_parameters={"license_code": creds["license_code"]})


PROFILE = VendorProfile(
    vendor="zebline",
    keys=(
        CredKey("license_code", "the account's LICENSE_CODE (the path's /v1/accounts/${license_code})", required=True),
        CredKey("access_token", "that account's ACCESS_TOKEN (authorization: ${access_token}, raw)", required=True),
        CredKey("other_license_code", "the LICENSE_CODE of a second account (tenant isolation)"),
        CredKey("other_access_token", "the ACCESS_TOKEN of that second account"),
    ),
    fuzz_auth=_fuzz_auth,
)


def attr(cdp: Target, stem: str) -> str:
    """A custom attribute name no earlier run used, in the document's lowercase snake_case."""
    return cdp.unique(f"cdpkit_{stem}").replace("-", "_")


def body(user: str | None = None, anon: str | None = None, attributes: dict[str, Any] | None = None,
         seed: int | str = 0, **extra: Any) -> dict[str, Any]:
    """A generated valid body with the check's own ids and custom attributes (never generated ones)."""
    ids = {"userId": user or OMIT, "anonymousId": anon or OMIT}
    return generators.valid(OP, seed=seed, **{**ids, **extra}, attributes={} if attributes is None else attributes)


def post(cdp: Target, payload: Any, *, token: str | None = None, license_code: str | None = None,
         headers: Mapping[str, str] | None = None) -> Exchange:
    lic = license_code or cdp.creds["license_code"]
    sent = {"authorization": token or cdp.creds["access_token"]} if headers is None else dict(headers)
    return cdp.request("POST", f"/v1/accounts/{lic}/users", headers=sent, json=payload)


def accepted(cdp: Target, payload: Any, documented: str = "an accepted upsert (any 2xx, queued)", **kw: Any) -> Exchange:
    exchange = post(cdp, payload, **kw)
    cdp.expect.success(exchange, documented)
    return exchange


def refused(cdp: Target, payload: Any, documented: str = "a refusal (any 4xx)", **kw: Any) -> Exchange:
    exchange = post(cdp, payload, **kw)
    cdp.expect.rejected(exchange, documented)
    return exchange


def track_id(exchange: Exchange) -> Any:
    response = exchange.body.get("response") if isinstance(exchange.body, dict) else None
    return response.get("trackID") if isinstance(response, dict) else None


READ_USER = ("ZEB-MODELED-GET-USER",)  # relies_on of a check that reads a profile back (cdpkit's model)
READ_TRACK = ("ZEB-MODELED-GET-TRACK",)


def lookup(cdp: Target, *, license_code: str | None = None, token: str | None = None, **query: str) -> Exchange:
    """MODELED (ZEB-MODELED-GET-USER): the stored profile; a check using it declares relies_on=READ_USER."""
    return cdp.request("GET", f"/v1/accounts/{license_code or cdp.creds['license_code']}/users", params=query,
                       headers={"authorization": token or cdp.creds["access_token"]})


def profile(cdp: Target, **query: str) -> dict[str, Any]:
    exchange = lookup(cdp, **query)
    cdp.expect.status(exchange, 200, "200 with {response: {status: ok, user: profile}} (modeled lookup)")
    user = (exchange.body or {}).get("response", {}).get("user") if isinstance(exchange.body, dict) else None
    cdp.expect.that(isinstance(user, dict), exchange, exchange.describe_response(), "response.user: the profile")
    return user


def track(cdp: Target, tid: Any, *, license_code: str | None = None, token: str | None = None) -> Exchange:
    """MODELED (ZEB-MODELED-GET-TRACK): what a queued request did; a check using it declares relies_on=READ_TRACK."""
    return cdp.request("GET", f"/v1/accounts/{license_code or cdp.creds['license_code']}/tracks/{tid}",
                       headers={"authorization": token or cdp.creds["access_token"]})


def other_account_works(cdp: Target, other_license: str, other_token: str, user: str | None = None) -> Exchange:
    """The positive control of an isolation check: the other credentials work on their own account first.

    Without it a 401 or a 404 under the other credentials proves nothing (they may simply be wrong), so
    the check is skipped, saying so, instead of passing."""
    exchange = post(cdp, body(user=user or cdp.unique("zeb-user"), seed=39), license_code=other_license, token=other_token)
    if not 200 <= exchange.status < 300:
        pytest.skip(f"proved nothing: the other account's credentials do not work on their own license "
                    f"(answered {exchange.status}); give a working other_license_code/other_access_token pair")
    return exchange


# Route and authentication ------------------------------------------------------------------------
@requirement("ZEB-ENDPOINT")
def test_users_endpoint_accepts_a_user(cdp: Target) -> None:
    accepted(cdp, body(user=cdp.unique("zeb-user"), seed=1), "POST /v1/accounts/{LICENSE_CODE}/users accepts a user")


@requirement("ZEB-AUTH-TOKEN")
def test_missing_or_empty_token_is_401(cdp: Target) -> None:
    payload = body(user=cdp.unique("zeb-user"), seed=2)
    cdp.expect.status(post(cdp, payload, headers={}), 401, "401: no access token in the authorization header")
    cdp.expect.status(post(cdp, payload, headers={"authorization": ""}), 401, "401: an empty access token")


@requirement("ZEB-STATUS-401")
def test_wrong_token_or_license_is_401(cdp: Target) -> None:
    payload = body(user=cdp.unique("zeb-user"), seed=3)
    cdp.expect.status(post(cdp, payload, token=cdp.unique("not-a-token")), 401, "401 Unauthorized for a wrong access token")
    for near in near_misses(cdp.creds["access_token"]):
        cdp.expect.status(post(cdp, payload, token=near), 401, f"401 Unauthorized for a token one character off ({len(near)} characters)")
    cdp.expect.status(post(cdp, payload, license_code=cdp.unique("no-such-license")), 401,
                      "401 Unauthorized for a wrong license code")


@requirement("ZEB-STATUS-401")
def test_other_accounts_token_is_401_on_this_license(cdp: Target) -> None:
    other_license, other_token = cdp.require("other_license_code", "other_access_token")
    other_account_works(cdp, other_license, other_token)  # positive control: the pair is valid on its own account
    payload = body(user=cdp.unique("zeb-user"), seed=4)
    cdp.expect.status(post(cdp, payload, token=other_token), 401,
                      "401: a valid token of another account is a wrong credential for this license code")
    cdp.expect.status(post(cdp, payload, license_code=other_license), 401,
                      "401: this account's token on another account's license code")


# The queued answer -------------------------------------------------------------------------------
@requirement("ZEB-RESP-QUEUED")
def test_accepted_request_is_queued_with_a_track_id(cdp: Target) -> None:
    first = accepted(cdp, body(user=cdp.unique("zeb-user"), seed=5))
    cdp.expect.conforms(first, "queued_response.json", '{"response": {"status": "queued", "trackID": "…"}}')
    second = accepted(cdp, body(anon=cdp.unique("zeb-anon"), seed=6))
    cdp.expect.conforms(second, "queued_response.json", '{"response": {"status": "queued", "trackID": "…"}}')
    cdp.expect.that(track_id(first) != track_id(second), second, f"{track_id(first)} twice", "each request its own trackID")


@requirement("ZEB-TRACKID-UUID")
def test_track_id_is_a_uuid(cdp: Target) -> None:
    exchange = accepted(cdp, body(user=cdp.unique("zeb-user"), seed=50))
    cdp.expect.conforms(exchange, "queued_response.json", '{"response": {"status": "queued", "trackID": "<UUID>"}}')


# Upsert and merge --------------------------------------------------------------------------------
@requirement("ZEB-UPSERT-CREATE")
def test_new_user_id_or_anonymous_id_is_accepted(cdp: Target) -> None:
    accepted(cdp, body(user=cdp.unique("zeb-user"), seed=7), "a userId not in the database creates a record (2xx)")
    accepted(cdp, body(anon=cdp.unique("zeb-anon"), seed=8), "an anonymousId not in the database creates a record (2xx)")


@requirement("ZEB-UPSERT-UPDATE")
def test_existing_user_id_is_updated_not_refused(cdp: Target) -> None:
    user, name = cdp.unique("zeb-user"), attr(cdp, "tier")
    accepted(cdp, body(user=user, attributes={name: "gold"}, seed=9))
    accepted(cdp, body(user=user, attributes={name: "silver"}, seed=10),
             "a request for an existing userId updates it (2xx; FAQ 7: send the same userId to correct a value)")
    anon = cdp.unique("zeb-anon")
    accepted(cdp, body(anon=anon, seed=11))
    accepted(cdp, body(anon=anon, seed=12), "a request for an existing anonymousId updates it (2xx)")


@requirement("ZEB-MERGE")
def test_user_id_with_anonymous_id_merges(cdp: Target) -> None:
    user, anon = cdp.unique("zeb-user"), cdp.unique("zeb-anon")
    accepted(cdp, body(anon=anon, attributes={attr(cdp, "source"): "ads"}, seed=13))
    merged = accepted(cdp, body(user=user, anon=anon, seed=14), "both userId and anonymousId: the anonymous profile merges (2xx)")
    cdp.expect.conforms(merged, "queued_response.json", 'a merge is answered like any accepted request: {"response": {"status": "queued", "trackID": "…"}}')
    # what the anonymous profile was sent is the merged user's, its types included (ZEB-TYPE-LOCK): seen without read-back
    count = attr(cdp, "count")
    for existing in (False, True):  # a user first named by the merge, and one who had a profile already
        user, anon = cdp.unique("zeb-user"), cdp.unique("zeb-anon")
        if existing:
            accepted(cdp, body(user=user, attributes={attr(cdp, "plan"): "basic"}, seed=12))
        accepted(cdp, body(anon=anon, attributes={count: 5}, seed=13))
        accepted(cdp, body(user=user, anon=anon, seed=14), "the merge is accepted")
        refused(cdp, body(user=user, attributes={count: "five"}, seed=28),
                f"a refusal (4xx): the merged user carries the anonymous profile's {count}, a number, so a string changes its type")


@requirement("ZEB-UPSERT-UPDATE", relies_on=READ_USER)
def test_update_changes_only_what_was_sent(cdp: Target) -> None:
    """"فقط پارامترهای جدید بهروزرسانی خواهند شد" (only the new parameters are updated), read back through the model."""
    user, kept, changed = cdp.unique("zeb-user"), attr(cdp, "kept"), attr(cdp, "changed")
    accepted(cdp, body(user=user, attributes={kept: "a", changed: 1}, seed=69, city="Tehran"))
    accepted(cdp, body(user=user, attributes={changed: 2}, seed=70, city=OMIT))
    stored = profile(cdp, userId=user)
    got = (stored.get("attributes"), stored.get("system_attributes", {}).get("city"))
    cdp.expect.that(got == ({kept: "a", changed: 2}, "Tehran"), None, repr(got),
                    f"attributes {{{kept}: 'a', {changed}: 2}} and city 'Tehran': what the second request did not send is kept")


@requirement("ZEB-MERGE", relies_on=READ_USER)
def test_merged_user_carries_the_anonymous_profile(cdp: Target) -> None:
    """The anonymous profile is merged into the user's: a user first named by the merge request (so no
    precedence question arises) carries what the anonymous profile was sent."""
    user, anon, source = cdp.unique("zeb-user"), cdp.unique("zeb-anon"), attr(cdp, "source")
    accepted(cdp, body(anon=anon, attributes={source: "ads"}, seed=13, device_type="tablet"))
    accepted(cdp, body(user=user, anon=anon, seed=14, device_type=OMIT))
    merged = profile(cdp, userId=user)
    got = (merged.get("attributes", {}).get(source), merged.get("system_attributes", {}).get("device_type"))
    cdp.expect.that(got == ("ads", "tablet"), None, repr(merged),
                    f"the merged user carries the anonymous profile's {source}='ads' and device_type 'tablet'")


# Required keys -----------------------------------------------------------------------------------
@requirement("ZEB-ID-REQUIRED")
def test_body_without_user_id_or_anonymous_id_is_refused(cdp: Target) -> None:
    for seed in (15, 16):
        refused(cdp, generators.invalid(OP, "ZEB-ID-REQUIRED", seed=seed, attributes={}),
                "a refusal (4xx): userId or anonymousId is required in every request")


@requirement("ZEB-ATTRIBUTES-REQUIRED")
def test_attributes_key_is_required_even_empty(cdp: Target) -> None:
    user = cdp.unique("zeb-user")
    refused(cdp, body(user=user, seed=17, attributes=OMIT), "a refusal (4xx): every request must send attributes")
    refused(cdp, body(user=user, seed=18, attributes="none"), "a refusal (4xx): attributes is an object")
    accepted(cdp, body(user=user, seed=19, attributes={}), "attributes: {} is accepted (FAQ 9)")


@requirement("ZEB-ID-STRING")
def test_identifier_that_is_not_a_string_is_refused(cdp: Target) -> None:
    refused(cdp, body(seed=20, userId=40_017), "a refusal (4xx): userId must be a string")
    refused(cdp, body(anon=cdp.unique("zeb-anon"), seed=21, userId=["TX61"]), "a refusal (4xx): userId must be a string")
    refused(cdp, body(seed=21, anonymousId=True), "a refusal (4xx): anonymousId must be a string")


@requirement("ZEB-STATUS-400")
def test_malformed_request_is_400(cdp: Target) -> None:
    lic, headers = cdp.creds["license_code"], {"authorization": cdp.creds["access_token"], "Content-Type": "application/json"}
    exchange = cdp.request("POST", f"/v1/accounts/{lic}/users", headers=headers, data='{"userId": "TX61", "attributes": {')
    cdp.expect.status(exchange, 400, "400 Bad Request: the body is not valid JSON")
    cdp.expect.status(post(cdp, [body(user=cdp.unique("zeb-user"), seed=22)]), 400,
                      "400 Bad Request: a body of the wrong structure (an array, not the user object)")


# Custom attributes and their types ---------------------------------------------------------------
@requirement("ZEB-CUSTOM-ATTR-STORED")
def test_new_custom_attribute_is_stored_without_declaration(cdp: Target) -> None:
    user, name = cdp.unique("zeb-user"), attr(cdp, "favorite")
    accepted(cdp, body(user=user, attributes={name: "blue"}, seed=23), "a new custom attribute is accepted without declaration")
    refused(cdp, body(user=user, attributes={name: 7}, seed=24),
            "a refusal (4xx): the attribute was stored as a string, so a number is a type change")


@requirement("ZEB-CUSTOM-TYPES")
def test_the_four_types_are_accepted(cdp: Target) -> None:
    user = cdp.unique("zeb-user")
    four = {attr(cdp, "count"): 5, attr(cdp, "level"): "gold", attr(cdp, "verified"): True, attr(cdp, "login"): "2024-02-10T12:30:00Z"}
    accepted(cdp, body(user=user, attributes=four, seed=25), "numbers, strings, booleans and ISO datetimes (2xx)")
    for value in (4.5, "blue", False, "2024-02-10T12:30:00+03:30"):
        accepted(cdp, body(user=user, attributes={attr(cdp, "one"): value}, seed=26), f"{value!r} alone, a new attribute (2xx)")


@requirement("ZEB-TYPE-LOCK")
def test_custom_attribute_keeps_its_first_type(cdp: Target) -> None:
    user = cdp.unique("zeb-user")
    for first, then in ((30, "thirty"), ("gold", 3), (True, "yes"), ("basic", False), (5, True), (False, 7)):
        name = attr(cdp, "locked")
        accepted(cdp, body(user=user, attributes={name: first}, seed=27))
        refused(cdp, body(user=user, attributes={name: then}, seed=28),
                f"a refusal (4xx): {name} was sent as {type(first).__name__}; {then!r} changes its type")
        accepted(cdp, body(user=user, attributes={name: first}, seed=29), "the same type again is accepted")
    # an update that does not send the attribute leaves its type locked ("فقط پارامترهای جدید بهروزرسانی خواهند شد")
    name = attr(cdp, "locked")
    accepted(cdp, body(user=user, attributes={name: 30}, seed=27))
    accepted(cdp, body(user=user, attributes={attr(cdp, "other"): "x"}, seed=29), "an update of another attribute is accepted")
    refused(cdp, body(user=user, attributes={name: "thirty"}, seed=28),
            f"a refusal (4xx): {name} keeps the number type it was sent with, through an update that did not send it")


@requirement("ZEB-TYPE-LOCK", relies_on=READ_USER)
def test_type_lock_refusal_adds_nothing_of_the_user(cdp: Target) -> None:
    """The document: the request is wrong "و سیستم این کاربر را اضافه نخواهد کرد" (and the system will not
    add this user). Only that is checked, for the user who set the lock (whether the lock holds for other
    users is ZEB-TYPE-LOCK-PER-ACCOUNT, what else a refused request may leave ZEB-TYPE-LOCK-STATUS): the
    attribute keeps its type and value, and the anonymous id the refused request named is not added."""
    user, anon, name = cdp.unique("zeb-user"), cdp.unique("zeb-anon"), attr(cdp, "age")
    accepted(cdp, body(user=user, attributes={name: 30}, seed=33))
    before = profile(cdp, userId=user)  # positive control: the modeled lookup shows what was accepted
    cdp.expect.that(before.get("attributes", {}).get(name) == 30, None, repr(before), f"attributes.{name} == 30 after the accepted request")
    refused(cdp, body(user=user, anon=anon, attributes={name: "thirty"}, seed=34), "a refusal (4xx): age was sent as a number")
    after = profile(cdp, userId=user)
    cdp.expect.that(after.get("attributes", {}).get(name) == 30, None, repr(after),
                    f"attributes.{name} still 30: a refused request does not change the attribute's type or value")
    cdp.expect.status(lookup(cdp, anonymousId=anon), 404, "404: the system did not add the refused request's anonymous id")


# System attributes -------------------------------------------------------------------------------
@requirement("ZEB-SYSTEM-TYPES")
def test_system_attributes_take_the_tables_types(cdp: Target) -> None:
    user = cdp.unique("zeb-user")
    full = {"firstname": "Ali", "children": 2, "opt_in_sms": False, "birth_date": "1990-05-12T00:00:00Z", "city": "Tehran"}
    accepted(cdp, body(user=user, seed=30, **full), "the table's types (STRING, INT, BOOL, TIMESTAMPTZ) are accepted")
    for column, value in (("children", "two"), ("opt_in_email", "maybe"), ("points", [1]), ("birth_date", True)):
        refused(cdp, body(user=user, seed=31, **{column: value}),
                f"a refusal (4xx): {column}={value!r} is an invalid value, which no reading makes the table's type")


@requirement("ZEB-SYSTEM-DEFAULTS", relies_on=READ_USER)
def test_new_profile_gets_the_tables_defaults(cdp: Target) -> None:
    user = cdp.unique("zeb-user")
    accepted(cdp, generators.valid(OP, seed=32, userId=user, anonymousId=OMIT, attributes={}, opt_in_sms=OMIT,
                                   opt_in_email=OMIT, points=OMIT, date_identified=OMIT))
    system = profile(cdp, userId=user).get("system_attributes", {})
    expected = {"opt_in_sms": True, "opt_in_email": True, "points": 0}
    got = {k: system.get(k) for k in expected}
    cdp.expect.that(got == expected and bool(system.get("date_identified")), None, f"{got}, date_identified={system.get('date_identified')!r}",
                    "opt_in_sms true, opt_in_email true, points 0, date_identified NOW()")



# Assumptions (run only with --strict) ------------------------------------------------------------
@requirement("ZEB-AUTH-RAW-TOKEN")
def test_raw_token_without_scheme_is_accepted(cdp: Target) -> None:
    accepted(cdp, body(user=cdp.unique("zeb-user"), seed=40), "authorization: ACCESS_TOKEN (raw, no 'Bearer') is accepted")


@requirement("ZEB-SUCCESS-STATUS")
def test_success_is_200(cdp: Target) -> None:
    cdp.expect.status(post(cdp, body(user=cdp.unique("zeb-user"), seed=41)), 200, "200 with the queued body")


@requirement("ZEB-ERROR-BODY")
def test_errors_mirror_the_envelope(cdp: Target) -> None:
    for exchange in (post(cdp, body(user=cdp.unique("zeb-user"), seed=42), token=cdp.unique("not-a-token")),
                     post(cdp, body(user=cdp.unique("zeb-user"), seed=43, attributes=OMIT))):
        cdp.expect.rejected(exchange)
        cdp.expect.conforms(exchange, "error.json", '{"response": {"status": "error", "message", "errors": [...]}}')


@requirement("ZEB-TYPE-LOCK-STATUS", relies_on=READ_USER)
def test_type_change_is_400_and_changes_nothing(cdp: Target) -> None:
    user, locked, other = cdp.unique("zeb-user"), attr(cdp, "age"), attr(cdp, "other")
    accepted(cdp, body(user=user, attributes={locked: 30}, seed=44, firstname="Ali"))
    change = post(cdp, body(user=user, attributes={locked: "thirty", other: "x"}, seed=45, firstname="Reza"))
    cdp.expect.status(change, 400, "400: a custom attribute sent with another type")
    stored = profile(cdp, userId=user)
    unchanged = stored.get("attributes") == {locked: 30} and stored.get("system_attributes", {}).get("firstname") == "Ali"
    cdp.expect.that(unchanged, None, repr(stored), f"the refused request changed nothing: attributes {{{locked}: 30}}, firstname Ali")
    newcomer = cdp.unique("zeb-user")
    cdp.expect.status(post(cdp, body(user=newcomer, attributes={locked: "thirty"}, seed=46)), 400, "400 for a new user too")
    cdp.expect.status(lookup(cdp, userId=newcomer), 404, "the user was not added (404 from the modeled lookup)")
    accepted(cdp, body(user=user, attributes={other: 5}, seed=46), f"the refused request set no lock: {other} takes a number (2xx)")


@requirement("ZEB-TYPE-LOCK-STATUS")
def test_a_refused_type_change_sets_no_lock(cdp: Target) -> None:
    """The part of "changes nothing" the documented call alone shows (no read-back): a new attribute that rode
    along a refused type change is not locked by it (an independent server with this defect locked it)."""
    user, locked, rider = cdp.unique("zeb-user"), attr(cdp, "age"), attr(cdp, "rider")
    accepted(cdp, body(user=user, attributes={locked: 30}, seed=71))
    refused(cdp, body(user=user, attributes={locked: "thirty", rider: "gold"}, seed=72), "a refusal (4xx): a type change")
    accepted(cdp, body(user=user, attributes={rider: 1}, seed=73),
             f"the refused request set no lock: {rider}, first sent there as text, now takes a number (2xx)")


@requirement("ZEB-TYPE-LOCK-PER-ACCOUNT")
def test_type_lock_holds_across_users_of_the_account(cdp: Target) -> None:
    name = attr(cdp, "score")
    accepted(cdp, body(user=cdp.unique("zeb-user"), attributes={name: 10}, seed=47))
    refused(cdp, body(user=cdp.unique("zeb-user"), attributes={name: "ten"}, seed=48),
            "a refusal (4xx): the lock set by one user holds for every user of the account")
    refused(cdp, body(anon=cdp.unique("zeb-anon"), attributes={name: False}, seed=49), "a refusal (4xx) for anonymous profiles too")


@requirement("ZEB-TENANT-ISOLATION", relies_on=READ_USER + READ_TRACK)
def test_accounts_share_no_profiles_locks_or_track_ids(cdp: Target) -> None:
    other_license, other_token = cdp.require("other_license_code", "other_access_token")
    theirs = {"license_code": other_license, "token": other_token}
    # positive control: the other credentials write and read their own account's profile and trackID
    their_user = cdp.unique("zeb-user")
    their_tid = track_id(other_account_works(cdp, other_license, other_token, their_user))
    for exchange in (lookup(cdp, userId=their_user, **theirs), track(cdp, their_tid, **theirs)):
        if exchange.status != 200:
            pytest.skip(f"proved nothing: the other account cannot read its own data back ({exchange.method} answered "
                        f"{exchange.status}); give a working other_license_code/other_access_token pair")
    user, name = cdp.unique("zeb-user"), attr(cdp, "plan")
    tid = track_id(accepted(cdp, body(user=user, attributes={name: 1}, seed=50)))
    accepted(cdp, body(user=cdp.unique("zeb-user"), attributes={name: "pro"}, seed=51), documented="another account has its own type locks (2xx)",
             **theirs)
    for exchange in (lookup(cdp, userId=user, **theirs), track(cdp, tid, **theirs)):
        cdp.expect.status(exchange, 404, "404: another account sees none of this account's profiles or trackIDs")
    cdp.expect.status(lookup(cdp, userId=their_user), 404, "404: nor does this account see the other's")


@requirement("ZEB-TENANT-ISOLATION")
def test_another_account_does_not_inherit_this_accounts_type_locks(cdp: Target) -> None:
    """Seen through the documented API alone: the same userId and attribute name in another account, with
    another type, is that account's own first use (a shared store would refuse it as a type change)."""
    other_license, other_token = cdp.require("other_license_code", "other_access_token")
    other_account_works(cdp, other_license, other_token)  # positive control
    user, name = cdp.unique("zeb-user"), attr(cdp, "plan")
    accepted(cdp, body(user=user, attributes={name: 1}, seed=52))
    accepted(cdp, body(user=user, attributes={name: "pro"}, seed=52), license_code=other_license, token=other_token,
             documented="2xx: the other account's user of the same id is its own, and so is its first type of the attribute")


@requirement("ZEB-DATETIME-DETECTION")
def test_iso_datetime_locks_as_datetime_and_dates_stay_strings(cdp: Target) -> None:
    user, when, day = cdp.unique("zeb-user"), attr(cdp, "seen_at"), attr(cdp, "code")
    accepted(cdp, body(user=user, attributes={when: "2024-02-10T12:30:00Z", day: "2024-02-10"}, seed=52))
    refused(cdp, body(user=user, attributes={when: "last tuesday"}, seed=53), "a refusal (4xx): a datetime attribute sent a plain string")
    accepted(cdp, body(user=user, attributes={day: "A-17"}, seed=54), "a date-only string locked as a string takes strings (2xx)")


@requirement("ZEB-NUMBER-KINDS")
def test_integers_and_decimals_are_one_type_booleans_another(cdp: Target) -> None:
    user, amount, flag = cdp.unique("zeb-user"), attr(cdp, "amount"), attr(cdp, "flag")
    accepted(cdp, body(user=user, attributes={amount: 5, flag: 1}, seed=55))
    accepted(cdp, body(user=user, attributes={amount: 4.5}, seed=56), "5 then 4.5: both numeric (2xx)")
    refused(cdp, body(user=user, attributes={flag: True}, seed=57), "a refusal (4xx): 1 is a number, true a boolean")
    refused(cdp, body(user=user, attributes={amount: "30"}, seed=58), "a refusal (4xx): \"30\" is a string")


@requirement("ZEB-KEY-MAPPING", relies_on=READ_USER)
def test_table_spellings_name_the_same_column(cdp: Target) -> None:
    user = cdp.unique("zeb-user")
    exchange = post(cdp, body(user=user, seed=59, userid=user + "-other"))
    cdp.expect.status(exchange, 400, "400: userId and userid (one column) with different values")
    accepted(cdp, body(seed=60, userid=user), "the table's spelling userid identifies the user (2xx)")
    cdp.expect.that(profile(cdp, userId=user).get("userId") == user, None, "another profile", f"userid {user!r} is userId {user!r}")


@requirement("ZEB-UNMAPPED-KEYS", relies_on=READ_USER)
def test_unknown_top_level_keys_are_kept_untyped(cdp: Target) -> None:
    user, key = cdp.unique("zeb-user"), attr(cdp, "loose")
    accepted(cdp, body(user=user, seed=60, **{key: 5}), "an unknown top-level key is accepted (2xx)")
    accepted(cdp, body(user=user, seed=61, **{key: "five"}), "it is never type-locked (2xx)")
    unmapped = profile(cdp, userId=user).get("unmapped", {})
    cdp.expect.that(unmapped.get(key) == "five", None, repr(unmapped), f"unmapped[{key!r}] == 'five'")


@requirement("ZEB-SYSTEM-TYPES-EXACT")
def test_system_attributes_take_exactly_their_json_type(cdp: Target) -> None:
    user = cdp.unique("zeb-user")
    for column, value in (("firstname", 42), ("city", None), ("children", "2"), ("points", 1.5), ("opt_in_email", "yes"),
                          ("birth_date", 642470400)):
        cdp.expect.status(post(cdp, body(user=user, seed=35, **{column: value})), 400, f"400: {column}={value!r} is not coerced")


@requirement("ZEB-CUSTOM-TYPES-ONLY")
def test_custom_values_of_none_of_the_four_types_are_refused(cdp: Target) -> None:
    user = cdp.unique("zeb-user")
    for value in (None, [1, 2], {"level": "gold"}):
        cdp.expect.status(post(cdp, body(user=user, attributes={attr(cdp, "odd"): value}, seed=36)), 400,
                          f"400: {value!r} is none of the four custom types")


@requirement("ZEB-ID-NONEMPTY")
def test_empty_or_overlong_identifier_is_refused(cdp: Target) -> None:
    for value in ("", "   ", "u" * 256):
        refused(cdp, body(seed=62, userId=value), f"a refusal (4xx): userId {value[:8]!r}… is not a valid identifier")


@requirement("ZEB-INT-RANGE")
def test_int_columns_are_32_bit(cdp: Target) -> None:
    user = cdp.unique("zeb-user")
    cdp.expect.status(post(cdp, body(user=user, seed=63, points=2**31)), 400, "400: points beyond INT4")
    accepted(cdp, body(user=user, seed=64, points=2**31 - 1), "INT4's largest value (2xx)")


@requirement("ZEB-TIMESTAMPTZ-FORMAT")
def test_timestamptz_columns_take_iso_dates(cdp: Target) -> None:
    user = cdp.unique("zeb-user")
    accepted(cdp, body(user=user, seed=65, birth_date="1990-05-12"), "an ISO date (2xx)")
    for value in ("12/05/1990", "2024-02-30"):
        cdp.expect.status(post(cdp, body(user=user, seed=66, birth_date=value)), 400, f"400: birth_date {value!r}")


@requirement("ZEB-MERGE-PRECEDENCE", relies_on=READ_USER)
def test_merged_user_carries_the_anonymous_profiles_attributes(cdp: Target) -> None:
    user, anon, source = cdp.unique("zeb-user"), cdp.unique("zeb-anon"), attr(cdp, "source")
    accepted(cdp, body(anon=anon, attributes={source: "ads"}, seed=67))
    accepted(cdp, body(user=user, anon=anon, seed=68))
    merged = profile(cdp, userId=user)
    ok = merged.get("attributes", {}).get(source) == "ads" and anon in merged.get("anonymousIds", [])
    cdp.expect.that(ok, None, repr(merged), f"the user carries {source}='ads' and lists {anon!r}")
    cdp.expect.that(profile(cdp, anonymousId=anon).get("userId") == user, None, "another profile", f"{anon!r} now names {user!r}")
    # a table default is not a value anyone sent: it never overwrites what the anonymous profile was sent (issue 8)
    user, anon = cdp.unique("zeb-user"), cdp.unique("zeb-anon")
    accepted(cdp, body(user=user, seed=67, opt_in_sms=OMIT, points=OMIT))
    accepted(cdp, body(anon=anon, seed=68, opt_in_sms=False, points=50))
    accepted(cdp, body(user=user, anon=anon, seed=68, opt_in_sms=OMIT, points=OMIT))
    system = profile(cdp, userId=user).get("system_attributes", {})
    got = {k: system.get(k) for k in ("opt_in_sms", "points")}
    cdp.expect.that(got == {"opt_in_sms": False, "points": 50}, None, repr(got),
                    "opt_in_sms false, points 50: the anonymous profile's sent values, not the user's table defaults")


@requirement("ZEB-INPUT-LIMITS")
def test_body_not_sent_as_json_is_refused(cdp: Target) -> None:
    headers = {"authorization": cdp.creds["access_token"], "Content-Type": "text/plain"}
    exchange = cdp.request("POST", f"/v1/accounts/{cdp.creds['license_code']}/users", headers=headers,
                           data='{"userId": "TX61", "attributes": {}}')
    cdp.expect.rejected(exchange, "a refusal (4xx): the body is not sent as application/json")


@requirement("ZEB-MODELED-GET-USER")
def test_modeled_lookup_shows_the_created_profile(cdp: Target) -> None:
    user, anon, name = cdp.unique("zeb-user"), cdp.unique("zeb-anon"), attr(cdp, "kept")
    accepted(cdp, body(user=user, attributes={name: "a"}, seed=71, city="Tehran"))
    exchange = lookup(cdp, userId=user)
    cdp.expect.conforms(exchange, "modeled_user_response.json")
    stored = exchange.body["response"]["user"]
    ok = stored["attributes"] == {name: "a"} and stored["system_attributes"].get("city") == "Tehran"
    cdp.expect.that(ok, exchange, exchange.describe_response(), f"the profile as sent: attributes {{{name}: 'a'}}, city Tehran")
    accepted(cdp, body(anon=anon, seed=72))
    cdp.expect.conforms(lookup(cdp, anonymousId=anon), "modeled_user_response.json")
    cdp.expect.status(lookup(cdp, userId=cdp.unique("zeb-nobody")), 404, "404 for a userId never sent")


@requirement("ZEB-MODELED-GET-TRACK")
def test_modeled_track_lookup(cdp: Target) -> None:
    user = cdp.unique("zeb-user")
    tid = track_id(accepted(cdp, body(user=user, seed=71)))
    path = f"/v1/accounts/{cdp.creds['license_code']}/tracks"
    exchange = cdp.request("GET", f"{path}/{tid}", headers={"authorization": cdp.creds["access_token"]})
    cdp.expect.conforms(exchange, "modeled_track_response.json")
    cdp.expect.that(exchange.body["response"].get("userId") == user, exchange, exchange.describe_response(), f"userId {user!r}")
    unknown = cdp.request("GET", f"{path}/{uuid.uuid4()}", headers={"authorization": cdp.creds["access_token"]})
    cdp.expect.status(unknown, 404, "404 for a trackID this account never returned")
