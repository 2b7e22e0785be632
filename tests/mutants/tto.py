"""TTO mutants (one defect each, caught by the named requirement) and over-spec variants (pass)."""

from __future__ import annotations

from mockserver import tto
from mockserver.vendor import Call, Handler, Rejection, Reply
from tests.mutants import Mutant, erroring, replying, with_body, with_query, wrapping

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
    """A realistic bug: int() of the timestamp string ("1.5" is documented-shaped epoch seconds) answers 500."""
    def handler(call: Call) -> Reply:
        if isinstance(call.body, dict) and isinstance(call.body.get("timestamp"), str):
            int(call.body["timestamp"])
        return original(call)
    return handler


# Over-specification variants: other reasonable choices where the document is silent.
def _accepted_202(call: Call, reply: Reply) -> Reply:
    return Reply(202, {"status": "queued", "id": reply.body.get("msg_id")}) if reply.status == 200 else reply


def _other_error_body(rejection: Rejection, reply: Reply) -> Reply:
    status = 400 if reply.status == 401 else reply.status
    return Reply(status, {"error": {"code": "INVALID_REQUEST", "detail": rejection.message}})


def _products_top_level_only(original: Handler) -> Handler:
    """Refuses products inside properties (TTO-PRODUCTS-PLACEMENT is the mock's assumption)."""
    def handler(call: Call) -> Reply:
        properties = call.body.get("properties") if isinstance(call.body, dict) else None
        if isinstance(properties, dict) and "products" in properties:
            raise Rejection(422, "products go beside properties", ("TTO-PRODUCTS-PLACEMENT",))
        return original(call)
    return handler


def _settings_extra(call: Call, reply: Reply) -> Reply:
    if reply.status == 200:
        reply.body.update(project={"timezone": "Asia/Hong_Kong"}, version=2)
    return reply


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
           "a timestamp like '1.5' answers 500", fuzz_only=True),
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
    Mutant("accepted-202-other-body", "tto", (), replying(MESSAGE_OPS, _accepted_202), "accepted messages answer 202 {status: queued}"),
    Mutant("errors-400-other-body", "tto", (), erroring(_other_error_body),
           "every refusal is 400/4xx with another error body"),
    Mutant("products-top-level-only", "tto", (), wrapping("track", _products_top_level_only),
           "products inside properties refused with 422"),
    Mutant("settings-extra-fields", "tto", (), replying("settings", _settings_extra),
           "settings answers extra fields"),
    Mutant("identify-replaces-traits", "tto", (), wrapping("identify", _identify_replaces_traits),
           "identify replaces the stored traits instead of merging them (TTO-IDENTIFY-MERGE-RULES)"),
    Mutant("alias-previous-identity-wins", "tto", (), wrapping("alias", _alias_previous_wins),
           "alias lets the previous identity's traits win (TTO-ALIAS-PRECEDENCE)"),
    Mutant("one-profile-space-per-project", "tto", (), wrapping("identify", _profiles_shared),
           "an identify through one source updates every source's profile (TTO-SOURCE-PROFILES)"),
]
