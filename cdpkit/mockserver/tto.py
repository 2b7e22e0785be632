"""TTO CDP (seed 000): ``POST /v1/track``, ``/v1/identify``, ``/v1/alias`` and ``/v1/settings``.

The document publishes requests only (its Swagger is not public), so every status and body here
beyond "the example is accepted" is a catalog assumption, mostly from the Segment spec TTO follows.

State, per HTTP API source (``sid``):

* ``sources``: api_key -> {id, name, type, destinations}  (TTO-API-KEY-AUTH, TTO-SOURCE-ISOLATION)
* ``profiles:<sid>``: profile id -> {id, user_ids, anonymous_ids, previous_ids, traits}, per source
  (TTO-SOURCE-PROFILES, an assumption)
* ``ids:<sid>``: any identifier (user_id, anonymous_id, previous_id) -> profile id. One namespace for
  all three, as an alias's previous_id may be either kind of id (TTO-ALIAS-MERGE).
* ``events:<sid>``: sequence number -> the stored track message  (TTO-TRACK-ENDPOINT)
* ``seen:<sid>``: msg_id -> {type, at, seq}  (TTO-MSG-ID-DEDUP, TTO-DEDUP-REPLAY-ACK): the newest
  ``SEEN_PER_SOURCE`` msg_ids, slotted in the ring ``seen-ring:<sid>`` (cdpkit/mockserver/bounded.py)
* ``counters``: sid -> last event sequence number
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import orjson

from cdpkit.mockserver import bounded
from cdpkit.mockserver.ids import uuid4_hex, uuid4_text
from cdpkit.mockserver.store import Scope
from cdpkit.mockserver.vendor import Call, InputErrors, Rejection, Reply, Vendor, seed_string

SOURCE_TYPE = "HTTP API"  # 入門 step 2: 選擇 HTTP API源
PAYLOAD_LIMIT_BYTES = 32 * 1024  # TTO-PAYLOAD-LIMIT (VENDOR-NOTES: Segment's 32 KB per call)
DEDUP_WINDOW_SECONDS = 24 * 3600  # TTO-DEDUP-REPLAY-ACK (VENDOR-NOTES: Segment's ~24 h)
SEEN_PER_SOURCE = 100_000  # TTO-DEDUP-REPLAY-ACK (assumption): the msg_ids a source remembers, newest first
ROLES = ("user_ids", "anonymous_ids", "previous_ids")

DEMO_KEY = "your_api_key_here"  # the document's placeholder, accepted literally
OTHER_KEY = "tto-demo-key-second-source"

Apply = Callable[[Call, str, str], None]


def render_error(rejection: Rejection, call: Call | None) -> Reply:
    """TTO-ERROR-BODY (assumption): {success: false, message, requirements}, plus schema violations."""
    body: dict[str, Any] = {
        "success": False,
        "message": rejection.message,
        "requirements": list(rejection.requirement_ids),
    }
    if "violations" in rejection.detail:
        body["violations"] = rejection.detail["violations"]
    return Reply(rejection.status, body)


# -- authentication and limits ---------------------------------------------------------------------


def _source(call: Call, api_key: str) -> dict[str, Any]:
    """TTO-API-KEY-AUTH / TTO-API-KEY-STATUS: the source a key belongs to, 401 for an unknown key."""
    record = call.state.get("sources", api_key)
    if record is None:
        raise Rejection(401, "unknown api_key: no HTTP API source has this key", ("TTO-API-KEY-AUTH", "TTO-API-KEY-STATUS"))
    return record


def _message_source(call: Call) -> str:
    """The checks every data message passes before its schema: a JSON object, ≤ 32 KB, a known key."""
    body = call.body
    if not isinstance(body, dict):
        # TTO-API-KEY-BODY: a body that is not an object cannot carry the key; 400 is TTO-BAD-INPUT's choice
        raise Rejection(400, "the request body must be a JSON object carrying api_key", ("TTO-API-KEY-BODY", "TTO-BAD-INPUT"))
    # the bytes received (chunked bodies included); the re-encoded body if the pipeline kept none
    size = len(call.raw_body) if call.raw_body else len(orjson.dumps(body))
    if size > PAYLOAD_LIMIT_BYTES:
        raise Rejection(400, f"request body of {size} bytes exceeds the 32 KB limit", ("TTO-PAYLOAD-LIMIT",))
    api_key = body.get("api_key")
    if not isinstance(api_key, str) or not api_key:
        # TTO-API-KEY-BODY: 請求體中必須添加 API 密鑰字段
        raise Rejection(401, "api_key is required in the request body", ("TTO-API-KEY-BODY", "TTO-API-KEY-STATUS"))
    return _source(call, api_key)["id"]


def _first_time(state: Scope, sid: str, msg_id: str, kind: str, now: float) -> bool:
    """TTO-MSG-ID-DEDUP: record msg_id; False when the source saw it within the dedup window.

    TTO-DEDUP-REPLAY-ACK (assumption): a source remembers its newest SEEN_PER_SOURCE msg_ids; one met
    after the window is forgotten and recorded anew. A slot's occupant is evicted only if it is still
    the record that slot was given (a msg_id recorded anew holds a newer slot)."""
    seen_kind = f"seen:{sid}"
    seen = state.get(seen_kind, msg_id)
    if seen is not None and now - seen["at"] < DEDUP_WINDOW_SECONDS:
        return False
    seq, evicted = bounded.push(state, f"seen-ring:{sid}", msg_id, SEEN_PER_SOURCE)
    if evicted is not None:
        evicted_id = evicted["id"]
        old = seen if evicted_id == msg_id else state.get(seen_kind, evicted_id)
        if old is not None and old.get("seq") == evicted["seq"]:
            state.delete(seen_kind, evicted_id)
    state.put(seen_kind, msg_id, {"type": kind, "at": now, "seq": seq})
    return True


# -- identity ---------------------------------------------------------------------------------------


def _merge(state: Scope, sid: str, target: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """TTO-ALIAS-MERGE: fold ``other`` into ``target``, re-pointing other's ids; TTO-ALIAS-PRECEDENCE
    (assumption): both profiles' traits are kept, target's (the user_id's) winning."""
    ids_kind = f"ids:{sid}"
    for role in ROLES:
        target[role] = list(dict.fromkeys(target[role] + other[role]))
        for identifier in other[role]:
            state.put(ids_kind, identifier, target["id"])
    target["traits"] = {**other["traits"], **target["traits"]}
    state.delete(f"profiles:{sid}", other["id"])
    return target


def _profile(state: Scope, sid: str, linked: list[tuple[str, str]], traits: Any = None) -> dict[str, Any]:
    """TTO-IDENTIFIERS: the profile the (role, identifier) pairs name, merged into one and saved.

    The first pair's profile survives a merge, so callers list the user_id first. ``traits``, when
    sent, are merged in before the one write (TTO-IDENTIFY-MERGE / TTO-TRACK-TRAITS-MERGE;
    TTO-IDENTIFY-MERGE-RULES, an assumption: sent keys overwrite, the others are kept).
    """
    ids_kind = f"ids:{sid}"
    profiles_kind = f"profiles:{sid}"
    if len(linked) == 1:
        # issue 9: one identity the index knows (a returning user's every track) has nothing to merge or re-point
        role, identifier = linked[0]
        owner = state.get(ids_kind, identifier)
        if owner is not None:
            profile = state.get(profiles_kind, owner)
            held = profile[role]
            changed = identifier not in held
            if changed:
                held.append(identifier)
            if owner != profile["id"]:
                state.put(ids_kind, identifier, profile["id"])
            return _save(state, profiles_kind, profile, changed, traits)
        found: list[str | None] = [None]
    else:
        found = [state.get(ids_kind, identifier) for _, identifier in linked]
    pids: list[str] = []
    for pid in found:
        if pid is not None and pid not in pids:
            pids.append(pid)
    if pids:
        profile = state.get(profiles_kind, pids[0])
        for pid in pids[1:]:
            profile = _merge(state, sid, profile, state.get(profiles_kind, pid))
    else:
        pid = linked[0][1]
        if state.get(profiles_kind, pid) is not None:  # a seeded profile may own that id as its name
            pid = f"{pid}#{uuid4_hex()[:8]}"
        profile = {"id": pid, **{role: [] for role in ROLES}, "traits": {}}
    changed = len(pids) != 1  # a new profile, or one another was merged into
    profile_id = profile["id"]
    for (role, identifier), owner in zip(linked, found):
        if identifier not in profile[role]:
            profile[role].append(identifier)
            changed = True
        if owner != profile_id:  # issue 9: a write that changes nothing is not made (a known id, every message)
            state.put(ids_kind, identifier, profile_id)
    return _save(state, profiles_kind, profile, changed, traits)


def _save(state: Scope, profiles_kind: str, profile: dict[str, Any], changed: bool, traits: Any) -> dict[str, Any]:
    """Merge the traits sent and write the profile once, only if it changed: a known identity's track
    without traits writes nothing here (issue 9)."""
    if traits:
        profile["traits"].update(traits)
        changed = True
    if changed:
        state.put(profiles_kind, profile["id"], profile)
    return profile


def _identity(body: dict[str, Any]) -> list[tuple[str, str]]:
    """The (role, identifier) pairs a track or identify names, the user_id first."""
    user_id = body.get("user_id")
    anonymous_id = body.get("anonymous_id")
    if user_id:
        return [("user_ids", user_id), ("anonymous_ids", anonymous_id)] if anonymous_id else [("user_ids", user_id)]
    return [("anonymous_ids", anonymous_id)] if anonymous_id else []


# -- handlers ---------------------------------------------------------------------------------------


def accept(call: Call, kind: str, apply: Apply) -> Reply:
    """Shared by track/identify/alias: auth, schema, dedup, then the operation's own effect.

    Public so that a variant of the mock (tests/mutants/tto.py) can swap the effect and keep the rest."""
    sid = _message_source(call)
    call.require_valid("body")  # TTO-TYPE-MATCH, TTO-IDENTITY-REQUIRED, TTO-TRACK-EVENT, TTO-ALIAS-IDS, …
    call = _text_objects_read(call, TEXT_OBJECTS.get(kind, ()))
    msg_id = call.body.get("msg_id") or f"mock-{uuid4_text()}"  # TTO-DEDUP-REPLAY-ACK: optional
    if _first_time(call.state, sid, msg_id, kind, call.now):
        apply(call, sid, msg_id)
    return Reply(200, {"success": True, "msg_id": msg_id})  # TTO-RESPONSE-SUCCESS


EVENT_FIELDS = ("event", "user_id", "anonymous_id", "timestamp", "properties", "traits", "products", "context")
# TTO-DATA-OBJECT-TYPE: the fields the track table types STRING, which the examples send as objects; either is taken
TEXT_OBJECTS: dict[str, tuple[str, ...]] = {"track": ("properties", "traits")}


def _text_objects_read(call: Call, fields: tuple[str, ...]) -> Call:
    """``call`` with each of ``fields`` sent as text read as the JSON object it holds (the schema let through only
    text shaped like one); text that holds no JSON object is refused, before anything is stored or deduplicated."""
    texts = {f: call.body[f] for f in fields if isinstance(call.body.get(f), str)}
    if not texts:
        return call
    read = {}
    for field, text in texts.items():
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            raise Rejection(400, f"{field} is text that holds no JSON object", ("TTO-DATA-OBJECT-TYPE",))
        read[field] = value
    call = dataclasses.replace(call, body={**call.body, **read})
    call.require_valid("body")  # what the text held is judged as if sent as the object (products inside, …)
    return call


def _store_track(call: Call, sid: str, msg_id: str) -> None:
    """TTO-TRACK-ENDPOINT: keep the event, attached to its profile by its identifiers; TTO-TRACK-TRAITS-MERGE."""
    body = call.body
    state = call.state
    _profile(state, sid, _identity(body), body.get("traits"))
    seq = (state.get("counters", sid) or 0) + 1
    state.put("counters", sid, seq)
    event = {"seq": seq, "msg_id": msg_id, "received_at": call.now}
    for field in EVENT_FIELDS:
        if field in body:
            event[field] = body[field]
    state.put(f"events:{sid}", f"{seq:010d}", event)


def _store_identify(call: Call, sid: str, msg_id: str) -> None:
    """TTO-IDENTIFY-MERGE; TTO-IDENTIFY-MERGE-RULES: user_id and anonymous_id sent together name one profile."""
    _profile(call.state, sid, _identity(call.body), call.body.get("traits"))


def _store_alias(call: Call, sid: str, msg_id: str) -> None:
    """TTO-ALIAS-MERGE: previous_id and user_id name one profile from now on."""
    _profile(call.state, sid, [("user_ids", call.body["user_id"]), ("previous_ids", call.body["previous_id"])])


def track(call: Call) -> Reply:
    return accept(call, "track", _store_track)


def identify(call: Call) -> Reply:
    return accept(call, "identify", _store_identify)


def alias(call: Call) -> Reply:
    return accept(call, "alias", _store_alias)


def settings(call: Call) -> Reply:
    """TTO-SETTINGS-QUERY-KEY: ?api_key=…, no body; TTO-SETTINGS-BODY (assumption) for the answer."""
    api_key = call.query.get("api_key")
    if not api_key:
        raise Rejection(401, "api_key is required in the query string", ("TTO-SETTINGS-QUERY-KEY", "TTO-API-KEY-STATUS"))
    record = _source(call, api_key)
    return Reply(
        200,
        {
            "success": True,
            "source": {"id": record["id"], "name": record["name"], "type": record["type"]},
            "destinations": record["destinations"],
        },
    )


# -- seed, demo, credentials, state -----------------------------------------------------------------


def load_seed(scope: Scope, section: dict[str, Any]) -> None:
    """``{sources: {api_key: {id, name?, destinations?}}, profiles: {source_id: {profile_id: {user_ids?,
    anonymous_ids?, previous_ids?, traits?}}}}``."""
    for api_key, record in (section.get("sources") or {}).items():
        sid = seed_string(record, "id", f"tto: source for api_key {api_key!r} needs {{id: SOURCE_ID}}")
        scope.put(
            "sources",
            api_key,
            {
                "id": sid,
                "name": record.get("name", sid),
                "type": SOURCE_TYPE,
                "destinations": list(record.get("destinations", [])),
            },
        )
    for sid, profiles in (section.get("profiles") or {}).items():
        for pid, raw in (profiles or {}).items():
            if not isinstance(raw, dict):
                raise ValueError(f"tto: profile {pid!r} of source {sid!r} must be a mapping")
            profile = {"id": pid, **{role: list(raw.get(role, [])) for role in ROLES}, "traits": dict(raw.get("traits", {}))}
            if not any(profile[role] for role in ROLES):
                profile["user_ids"] = [pid]
            for role in ROLES:
                for identifier in profile[role]:
                    scope.put(f"ids:{sid}", identifier, pid)
            scope.put(f"profiles:{sid}", pid, profile)


def demo() -> dict[str, Any]:
    """The document's placeholder key, and a second source that already knows a user_12345 of its own."""
    return {
        "sources": {
            DEMO_KEY: {
                "id": "demo-http-api",
                "name": "Demo HTTP API source",
                "destinations": [{"name": "TTO CDP", "enabled": True}],
            },
            OTHER_KEY: {"id": "demo-http-api-b", "name": "Second HTTP API source", "destinations": []},
        },
        "profiles": {
            "demo-http-api-b": {"user_12345": {"user_ids": ["user_12345"], "traits": {"email": "b-only@example.com"}}}
        },
    }


def credentials(scope: Scope) -> dict[str, Any]:
    """``check`` keys: api_key (the placeholder when present) and other_api_key (another source's key)."""
    sources = dict(scope.items("sources"))
    tenants = [{"api_key": key, "source": r["id"], "name": r["name"]} for key, r in sources.items()]
    keys = ([DEMO_KEY] if DEMO_KEY in sources else []) + [k for k in sources if k != DEMO_KEY]
    check: dict[str, Any] = {}
    if keys:
        check["api_key"] = keys[0]
        other = next((k for k in keys if sources[k]["id"] != sources[keys[0]]["id"]), None)
        if other is not None:
            check["other_api_key"] = other
    return {"tenants": tenants, "check": check}


def state_view(scope: Scope) -> dict[str, Any]:
    """Per source: its configuration, profiles (merged traits, linked ids), events, seen msg_ids."""
    out: dict[str, Any] = {}
    for api_key, record in scope.items("sources"):
        sid = record["id"]
        if sid in out:
            out[sid]["api_keys"].append(api_key)
            continue
        ids = dict(scope.items(f"ids:{sid}"))
        events = [
            {**event, "profile": ids.get(event.get("user_id") or "") or ids.get(event.get("anonymous_id") or "")}
            for _, event in scope.items(f"events:{sid}")
        ]
        out[sid] = {
            "api_keys": [api_key],
            "name": record["name"],
            "type": record["type"],
            "destinations": record["destinations"],
            "profiles": dict(scope.items(f"profiles:{sid}")),
            "ids": ids,
            "events": events,
            "seen_msg_ids": dict(scope.items(f"seen:{sid}")),
        }
    return {"sources": out}


VENDOR = Vendor(
    name="tto",
    title="TTO CDP HTTP API",
    handlers={"track": track, "identify": identify, "alias": alias, "settings": settings},
    render_error=render_error,
    input_errors=InputErrors(
        malformed_json=("TTO-BAD-INPUT", 400),
        wrong_content_type=("TTO-BAD-INPUT", 400),
        too_large=("TTO-PAYLOAD-LIMIT", 400),
        too_deep=("TTO-BAD-INPUT", 400),
    ),
    demo=demo,
    load_seed=load_seed,
    credentials=credentials,
    state_view=state_view,
)
