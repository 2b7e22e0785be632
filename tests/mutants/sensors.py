"""Sensors Focus mutants (one defect each, caught by the named requirement) and over-spec variants (pass)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any, Iterator
from urllib.parse import quote

from cdpkit.mockserver import sensors
from cdpkit.mockserver.sensors_model import RUNNING, STOPPED, clock, compute, layer_value, ok, project_key, tag_value
from cdpkit.mockserver.vendor import Call, Handler, InputErrors, Rejection, Reply, Vendor
from tests.mutants import Mutant, erroring, on_refusal, replying, with_body, with_headers, without_field, wrapping

API_OPS = ("start_realtime_tag", "stop_realtime_tag", "get_realtime_tag", "delete_realtime_tag", "query_realtime_tag_quota",
           "get_online_attributes", "batch_get_online_attributes")


def _nameless_start_ok(original: Handler) -> Handler:
    def handler(call: Call) -> Reply:
        name = call.body.get("name") if isinstance(call.body, dict) else None
        if not isinstance(name, str) or not name:
            sensors.tenant(call)
            return ok()
        return original(call)
    return handler


def _acknowledge_only(original: Handler) -> Handler:
    """Answers SUCCESS for an existing tag but changes nothing (a stop that does not stop, a delete that does not delete)."""
    def handler(call: Call) -> Reply:
        sensors.named_tag(call)
        return ok()
    return handler


def _unknown_user_empty(original: Handler) -> Handler:
    def handler(call: Call) -> Reply:
        try:
            return original(call)
        except Rejection as rejection:
            if rejection.detail.get("code") != "USER_NOT_FOUND":
                raise
            names = call.body["attribute_names"]
            return ok({"audience_entity": {"entity_id": {"data_type": "INT", "int_value": "0"}, "entity_name": "user",
                                           "audience_entity_attributes": [{"name": n} for n in names]}})
    return handler


def _unknown_tag_error(original: Handler) -> Handler:
    def handler(call: Call) -> Reply:
        pkey = sensors.tenant(call)
        names = call.body.get("attribute_names") if isinstance(call.body, dict) else None
        for name in names if isinstance(names, list) else []:
            if isinstance(name, str) and call.state.get(f"tags:{pkey}", name) is None:
                raise Rejection(404, f"real-time tag {name!r} does not exist", ("SF-ONLINE-UNKNOWN-TAG",))
        return original(call)
    return handler


def _values_before_start(original: Handler) -> Handler:
    """Serves a tag's layer value whether or not the tag was started (computed on the fly)."""
    def handler(call: Call) -> Reply:
        reply = original(call)
        if reply.status != 200:
            return reply
        pkey = sensors.tenant(call)
        entity = reply.body["data"]["audience_entity"]
        user = call.state.get(f"users:{pkey}", entity["entity_id"]["int_value"]) or {}
        for entry in entity["audience_entity_attributes"]:
            tag = call.state.get(f"tags:{pkey}", entry["name"])
            if tag is not None and tag["status"] != RUNNING:
                value = layer_value(tag["rule"], user.get("profile", {}))
                if value is not None:
                    entry["value"] = {"data_type": "STRING", "string_value": value, "list_value": []}
        return reply
    return handler



def _value_without_string_value(call: Call, reply: Reply) -> Reply:
    """A STRING value carries its text under another key (text_value), not string_value."""
    if reply.status == 200:
        for entry in reply.body["data"]["audience_entity"]["audience_entity_attributes"]:
            if "value" in entry:
                entry["value"] = {"data_type": "STRING", "text_value": entry["value"]["string_value"]}
    return reply


def _rule_as_object(call: Call, reply: Reply) -> Reply:
    if reply.status == 200:
        tag = reply.body["data"]["realtime_tag"]
        tag["rule"] = json.loads(tag["rule"])
    return reply


def _other_message_key(call: Call, reply: Reply) -> Reply:
    if reply.status == 200 and isinstance(reply.body, str):
        return Reply(200, reply.body.replace("SENSORS_SF_REALTIME_TAG_SEND", "SENSORS_RT_TAG"), content_type=reply.content_type)
    return reply


def _edit_posts_create(call: Call, reply: Reply) -> Reply:
    if reply.status == 200 and isinstance(reply.body, str):
        return Reply(200, reply.body.replace("EDIT_SUCCESS", "CREATE_SUCCESS"), content_type=reply.content_type)
    return reply


# Over-specification variants: other reasonable choices where the document is silent.
def _errors_at_200(rejection: Rejection, reply: Reply) -> Reply:
    """VENDOR-NOTES: the outcome is in code, not in the HTTP status."""
    return reply if reply.content_type != "application/json" else Reply(200, reply.body)


def _extra_fields(call: Call, reply: Reply) -> Reply:
    if reply.status == 200 and isinstance(reply.body, dict):
        reply.body.update(message="success", trace_id="t-1", cost_ms=3)
        data = reply.body.get("data")
        if isinstance(data, dict) and "realtime_tag" in data:
            data["realtime_tag"]["creator"] = "admin"
        for entity in ([data.get("audience_entity")] if isinstance(data, dict) and "audience_entity" in data else []) + \
                (data.get("audience_entities", []) if isinstance(data, dict) else []):
            entity["request_identity"] = "x"
            for entry in entity["audience_entity_attributes"]:
                entry.setdefault("error_msg", "SUCCESS")
    return reply


def _organization_from_key(original: Handler) -> Handler:
    """SF-HEADERS-ENFORCED, another choice: the api-key names the organization; X-Organization-Id may be left out."""
    def handler(call: Call) -> Reply:
        if not call.headers.get("X-Organization-Id") and call.headers.get("api-key"):
            key = call.state.get("keys", call.headers["api-key"])
            if key is not None:
                call = with_headers(call, **{"X-Organization-Id": key["organization_id"]})
        return original(call)
    return handler


def _coerced(body: object) -> object:
    """SF-REQUEST-FORMS, another choice: lenient binding (a bare string is a one-name list, a number an
    identity's digits, an empty or null entity_name absent, a single object a one-user batch)."""
    if not isinstance(body, dict):
        return body
    body = dict(body)
    if isinstance(body.get("attribute_names"), str):
        body["attribute_names"] = [body["attribute_names"]]
    if body.get("entity_name") in ("", None):
        body.pop("entity_name", None)
    if isinstance(body.get("audience_entity_ids"), dict):
        body["audience_entity_ids"] = [body["audience_entity_ids"]]
    ids = [body.get("audience_entity_id")] + (body.get("audience_entity_ids") if isinstance(body.get("audience_entity_ids"), list) else [])
    for ident in ids:
        names = ident.get("identity_id_map") if isinstance(ident, dict) else None
        if isinstance(names, dict):
            ident["identity_id_map"] = {k: str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for k, v in names.items()}
    return body


def _lenient_binding(original: Handler) -> Handler:
    return lambda call: original(with_body(call, _coerced(call.body)))


def _batch_omits_unknown_tags(call: Call, reply: Reply) -> Reply:
    """SF-BATCH-UNKNOWN-TAG, another choice: the batch leaves out a tag that does not exist."""
    if reply.status == 200:
        pkey = project_key(call.headers["X-Organization-Id"], call.headers["sensorsdata-project"])
        for entity in reply.body["data"]["audience_entities"]:
            entity["audience_entity_attributes"] = [e for e in entity["audience_entity_attributes"]
                                                    if call.state.get(f"tags:{pkey}", e["name"]) is not None]
    return reply


def _batch_skips_unknown_users(original: Handler) -> Handler:
    """SF-BATCH-UNKNOWN-USER, another choice: users that do not exist (or items naming nobody) are left out."""
    def handler(call: Call) -> Reply:
        body = call.body if isinstance(call.body, dict) else {}
        ids = body.get("audience_entity_ids")
        if not isinstance(ids, list):
            return original(call)
        kept = []
        for ident in ids:
            try:
                original(with_body(call, {**body, "audience_entity_ids": [ident]}))
            except Rejection as rejection:
                if {"SF-ONLINE-UNKNOWN-USER", "SF-BATCH-UNKNOWN-USER"} & set(rejection.requirement_ids):
                    continue
                raise
            kept.append(ident)
        return original(with_body(call, {**body, "audience_entity_ids": kept}))
    return handler


H5_OPS = ("h5_realtime_tag_page", "h5_save_realtime_tag")


def _first_organization_by_name(original: Handler) -> Handler:
    """The page and save of before issue 10: no session needed, the project resolved by name in whichever
    organization (in key order) has one, as if signed in there."""
    def handler(call: Call) -> Reply:
        source = call.query if call.operation_id == "h5_realtime_tag_page" else call.body
        name = source.get("project") if isinstance(source, dict) else None
        for _, project in call.state.items("projects"):
            if project["project"] == name:
                key = next((k for k, r in call.state.items("keys") if r["organization_id"] == project["organization_id"]), None)
                if key is not None:
                    return original(with_headers(call, **{"api-key": key, "X-Organization-Id": project["organization_id"]}))
        return original(call)
    return handler


def _page_messages_at_200(rejection: Rejection, reply: Reply) -> Reply:
    """SF-H5-ERRORS, another choice: the page (a single-page app) shows its message at HTTP 200."""
    return Reply(200, reply.body, content_type=reply.content_type) if reply.content_type != "application/json" else reply


def _other_errors(rejection: Rejection, reply: Reply) -> Reply:
    """Every refusal 422 with another code and no error_info (the page keeps its HTML)."""
    if reply.content_type != "application/json":
        return Reply(422, reply.body, content_type=reply.content_type)
    return Reply(422, {"code": "PARAM_ERROR", "message": rejection.message, "request_id": "r-1", "data": None, "error_info": None})


def _as_401(rejection: Rejection) -> Reply:
    raise Rejection(401, rejection.message, rejection.requirement_ids, rejection.detail)


def _uuid_request_ids(body: Any) -> Any:
    if isinstance(body, dict) and "request_id" in body:
        body = {**body, "request_id": str(uuid.uuid4())}
    return body


def _uuid_request_id_patch(vendor: Vendor) -> Vendor:
    """SF-REQUEST-ID, another choice: request_id is a hyphenated UUID (36 characters), on successes and errors."""
    vendor = replying(None, lambda call, reply: dataclasses.replace(reply, body=_uuid_request_ids(reply.body)))(vendor)
    return erroring(lambda rejection, reply: dataclasses.replace(reply, body=_uuid_request_ids(reply.body)))(vendor)


STATUS_NAMES = {"CREATED": "INIT", RUNNING: "ENABLED"}  # 启用 (enable) is the document's word for a start


def _other_status_names(call: Call, reply: Reply) -> Reply:
    """SF-TAG-STATUS-VALUES, another choice: a never-started tag is INIT, a started one ENABLED (STOPPED as documented)."""
    if reply.status == 200:
        tag = reply.body["data"]["realtime_tag"]
        tag["status"] = STATUS_NAMES.get(tag["status"], tag["status"])
    return reply


COMPUTE_SECONDS = 1.0


def _values_after_a_second(original: Handler) -> Handler:
    """SF-COMPUTE-MODEL, another choice: a start computes in the background; values are served a second after it
    (NOT_READY meanwhile), not at once."""
    def handler(call: Call) -> Reply:
        pkey, tag = sensors.named_tag(call)
        was_running = tag["status"] == RUNNING
        reply = original(call)
        record = call.state.get(f"computed:{pkey}", tag["name"])
        if reply.status < 300 and not was_running and record is not None:
            call.state.put(f"computed:{pkey}", tag["name"], {**record, "ready_at": max(record["ready_at"], call.now + COMPUTE_SECONDS)})
        return reply
    return handler


def _strategies_only_quota(call: Call, reply: Reply) -> Reply:
    """SF-QUOTA-MODEL, another choice (the heading: 查询触发策略的额度使用信息): the quota counts trigger strategies
    only; running real-time tags hold no unit of it."""
    if reply.status == 200:
        held = reply.body["data"]
        running = sum(1 for _, tag in call.state.items(f"tags:{sensors.tenant(call)}") if tag["status"] == RUNNING)
        reply.body["data"] = {"remain": held["remain"] + running, "use": held["use"] - running}
    return reply


def _start_without_quota(original: Handler) -> Handler:
    """... and a start is never refused for quota."""
    def handler(call: Call) -> Reply:
        try:
            return original(call)
        except Rejection as rejection:
            if "SF-QUOTA-MODEL" not in rejection.requirement_ids:
                raise
            pkey, tag = sensors.named_tag(call)
            tag.update(status=RUNNING, update_time=clock(call.now))
            call.state.put(f"tags:{pkey}", tag["name"], tag)
            compute(call.state, pkey, tag, call.now)
            return ok()
    return handler


def _strategies_only_quota_patch(vendor: Vendor) -> Vendor:
    vendor = replying("query_realtime_tag_quota", _strategies_only_quota)(vendor)
    return wrapping("start_realtime_tag", _start_without_quota)(vendor)


def _quota_body_ignored(original: Handler) -> Handler:
    """SF-QUOTA-BODY, another choice: the quota call takes no parameters, so any JSON body is ignored."""
    return lambda call: original(with_body(call, None))


def _repeat_refused(original: Handler) -> Handler:
    """SF-IDEMPOTENT, another choice: starting a running tag, or stopping one that is not running, is a state
    conflict (409 FAILED_PRECONDITION)."""
    def handler(call: Call) -> Reply:
        _, tag = sensors.named_tag(call)
        running = tag["status"] == RUNNING
        if running == (call.operation_id == "start_realtime_tag"):
            raise Rejection(409, f"real-time tag {tag['name']!r} is already {'running' if running else 'not running'}",
                            ("SF-IDEMPOTENT",))
        return original(call)
    return handler


def _delete_running_patch(vendor: Vendor) -> Vendor:
    """SF-DELETE-RUNNING, another choice: deleting a running tag stops it first (its unit is freed), then deletes it."""
    stop = vendor.handlers["stop_realtime_tag"]

    def wrap(original: Handler) -> Handler:
        def handler(call: Call) -> Reply:
            try:
                return original(call)
            except Rejection as rejection:
                if "SF-DELETE-RUNNING" not in rejection.requirement_ids:
                    raise
                stop(call)
                return original(call)
        return handler
    return wrapping("delete_realtime_tag", wrap)(vendor)


LOOKUPS = ("get_online_attributes", "batch_get_online_attributes")


def _entities(reply: Reply) -> list[dict[str, Any]]:
    data = reply.body["data"]
    return [data["audience_entity"]] if "audience_entity" in data else data["audience_entities"]


def _entries_with_users(call: Call, reply: Reply) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(caller's project key, the user, an entry) for every entry of a successful look-up's answer whose user
    the caller's project has."""
    if reply.status != 200:
        return
    pkey = sensors.tenant(call)
    for entity in _entities(reply):
        ident = entity["entity_id"]
        user = call.state.get(f"users:{pkey}", ident.get("int_value") or ident.get("string_value") or "")
        if user is not None:
            for entry in entity["audience_entity_attributes"]:
                yield pkey, user, entry


def _stopped_tags_keep_values(call: Call, reply: Reply) -> Reply:
    """SF-ONLINE-STALE-TAG, another choice: a stopped tag is no longer computed, but the values of its last run
    are still served (a tag never started still has none)."""
    for pkey, user, entry in _entries_with_users(call, reply):
        tag = call.state.get(f"tags:{pkey}", entry["name"])
        record = call.state.get(f"computed:{pkey}", entry["name"])
        if tag is None or tag["status"] != STOPPED or record is None or "value" in entry:
            continue
        value = tag_value(record, tag, user)
        if value is not None:
            entry["value"] = {"data_type": tag["data_type"], "string_value": value, "list_value": []}
    return reply


def _tags_of_every_organization(call: Call, reply: Reply) -> Reply:
    """A global name index (the independent Sensors' defect cross_tenant_tag_value): a look-up's tag name unknown
    in the caller's project is found in any organization's project, and its rule evaluated on the caller's user."""
    for pkey, user, entry in _entries_with_users(call, reply):
        if "value" in entry or call.state.get(f"tags:{pkey}", entry["name"]) is not None:
            continue
        for other, _ in call.state.items("projects"):
            tag = call.state.get(f"tags:{other}", entry["name"])
            value = layer_value(tag["rule"], user.get("profile", {})) if tag and tag["status"] == RUNNING else None
            if value is not None:
                entry["value"] = {"data_type": tag["data_type"], "string_value": value, "list_value": []}
                break
    return reply


def _as_400(rejection: Rejection) -> Reply:
    raise Rejection(400, rejection.message, rejection.requirement_ids, {})


def _unknown_tags_flagged(call: Call, reply: Reply) -> Reply:
    """SF-VALUE-DATA-TYPES, another choice: an entry for a tag that does not exist says so in error_msg
    (TAG_NOT_EXIST, a value outside the mock's list), still without value."""
    if reply.status == 200:
        pkey = sensors.tenant(call)
        for entity in _entities(reply):
            for entry in entity["audience_entity_attributes"]:
                if call.state.get(f"tags:{pkey}", entry["name"]) is None:
                    entry["error_msg"] = "TAG_NOT_EXIST"
    return reply


def _entries_by_name(call: Call, reply: Reply) -> Reply:
    """SF-ONLINE-ATTR-ORDER, another choice: entries sorted by tag name, not in request order."""
    if reply.status == 200:
        for entity in _entities(reply):
            entity["audience_entity_attributes"].sort(key=lambda entry: str(entry["name"]))
    return reply


def _unreadable_bodies_400(vendor: Vendor) -> Vendor:
    """SF-BAD-INPUT, another choice: every unreadable body (another content type, too large) is a plain 400."""
    return dataclasses.replace(vendor, input_errors=InputErrors(
        malformed_json=("SF-BAD-INPUT", 400), wrong_content_type=("SF-BAD-INPUT", 400), too_large=("SF-BAD-INPUT", 400),
        too_deep=("SF-BAD-INPUT", 400)))


def _sign_in_redirect(original: Handler) -> Handler:
    """SF-H5-PROJECT-RESOLVE, another choice: the page without a session redirects to a sign-in page (302),
    instead of answering 401 with a sign-in form."""
    def handler(call: Call) -> Reply:
        try:
            return original(call)
        except Rejection as rejection:
            if not rejection.detail.get("login"):
                raise
            back = quote(call.request.path_qs, safe="")
            return Reply(302, "", content_type="text/html", headers={"Location": f"/sf/login?redirect={back}"})
    return handler


# Assumption entries (server, not a model) with no variant, and why no other reasonable choice exists.
NO_VARIANT: dict[str, str] = {
    "SF-TENANT-ISOLATION": "that one organization does not see another's tags has no reasonable alternative (the other "
                           "choice is a data leak); how a read of a tag that is not here is refused is SF-TAG-NOT-FOUND's, "
                           "and the check accepts any refusal",
    "SF-DEMO-RECONCILE": "which of the document's two contradicting look-up examples the mock's demo data reproduces: "
                         "only a cdpkit mock has the demo (its check needs the control API), so no implementation of "
                         "the API makes this choice",
}


# Not mutants any more: a server that ignores the api-key or serves an unknown project. The document only
# shows the three headers on every call; their refusal is VENDOR-NOTES (SF-HEADERS-ENFORCED), checked with
# --strict, which this table does not run.
MUTANTS = [
    Mutant("nameless-start-accepted", "sensors", ("SF-TAG-NAME-BODY",), wrapping("start_realtime_tag", _nameless_start_ok),
           "start without a name answers SUCCESS"),
    Mutant("stop-does-not-stop", "sensors", ("SF-TAG-STATUS",), wrapping("stop_realtime_tag", _acknowledge_only),
           "stop answers SUCCESS and the tag keeps running"),
    Mutant("delete-does-not-delete", "sensors", ("SF-DELETE",), wrapping("delete_realtime_tag", _acknowledge_only),
           "delete answers SUCCESS and the tag remains"),
    Mutant("deleted-tag-startable", "sensors", ("SF-DELETE",),
           wrapping("start_realtime_tag", on_refusal("SF-TAG-NOT-FOUND", lambda rejection: ok())),
           "start of a tag that no longer exists (deleted) answers SUCCESS"),
    Mutant("string-value-elsewhere", "sensors", ("SF-ONLINE-VALUE",), replying("get_online_attributes", _value_without_string_value),
           "a STRING value carries text_value instead of string_value"),
    Mutant("envelope-without-request-id", "sensors", ("SF-ENVELOPE",), replying("query_realtime_tag_quota", without_field("request_id")),
           "success envelope lacks request_id"),
    Mutant("unknown-user-empty", "sensors", ("SF-ONLINE-UNKNOWN-USER",), wrapping("get_online_attributes", _unknown_user_empty),
           "an unknown user answers SUCCESS"),
    Mutant("unknown-tag-error", "sensors", ("SF-ONLINE-UNKNOWN-TAG",), wrapping("get_online_attributes", _unknown_tag_error),
           "an unknown tag name fails the look-up"),
    Mutant("values-before-start", "sensors", ("SF-LIFECYCLE",), wrapping("get_online_attributes", _values_before_start),
           "a tag that was never started already has values"),
    Mutant("rule-as-object", "sensors", ("SF-GET-RULE-JSON-STRING",), replying("get_realtime_tag", _rule_as_object),
           "rule is a nested object, not a JSON string"),
    Mutant("postmessage-key-changed", "sensors", ("SF-H5-POSTMESSAGE",), replying("h5_realtime_tag_page", _other_message_key),
           "the page posts another message key"),
    Mutant("edit-page-posts-create-success", "sensors", ("SF-H5-POSTMESSAGE",), replying("h5_realtime_tag_page", _edit_posts_create),
           "the edit page posts CREATE_SUCCESS after a save"),
]

# Defects of the mock's own assumptions: caught only with --strict (tests/test_mock_sensors_session.py runs them).
STRICT_MUTANTS = [
    Mutant("h5-first-organization-by-name", "sensors", ("SF-H5-PROJECT-RESOLVE",), wrapping(H5_OPS, _first_organization_by_name),
           "the H5 page and save need no session and act on the first organization with a project of that name"),
    Mutant("lookups-across-organizations", "sensors", ("SF-TENANT-ISOLATION",), replying(LOOKUPS, _tags_of_every_organization),
           "a look-up finds a tag name unknown here in another organization's project and serves its value"),
]

VARIANTS = [
    Mutant("errors-at-http-200", "sensors", (), erroring(_errors_at_200), "failures answer HTTP 200 with code != SUCCESS",
           varies=("SF-ERROR-HTTP-STATUS",)),
    Mutant("extra-fields", "sensors", (), replying(API_OPS, _extra_fields), "message 'success', extra envelope, tag and entity fields"),
    Mutant("other-errors-422", "sensors", (), erroring(_other_errors), "every refusal 422, another code, error_info null",
           varies=("SF-ERROR-CODES", "SF-ERROR-INFO")),
    Mutant("organization-from-key", "sensors", (), wrapping(API_OPS, _organization_from_key),
           "X-Organization-Id may be left out, the api-key names the organization", varies=("SF-HEADERS-ENFORCED",)),
    Mutant("lenient-binding", "sensors", (), wrapping(LOOKUPS, _lenient_binding),
           "bare strings, numbers and empty entity names are coerced, not refused", varies=("SF-REQUEST-FORMS",)),
    Mutant("batch-omits-unknown-tags", "sensors", (), replying("batch_get_online_attributes", _batch_omits_unknown_tags),
           "the batch leaves out a tag that does not exist", varies=("SF-BATCH-UNKNOWN-TAG",)),
    Mutant("batch-skips-unknown-users", "sensors", (), wrapping("batch_get_online_attributes", _batch_skips_unknown_users),
           "users that do not exist are left out of the batch", varies=("SF-BATCH-UNKNOWN-USER",)),
    Mutant("page-messages-at-200", "sensors", (), erroring(_page_messages_at_200),
           "the page shows its message for bad parameters at HTTP 200", varies=("SF-H5-ERRORS",)),
    Mutant("credential-refusals-401", "sensors", (), wrapping(API_OPS, on_refusal("SF-AUTH-ERRORS", _as_401)),
           "every credential refusal is 401 UNAUTHENTICATED, a known key with another organization or project too (no 403)",
           varies=("SF-AUTH-ERRORS",)),
    Mutant("request-id-uuid", "sensors", (), _uuid_request_id_patch, "request_id is a hyphenated UUID, not 32 hex digits",
           varies=("SF-REQUEST-ID",)),
    Mutant("status-init-enabled", "sensors", (), replying("get_realtime_tag", _other_status_names),
           "a never-started tag reads INIT and a started one ENABLED (STOPPED as documented)", varies=("SF-TAG-STATUS-VALUES",)),
    Mutant("values-a-second-after-start", "sensors", (), wrapping("start_realtime_tag", _values_after_a_second),
           "a started tag's values are served a second after the start (NOT_READY meanwhile)", varies=("SF-COMPUTE-MODEL",)),
    Mutant("quota-counts-strategies-only", "sensors", (), _strategies_only_quota_patch,
           "running tags hold no quota unit: start and stop leave use and remain alone, a start is never refused for quota",
           varies=("SF-QUOTA-MODEL",)),
    Mutant("quota-body-ignored", "sensors", (), wrapping("query_realtime_tag_quota", _quota_body_ignored),
           "the quota call ignores any JSON body (an array or a string too)", varies=("SF-QUOTA-BODY",)),
    Mutant("stop-delete-missing-succeed", "sensors", (),
           wrapping(("stop_realtime_tag", "delete_realtime_tag"), on_refusal("SF-TAG-NOT-FOUND", lambda rejection: ok())),
           "stopping or deleting a tag that does not exist succeeds (nothing to do); start and get still refuse",
           varies=("SF-TAG-NOT-FOUND",)),
    Mutant("repeat-refused-409", "sensors", (), wrapping(("start_realtime_tag", "stop_realtime_tag"), _repeat_refused),
           "starting a running tag or stopping a tag that is not running is refused (409)", varies=("SF-IDEMPOTENT",)),
    Mutant("delete-running-stops-first", "sensors", (), _delete_running_patch,
           "deleting a running tag stops it and deletes it", varies=("SF-DELETE-RUNNING",)),
    Mutant("stopped-tags-keep-values", "sensors", (), replying(LOOKUPS, _stopped_tags_keep_values),
           "a stopped tag still serves the values of its last run", varies=("SF-ONLINE-STALE-TAG",)),
    Mutant("other-entity-400", "sensors", (), wrapping(LOOKUPS, on_refusal("SF-ONLINE-ENTITY-ID", _as_400)),
           "an entity_name other than user is a bad parameter (400), not 404", varies=("SF-ONLINE-ENTITY-ID",)),
    Mutant("unknown-tags-flagged", "sensors", (), replying(LOOKUPS, _unknown_tags_flagged),
           "an entry for a tag that does not exist carries error_msg TAG_NOT_EXIST", varies=("SF-VALUE-DATA-TYPES",)),
    Mutant("entries-by-name", "sensors", (), replying(LOOKUPS, _entries_by_name),
           "look-up entries sorted by tag name, not in request order", varies=("SF-ONLINE-ATTR-ORDER",)),
    Mutant("unreadable-bodies-400", "sensors", (), _unreadable_bodies_400,
           "another content type and an oversized body answer 400, not 415/413", varies=("SF-BAD-INPUT",)),
    Mutant("page-sign-in-redirect", "sensors", (), wrapping("h5_realtime_tag_page", _sign_in_redirect),
           "the page without a session redirects (302) to a sign-in page instead of a 401 form", varies=("SF-H5-PROJECT-RESOLVE",)),
]
