"""Sensors Focus real-time tags (seed 002): start/stop/get/delete/quota, online look-ups, H5 page.

Every answer is the envelope ``{code, message, request_id, data, error_info}`` (SF-ENVELOPE).
Errors carry an HTTP 4xx as well as a ``code`` other than SUCCESS (SF-ERROR-HTTP-STATUS: the
vendor signals the outcome in ``code``; the mock also uses the status so plain HTTP clients see
the failure). Tenants are (api-key, X-Organization-Id, sensorsdata-project); see
:mod:`cdpkit.mockserver.sensors_model` for state kinds and the tag model, :mod:`cdpkit.mockserver.sensors_h5`
for the iframe page.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from cdpkit.mockserver.sensors_model import (
    RUNNING, STOPPED, clock, compute, credentials, demo, load_seed, ok, project_key, quota, request_id,
    state_view, tag_values, user_by_identities,
)
from cdpkit.mockserver.vendor import Call, InputErrors, Rejection, Reply, Vendor

# SF-ERROR-CODES (assumption): HTTP status -> (envelope code, error_info code, cause, suggestion).
ERRORS: dict[int, tuple[str, str, str, str]] = {
    400: ("INVALID_ARGUMENT", "SF-D-F-1-1", "请求参数不合法 (invalid request parameters)", "check the request body and query"),
    401: ("UNAUTHENTICATED", "SF-D-F-2-1", "api-key 缺失或无效 (missing or unknown api-key)", "send a valid api-key header"),
    403: ("PERMISSION_DENIED", "SF-D-F-2-2", "组织或项目不匹配 (organization or project not accessible)", "check X-Organization-Id and sensorsdata-project"),
    404: ("NOT_FOUND", "SF-D-F-3-1", "对象不存在 (not found)", "check the tag name or user identifier"),
    405: ("INVALID_ARGUMENT", "SF-D-F-1-4", "method not allowed", "use the documented method"),
    409: ("FAILED_PRECONDITION", "SF-D-F-4-1", "当前状态不允许该操作 (not allowed in the current state)", "check the tag status and the quota"),
    413: ("INVALID_ARGUMENT", "SF-D-F-1-2", "请求体过大 (request body too large)", "send a smaller body"),
    415: ("INVALID_ARGUMENT", "SF-D-F-1-3", "Content-Type 不支持 (unsupported content type)", "send application/json"),
}
INTERNAL = ("INTERNAL", "SF-D-F-9-1", "服务内部错误 (server error)", "retry later")


def _h5() -> ModuleType:
    """The iframe page's module, imported when an H5 operation is first called: a start of the mock
    compiles and imports none of it (issue 9)."""
    from cdpkit.mockserver import sensors_h5

    return sensors_h5


def h5_realtime_tag_page(call: Call) -> Reply:
    """SF-H5-*: the iframe page (cdpkit.mockserver.sensors_h5.page)."""
    return _h5().page(call)


def h5_save_realtime_tag(call: Call) -> Reply:
    """SF-H5-SAVE: the page's save (cdpkit.mockserver.sensors_h5.save)."""
    return _h5().save(call)


def render_error(rejection: Rejection, call: Call | None) -> Reply:
    """SF-ERROR-INFO / SF-ERROR-HTTP-STATUS: the envelope with error_info; HTML for the H5 page."""
    if call is not None and call.operation_id == "h5_realtime_tag_page":
        return _h5().error_page(rejection, call)
    code, info_code, cause, suggestion = ERRORS.get(rejection.status, INTERNAL)
    code = rejection.detail.get("code", code)
    context: dict[str, Any] = {"requirements": list(rejection.requirement_ids)}
    if call is not None:
        context["path"] = call.request.path
    if "violations" in rejection.detail:
        context["violations"] = rejection.detail["violations"]
    body = {
        "code": code,
        "message": rejection.message,
        "request_id": request_id(),
        "data": None,
        "error_info": {
            "code": info_code,
            "description": rejection.message,
            "system_response": f"{code}: the request was not carried out",
            "error_causes": [{"error_cause": cause, "action_suggestion": suggestion}],
            "context": context,
        },
    }
    return Reply(rejection.status, body)


def tenant(call: Call) -> str:
    """SF-HEADERS-ENFORCED / SF-AUTH-ERRORS: the project key the three headers name.

    The document only shows the three headers on every call (SF-HEADERS-REQUIRED, a sender
    convention); refusing a call without them, or naming no tenant, is VENDOR-NOTES. Every tag and
    user a handler reads or writes is under this key, which is all of SF-TENANT-ISOLATION."""
    return tenant_project(call)[0]


def tenant_project(call: Call) -> tuple[str, dict[str, Any]]:
    """:func:`tenant`, with the project record it read: a handler that needs the record reads it once."""
    call.require_valid("headers", status=401)  # a plain schema: checked without a copy (validation.py)
    key = call.state.get("keys", call.headers["api-key"])
    if key is None:
        raise Rejection(401, "unknown api-key", ("SF-HEADERS-ENFORCED", "SF-AUTH-ERRORS"))
    organization = call.headers["X-Organization-Id"]
    if organization != key["organization_id"]:
        raise Rejection(403, f"this api-key does not belong to organization {organization!r}", ("SF-HEADERS-ENFORCED", "SF-AUTH-ERRORS"))
    pkey = project_key(organization, call.headers["sensorsdata-project"])
    project = call.state.get("projects", pkey)
    if project is None:
        raise Rejection(403, f"organization {organization!r} has no project {call.headers['sensorsdata-project']!r}",
                        ("SF-HEADERS-ENFORCED", "SF-AUTH-ERRORS"))
    return pkey, project


def _tag(call: Call, pkey: str, name: str) -> dict[str, Any]:
    tag = call.state.get(f"tags:{pkey}", name)
    if tag is None:
        raise Rejection(404, f"real-time tag {name!r} does not exist", ("SF-TAG-NOT-FOUND",))
    return tag


def named_tag(call: Call) -> tuple[str, dict[str, Any]]:
    """The tenant's project key and the tag the body names (refused if it names none, SF-TAG-NOT-FOUND)."""
    pkey = tenant(call)
    call.require_valid("body")  # SF-TAG-NAME-BODY
    return pkey, _tag(call, pkey, call.body["name"])


def start_realtime_tag(call: Call) -> Reply:
    """SF-START / SF-LIFECYCLE: RUNNING, values computed (SF-COMPUTE-MODEL), one quota unit used."""
    pkey, tag = named_tag(call)
    if tag["status"] == RUNNING:  # SF-IDEMPOTENT
        return ok()
    if quota(call.state, pkey)["remain"] <= 0:
        raise Rejection(409, "the real-time tag quota is used up", ("SF-QUOTA-MODEL",), {"code": "RESOURCE_EXHAUSTED"})
    tag.update(status=RUNNING, update_time=clock(call.now))
    call.state.put(f"tags:{pkey}", tag["name"], tag)
    compute(call.state, pkey, tag, call.now)
    return ok()


def stop_realtime_tag(call: Call) -> Reply:
    """SF-STOP / SF-TAG-STATUS: STOPPED; values are no longer served and the quota unit is freed."""
    pkey, tag = named_tag(call)
    if tag["status"] == RUNNING:
        tag.update(status=STOPPED, update_time=clock(call.now))
        call.state.put(f"tags:{pkey}", tag["name"], tag)
    return ok()  # SF-IDEMPOTENT: stopping a tag that is not running changes nothing


def delete_realtime_tag(call: Call) -> Reply:
    """SF-DELETE; SF-DELETE-RUNNING: a running tag must be stopped first."""
    pkey, tag = named_tag(call)
    if tag["status"] == RUNNING:
        raise Rejection(409, f"real-time tag {tag['name']!r} is running; stop it before deleting it", ("SF-DELETE-RUNNING",))
    call.state.delete(f"tags:{pkey}", tag["name"])
    call.state.delete(f"computed:{pkey}", tag["name"])
    return ok()


def get_realtime_tag(call: Call) -> Reply:
    """SF-GET / SF-GET-FIELDS: the documented realtime_tag object."""
    pkey = tenant(call)
    call.require_valid("query")  # SF-GET-NAME-REQUIRED
    return ok({"realtime_tag": _tag(call, pkey, call.query["name"])})


def query_realtime_tag_quota(call: Call) -> Reply:
    """SF-QUOTA: {remain, use} for the project."""
    pkey = tenant(call)
    if call.body is not None:
        call.require_valid("body")  # SF-QUOTA-BODY
    return ok(quota(call.state, pkey))


def _find_user(call: Call, pkey: str, entity_id: dict[str, Any], project: dict[str, Any]) -> dict[str, Any]:
    """SF-ONLINE-AUDIENCE-ID / SF-ONLINE-ENTITY-ID; SF-ONLINE-UNKNOWN-USER: an unknown user is an error.
    ``project``: the tenant's project record, as :func:`tenant_project` read it."""
    if "entity_id" in entity_id:
        given = entity_id["entity_id"]
        wanted = str(given.get("int_value") if given["data_type"] == "INT" else given.get("string_value"))
        found = call.state.get(f"users:{pkey}", wanted)
    else:
        wanted_map = entity_id["identity_id_map"]
        found = user_by_identities(call.state, pkey, wanted_map, project)  # O(1) through the identity index
        if found is None:
            wanted = ", ".join(f"{k}={v}" for k, v in wanted_map.items())
    if found is None:
        raise Rejection(404, f"用户不存在 (user does not exist): {wanted}", ("SF-ONLINE-UNKNOWN-USER",),
                        {"code": "USER_NOT_FOUND"})
    return found


NOT_READY = "NOT_READY"


def _sources(call: Call, pkey: str, names: list[str]) -> dict[str, Any]:
    """What a look-up answers for each attribute name, whoever the user: None (listed without value), NOT_READY,
    or the running tag and the function that gives each user's value (:func:`tag_values`).

    SF-ONLINE-UNKNOWN-TAG (and, in a batch, SF-BATCH-UNKNOWN-TAG) / SF-ONLINE-STALE-TAG: no value unless
    the tag runs and is computed. Any name is answered, an empty one too: it names no tag. Each name's tag
    is read once per request, however many users a batch names (or times a name repeats)."""
    tags, computed_kind, now = f"tags:{pkey}", f"computed:{pkey}", call.now
    sources: dict[str, Any] = {}
    for name in names:
        if name in sources:
            continue
        tag = call.state.get(tags, name)
        if tag is None or tag["status"] != RUNNING:
            sources[name] = None
            continue
        computed = call.state.get(computed_kind, name) or {"ready_at": float("inf"), "values": {}}
        sources[name] = NOT_READY if now < computed["ready_at"] else (tag, tag_values(computed, tag))  # SF-COMPUTE-MODEL
    return sources


def _attribute(name: str, source: Any, user: dict[str, Any]) -> dict[str, Any]:
    """One entry of audience_entity_attributes, a fresh one each time (nothing of a reply is shared)."""
    if source is None:
        return {"name": name}
    if source is NOT_READY:
        return {"name": name, "error_msg": NOT_READY}
    tag, value_of = source
    value = value_of(user)
    if value is None:
        return {"name": name}
    return {"name": name, "value": {"data_type": tag["data_type"], "string_value": value, "list_value": []}}


def _entity_id(stored: str) -> dict[str, str]:
    """An id the store keeps as text answers as INT when it is an integer (the examples), else as STRING."""
    if stored.lstrip("-").isdigit():
        return {"data_type": "INT", "int_value": stored}
    return {"data_type": "STRING", "string_value": stored}


def _audience_entity(entity_name: str, user: dict[str, Any], names: list[str], sources: dict[str, Any]) -> dict[str, Any]:
    return {
        "entity_id": _entity_id(str(user["entity_id"])),
        "entity_name": entity_name,
        "audience_entity_attributes": [_attribute(n, sources[n], user) for n in names],
    }


def _entity_name(call: Call) -> str:
    """SF-ONLINE-ENTITY-NAME: absent means user. SF-ONLINE-ENTITY-ID (assumption): only the user entity is modeled."""
    name = call.body.get("entity_name", "user")
    if name != "user":
        raise Rejection(404, f"entity {name!r} does not exist (the mock models the user entity only)", ("SF-ONLINE-ENTITY-ID",))
    return name


def get_online_attributes(call: Call) -> Reply:
    """SF-ONLINE-GET / SF-ONLINE-RESPONSE."""
    pkey, project = tenant_project(call)
    call.require_valid("body")
    entity_name = _entity_name(call)
    user = _find_user(call, pkey, call.body["audience_entity_id"], project)
    names = call.body["attribute_names"]
    return ok({"audience_entity": _audience_entity(entity_name, user, names, _sources(call, pkey, names))})


def batch_get_online_attributes(call: Call) -> Reply:
    """SF-BATCH-GET / SF-BATCH-RESPONSE; SF-BATCH-UNKNOWN-USER: one unknown user fails the call;
    SF-BATCH-UNKNOWN-TAG: an unknown tag is listed without value, as in the single look-up."""
    pkey, project = tenant_project(call)
    call.require_valid("body")
    entity_name = _entity_name(call)
    users = [_find_user(call, pkey, ident, project) for ident in call.body["audience_entity_ids"]]
    names = call.body["attribute_names"]
    sources = _sources(call, pkey, names) if users else {}
    return ok({"audience_entities": [_audience_entity(entity_name, u, names, sources) for u in users]})


VENDOR = Vendor(
    name="sensors",
    title="Sensors Focus real-time tags",
    handlers={
        "start_realtime_tag": start_realtime_tag,
        "stop_realtime_tag": stop_realtime_tag,
        "get_realtime_tag": get_realtime_tag,
        "delete_realtime_tag": delete_realtime_tag,
        "query_realtime_tag_quota": query_realtime_tag_quota,
        "get_online_attributes": get_online_attributes,
        "batch_get_online_attributes": batch_get_online_attributes,
        "h5_realtime_tag_page": h5_realtime_tag_page,
        "h5_save_realtime_tag": h5_save_realtime_tag,
    },
    render_error=render_error,
    input_errors=InputErrors(
        malformed_json=("SF-BAD-INPUT", 400),
        wrong_content_type=("SF-BAD-INPUT", 415),
        too_large=("SF-BAD-INPUT", 413),
        too_deep=("SF-BAD-INPUT", 400),
    ),
    demo=demo,
    load_seed=load_seed,
    credentials=credentials,
    state_view=state_view,
)
