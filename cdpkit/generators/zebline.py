"""Zebline (seed 004): bodies of ``POST /v1/accounts/{license_code}/users``, the user upsert.

A valid body names a known user (``userId``), an anonymous visitor (``anonymousId``) or both (the
document's merge), carries some system attributes at the top level and always an ``attributes``
object (ZEB-ATTRIBUTES-REQUIRED, even ``{}``). It follows the document's conventions, not just the
schema (ZEB-NAMING-CONVENTION, ZEB-DATETIME-ISO): every key is lowercase snake_case except the
reserved ``userId``/``anonymousId``, system attributes use the table's own spelling (``firstname``,
``maritial_status`` sic), custom attributes use the four documented types and datetimes are ISO-8601.

Custom attribute names come from a fixed vocabulary in which each name always has the same type:
the type lock is per account (ZEB-TYPE-LOCK-PER-ACCOUNT), so generated traffic sent to one account
must never change an attribute's type by accident. Tests that need a fresh lock pass their own
``attributes`` override with a unique name.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping

from cdpkit.generators.draw import Draw
from cdpkit.generators.registry import Operation, Payload

MARKETS = ("fa_IR", "en_US")  # the document is Persian; Zebline's examples use Tehran and 0912 numbers

INT4_MAX = 2_147_483_647
BORN_FROM, BORN_UNTIL = -1_262_304_000, 1_167_609_600  # 1930-01-01 .. 2007-01-01: adults in the fixed window


def _user_code(d: Draw) -> str:
    return d.choice(("TX", "CU", "ZB", "M")) + str(d.integer(10, 9_999_999))


def _user_slug(d: Draw) -> str:
    return f"user_{d.integer(1, 99_999_999)}"


def _mobile_id(d: Draw) -> str:
    return _mobile(d)


USER_ID_STYLES: tuple[Callable[[Draw], str], ...] = (_user_code, _user_slug, Draw.uuid4, Draw.email_id, _mobile_id)


def _anon_slug(d: Draw) -> str:
    return f"anon_{d.integer(1, 99_999_999)}"


def _visitor(d: Draw) -> str:
    return d.alnum(20)


ANONYMOUS_ID_STYLES: tuple[Callable[[Draw], str], ...] = (_anon_slug, Draw.uuid4, _visitor)


def user_id(d: Draw) -> str:
    return d.choice(USER_ID_STYLES)(d)


def anonymous_id(d: Draw) -> str:
    return d.choice(ANONYMOUS_ID_STYLES)(d)


def _mobile(d: Draw) -> str:
    """A mobile number as the market writes it: 09xxxxxxxxx in Iran (the document's 09123456789)."""
    if d.locale == "fa_IR":
        return "09" + d.choice(("12", "13", "19", "21", "35", "36", "01", "02", "90")) + d.digits(7)
    return d.phone_digits()


COUNTRY = {"fa_IR": "ایران", "en_US": "United States"}
GENDERS = ("female", "male")
MARITAL = ("single", "married", "divorced", "widowed")
EDUCATION = ("high_school", "diploma", "bachelor", "master", "phd")
TITLES = ("mr", "mrs", "ms", "dr", "eng")
DEVICES = ("mobile", "desktop", "tablet")
UTM_SOURCES = ("google_ads", "instagram", "telegram", "newsletter", "direct", "divar", "aparat")

# Optional system attributes (table spelling, ZEB-SYSTEM-TYPES) and how to draw each one.
SYSTEM_COLUMNS: tuple[tuple[str, Callable[[Draw], Any]], ...] = (
    ("email", lambda d: d.fake("free_email")),
    ("birth_date", lambda d: time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(d.epoch_seconds(BORN_FROM, BORN_UNTIL)))),
    ("gender", lambda d: d.choice(GENDERS)),
    ("maritial_status", lambda d: d.choice(MARITAL)),
    ("children", lambda d: d.integer(0, 5)),
    ("education", lambda d: d.choice(EDUCATION)),
    ("title", lambda d: d.choice(TITLES)),
    ("address", lambda d: d.fake("street_address")),
    ("city", lambda d: d.fake("city")),
    ("state", lambda d: d.fake("state")),
    ("zipcode", lambda d: d.fake("postcode")),
    ("country", lambda d: COUNTRY.get(d.locale) or d.fake("current_country")),
    ("phone", lambda d: d.phone_digits()),
    ("mobile", _mobile),
    ("job_position", lambda d: d.fake("job")),
    ("company", lambda d: d.fake("company")),
    ("number_of_employees", lambda d: d.integer(1, 50_000)),
    ("annual_revenue", lambda d: d.integer(0, INT4_MAX)),
    ("opt_in_sms", lambda d: d.chance(0.7)),
    ("opt_in_email", lambda d: d.chance(0.7)),
    ("last_active", lambda d: d.iso_datetime()),
    ("updated_at", lambda d: d.iso_datetime()),
    ("points", lambda d: d.integer(0, 100_000)),
)
ANONYMOUS_COLUMNS: tuple[tuple[str, Callable[[Draw], Any]], ...] = (
    ("device_type", lambda d: d.choice(DEVICES)),
    ("utm_source", lambda d: d.choice(UTM_SOURCES)),
)

# Custom attributes: name -> how to draw it. One type per name, always (see the module docstring).
CUSTOM_ATTRIBUTES: tuple[tuple[str, str, Callable[[Draw], Any]], ...] = (
    ("purchase_count", "number", lambda d: d.integer(0, 300)),
    ("lifetime_value", "number", lambda d: round(d.rng.uniform(0, 5_000_000), 2)),
    ("age", "number", lambda d: d.integer(18, 80)),
    ("membership_level", "string", lambda d: d.choice(("bronze", "silver", "gold", "platinum"))),
    ("favorite_color", "string", lambda d: d.fake("color_name")),
    ("preferred_language", "string", lambda d: d.choice(("fa", "en", "ar", "tr"))),
    ("verified_user", "boolean", lambda d: d.chance(0.6)),
    ("newsletter_subscriber", "boolean", lambda d: d.chance(0.4)),
    ("has_app_installed", "boolean", lambda d: d.chance(0.5)),
    ("last_login", "datetime", lambda d: d.iso_datetime()),
    ("signup_at", "datetime", lambda d: d.iso_datetime()),
    ("last_purchase_at", "datetime", lambda d: d.iso_datetime()),
)
CUSTOM_TYPES = {name: kind for name, kind, _ in CUSTOM_ATTRIBUTES}


def custom_attributes(d: Draw) -> dict[str, Any]:
    """About three custom attributes from the fixed vocabulary (each one with chance 1/4), in vocabulary order."""
    chance = d.rng.random
    return {name: make(d) for name, _, make in CUSTOM_ATTRIBUTES if chance() < 0.25}


def _system(d: Draw, columns: tuple[tuple[str, Callable[[Draw], Any]], ...], share: float) -> dict[str, Any]:
    """Each optional column with chance ``share`` (a per-column coin is cheaper than sampling: ZEB load tests)."""
    chance = d.rng.random
    return {name: make(d) for name, make in columns if chance() < share}


def identifiers(d: Draw) -> Payload:
    """A known user (50 %), an anonymous visitor (25 %) or a merge of both (25 %), as the document shows."""
    roll = d.rng.random()
    ids: Payload = {}
    if roll < 0.75:
        ids["userId"] = user_id(d)
    if roll >= 0.5:
        ids["anonymousId"] = anonymous_id(d)
    return ids


def user(d: Draw) -> Payload:
    """The :func:`identifiers` of a user, its system attributes at the top level, custom ones in ``attributes``."""
    body = identifiers(d)
    if "userId" in body:
        body["firstname"] = d.fake("first_name")
        body["lastname"] = d.fake("last_name")
        body.update(_system(d, SYSTEM_COLUMNS, 0.2))
    body.update(_system(d, ANONYMOUS_COLUMNS, 0.5))
    body["attributes"] = custom_attributes(d)
    return body


# Invalid builders: each returns a copy that breaks exactly one server requirement. ---------------

def no_identifier(d: Draw, payload: Payload) -> Payload:
    """ZEB-ID-REQUIRED: neither userId nor anonymousId (in any spelling)."""
    return {k: v for k, v in payload.items() if k not in ("userId", "anonymousId")}


NOT_STRINGS: tuple[Callable[[Draw], Any], ...] = (
    lambda d: d.integer(1, 99_999), lambda d: d.chance(0.5), lambda d: None, lambda d: [d.alnum(6)], lambda d: {"id": d.alnum(6)},
)


def identifier_not_string(d: Draw, payload: Payload) -> Payload:
    """ZEB-ID-STRING: a present userId or anonymousId that is a number, boolean, null, array or object."""
    key = d.choice([k for k in ("userId", "anonymousId") if k in payload])
    return {**payload, key: d.choice(NOT_STRINGS)(d)}


def identifier_empty(d: Draw, payload: Payload) -> Payload:
    """ZEB-ID-NONEMPTY: a present id that is empty, blank or longer than 255 characters."""
    key = d.choice([k for k in ("userId", "anonymousId") if k in payload])
    return {**payload, key: d.choice(("", "   ", "\t", "u" * 256))}


def attributes_missing(d: Draw, payload: Payload) -> Payload:
    """ZEB-ATTRIBUTES-REQUIRED: no attributes key, or attributes that is not an object."""
    broken = {k: v for k, v in payload.items() if k != "attributes"}
    if d.chance(0.5):
        broken["attributes"] = d.choice((None, [], "", "{}", 0, True))
    return broken


def custom_value_of_no_type(d: Draw, payload: Payload) -> Payload:
    """ZEB-CUSTOM-TYPES-ONLY (the mock's choice): one custom attribute whose value is null, an array or an object."""
    name = d.choice([name for name, _, _ in CUSTOM_ATTRIBUTES])
    value = d.choice((None, [1, 2], ["gold"], {"level": "gold"}, {}))
    return {**payload, "attributes": {**payload["attributes"], name: value}}


# ZEB-SYSTEM-TYPES (stated): values no reading makes the column's type.
NOT_OF_THE_COLUMNS_TYPE: tuple[tuple[str, Any], ...] = (
    ("children", "three"), ("children", ["2"]), ("points", {"value": 100}), ("annual_revenue", "a lot"),
    ("number_of_employees", "10-50"), ("opt_in_sms", "maybe"), ("opt_in_email", ["true"]), ("opt_in_sms", {"on": True}),
    ("birth_date", True), ("last_active", ["2024-02-10T12:30:00Z"]), ("updated_at", {"at": "2024-02-10"}),
)
# ZEB-SYSTEM-TYPES-EXACT (the mock's choice): another JSON type that a coercing server could read as the column's.
COERCIBLE_COLUMN_VALUES: tuple[tuple[str, Any], ...] = (
    ("firstname", 12), ("city", True), ("email", None), ("phone", 9123456789), ("zipcode", ["1"]), ("company", {"name": "x"}),
    ("children", "2"), ("children", 2.5), ("points", "100"), ("annual_revenue", None), ("number_of_employees", True),
    ("opt_in_sms", "true"), ("opt_in_email", 1), ("opt_in_sms", None), ("birth_date", 19900512), ("last_active", None),
)


def system_value_of_wrong_type(d: Draw, payload: Payload) -> Payload:
    """ZEB-SYSTEM-TYPES: one system attribute with a value that no reading makes its column's type."""
    column, value = d.choice(NOT_OF_THE_COLUMNS_TYPE)
    return {**payload, column: value}


def system_value_of_another_json_type(d: Draw, payload: Payload) -> Payload:
    """ZEB-SYSTEM-TYPES-EXACT: one system attribute of another JSON type than its column's (42 for a STRING)."""
    column, value = d.choice(COERCIBLE_COLUMN_VALUES)
    return {**payload, column: value}


def int_out_of_range(d: Draw, payload: Payload) -> Payload:
    """ZEB-INT-RANGE: an INT/INT4 column beyond 32 bits."""
    column = d.choice(("children", "number_of_employees", "annual_revenue", "points"))
    return {**payload, column: d.choice((INT4_MAX + 1, -INT4_MAX - 2, 10**12))}


def timestamp_not_iso(d: Draw, payload: Payload) -> Payload:
    """ZEB-TIMESTAMPTZ-FORMAT: a TIMESTAMPTZ column in a format the schema's pattern refuses."""
    column = d.choice(("birth_date", "last_active", "updated_at", "date_identified"))
    return {**payload, column: d.choice(("12/05/1990", "1990/05/12", "yesterday", "1990-13-01", "2024-02-10T25:00:00Z", ""))}


def spellings_disagree(d: Draw, payload: Payload) -> Payload:
    """ZEB-KEY-MAPPING: two spellings of one column (table and document camelCase) with different values."""
    if "userId" in payload and d.chance(0.5):
        return {**payload, "userid": payload["userId"] + "_other"}
    first = payload.get("firstname") or d.fake("first_name")
    return {**payload, "firstname": first, "firstName": first + "x"}


def body_not_object(d: Draw, payload: Payload) -> Any:
    """ZEB-STATUS-400: a body of the wrong structure (a JSON array or string, not an object)."""
    return d.choice(([payload], [], "user"))


# The MODELED lookups (ZEB-MODELED-GET-USER, ZEB-MODELED-GET-TRACK; not in the document). A lookup
# means something only for what was stored, so each registers a fixture that stores it first through
# the documented upsert. ---------------------------------------------------------------------------

def lookup_query(d: Draw) -> Payload:
    """The :func:`identifiers` an upsert would send: each query form the lookup takes."""
    return identifiers(d)


def lookup_without_id(d: Draw, payload: Payload) -> Payload:
    """ZEB-MODELED-GET-USER: no id to look up, or an empty one."""
    return {} if d.chance(0.5) else {key: "" for key in payload}


def track_path(d: Draw) -> Payload:
    """A trackID to look up; the account is the document's LICENSE_CODE placeholder (credentials replace it)."""
    return {"license_code": "LICENSE_CODE", "track_id": d.uuid4()}


def _upsert(base_url: str, creds: Mapping[str, Any], body: Payload) -> Any:
    import requests

    from cdpkit.generators import transport

    request = transport.request_for("zebline.upsert_user", body, creds)
    return requests.post(request.url(base_url), data=request.content(), headers=request.headers, timeout=10)


def store_profile(base_url: str, creds: Mapping[str, Any], payload: Payload) -> dict[str, str]:
    """Fixture of the user lookup: upsert the ids it names (both: merged, so the pair is linked)."""
    ids = {k: v for k in ("userId", "anonymousId") if isinstance(v := payload.get(k), str) and v.strip()}
    if ids:
        _upsert(base_url, creds, {**ids, "attributes": {}})
    return {}


def store_track(base_url: str, creds: Mapping[str, Any], payload: Payload) -> dict[str, str]:
    """Fixture of the trackID lookup: one upsert; its queued answer's trackID is the one to look up."""
    answer = _upsert(base_url, creds, {"userId": f"track_{payload['track_id']}", "attributes": {}})
    track = (answer.json().get("response") or {}).get("trackID") if answer.ok else None
    return {"track_id": track} if isinstance(track, str) else {}


OPERATIONS = [
    Operation(
        operation_id="upsert_user",
        aliases=("users", "user"),
        summary="create or update (UPSERT) a user by userId and/or anonymousId with system and custom attributes",
        valid=user,
        conventions=("user_convention.json",),
        invalid={
            "ZEB-ID-REQUIRED": no_identifier,
            "ZEB-ID-STRING": identifier_not_string,
            "ZEB-ID-NONEMPTY": identifier_empty,
            "ZEB-ATTRIBUTES-REQUIRED": attributes_missing,
            "ZEB-CUSTOM-TYPES-ONLY": custom_value_of_no_type,
            "ZEB-SYSTEM-TYPES": system_value_of_wrong_type,
            "ZEB-SYSTEM-TYPES-EXACT": system_value_of_another_json_type,
            "ZEB-INT-RANGE": int_out_of_range,
            "ZEB-TIMESTAMPTZ-FORMAT": timestamp_not_iso,
            "ZEB-KEY-MAPPING": spellings_disagree,
            "ZEB-STATUS-400": body_not_object,
        },
        state_only=frozenset({"ZEB-KEY-MAPPING"}),
    ),
    Operation(
        operation_id="modeled_get_user",
        aliases=("lookup_user",),
        summary="MODELED (not documented): look up a stored profile by userId and/or anonymousId",
        valid=lookup_query,
        invalid={"ZEB-MODELED-GET-USER": lookup_without_id},
        fixture=store_profile,
    ),
    Operation(
        operation_id="modeled_get_track",
        aliases=("lookup_track",),
        summary="MODELED (not documented): look up what a queued request did by its trackID",
        valid=track_path,
        fixture=store_track,
    ),
]
