"""TTO mutants (one defect each, caught by the named requirement) and over-spec variants (pass)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import datetime
from typing import Any, Callable

from cdpkit.mockserver import tto
from cdpkit.mockserver.vendor import Call, Handler, Rejection, Reply, Vendor
from tests.mutants import Mutant, erroring, on_refusal, replying, with_body, with_query, wrapping

MESSAGE_OPS = ("track", "identify", "alias")


def _sid(call: Call) -> str | None:
    key = call.body.get("api_key") if isinstance(call.body, dict) else None
    record = call.state.get("sources", key) if isinstance(key, str) and key else None
    return record["id"] if record else None


def _demo_key_when_missing(original: Handler) -> Handler:
    """A missing or empty api_key is served as the demo source."""
    def handler(call: Call) -> Reply:
        if isinstance(call.body, dict) and not call.body.get("api_key"):
            call = with_body(call, {**call.body, "api_key": tto.DEMO_KEY})
        return original(call)
    return handler


def _demo_key_when_unknown(original: Handler) -> Handler:
    """Any api_key no source has is served as the demo source."""
    def handler(call: Call) -> Reply:
        key = call.body.get("api_key") if isinstance(call.body, dict) else None
        if isinstance(key, str) and key and call.state.get("sources", key) is None:
            call = with_body(call, {**call.body, "api_key": tto.DEMO_KEY})
        return original(call)
    return handler


def _one_source(original: Handler) -> Handler:
    """Every known key writes to the demo source: per-source isolation broken."""
    def handler(call: Call) -> Reply:
        if _sid(call):
            call = with_body(call, {**call.body, "api_key": tto.DEMO_KEY})
        return original(call)
    return handler


def _settings_default_key(original: Handler) -> Handler:
    def handler(call: Call) -> Reply:
        return original(call if call.query.get("api_key") else with_query(call, {"api_key": tto.DEMO_KEY}))
    return handler


def _settings_ignore_key(original: Handler) -> Handler:
    """settings answers the demo source's configuration for any known key."""
    def handler(call: Call) -> Reply:
        key = call.query.get("api_key")
        if key and call.state.get("sources", key) is not None:
            call = with_query(call, {**call.query, "api_key": tto.DEMO_KEY})
        return original(call)
    return handler


def _forget_msg_ids(original: Handler) -> Handler:
    """msg_id dedup ignored: the source forgets every msg_id before handling."""
    def handler(call: Call) -> Reply:
        sid, msg_id = _sid(call), call.body.get("msg_id") if isinstance(call.body, dict) else None
        if sid and isinstance(msg_id, str):
            call.state.delete(f"seen:{sid}", msg_id)
        return original(call)
    return handler


def _identify_replaces_traits(original: Handler) -> Handler:
    """identify overwrites the stored traits with the sent ones instead of merging them."""
    def handler(call: Call) -> Reply:
        reply = original(call)
        sid, user = _sid(call), call.body.get("user_id") or call.body.get("anonymous_id")
        pid = call.state.get(f"ids:{sid}", user) if sid and user else None
        profile = call.state.get(f"profiles:{sid}", pid) if pid else None
        if profile is not None and isinstance(call.body.get("traits"), dict):
            profile["traits"] = dict(call.body["traits"])
            call.state.put(f"profiles:{sid}", pid, profile)
        return reply
    return handler


def _alias_acknowledged_only(original: Handler) -> Handler:
    """alias is validated and answered, but merges nothing."""
    return lambda call: tto.accept(call, "alias", lambda call, sid, msg_id: None)


def _identify_acknowledged_only(original: Handler) -> Handler:
    """identify is validated and answered, but the profile is not updated."""
    return lambda call: tto.accept(call, "identify", lambda call, sid, msg_id: None)


def _profile_of(call: Call, sid: str, identifier: str) -> dict | None:
    pid = call.state.get(f"ids:{sid}", identifier)
    return call.state.get(f"profiles:{sid}", pid) if pid else None


def _alias_previous_wins(original: Handler) -> Handler:
    """alias keeps both identities' traits, the previous identity's values winning (TTO-ALIAS-PRECEDENCE)."""
    def handler(call: Call) -> Reply:
        sid = _sid(call)
        body = call.body if isinstance(call.body, dict) else {}
        previous = _profile_of(call, sid, body["previous_id"]) if sid and isinstance(body.get("previous_id"), str) else None
        reply = original(call)
        if reply.status == 200 and previous and previous.get("traits"):
            merged = _profile_of(call, sid, body["user_id"])
            if merged is not None:
                merged["traits"] = {**merged["traits"], **previous["traits"]}
                call.state.put(f"profiles:{sid}", merged["id"], merged)
        return reply
    return handler


def _profiles_shared(original: Handler) -> Handler:
    """One profile space per project: an identify through one source updates every source (TTO-SOURCE-PROFILES)."""
    def handler(call: Call) -> Reply:
        reply = original(call)
        sid = _sid(call)
        if reply.status == 200 and sid:
            for key, record in call.state.items("sources"):
                if record["id"] != sid:
                    original(with_body(call, {**call.body, "api_key": key}))
        return reply
    return handler


def _crash_on_fractional_timestamp(original: Handler) -> Handler:
    """A realistic bug: int() of whatever timestamp came ("1.5" is documented-shaped epoch seconds; a list, an
    object) answers 500. It once caught only strings, which the schemathesis run draws rarely for this field:
    whether it was caught hung on one lucky case of one seed."""
    def handler(call: Call) -> Reply:
        if isinstance(call.body, dict) and call.body.get("timestamp") is not None:
            int(call.body["timestamp"])
        return original(call)
    return handler


# Over-specification variants: other reasonable choices where the document is silent.
def _accepted_202(call: Call, reply: Reply) -> Reply:
    return Reply(202, {"status": "queued", "id": reply.body.get("msg_id")}) if reply.status == 200 else reply


def _other_error_body(rejection: Rejection, reply: Reply) -> Reply:
    status = 400 if reply.status == 401 else reply.status
    return Reply(status, {"error": {"code": "INVALID_REQUEST", "detail": rejection.message}})


def _errors_at_200(rejection: Rejection, reply: Reply) -> Reply:
    """The document publishes no answers: a server may say "refused" in the body, at HTTP 200."""
    return Reply(200, {"success": False, "error": {"code": "REFUSED", "message": rejection.message}})


def _products_top_level_only(original: Handler) -> Handler:
    """Refuses products inside properties (TTO-PRODUCTS-PLACEMENT is the mock's assumption)."""
    def handler(call: Call) -> Reply:
        properties = call.body.get("properties") if isinstance(call.body, dict) else None
        if isinstance(properties, dict) and "products" in properties:
            raise Rejection(422, "products go beside properties", ("TTO-PRODUCTS-PLACEMENT",))
        return original(call)
    return handler


def _objects_only(original: Handler) -> Handler:
    """A track's properties and traits must be JSON objects: their text is refused (the examples' reading of the
    track table, where the mock follows its STRING too)."""
    def handler(call: Call) -> Reply:
        if isinstance(call.body, dict) and any(isinstance(call.body.get(f), str) for f in ("properties", "traits")):
            raise Rejection(400, "properties and traits are JSON objects", ("TTO-DATA-OBJECT-TYPE",))
        return original(call)
    return handler


def _settings_extra(call: Call, reply: Reply) -> Reply:
    if reply.status == 200:
        reply.body.update(project={"timezone": "Asia/Hong_Kong"}, version=2)
    return reply


def _body_fix(fix: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[Handler], Handler]:
    """A handler wrap that reads a JSON-object body through ``fix`` before the mock sees it."""
    def wrap(original: Handler) -> Handler:
        return lambda call: original(with_body(call, fix(dict(call.body))) if isinstance(call.body, dict) else call)
    return wrap


def _settings_segment_shape(call: Call, reply: Reply) -> Reply:
    """settings answers a Segment-like configuration: integrations by destination name, and a tracking plan."""
    if reply.status != 200:
        return reply
    destinations = reply.body.get("destinations") or []
    return Reply(200, {"integrations": {d["name"]: {"enabled": d.get("enabled", True)} for d in destinations},
                       "plan": {"track": {"__default": {"enabled": True}}},
                       "sourceId": reply.body["source"]["id"]})


def _type_ignored(op: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The endpoint decides the operation: a type naming another one (or anything else) is ignored."""
    def fix(body: dict[str, Any]) -> dict[str, Any]:
        if body.get("type") != op:
            body.pop("type", None)
        return body
    return fix


def _type_ignored_patch(vendor: Vendor) -> Vendor:
    for op in MESSAGE_OPS:
        vendor = wrapping(op, _body_fix(_type_ignored(op)))(vendor)
    return vendor


def _replay_flagged(original: Handler) -> Handler:
    """A replayed msg_id is acknowledged (200, stored once) but the answer says it was a duplicate."""
    def handler(call: Call) -> Reply:
        sid, msg_id = _sid(call), call.body.get("msg_id") if isinstance(call.body, dict) else None
        replay = bool(sid and isinstance(msg_id, str) and msg_id and call.state.get(f"seen:{sid}", msg_id) is not None)
        reply = original(call)
        if replay and reply.status == 200:
            reply.body = {**reply.body, "duplicate": True}
        return reply
    return handler


def _anonymous_id_made_up(body: dict[str, Any]) -> dict[str, Any]:
    """A message naming nobody gets a server-made anonymous_id (the 必須 column is empty)."""
    if "user_id" not in body and "anonymous_id" not in body:
        body["anonymous_id"] = f"server-{uuid.uuid4()}"
    return body


ID_FIELDS = ("msg_id", "user_id", "anonymous_id", "previous_id", "event")


def _numeric_ids_as_text(body: dict[str, Any]) -> dict[str, Any]:
    """Numbers sent as ids are taken as their text (Segment takes userId 42 as "42")."""
    for key in ID_FIELDS:
        value = body.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            body[key] = str(value)
    return body


def _iso_timestamps(body: dict[str, Any]) -> dict[str, Any]:
    """timestamp also reads ISO-8601 (Segment's form), and only as text: a JSON number is refused."""
    value = body.get("timestamp")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise Rejection(400, "timestamp is text: epoch seconds as digits, or ISO-8601", ("TTO-TIMESTAMP-ACCEPTED",))
    if isinstance(value, str) and "T" in value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return body
        if moment.tzinfo is not None:
            body["timestamp"] = str(int(moment.timestamp()))
    return body


def _object_text_parsed(body: dict[str, Any]) -> dict[str, Any]:
    """traits, properties and context sent as text (the track table says STRING) are read as the JSON object they hold."""
    for key in ("traits", "properties", "context"):
        value = body.get(key)
        if isinstance(value, str):
            try:
                parsed = json.loads(value)
            except ValueError:
                continue
            if isinstance(parsed, dict):
                body[key] = parsed
    return body


def _event_defaulted(body: dict[str, Any]) -> dict[str, Any]:
    """A track without event is kept as an unnamed event."""
    if "event" not in body:
        body["event"] = "(unnamed event)"
    return body


def _track_traits_on_event_only(original: Handler) -> Handler:
    """A track's traits stay on the event: only identify changes the profile."""
    def handler(call: Call) -> Reply:
        traits = call.body.get("traits") if isinstance(call.body, dict) else None
        if not isinstance(traits, dict):
            return original(call)
        reply = original(with_body(call, {k: v for k, v in call.body.items() if k != "traits"}))
        sid = _sid(call)
        seq = call.state.get("counters", sid) if reply.status == 200 and sid else None
        event = call.state.get(f"events:{sid}", f"{seq:010d}") if seq else None
        if event is not None and event.get("msg_id") == reply.body.get("msg_id"):
            call.state.put(f"events:{sid}", f"{seq:010d}", {**event, "traits": traits})
        return reply
    return handler


def _previous_id_from_anonymous_id(body: dict[str, Any]) -> dict[str, Any]:
    """An alias without previous_id aliases the message's anonymous_id (analytics.js: previousId defaults to it)."""
    if "previous_id" not in body and isinstance(body.get("anonymous_id"), str) and body["anonymous_id"]:
        body["previous_id"] = body["anonymous_id"]
    return body


def _as_422(rejection: Rejection) -> Reply:
    raise Rejection(422, rejection.message, rejection.requirement_ids, rejection.detail)


def _unreadable_415_422(vendor: Vendor) -> Vendor:
    """Another content type answers 415; a JSON body that is not an object 422."""
    errors = dataclasses.replace(vendor.input_errors, wrong_content_type=("TTO-BAD-INPUT", 415))
    return wrapping(MESSAGE_OPS, on_refusal("TTO-BAD-INPUT", _as_422))(dataclasses.replace(vendor, input_errors=errors))


LARGER_LIMIT = 512 * 1024


def _larger_payload_limit(original: Handler) -> Handler:
    """Messages up to 512 KB are taken (the mock's 32 KB is Segment's limit, which the document does not state)."""
    def handler(call: Call) -> Reply:
        if len(call.raw_body) <= LARGER_LIMIT:
            call = dataclasses.replace(call, raw_body=b"{}")  # what the mock measures: the size is fine here
        return original(call)
    return handler


# Assumption entries (server, not a model) with no variant, and why no other reasonable choice exists.
NO_VARIANT: dict[str, str] = {}


MUTANTS = [
    Mutant("missing-key-accepted", "tto", ("TTO-API-KEY-BODY",), wrapping(MESSAGE_OPS, _demo_key_when_missing),
           "a message without api_key is stored in the demo source"),
    Mutant("unknown-key-accepted", "tto", ("TTO-API-KEY-AUTH",), wrapping(MESSAGE_OPS, _demo_key_when_unknown),
           "any api_key is served as the demo source"),
    Mutant("settings-without-key", "tto", ("TTO-SETTINGS-QUERY-KEY",), wrapping("settings", _settings_default_key),
           "settings without ?api_key answers the demo source"),
    Mutant("settings-ignores-key", "tto", ("TTO-SETTINGS-ENDPOINT",), wrapping("settings", _settings_ignore_key),
           "settings answers one source's configuration whichever known key asks"),
    Mutant("isolation-broken", "tto", ("TTO-SOURCE-ISOLATION",), wrapping(MESSAGE_OPS, _one_source), "every key writes to one source"),
    Mutant("dedup-ignored", "tto", ("TTO-MSG-ID-DEDUP",), wrapping(MESSAGE_OPS, _forget_msg_ids), "a replayed msg_id is stored again"),
    Mutant("identify-updates-nothing", "tto", ("TTO-IDENTIFY-MERGE",), wrapping("identify", _identify_acknowledged_only),
           "identify is acknowledged but the profile keeps none of the traits sent"),
    Mutant("alias-merges-nothing", "tto", ("TTO-ALIAS-MERGE",), wrapping("alias", _alias_acknowledged_only),
           "alias is acknowledged but ids stay apart"),
    Mutant("crash-on-fractional-timestamp", "tto", ("test_schemathesis",), wrapping(MESSAGE_OPS, _crash_on_fractional_timestamp),
           "a timestamp int() cannot read ('1.5', a list) answers 500", fuzz_only=True),
]

# Defects of the mock's own assumptions: caught only with --strict (tests/test_suites_tto.py).
STRICT_MUTANTS = [
    Mutant("identify-overwrites-traits", "tto", ("TTO-IDENTIFY-MERGE-RULES",), wrapping("identify", _identify_replaces_traits),
           "identify replaces the profile's traits"),
    Mutant("alias-previous-wins", "tto", ("TTO-ALIAS-PRECEDENCE",), wrapping("alias", _alias_previous_wins),
           "alias lets the previous identity's traits win"),
    Mutant("profiles-shared", "tto", ("TTO-SOURCE-PROFILES",), wrapping("identify", _profiles_shared),
           "an identify through one source updates every source's profile"),
]

VARIANTS = [
    Mutant("accepted-202-other-body", "tto", (), replying(MESSAGE_OPS, _accepted_202), "accepted messages answer 202 {status: queued}",
           varies=("TTO-RESPONSE-SUCCESS",)),
    Mutant("errors-400-other-body", "tto", (), erroring(_other_error_body),
           "every refusal is 400/4xx with another error body", varies=("TTO-ERROR-BODY", "TTO-API-KEY-STATUS")),
    Mutant("errors-at-http-200", "tto", (), erroring(_errors_at_200),
           "every refusal answers HTTP 200 {success: false, error}", varies=("TTO-ERROR-BODY", "TTO-API-KEY-STATUS", "TTO-BAD-INPUT")),
    Mutant("products-top-level-only", "tto", (), wrapping("track", _products_top_level_only),
           "products inside properties refused with 422", varies=("TTO-PRODUCTS-PLACEMENT",)),
    Mutant("settings-extra-fields", "tto", (), replying("settings", _settings_extra),
           "settings answers extra fields", varies=("TTO-SETTINGS-BODY",)),
    Mutant("settings-segment-shape", "tto", (), replying("settings", _settings_segment_shape),
           "settings answers {integrations, plan, sourceId}, not {success, source, destinations}", varies=("TTO-SETTINGS-BODY",)),
    Mutant("identify-replaces-traits", "tto", (), wrapping("identify", _identify_replaces_traits),
           "identify replaces the stored traits instead of merging them", varies=("TTO-IDENTIFY-MERGE-RULES",)),
    Mutant("alias-previous-identity-wins", "tto", (), wrapping("alias", _alias_previous_wins),
           "alias lets the previous identity's traits win", varies=("TTO-ALIAS-PRECEDENCE",)),
    Mutant("one-profile-space-per-project", "tto", (), wrapping("identify", _profiles_shared),
           "an identify through one source updates every source's profile", varies=("TTO-SOURCE-PROFILES",)),
    Mutant("type-ignored", "tto", (), _type_ignored_patch,
           "the endpoint decides the operation: a type naming another one is ignored, not refused", varies=("TTO-TYPE-MATCH",)),
    Mutant("replay-flagged-duplicate", "tto", (), wrapping(MESSAGE_OPS, _replay_flagged),
           "a replayed msg_id answers 200 {success, msg_id, duplicate: true}", varies=("TTO-DEDUP-REPLAY-ACK",)),
    Mutant("identity-made-up", "tto", (), wrapping(("track", "identify"), _body_fix(_anonymous_id_made_up)),
           "a track or identify naming nobody gets a server-made anonymous_id instead of a 400",
           varies=("TTO-IDENTITY-REQUIRED", "TTO-REQUIRED-COLUMN-EMPTY")),
    Mutant("numeric-ids-as-text", "tto", (), wrapping(MESSAGE_OPS, _body_fix(_numeric_ids_as_text)),
           "user_id 42 (and other numeric ids) taken as \"42\"", varies=("TTO-ID-TYPES",)),
    Mutant("iso-timestamps-text-only", "tto", (), wrapping(MESSAGE_OPS, _body_fix(_iso_timestamps)),
           "timestamp also reads ISO-8601; a JSON number is refused", varies=("TTO-TIMESTAMP-ACCEPTED",)),
    Mutant("object-text-parsed", "tto", (), wrapping(MESSAGE_OPS, _body_fix(_object_text_parsed)),
           "traits/properties/context sent as JSON text are read as the object, on every operation", varies=("TTO-DATA-OBJECT-TYPE",)),
    Mutant("track-objects-only", "tto", (), wrapping("track", _objects_only),
           "a track's properties and traits sent as text are refused: only objects", varies=("TTO-DATA-OBJECT-TYPE",)),
    Mutant("track-event-optional", "tto", (), wrapping("track", _body_fix(_event_defaulted)),
           "a track without event is kept as an unnamed event", varies=("TTO-TRACK-EVENT", "TTO-REQUIRED-COLUMN-EMPTY")),
    Mutant("track-traits-on-event-only", "tto", (), wrapping("track", _track_traits_on_event_only),
           "a track's traits stay on the event; only identify changes the profile", varies=("TTO-TRACK-TRAITS-MERGE",)),
    Mutant("alias-previous-id-defaults-to-anonymous-id", "tto", (), wrapping("alias", _body_fix(_previous_id_from_anonymous_id)),
           "an alias without previous_id aliases its anonymous_id", varies=("TTO-ALIAS-IDS",)),
    Mutant("unreadable-415-non-object-422", "tto", (), _unreadable_415_422,
           "another content type answers 415, a JSON body that is not an object 422", varies=("TTO-BAD-INPUT",)),
    Mutant("payload-limit-512-kb", "tto", (), wrapping(MESSAGE_OPS, _larger_payload_limit),
           "messages up to 512 KB are taken", varies=("TTO-PAYLOAD-LIMIT",)),
]
