"""Sensors Focus mutants (one defect each, caught by the named requirement) and over-spec variants (pass)."""

from __future__ import annotations

import json

from mockserver import sensors
from mockserver.sensors_model import DEMO_KEY, RUNNING, layer_value, ok, project_key
from mockserver.vendor import Call, Handler, Rejection, Reply
from tests.mutants import Mutant, erroring, replying, with_headers, without_field, wrapping

API_OPS = ("start_realtime_tag", "stop_realtime_tag", "get_realtime_tag", "delete_realtime_tag", "query_realtime_tag_quota",
           "get_online_attributes", "batch_get_online_attributes")


def _skip_auth(original: Handler) -> Handler:
    """No api-key: served as the demo key."""
    return lambda call: original(call if call.headers.get("api-key") else with_headers(call, **{"api-key": DEMO_KEY}))


def _any_project(original: Handler) -> Handler:
    """A project the organization does not have: served as its default project."""
    def handler(call: Call) -> Reply:
        org, project = call.headers.get("X-Organization-Id", ""), call.headers.get("sensorsdata-project", "")
        if org and project and call.state.get("projects", project_key(org, project)) is None:
            call = with_headers(call, **{"sensorsdata-project": "default"})
        return original(call)
    return handler


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
        sensors._named_tag(call)
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



def _rule_as_object(call: Call, reply: Reply) -> Reply:
    if reply.status == 200:
        tag = reply.body["data"]["realtime_tag"]
        tag["rule"] = json.loads(tag["rule"])
    return reply


def _other_message_key(call: Call, reply: Reply) -> Reply:
    if reply.status == 200 and isinstance(reply.body, str):
        return Reply(200, reply.body.replace("SENSORS_SF_REALTIME_TAG_SEND", "SENSORS_RT_TAG"), content_type=reply.content_type)
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


def _other_errors(rejection: Rejection, reply: Reply) -> Reply:
    """Every refusal 422 with another code and no error_info (the page keeps its HTML)."""
    if reply.content_type != "application/json":
        return Reply(422, reply.body, content_type=reply.content_type)
    return Reply(422, {"code": "PARAM_ERROR", "message": rejection.message, "request_id": "r-1", "data": None, "error_info": None})


MUTANTS = [
    Mutant("auth-skipped", "sensors", ("SF-HEADERS-REQUIRED",), wrapping(API_OPS, _skip_auth), "no api-key is served as the demo key"),
    Mutant("unknown-project-served", "sensors", ("SF-HEADERS-REQUIRED",), wrapping(API_OPS, _any_project),
           "an unknown sensorsdata-project is served as default"),
    Mutant("nameless-start-accepted", "sensors", ("SF-TAG-NAME-BODY",), wrapping("start_realtime_tag", _nameless_start_ok),
           "start without a name answers SUCCESS"),
    Mutant("stop-does-not-stop", "sensors", ("SF-TAG-STATUS",), wrapping("stop_realtime_tag", _acknowledge_only),
           "stop answers SUCCESS and the tag keeps running"),
    Mutant("delete-does-not-delete", "sensors", ("SF-DELETE",), wrapping("delete_realtime_tag", _acknowledge_only),
           "delete answers SUCCESS and the tag remains"),
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
]

VARIANTS = [
    Mutant("errors-at-http-200", "sensors", (), erroring(_errors_at_200), "failures answer HTTP 200 with code != SUCCESS"),
    Mutant("extra-fields", "sensors", (), replying(API_OPS, _extra_fields), "message 'success', extra envelope, tag and entity fields"),
    Mutant("other-errors-422", "sensors", (), erroring(_other_errors), "every refusal 422, another code, error_info null"),
]
