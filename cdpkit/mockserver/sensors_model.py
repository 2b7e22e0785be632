"""Sensors Focus real-time tags: the domain model behind the handlers of :mod:`cdpkit.mockserver.sensors`.

A tag's ``rule`` (a JSON text, SF-GET-RULE-JSON-STRING) is a list of layers, each an EQL condition
and the value (``tag``) users matching it get (the rule language: :mod:`cdpkit.mockserver.sensors_eql`).
A started tag's value for a user is its rule evaluated on that user's profile (SF-COMPUTE-MODEL).

State kinds, per tenant project ``P = "<organization>/<project>"``:
``keys`` (api-key -> {organization_id}), ``projects`` (P -> project record), ``tags:P`` (name ->
the documented realtime_tag object), ``computed:P`` (name -> {ready_at, values: {entity_id: value}}),
``users:P`` (entity_id -> {entity_id, identities, profile}).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

from cdpkit.mockserver.ids import uuid4_hex
from cdpkit.mockserver.sensors_eql import (  # noqa: F401 (the rule language: sensors_h5, sensors_seed and tests import it from here)
    MAX_EQL_DEPTH,
    EqlError,
    build_rule,
    compile_eql,
    compile_rule,
    eql_matches,
    layer_value,
)
from cdpkit.mockserver.store import Scope
from cdpkit.mockserver.vendor import Reply

# SF-TAG-STATUS-VALUES (assumption): STOPPED is the document's; CREATED and RUNNING are the mock's.
CREATED, RUNNING, STOPPED = "CREATED", "RUNNING", "STOPPED"
CHINA = timezone(timedelta(hours=8))
TAG_DEFAULTS: dict[str, Any] = {
    "group_id": None, "comment": "", "type": "GROUP_BASED", "use_instant_event": False,
    "data_type": "STRING", "status": CREATED, "time_zone": "",
}


def clock(now: float) -> str:
    """The document's time format (``2025-04-18 17:29:44``), in China time."""
    return datetime.fromtimestamp(now, CHINA).strftime("%Y-%m-%d %H:%M:%S")


def project_key(organization_id: str, project: str) -> str:
    return f"{organization_id}/{project}"


def compute(scope: Scope, pkey: str, tag: dict[str, Any], now: float, ready_now: bool = False) -> None:
    """SF-COMPUTE-MODEL: a started (or edited, running) tag's values are served after the project's delay.

    A user's value is the tag's rule evaluated on that user's profile when it is looked up
    (:func:`tag_value`), so starting a tag, or a seed, costs the same for ten users as for a million:
    no request walks every user of a project. The rule is read here, so one that cannot be evaluated
    fails now rather than at a later look-up."""
    compile_rule(tag["rule"])
    delay = 0.0 if ready_now else float(scope.get("projects", pkey).get("compute_delay_seconds", 0))
    scope.put(f"computed:{pkey}", tag["name"], {"ready_at": now + delay})


def tag_value(computed: dict[str, Any], tag: dict[str, Any], user: dict[str, Any]) -> str | None:
    """A computed tag's value for one user (None: the user matches no layer)."""
    return tag_values(computed, tag)(user)


def tag_values(computed: dict[str, Any], tag: dict[str, Any]) -> Callable[[dict[str, Any]], str | None]:
    """:func:`tag_value` with the tag and its computed record fixed: a look-up reads the rule once and applies
    it to each user it names."""
    if "values" in computed:  # a state saved when values were computed for every user at start
        values = computed["values"]
        return lambda user: values.get(user["entity_id"])
    layers = compile_rule(tag["rule"]) or ()

    def value(user: dict[str, Any]) -> str | None:
        profile = user.get("profile") or {}
        for layer_tag, matches in layers:
            if matches(profile):
                return layer_tag
        return None
    return value


# -- users by identity (SF-ONLINE-AUDIENCE-ID): kind ``identities:P``, one key per (name, value) ------

def identity_key(name: str, value: Any) -> str:
    """The index key of one identity: compact JSON of ``[name, value]``, non-ASCII kept as is.

    Every look-up by identity computes one, so text (the usual identity) goes through orjson, whose output
    for a str is byte for byte ``json.dumps``'s with these options (checked over every code point); what
    orjson writes otherwise or refuses (numbers, mappings, lone surrogates) takes the json module's way."""
    if type(name) is str and type(value) is str:
        try:
            return orjson.dumps([name, value]).decode()
        except orjson.JSONEncodeError:
            pass
    return json.dumps([name, value], ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _index(scope: Scope, pkey: str, entity_id: str, identities: dict[str, Any], add: bool) -> None:
    kind = f"identities:{pkey}"
    for name, value in identities.items():
        key = identity_key(name, value)
        ids = [i for i in scope.get(kind, key) or [] if i != entity_id]
        if add:
            ids = sorted([*ids, entity_id])
        if ids:
            scope.put(kind, key, ids)
        else:
            scope.delete(kind, key)


def put_user(scope: Scope, pkey: str, user: dict[str, Any]) -> None:
    """Store a user and keep the identity index in step, through the same pending writes (a refused
    request or seed changes neither)."""
    users = f"users:{pkey}"
    old = scope.get(users, user["entity_id"])
    if old is not None:
        _index(scope, pkey, old["entity_id"], old.get("identities") or {}, add=False)
    scope.put(users, user["entity_id"], user)
    _index(scope, pkey, user["entity_id"], user["identities"], add=True)


def user_by_identities(scope: Scope, pkey: str, wanted: dict[str, Any],
                       project: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The first user (in entity_id order) whose identities include every pair of ``wanted``: O(1) through the
    index; a project stored before the index existed is scanned until its next seed builds it. ``project``:
    the project record when the caller has read it already (the look-up then reads it no second time)."""
    users = f"users:{pkey}"
    if project is None:
        project = scope.get("projects", pkey) or {}
    if not wanted or not project.get("identity_index"):
        return next((u for _, u in scope.items(users) if all(u["identities"].get(k) == v for k, v in wanted.items())), None)
    name, value = next(iter(wanted.items()))
    for entity_id in scope.get(f"identities:{pkey}", identity_key(name, value)) or []:
        user = scope.get(users, entity_id)
        if user is None:
            continue
        identities = user["identities"]
        for k, v in wanted.items():
            if identities.get(k) != v:
                break
        else:
            return user
    return None


def quota(scope: Scope, pkey: str) -> dict[str, int]:
    """SF-QUOTA-MODEL: units in use = units held elsewhere + running tags; remain = total - use."""
    project = scope.get("projects", pkey)
    running = sum(1 for _, tag in scope.items(f"tags:{pkey}") if tag["status"] == RUNNING)
    use = int(project["quota"]["other_use"]) + running
    return {"remain": max(int(project["quota"]["total"]) - use, 0), "use": use}


def new_tag(project: dict[str, Any], fields: dict[str, Any], now: float) -> dict[str, Any]:
    """A documented realtime_tag object from seed or H5 fields; the project record's id counter advances."""
    tag_id = fields.get("id", project["next_tag_id"])
    project["next_tag_id"] = max(project["next_tag_id"], tag_id + 1)
    rule = fields.get("rule") or build_rule(fields.get("layers") or [])
    stamp = clock(now)
    given = {**TAG_DEFAULTS, **{k: fields[k] for k in TAG_DEFAULTS if k in fields}}
    return {
        "id": tag_id, "name": fields["name"], "cname": fields.get("cname", fields["name"]),
        "project_id": project["project_id"], **given, "rule": rule,
        "create_time": fields.get("create_time", stamp), "update_time": fields.get("update_time", stamp),
    }


def request_id() -> str:
    """SF-REQUEST-ID (assumption): 32 lowercase hex digits, like every example."""
    return uuid4_hex()


def ok(data: Any = None) -> Reply:
    """SF-ENVELOPE: the success envelope, every field of VENDOR-NOTES present; data {} when there is none."""
    body = {"code": "SUCCESS", "message": None, "request_id": request_id(), "data": {} if data is None else data,
            "error_info": None}
    return Reply(200, body)


# -- seed data, demo, credentials, state view ----------------------------------------------------

DEMO_KEY = "#K-7IGwJpE2M9CpID4101qj2hWg9t59hoF3"
DEMO_ORG = "org-sep-3164dp4"
OTHER_KEY = "#K-cdpkitDemoTenantB0000000000000000"
OTHER_ORG = "org-cdpkit-demo-b"
IF1_RULE = build_rule([{"eql": "user.age == 11", "tag": "分层 1"}])


def _need(ok_: bool, message: str) -> None:
    if not ok_:
        raise ValueError(f"sensors seed: {message}")


def _load_project(scope: Scope, organization: str, name: str, body: dict[str, Any], now: float) -> None:
    pkey = project_key(organization, name)
    project = scope.get("projects", pkey) or {
        "organization_id": organization, "project": name, "project_id": 1, "next_tag_id": 1,
        "quota": {"total": 600, "other_use": 0}, "compute_delay_seconds": 0, "disposable_tags": [], "identity_index": 1,
    }
    for key in ("project_id", "compute_delay_seconds"):
        if key in body:
            project[key] = body[key]
    project["quota"].update(body.get("quota") or {})
    if not project.get("identity_index"):  # a project stored before the index existed: build it once
        for _, user in scope.items(f"users:{pkey}"):
            _index(scope, pkey, user["entity_id"], user.get("identities") or {}, add=True)
        project["identity_index"] = 1
    for user in body.get("users") or []:
        _need(isinstance(user, dict) and "entity_id" in user, f"{pkey}: a user needs entity_id, got {user!r}")
        put_user(scope, pkey, {"entity_id": str(user["entity_id"]), "identities": dict(user.get("identities") or {}),
                               "profile": dict(user.get("profile") or {})})
    for fields in body.get("tags") or []:
        _need(isinstance(fields, dict) and isinstance(fields.get("name"), str), f"{pkey}: a tag needs a name, got {fields!r}")
        existing = scope.get(f"tags:{pkey}", fields["name"])
        tag = new_tag(project, {**(existing or {}), **fields}, now)
        _need(tag["status"] in (CREATED, RUNNING, STOPPED), f"{pkey}: tag status must be CREATED, RUNNING or STOPPED")
        scope.put(f"tags:{pkey}", tag["name"], tag)
        if fields.get("disposable") and tag["name"] not in project["disposable_tags"]:
            project["disposable_tags"].append(tag["name"])
    scope.put("projects", pkey, project)
    for _, tag in scope.items(f"tags:{pkey}"):
        if tag["status"] == RUNNING:  # seeded running tags are computed already (users added later join them)
            compute(scope, pkey, tag, now, ready_now=True)


def load_seed(scope: Scope, section: dict[str, Any]) -> None:
    """``{organizations: {org: {api_keys: [...], projects: {name: {project_id?, quota?: {total, other_use},
    compute_delay_seconds?, users: [{entity_id, identities, profile}], tags: [{name, …, layers|rule, disposable?}]}}}}}``."""
    now = time.time()
    for organization, org_body in (section.get("organizations") or {}).items():
        _need(isinstance(org_body, dict), f"organization {organization!r} needs a mapping")
        for key in org_body.get("api_keys") or []:
            scope.put("keys", key, {"organization_id": organization})
        for name, body in (org_body.get("projects") or {}).items():
            _load_project(scope, organization, name, body or {}, now)


def demo() -> dict[str, Any]:
    """Every example of the document (SF-DEMO-RECONCILE), a disposable tag, and a second tenant."""
    sddd = {"entity_id": "-2443016794336717482", "identities": {"distinct_id": "sddd"}, "profile": {"age": 11, "city": "上海"}}
    return {"organizations": {
        DEMO_ORG: {"api_keys": [DEMO_KEY], "projects": {"default": {
            "project_id": 2, "quota": {"total": 600, "other_use": 31},
            "users": [sddd, {"entity_id": "224266287", "identities": {"distinct_id": "lisi"}, "profile": {"age": 25, "city": None}}],
            "tags": [
                {"id": 73, "name": "user_rt_tag_if1", "cname": "iframe 创建11121", "group_id": 5, "comment": "1", "status": STOPPED,
                 "rule": IF1_RULE, "create_time": "2025-04-18 17:29:44", "update_time": "2025-04-18 17:39:42"},
                {"id": 74, "name": "user_rt_tag_fencengshuzhiyunsuanfuyanzheng", "cname": "分层数值运算符验证", "group_id": 5,
                 "status": RUNNING, "layers": [{"eql": "user.age == 11", "tag": "分层1"}, {"eql": "user.age >= 18", "tag": "分层2"}],
                 "create_time": "2025-04-18 17:40:02", "update_time": "2025-04-18 17:41:10"},
                {"id": 75, "name": "user_rt_tag_disposable_demo", "cname": "可删除的演示标签", "group_id": 5, "status": STOPPED,
                 "layers": [{"eql": "user.city.is_null()", "tag": "无城市"}], "disposable": True,
                 "create_time": "2025-04-18 17:45:00", "update_time": "2025-04-18 17:45:00"},
            ],
        }}},
        OTHER_ORG: {"api_keys": [OTHER_KEY], "projects": {"production": {
            "project_id": 7, "quota": {"total": 100, "other_use": 0},
            "users": [{"entity_id": "9001", "identities": {"distinct_id": "sddd"}, "profile": {"age": 40}}],
            "tags": [{"id": 12, "name": "user_rt_tag_if1", "cname": "tenant B tag", "group_id": 1, "status": RUNNING,
                      "layers": [{"eql": "user.age >= 18", "tag": "B 成人"}]}],
        }}},
    }}


def credentials(scope: Scope) -> dict[str, Any]:
    """Tenants, and the check keys: api_key, organization_id, project, tag_name, disposable_tag_name, distinct_id."""
    keys = dict(scope.items("keys"))
    projects = dict(scope.items("projects"))
    tenants = [{"api_key": k, "organization_id": r["organization_id"],
                "projects": sorted(p["project"] for p in projects.values() if p["organization_id"] == r["organization_id"])}
               for k, r in keys.items()]
    check: dict[str, Any] = {}
    for key in sorted(keys, key=lambda k: k != DEMO_KEY):
        org = keys[key]["organization_id"]
        for pkey, project in sorted(projects.items(), key=lambda kv: kv[1]["project"] != "default"):
            if project["organization_id"] != org:
                continue
            tags = dict(scope.items(f"tags:{pkey}"))
            disposable = [t for t in project["disposable_tags"] if t in tags]
            startable = sorted((t for t in tags if t not in disposable), key=lambda t: (tags[t]["status"] == RUNNING, t != "user_rt_tag_if1"))
            distinct = next((u["identities"]["distinct_id"] for _, u in scope.items(f"users:{pkey}") if "distinct_id" in u["identities"]), None)
            if startable and disposable and distinct is not None:
                check = {"api_key": key, "organization_id": org, "project": project["project"], "tag_name": startable[0],
                         "disposable_tag_name": disposable[0], "distinct_id": distinct}
                return {"tenants": tenants, "check": check}
    return {"tenants": tenants, "check": check}


def _with_values(tag: dict[str, Any], record: dict[str, Any] | None, users: dict[str, Any]) -> dict[str, Any] | None:
    """A computed record with every user's value, as the state view shows it."""
    if record is None or "values" in record:
        return record
    return {**record, "values": {eid: v for eid, user in users.items() if (v := tag_value(record, tag, user)) is not None}}


def state_view(scope: Scope) -> dict[str, Any]:
    """Per project: quota, tags with status and computed values, users."""
    out: dict[str, Any] = {"api_keys": dict(scope.items("keys")), "projects": {}}
    for pkey, project in scope.items("projects"):
        computed = dict(scope.items(f"computed:{pkey}"))
        users = dict(scope.items(f"users:{pkey}"))
        out["projects"][pkey] = {
            **project,
            "quota_now": quota(scope, pkey),
            "tags": {name: {**tag, "computed": _with_values(tag, computed.get(name), users)} for name, tag in scope.items(f"tags:{pkey}")},
            "users": users,
        }
    return out
