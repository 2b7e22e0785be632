"""Sensors Focus schemas: the document's examples pass, hand-picked invalid documents fail for the stated reason."""

from __future__ import annotations

import copy
from typing import Any, Callable

import jsonschema
import pytest

from cdpkit.schemas.validation import Validators
from cdpkit.schemas import bundle, load, schema_files

V = "sensors"


def example(file: str, index: int = 0) -> Any:
    return copy.deepcopy(load(V, file)["examples"][index])


def changed(file: str, change: Callable[[Any], None], index: int = 0) -> Any:
    doc = example(file, index)
    change(doc)
    return doc


def errors(ref: str, doc: Any) -> list[jsonschema.ValidationError]:
    return list(jsonschema.Draft202012Validator(bundle(V, ref)).iter_errors(doc))


@pytest.mark.parametrize("file", schema_files(V))
def test_document_examples_valid(file):
    for doc in load(V, file).get("examples", []):
        assert errors(file, doc) == []


def _del(*path: str | int) -> Callable[[Any], None]:
    def change(doc: Any) -> None:
        for step in path[:-1]:
            doc = doc[step]
        del doc[path[-1]]
    return change


def _set(value: Any, *path: str | int) -> Callable[[Any], None]:
    def change(doc: Any) -> None:
        for step in path[:-1]:
            doc = doc[step]
        doc[path[-1]] = value
    return change


TAG = ("data", "realtime_tag")
ATTRS = ("data", "audience_entity", "audience_entity_attributes")
# (schema ref, invalid document, failing keyword, instance path of the failure)
INVALID: list[tuple[str, str, Any, str, tuple]] = [
    ("headers-missing-api-key", "headers.json", changed("headers.json", _del("api-key")), "required", ()),
    ("headers-empty-project", "headers.json", changed("headers.json", _set("", "sensorsdata-project")), "minLength", ("sensorsdata-project",)),
    ("tag-name-missing", "tag_name_request.json", {}, "required", ()),
    ("tag-name-not-string", "tag_name_request.json", {"name": 73}, "type", ("name",)),
    ("tag-name-empty", "tag_name_request.json", {"name": ""}, "minLength", ("name",)),
    ("get-query-missing-name", "get_query.json", {}, "required", ()),
    ("quota-body-array", "quota_request.json", [], "type", ()),
    ("empty-data-not-success", "empty_data_response.json", changed("empty_data_response.json", _set("FAIL", "code")), "const", ("code",)),
    ("empty-data-has-data", "empty_data_response.json", changed("empty_data_response.json", _set({"x": 1}, "data")), "maxProperties", ("data",)),
    ("empty-data-no-request-id", "empty_data_response.json", changed("empty_data_response.json", _del("request_id")), "required", ()),
    ("get-missing-status", "tag_get_response.json", changed("tag_get_response.json", _del(*TAG, "status")), "required", TAG),
    ("get-rule-as-object", "tag_get_response.json", changed("tag_get_response.json", _set({"segment_based_rule": {}}, *TAG, "rule")), "type", (*TAG, "rule")),
    ("get-id-as-string", "tag_get_response.json", changed("tag_get_response.json", _set("73", *TAG, "id")), "type", (*TAG, "id")),
    ("get-instant-as-string", "tag_get_response.json", changed("tag_get_response.json", _set("false", *TAG, "use_instant_event")), "type", (*TAG, "use_instant_event")),
    ("get-no-realtime-tag", "tag_get_response.json", changed("tag_get_response.json", _set({}, "data")), "required", ("data",)),
    ("quota-missing-use", "quota_response.json", changed("quota_response.json", _del("data", "use")), "required", ("data",)),
    ("quota-remain-string", "quota_response.json", changed("quota_response.json", _set("568", "data", "remain")), "type", ("data", "remain")),
    ("quota-negative", "quota_response.json", changed("quota_response.json", _set(-1, "data", "use")), "minimum", ("data", "use")),
    ("failure-says-success", "failure_envelope.json", {"code": "SUCCESS"}, "not", ("code",)),
    ("failure-without-code", "failure_envelope.json", {"message": "boom"}, "required", ()),
    ("error-code-success", "error_response.json", {"code": "SUCCESS", "request_id": "a" * 32}, "not", ("code",)),
    ("error-info-without-code", "error_response.json", {"code": "NOT_FOUND", "error_info": {"description": "x"}}, "anyOf", ("error_info",)),
    ("error-causes-not-list", "common.json#/$defs/error_info", {"code": "SF-D-F-1-1", "error_causes": "x"}, "type", ("error_causes",)),
    ("online-missing-attrs", "online_get_request.json", changed("online_get_request.json", _del("attribute_names")), "required", ()),
    ("online-missing-id", "online_get_request.json", changed("online_get_request.json", _del("audience_entity_id")), "required", ()),
    ("online-empty-id", "online_get_request.json", changed("online_get_request.json", _set({}, "audience_entity_id")), "anyOf", ("audience_entity_id",)),
    ("online-empty-identity-map", "online_get_request.json", changed("online_get_request.json", _set({}, "audience_entity_id", "identity_id_map")), "minProperties", ("audience_entity_id", "identity_id_map")),
    ("online-attrs-not-list", "online_get_request.json", changed("online_get_request.json", _set("user_rt_tag_if1", "attribute_names")), "type", ("attribute_names",)),
    ("entity-id-int-without-value", "common.json#/$defs/entity_id", {"data_type": "INT", "string_value": "1"}, "required", ()),
    ("entity-id-bad-type", "common.json#/$defs/entity_id", {"data_type": "FLOAT", "int_value": "1"}, "enum", ("data_type",)),
    ("entity-id-not-digits", "common.json#/$defs/entity_id", {"data_type": "INT", "int_value": "12a"}, "pattern", ("int_value",)),
    ("online-resp-no-entity", "online_get_response.json", changed("online_get_response.json", _set({}, "data")), "required", ("data",)),
    ("online-attr-without-name", "online_get_response.json", changed("online_get_response.json", _del(*ATTRS, 0, "name")), "required", (*ATTRS, 0)),
    ("online-value-bad-type", "online_get_response.json", changed("online_get_response.json", _set("TEXT", *ATTRS, 1, "value", "data_type")), "enum", (*ATTRS, 1, "value", "data_type")),
    ("online-bad-error-msg", "common.json#/$defs/attribute_entry", {"name": "t", "error_msg": "LATER"}, "enum", ("error_msg",)),
    ("batch-missing-ids", "batch_get_request.json", changed("batch_get_request.json", _del("audience_entity_ids")), "required", ()),
    ("batch-ids-not-list", "batch_get_request.json", changed("batch_get_request.json", _set({"identity_id_map": {"distinct_id": "sddd"}}, "audience_entity_ids")), "type", ("audience_entity_ids",)),
    ("batch-resp-entity-no-name", "batch_get_response.json", changed("batch_get_response.json", _del("data", "audience_entities", 0, "entity_name")), "required", ("data", "audience_entities", 0)),
    ("batch-resp-not-list", "batch_get_response.json", changed("batch_get_response.json", _set({}, "data", "audience_entities")), "type", ("data", "audience_entities")),
    ("h5-missing-project", "h5_query.json", {"mode": "create"}, "required", ()),
    ("h5-bad-mode", "h5_query.json", {"project": "default", "mode": "delete"}, "enum", ("mode",)),
    ("h5-bad-language", "h5_query.json", {"project": "default", "language": "fr"}, "enum", ("language",)),
    ("h5-edit-without-tag", "h5_query.json", {"project": "default", "mode": "edit"}, "required", ()),
    ("h5-view-without-tag", "h5_query.json", {"project": "default", "mode": "view"}, "required", ()),
    ("msg-wrong-key", "h5_post_message.json", changed("h5_post_message.json", _set("SENSORS", "key")), "const", ("key",)),
    ("msg-wrong-type", "h5_post_message.json", changed("h5_post_message.json", _set("DELETE_SUCCESS", "value", "type")), "enum", ("value", "type")),
    ("msg-missing-cname", "h5_post_message.json", changed("h5_post_message.json", _del("value", "data", "tag_cname")), "required", ("value", "data")),
    ("save-bad-tag-name", "h5_save_request.json", changed("h5_save_request.json", _set("user rt tag", "tag_name")), "pattern", ("tag_name",)),
    ("save-view-mode", "h5_save_request.json", changed("h5_save_request.json", _set("view", "mode")), "enum", ("mode",)),
    ("save-missing-eql", "h5_save_request.json", changed("h5_save_request.json", _del("eql")), "required", ()),
    ("save-resp-no-data", "h5_save_response.json", changed("h5_save_response.json", _del("data")), "required", ()),
    ("seed-quota-not-integer", "seed.json", changed("seed.json", _set("abc", "organizations", "my-org", "projects", "default", "quota", "total")),
     "type", ("organizations", "my-org", "projects", "default", "quota", "total")),
]


@pytest.mark.parametrize("ref,doc,keyword,path", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_document_rejected_for_the_stated_reason(ref, doc, keyword, path):
    found = errors(ref, doc)
    assert found, "accepted an invalid document"
    assert {(e.validator, tuple(e.absolute_path)) for e in found} == {(keyword, path)}, [e.message for e in found]


def test_every_schema_file_has_an_invalid_case():
    covered = {ref.split("#")[0] for _, ref, *_ in INVALID}
    assert covered == set(schema_files(V))


@pytest.fixture(scope="module")
def validators() -> Validators:
    return Validators([V])


ID = {"identity_id_map": {"distinct_id": "sddd"}}


@pytest.mark.parametrize("op,part,instance,requirement", [
    ("start_realtime_tag", "headers", {"x-organization-id": "o", "sensorsdata-project": "p"}, "SF-HEADERS-ENFORCED"),
    ("start_realtime_tag", "body", {}, "SF-TAG-NAME-BODY"),
    ("start_realtime_tag", "body", {"name": ""}, "SF-TAG-NAME-BODY"),
    ("start_realtime_tag", "body", {"name": 73}, "SF-TAG-NAME-BODY"),
    ("get_realtime_tag", "query", {}, "SF-GET-NAME-REQUIRED"),
    ("query_realtime_tag_quota", "body", [1], "SF-QUOTA-BODY"),
    ("get_online_attributes", "body", {"attribute_names": []}, "SF-ONLINE-AUDIENCE-ID"),
    ("get_online_attributes", "body", {"audience_entity_id": {}, "attribute_names": []}, "SF-ONLINE-AUDIENCE-ID"),
    ("get_online_attributes", "body", {"audience_entity_id": {"entity_id": {"data_type": "INT"}}, "attribute_names": []}, "SF-ONLINE-ENTITY-ID"),
    ("get_online_attributes", "body", {"audience_entity_id": {"identity_id_map": {"a": "b"}}}, "SF-ONLINE-ATTRS-REQUIRED"),
    # what the document leaves open is cdpkit's choice (SF-REQUEST-FORMS), not the documented rule
    ("get_online_attributes", "body", {"audience_entity_id": {"identity_id_map": {"distinct_id": 7}}, "attribute_names": []}, "SF-REQUEST-FORMS"),
    ("get_online_attributes", "body", {"audience_entity_id": {"identity_id_map": {}}, "attribute_names": []}, "SF-REQUEST-FORMS"),
    ("get_online_attributes", "body", {"audience_entity_id": ID, "attribute_names": "user_rt_tag_if1"}, "SF-REQUEST-FORMS"),
    ("get_online_attributes", "body", {"audience_entity_id": ID, "attribute_names": [], "entity_name": ""}, "SF-REQUEST-FORMS"),
    ("batch_get_online_attributes", "body", {"attribute_names": []}, "SF-BATCH-IDS-REQUIRED"),
    ("batch_get_online_attributes", "body", {"audience_entity_ids": ID, "attribute_names": []}, "SF-REQUEST-FORMS"),
    ("batch_get_online_attributes", "body", {"audience_entity_ids": [{}], "attribute_names": []}, "SF-BATCH-UNKNOWN-USER"),
    ("h5_realtime_tag_page", "query", {}, "SF-H5-ERRORS"),
    ("h5_realtime_tag_page", "query", {"project": "p", "mode": "view"}, "SF-H5-ERRORS"),
    ("h5_realtime_tag_page", "query", {"project": "p", "language": "fr"}, "SF-H5-ERRORS"),
    ("h5_realtime_tag_page", "query", {"project": "p", "mode": "x"}, "SF-H5-ERRORS"),
])
def test_violation_names_catalog_id(validators, op, part, instance, requirement):
    assert [v.requirement_id for v in validators.violations(V, op, part, instance)] == [requirement]


@pytest.mark.parametrize("op,instance", [
    ("get_online_attributes", {"audience_entity_id": ID, "attribute_names": ["", "user_rt_tag_if1"]}),
    ("batch_get_online_attributes", {"audience_entity_ids": [ID], "attribute_names": [""]}),
])
def test_a_name_that_names_no_tag_is_not_a_violation(validators, op, instance):
    """当请求的实时标签不存在时,接口不会报错: an empty name names no tag; it is answered, not refused."""
    assert validators.violations(V, op, "body", instance) == []


@pytest.mark.parametrize("ref,instance", [
    ("online_get_request.json", {"audience_entity_id": {"identity_id_map": {"distinct_id": 7}}, "attribute_names": "t", "entity_name": None}),
    ("batch_get_request.json", {"audience_entity_ids": [{}], "attribute_names": ["t"]}),
    ("headers.json", {}),
    ("h5_query.json", {"mode": "delete", "language": "fr"}),
    ("online_get_response.json", {"code": "SUCCESS", "request_id": "r", "data": {"audience_entity": {
        "entity_id": {"data_type": "LONG", "long_value": 1}, "entity_name": "user",
        "audience_entity_attributes": [{"name": "t", "error_msg": "LATER", "value": {"data_type": "TEXT", "int_value": True}}]}}}),
    ("quota_response.json", {"code": "SUCCESS", "request_id": "r", "data": {"remain": -1, "use": 3}}),
])
def test_the_documented_view_leaves_out_what_cdpkit_assumes(ref, instance):
    """Without --strict a target is judged by what the document states: these break only assumptions."""
    from cdpkit.schemas.tiers import documented_view
    assert errors(ref, instance) != []
    assert list(jsonschema.Draft202012Validator(documented_view(bundle(V, ref))).iter_errors(instance)) == []


def test_the_documented_view_keeps_what_the_document_states():
    from cdpkit.schemas.tiers import documented_view
    view = jsonschema.Draft202012Validator(documented_view(bundle(V, "online_get_request.json")))
    assert [e.validator for e in view.iter_errors({"audience_entity_id": {}, "attribute_names": []})] == ["anyOf"]
    assert [e.validator for e in view.iter_errors({"audience_entity_id": ID})] == ["required"]
    answer = jsonschema.Draft202012Validator(documented_view(bundle(V, "online_get_response.json")))
    missing_type = {"code": "SUCCESS", "request_id": "r", "data": {"audience_entity": {
        "entity_id": {"int_value": "1"}, "entity_name": "user", "audience_entity_attributes": []}}}
    assert [e.validator for e in answer.iter_errors(missing_type)] == ["required"]


@pytest.mark.parametrize("value", [None, {}])
def test_an_entry_without_value_may_say_so_with_null_or_an_empty_object(value):
    """"value 无值" (SF-ONLINE-UNKNOWN-TAG): a server that writes the empty value out, as null or {}, says what the
    one that leaves the field out says; the schema took only the latter, so a correct answer failed its shape."""
    answer = {"code": "SUCCESS", "request_id": "r", "data": {"audience_entity": {
        "entity_id": {"data_type": "INT", "int_value": "1"}, "entity_name": "user",
        "audience_entity_attributes": [{"name": "user_rt_tag_none", "value": value}]}}}
    assert errors("online_get_response.json", answer) == []
    assert errors("online_get_response.json", {**answer, "data": {"audience_entity": {
        **answer["data"]["audience_entity"], "audience_entity_attributes": [{"name": "t", "value": "none"}]}}}) != []
