"""Zebline (seed 004): ``POST /v1/accounts/{license_code}/users``, an upsert of one user profile.

State, per account (license code ``L``): ``accounts`` (L -> {access_token}), ``users:L`` (userId ->
profile), ``anonymous:L`` (anonymousId -> an anonymous profile, or {merged_into: userId} once merged),
``locks:L`` (custom attribute -> its locked type) and ``tracks:L`` (trackID -> what it did; the newest
``TRACKS_PER_ACCOUNT`` only, slotted in the ring ``tracks-ring:L``, see cdpkit/mockserver/bounded.py).
The two GET operations are MODELED (ZEB-MODELED-GET-USER, ZEB-MODELED-GET-TRACK): the document
shows no lookup, so they exist only so a client can see what an upsert stored.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import jsonschema_rs

from cdpkit.mockserver import bounded, type_lock
from cdpkit.mockserver.ids import uuid4_text
from cdpkit.mockserver.store import Scope
from cdpkit.mockserver.vendor import Call, InputErrors, Rejection, Reply, Vendor, seed_string
from cdpkit.schemas import bundle, load

DEMO_LICENSE, DEMO_TOKEN = "LICENSE_CODE", "ACCESS_TOKEN"  # the document's placeholders, accepted literally
OTHER_LICENSE, OTHER_TOKEN = "zebline-demo-license-b", "zebline-demo-token-b"


def _system_table() -> tuple[dict[str, str], dict[str, str], dict[str, Any]]:
    """Spelling -> column, column -> type and column -> default, read from user_request.json (ZEB-KEY-MAPPING)."""
    aliases, types, defaults = {}, {}, {}
    for spelling, prop in load("zebline", "user_request.json")["properties"].items():
        column = prop.get("x-system-attribute")
        if column is None:
            continue
        aliases[spelling], types[column] = column, prop["x-column-type"]
        if "default" in prop or "x-default" in prop:
            defaults[column] = prop.get("default", prop.get("x-default"))
    return aliases, types, defaults


ALIASES, COLUMN_TYPES, DEFAULTS = _system_table()
NOW_DEFAULT = "NOW()"
_NOW_COLUMNS = tuple(column for column, value in DEFAULTS.items() if value == NOW_DEFAULT)
_DEFAULTED = tuple(sorted(DEFAULTS))  # a fresh profile's "defaulted": every column with a default
# ZEB-MODELED-GET-TRACK (assumption): the trackIDs an account keeps; an older one answers 404 like an unknown one.
TRACKS_PER_ACCOUNT = 10_000


def render_error(rejection: Rejection, call: Call | None) -> Reply:
    """ZEB-ERROR-BODY (assumption): the success envelope with status "error", naming every problem."""
    errors = rejection.detail.get("violations") or [
        {"requirement": rid, "message": rejection.message} for rid in rejection.requirement_ids
    ]
    body = {"response": {"status": "error", "message": rejection.message, "errors": errors}}
    return Reply(rejection.status, body)


def _license_for(call: Call) -> str:
    """ZEB-AUTH-TOKEN / ZEB-STATUS-401 / ZEB-TENANT-ISOLATION: the token must be the license's own."""
    call.require_valid("headers", status=401)
    license_code = call.path_params["license_code"]
    token = call.headers["authorization"].strip()
    account = call.state.get("accounts", license_code)
    if account is None:
        raise Rejection(401, f"unknown license code {license_code!r}", ("ZEB-STATUS-401",))
    if token != account["access_token"]:
        if token.lower().startswith("bearer ") and token[7:].strip() == account["access_token"]:
            raise Rejection(401, "send the raw access token, without 'Bearer'", ("ZEB-AUTH-RAW-TOKEN", "ZEB-STATUS-401"))
        raise Rejection(401, "the access token does not belong to this license code", ("ZEB-STATUS-401",))
    return license_code


def _split_body(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The body's top-level keys as (columns, unmapped): spellings resolved to table columns.

    ZEB-KEY-MAPPING: two spellings of one column must agree. ZEB-TIMESTAMPTZ-FORMAT: the schema's
    pattern cannot tell 2024-02-30 from a real day, so that last check is made here.
    """
    columns: dict[str, Any] = {}
    unmapped: dict[str, Any] = {}
    problems = []
    for key, value in body.items():
        if key == "attributes":
            continue
        column = ALIASES.get(key)
        if column is None:
            unmapped[key] = value  # ZEB-UNMAPPED-KEYS
        elif column in columns and columns[column] != value:
            problems.append({"requirement": "ZEB-KEY-MAPPING", "location": f"body/{key}",
                             "message": f"{key!r} and another spelling of {column!r} carry different values"})
        else:
            columns[column] = value
            if COLUMN_TYPES[column] == "TIMESTAMPTZ" and isinstance(value, str) and not type_lock.is_real_date(value):
                problems.append({"requirement": "ZEB-TIMESTAMPTZ-FORMAT", "location": f"body/{key}",
                                 "message": f"{key} {value!r} names no calendar day"})
    if problems:
        raise Rejection(400, "; ".join(p["message"] for p in problems),
                        tuple(dict.fromkeys(p["requirement"] for p in problems)), {"violations": problems})
    return columns, unmapped


def _check_type_locks(state: Scope, license_code: str, attributes: dict[str, Any]) -> dict[str, Any]:
    """ZEB-TYPE-LOCK, ZEB-TYPE-LOCK-STATUS, ZEB-TYPE-LOCK-PER-ACCOUNT: refuse the whole request on a type change.

    A change between a plain string and an ISO datetime exists only through cdpkit's classification
    (ZEB-DATETIME-DETECTION; the document asks senders for ISO datetimes, a convention), so such a
    refusal names that assumption, never the documented ZEB-TYPE-LOCK.

    The lock is checked before anything is written, and a Rejection drops every pending write, so
    "the system will not add this user" holds for the profile, the other attributes and new locks alike.
    Returns the locks the account already holds on the sent attributes.
    """
    locks = {name: lock for name in attributes if (lock := state.get(f"locks:{license_code}", name)) is not None}
    found = type_lock.conflicts(locks, attributes)
    if found:
        problems = [
            {"requirement": type_lock.conflict_requirement(locked, sent), "location": f"body/attributes/{name}",
             "message": f"attribute {name!r} is locked as {locked} for this account; got {sent}"
                        + (" (a string is a datetime only in ISO-8601 date-time form: cdpkit's reading, ZEB-DATETIME-DETECTION)"
                           if type_lock.conflict_requirement(locked, sent) == "ZEB-DATETIME-DETECTION" else "")}
            for name, locked, sent in found
        ]
        ids = tuple(dict.fromkeys(p["requirement"] for p in problems))
        raise Rejection(400, "; ".join(p["message"] for p in problems) + "; the user was not added",
                        (*ids, "ZEB-TYPE-LOCK-STATUS"), {"violations": problems})
    return locks


def new_profile(user_id: str | None, now: str, anonymous_id: str | None = None) -> dict[str, Any]:
    """A fresh profile with the table's defaults (ZEB-SYSTEM-DEFAULTS: opt-ins true, points 0, date_identified NOW()).

    ``defaulted`` lists the columns that hold a table default nobody sent: a merge must not let
    such a value overwrite one the other profile was sent (a default is not a value anyone sent).
    """
    system = dict(DEFAULTS)  # the table's order; then NOW() resolved (issue 9: once per new profile)
    for column in _NOW_COLUMNS:
        system[column] = now
    return {"userId": user_id, "anonymousIds": [anonymous_id] if anonymous_id else [], "system_attributes": system,
            "defaulted": list(_DEFAULTED), "attributes": {}, "unmapped": {}, "created_at": now, "last_seen_at": now}


def apply_to_profile(profile: dict[str, Any], columns: dict[str, Any], attributes: dict[str, Any],
                     unmapped: dict[str, Any], now: str) -> dict[str, Any]:
    """ZEB-UPSERT-UPDATE, ZEB-CUSTOM-ATTR-STORED: only what was sent changes; new custom attributes just appear."""
    profile["system_attributes"].update(columns)
    profile["defaulted"] = [c for c in profile.get("defaulted", []) if c not in columns]
    profile["attributes"].update(attributes)
    profile["unmapped"].update(unmapped)
    profile["last_seen_at"] = now
    return profile


def merge_system_attributes(user: dict[str, Any], anonymous: dict[str, Any]) -> None:
    """ZEB-MERGE-PRECEDENCE for the table's columns: what the user was sent wins, then what the anonymous
    profile was sent, then the user's table defaults, then the anonymous profile's (ZEB-SYSTEM-DEFAULTS).
    A default is not a value anyone sent, so it never overwrites one (issue 8, section 5)."""
    mine, theirs = user["system_attributes"], anonymous["system_attributes"]
    my_defaults, their_defaults = set(user.get("defaulted", [])), set(anonymous.get("defaulted", []))
    sent_to_me = {k: v for k, v in mine.items() if k not in my_defaults}
    sent_to_them = {k: v for k, v in theirs.items() if k not in their_defaults}
    merged = {**{k: theirs[k] for k in their_defaults if k in theirs}, **{k: mine[k] for k in my_defaults if k in mine},
              **sent_to_them, **sent_to_me}
    user["system_attributes"] = merged
    user["defaulted"] = sorted(set(merged) - set(sent_to_me) - set(sent_to_them))


def merge_into_user(state: Scope, license_code: str, user: dict[str, Any], is_new: bool, anonymous_id: str) -> dict[str, Any]:
    """ZEB-MERGE, ZEB-MERGE-PRECEDENCE: fold the anonymous profile into the user; the user's values win.

    A brand-new user is the anonymous profile under a userId (its defaults must not overwrite what
    the anonymous profile already had). An id merged into another user is re-linked to this one.
    """
    entry = state.get(f"anonymous:{license_code}", anonymous_id)
    if entry is not None and "merged_into" in entry and entry["merged_into"] != user["userId"]:
        previous = state.get(f"users:{license_code}", entry["merged_into"])
        if previous is not None:
            previous["anonymousIds"] = [a for a in previous["anonymousIds"] if a != anonymous_id]
            state.put(f"users:{license_code}", previous["userId"], previous)
    elif entry is not None and "merged_into" not in entry:
        if is_new:
            user = {**entry, "userId": user["userId"], "anonymousIds": list(entry["anonymousIds"])}
        else:
            merge_system_attributes(user, entry)
            for part in ("attributes", "unmapped"):
                user[part] = {**entry[part], **user[part]}
    if anonymous_id not in user["anonymousIds"]:
        user["anonymousIds"].append(anonymous_id)
    return user


def _upsert(state: Scope, license_code: str, body: dict[str, Any], now: str, track_id: str) -> dict[str, Any]:
    """Apply one valid body (ZEB-UPSERT-CREATE, ZEB-UPSERT-UPDATE, ZEB-MERGE) unless a type lock refuses it."""
    attributes = body["attributes"]
    known = _check_type_locks(state, license_code, attributes)
    columns, unmapped = _split_body(body)
    user_id, anonymous_id = columns.pop("userid", None), columns.pop("anonymousid", None)
    users, anonymous = f"users:{license_code}", f"anonymous:{license_code}"
    if user_id is None:
        entry = state.get(anonymous, anonymous_id)
        if entry is not None and "merged_into" in entry:  # ZEB-MERGE-PRECEDENCE: the id now names the user
            user_id = entry["merged_into"]
    if user_id is not None:
        stored = state.get(users, user_id)
        profile = stored or new_profile(user_id, now)
        if anonymous_id is not None:
            profile = merge_into_user(state, license_code, profile, stored is None, anonymous_id)
            state.put(anonymous, anonymous_id, {"merged_into": user_id})
        state.put(users, user_id, apply_to_profile(profile, columns, attributes, unmapped, now))
    else:
        profile = state.get(anonymous, anonymous_id) or new_profile(None, now, anonymous_id)
        state.put(anonymous, anonymous_id, apply_to_profile(profile, columns, attributes, unmapped, now))
    for name, lock in type_lock.new_locks(known, attributes, now, track_id):
        state.put(f"locks:{license_code}", name, lock)
    track = {"trackID": track_id, "status": "processed", "received_at": now, "userId": user_id,
             "anonymousId": anonymous_id, "attributes": sorted(attributes)}
    state.put(f"tracks:{license_code}", track_id, track)
    _, evicted = bounded.push(state, f"tracks-ring:{license_code}", track_id, TRACKS_PER_ACCOUNT)
    if evicted is not None:  # ZEB-MODELED-GET-TRACK: the account's oldest trackID is forgotten
        state.delete(f"tracks:{license_code}", evicted["id"])
    return track


def upsert_user(call: Call) -> Reply:
    license_code = _license_for(call)
    # ZEB-ID-REQUIRED, ZEB-ID-STRING, ZEB-ATTRIBUTES-REQUIRED, ZEB-SYSTEM-TYPES; and the mock's choices, each named
    # in the refusal: ZEB-CUSTOM-TYPES-ONLY, ZEB-SYSTEM-TYPES-EXACT, ZEB-ID-NONEMPTY, ZEB-INT-RANGE, ZEB-TIMESTAMPTZ-FORMAT
    call.require_valid("body")
    track_id = uuid4_text()
    _upsert(call.state, license_code, call.body, type_lock.now_iso(call.now), track_id)
    return Reply(200, {"response": {"status": "queued", "trackID": track_id}})  # ZEB-RESP-QUEUED, ZEB-SUCCESS-STATUS


def modeled_get_user(call: Call) -> Reply:
    """ZEB-MODELED-GET-USER (not documented): the profile a userId or anonymousId names, 404 if none."""
    license_code = _license_for(call)
    call.require_valid("query")
    user_id, anonymous_id = call.query.get("userId"), call.query.get("anonymousId")
    profile = None
    if user_id is not None:
        profile = call.state.get(f"users:{license_code}", user_id)
        if profile is not None and anonymous_id is not None and anonymous_id not in profile["anonymousIds"]:
            profile = None
    else:
        entry = call.state.get(f"anonymous:{license_code}", anonymous_id)
        if entry is not None and "merged_into" in entry:
            entry = call.state.get(f"users:{license_code}", entry["merged_into"])
        profile = entry
    if profile is None:
        raise Rejection(404, "no profile matches in this account", ("ZEB-MODELED-GET-USER",))
    return Reply(200, {"response": {"status": "ok", "user": profile}})


def modeled_get_track(call: Call) -> Reply:
    """ZEB-MODELED-GET-TRACK (not documented): what an accepted request did; 404 for another account's id
    and for one older than the account's newest TRACKS_PER_ACCOUNT."""
    license_code = _license_for(call)
    track = call.state.get(f"tracks:{license_code}", call.path_params["track_id"])
    if track is None:
        raise Rejection(404, "this account returned no such trackID", ("ZEB-MODELED-GET-TRACK",))
    return Reply(200, {"response": track})


@functools.lru_cache(maxsize=1)
def _request_validator() -> Any:
    return jsonschema_rs.validator_for(bundle("zebline", "user_request.json"))


def _valid_seed_body(body: Any) -> dict[str, Any]:
    """A seeded profile is a request body and must pass the same schema a request does."""
    errors = [e.message for e in _request_validator().iter_errors(body)]
    if errors:
        raise ValueError(f"zebline: seeded user {body!r} is not a valid request body: {'; '.join(errors)}")
    return body


def load_seed(scope: Scope, section: dict[str, Any]) -> None:
    """``{accounts: {LICENSE: {access_token: T, users: [request bodies…]}}}``; users go through the upsert."""
    for license_code, account in (section.get("accounts") or {}).items():
        token = seed_string(account, "access_token", f"zebline: account {license_code!r} needs {{access_token: TOKEN}}")
        scope.put("accounts", license_code, {"access_token": token})
        for body in account.get("users") or []:
            body = _valid_seed_body(body)
            try:
                _upsert(scope, license_code, body, type_lock.now_iso(time.time()), uuid4_text())
            except Rejection as exc:  # ZEB-TYPE-LOCK, ZEB-KEY-MAPPING hold for seeded users too
                raise ValueError(f"zebline: seeded user {body!r}: {exc.message}") from None


def demo() -> dict[str, Any]:
    """The document's placeholder account and a second one; no profiles (the curl examples are writes)."""
    return {"accounts": {DEMO_LICENSE: {"access_token": DEMO_TOKEN}, OTHER_LICENSE: {"access_token": OTHER_TOKEN}}}


def credentials(scope: Scope) -> dict[str, Any]:
    accounts = dict(scope.items("accounts"))
    tenants = [{"license_code": lic, "access_token": a["access_token"]} for lic, a in accounts.items()]
    order = ([DEMO_LICENSE] if DEMO_LICENSE in accounts else []) + [lic for lic in accounts if lic != DEMO_LICENSE]
    check: dict[str, Any] = {}
    if order:
        check.update(license_code=order[0], access_token=accounts[order[0]]["access_token"])
    if len(order) > 1:
        check.update(other_license_code=order[1], other_access_token=accounts[order[1]]["access_token"])
    return {"tenants": tenants, "check": check}


def state_view(scope: Scope) -> dict[str, Any]:
    """Per license: profiles by userId and by anonymousId, type locks and trackIDs."""
    view: dict[str, Any] = {}
    for license_code, account in scope.items("accounts"):
        view[license_code] = {
            "access_token": account["access_token"],
            "profiles": {
                "by_user_id": dict(scope.items(f"users:{license_code}")),
                "by_anonymous_id": dict(scope.items(f"anonymous:{license_code}")),
            },
            "type_locks": dict(scope.items(f"locks:{license_code}")),
            "tracks": dict(scope.items(f"tracks:{license_code}")),
        }
    return {"accounts": view}


VENDOR = Vendor(
    name="zebline",
    title="Zebline users API",
    handlers={"upsert_user": upsert_user, "modeled_get_user": modeled_get_user, "modeled_get_track": modeled_get_track},
    render_error=render_error,
    input_errors=InputErrors(
        malformed_json=("ZEB-STATUS-400", 400),
        wrong_content_type=("ZEB-INPUT-LIMITS", 400),
        too_large=("ZEB-INPUT-LIMITS", 400),
        too_deep=("ZEB-INPUT-LIMITS", 400),
    ),
    demo=demo,
    load_seed=load_seed,
    credentials=credentials,
    state_view=state_view,
    documented_5xx=(500,),  # ZEB-STATUS-500: through the fault API only
    notes=[
        "GET /v1/accounts/{license_code}/users and GET /v1/accounts/{license_code}/tracks/{track_id} are MODELED, not documented",
    ],
)
