"""The Sensors Focus mock through the real HTTP stack: document examples, one test per enforced entry."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest
import requests

from cdpkit.mockserver.pytest_plugin import MockServer
from cdpkit.schemas import bundle, load
from tests.mock_fixtures import one_vendor_mock


server, fresh = one_vendor_mock("sensors")

KEY, ORG, PROJECT = "#K-7IGwJpE2M9CpID4101qj2hWg9t59hoF3", "org-sep-3164dp4", "default"
B_KEY, B_ORG, B_PROJECT = "#K-cdpkitDemoTenantB0000000000000000", "org-cdpkit-demo-b", "production"
TAG = "/api/v3/focus/v1/real-time-tag"
ONLINE = "/api/v3/focus/v1/express-attribute-online"
H5 = "/sf/h5/iframe-app/sf/realtime-tag"
FENCENG = "user_rt_tag_fencengshuzhiyunsuanfuyanzheng"
# The document's examples, as transcribed into the schemas.
GET_EXAMPLE_TAG = load("sensors", "tag_get_response.json")["examples"][0]["data"]["realtime_tag"]
SINGLE_EXAMPLE = load("sensors", "online_get_request.json")["examples"][0]
BATCH_EXAMPLE = load("sensors", "batch_get_request.json")["examples"][0]


def headers(key: str = KEY, org: str = ORG, project: str = PROJECT) -> dict[str, str]:
    return {"accept": "application/json", "Content-Type": "application/json", "api-key": key,
            "X-Organization-Id": org, "sensorsdata-project": project}


@pytest.fixture
def api(server: MockServer):
    def call(method: str, path: str, body: Any = None, hdrs: dict[str, str] | None = None, **kw: Any) -> requests.Response:
        return requests.request(method, server.url + path, json=body, headers=headers() if hdrs is None else hdrs, timeout=10, **kw)
    return call


def schema_ok(body: Any, file: str) -> None:
    jsonschema.Draft202012Validator(bundle("sensors", file)).validate(body)


def failed(resp: requests.Response, status: int, requirement: str | None = None) -> dict[str, Any]:
    """An error answer: the given status, the envelope with code != SUCCESS, error_info naming the requirement."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    schema_ok(body, "error_response.json")
    assert body["code"] != "SUCCESS" and body["error_info"]["code"]
    if requirement:
        assert requirement in body["error_info"]["context"]["requirements"], body
    return body


def tag_of(api, name: str, hdrs: dict[str, str] | None = None) -> dict[str, Any]:
    resp = api("GET", f"{TAG}/get", params={"name": name}, hdrs=hdrs)
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]["realtime_tag"]


def quota(api, hdrs: dict[str, str] | None = None) -> dict[str, int]:
    return api("POST", f"{TAG}/quota/query", hdrs=hdrs).json()["data"]


def values(api, distinct_id: str, names: list[str], hdrs: dict[str, str] | None = None) -> dict[str, Any]:
    body = {"audience_entity_id": {"identity_id_map": {"distinct_id": distinct_id}}, "attribute_names": names}
    resp = api("POST", f"{ONLINE}/get", body, hdrs=hdrs)
    assert resp.status_code == 200, resp.text
    return {a["name"]: a for a in resp.json()["data"]["audience_entity"]["audience_entity_attributes"]}


# -- the document's examples ------------------------------------------------------------------

@pytest.mark.requirement("SF-START")
@pytest.mark.parametrize("op", ["start", "stop", "delete"])
def test_example_tag_commands_SF_EMPTY_DATA_SUCCESS(api, op):
    resp = api("POST", f"{TAG}/{op}", {"name": "user_rt_tag_if1"})
    assert resp.status_code == 200
    schema_ok(resp.json(), "empty_data_response.json")
    assert resp.json()["code"] == "SUCCESS" and resp.json()["data"] == {}


@pytest.mark.requirement("SF-GET-FIELDS")
def test_example_get_reproduces_document(api):
    resp = api("GET", f"{TAG}/get?name=user_rt_tag_if1")
    schema_ok(resp.json(), "tag_get_response.json")
    assert resp.json()["data"]["realtime_tag"] == GET_EXAMPLE_TAG


@pytest.mark.requirement("SF-QUOTA")
def test_example_quota_568_32(api):
    resp = api("POST", f"{TAG}/quota/query")
    schema_ok(resp.json(), "quota_response.json")
    assert resp.json()["data"] == {"remain": 568, "use": 32}


@pytest.mark.requirement("SF-ONLINE-GET")
def test_example_single_lookup(api):
    resp = api("POST", f"{ONLINE}/get", SINGLE_EXAMPLE)
    body = resp.json()
    schema_ok(body, "online_get_response.json")
    entity = body["data"]["audience_entity"]
    assert entity["entity_id"] == {"data_type": "INT", "int_value": "-2443016794336717482"}
    assert entity["audience_entity_attributes"] == [  # SF-ONLINE-ATTR-ORDER: request order, named as requested
        {"name": FENCENG, "value": {"data_type": "STRING", "string_value": "分层1", "list_value": []}},
        {"name": "user_rt_tag_fenceng"},
    ]
    assert body["message"] is None and body["error_info"] is None


@pytest.mark.requirement("SF-ONLINE-GET")
def test_a_text_entity_id_answers_as_string(api, server):
    project = {"projects": {PROJECT: {"users": [{"entity_id": "crm-7", "identities": {"distinct_id": "text-id-user"}}]}}}
    server.seed({"sensors": {"organizations": {ORG: {"api_keys": [KEY], **project}}}})
    body = api("POST", f"{ONLINE}/get", {"audience_entity_id": {"identity_id_map": {"distinct_id": "text-id-user"}},
                                          "attribute_names": [FENCENG]}).json()
    schema_ok(body, "online_get_response.json")
    assert body["data"]["audience_entity"]["entity_id"] == {"data_type": "STRING", "string_value": "crm-7"}


@pytest.mark.requirement("SF-BATCH-GET")
def test_example_batch_lookup_SF_DEMO_RECONCILE(api):
    body = api("POST", f"{ONLINE}/batch-get", BATCH_EXAMPLE).json()
    schema_ok(body, "batch_get_response.json")
    [entity] = body["data"]["audience_entities"]
    assert entity["entity_name"] == "user"
    assert entity["entity_id"]["int_value"] == "-2443016794336717482"
    assert entity["audience_entity_attributes"][0]["value"]["string_value"] == "分层1"


@pytest.mark.requirement("SF-REQUEST-ID")
def test_request_ids_are_fresh_32_hex_on_success_and_error(api):
    ids = [api("POST", f"{TAG}/quota/query").json()["request_id"] for _ in range(3)]
    ids.append(api("POST", f"{TAG}/start", {"name": "nope"}).json()["request_id"])
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids) and len(set(ids)) == 4


# -- lifecycle, compute, quota ------------------------------------------------------------------

@pytest.mark.requirement("SF-LIFECYCLE")
def test_document_flow_start_compute_stop_delete_SF_COMPUTE_MODEL(api):
    assert "value" not in values(api, "sddd", ["user_rt_tag_if1"])["user_rt_tag_if1"]  # SF-ONLINE-STALE-TAG
    api("POST", f"{TAG}/start", {"name": "user_rt_tag_if1"})
    assert tag_of(api, "user_rt_tag_if1")["status"] == "RUNNING"  # SF-TAG-STATUS-VALUES
    assert quota(api) == {"remain": 567, "use": 33}  # SF-QUOTA-MODEL
    assert values(api, "sddd", ["user_rt_tag_if1"])["user_rt_tag_if1"]["value"]["string_value"] == "分层 1"
    assert "value" not in values(api, "lisi", ["user_rt_tag_if1"])["user_rt_tag_if1"]  # age 25 matches no layer
    api("POST", f"{TAG}/stop", {"name": "user_rt_tag_if1"})
    assert tag_of(api, "user_rt_tag_if1")["status"] == "STOPPED"  # SF-TAG-STATUS
    assert quota(api) == {"remain": 568, "use": 32}
    assert "value" not in values(api, "sddd", ["user_rt_tag_if1"])["user_rt_tag_if1"]
    assert api("POST", f"{TAG}/delete", {"name": "user_rt_tag_if1"}).status_code == 200  # SF-DELETE
    failed(api("GET", f"{TAG}/get", params={"name": "user_rt_tag_if1"}), 404, "SF-TAG-NOT-FOUND")


@pytest.mark.requirement("SF-IDEMPOTENT")
def test_start_twice_and_stop_twice_change_nothing(api):
    for _ in range(2):
        assert api("POST", f"{TAG}/start", {"name": "user_rt_tag_if1"}).json()["code"] == "SUCCESS"
    assert quota(api)["use"] == 33
    for _ in range(2):
        assert api("POST", f"{TAG}/stop", {"name": "user_rt_tag_if1"}).json()["code"] == "SUCCESS"
    assert quota(api)["use"] == 32


@pytest.mark.requirement("SF-COMPUTE-MODEL")
def test_values_wait_for_compute_delay(api, server):
    server.seed({"sensors": {"organizations": {ORG: {"projects": {PROJECT: {"compute_delay_seconds": 3600}}}}}})
    api("POST", f"{TAG}/start", {"name": "user_rt_tag_if1"})
    entry = values(api, "sddd", ["user_rt_tag_if1"])["user_rt_tag_if1"]
    assert entry == {"name": "user_rt_tag_if1", "error_msg": "NOT_READY"}


@pytest.mark.requirement("SF-QUOTA-MODEL")
def test_start_refused_when_quota_used_up(api, server):
    server.seed({"sensors": {"organizations": {ORG: {"projects": {PROJECT: {"quota": {"total": 32}}}}}}})
    assert quota(api) == {"remain": 0, "use": 32}
    assert failed(api("POST", f"{TAG}/start", {"name": "user_rt_tag_if1"}), 409, "SF-QUOTA-MODEL")["code"] == "RESOURCE_EXHAUSTED"
    assert tag_of(api, "user_rt_tag_if1")["status"] == "STOPPED"


@pytest.mark.requirement("SF-DELETE-RUNNING")
def test_delete_running_tag_refused(api):
    failed(api("POST", f"{TAG}/delete", {"name": FENCENG}), 409, "SF-DELETE-RUNNING")
    assert tag_of(api, FENCENG)["status"] == "RUNNING"


@pytest.mark.requirement("SF-TAG-NOT-FOUND")
@pytest.mark.parametrize("method,op", [("POST", "start"), ("POST", "stop"), ("POST", "delete"), ("GET", "get")])
def test_unknown_tag_SF_TAG_NOT_FOUND(api, method, op):
    if method == "GET":
        resp = api("GET", f"{TAG}/get", params={"name": "user_rt_tag_missing"})
    else:
        resp = api("POST", f"{TAG}/{op}", {"name": "user_rt_tag_missing"})
    failed(resp, 404, "SF-TAG-NOT-FOUND")


# -- request validation and tenants ------------------------------------------------------------

@pytest.mark.requirement("SF-HEADERS-ENFORCED")
@pytest.mark.parametrize("missing", ["api-key", "X-Organization-Id", "sensorsdata-project"])
def test_missing_header_SF_HEADERS_ENFORCED(api, missing):
    hdrs = {k: v for k, v in headers().items() if k != missing}
    failed(api("POST", f"{TAG}/quota/query", hdrs=hdrs), 401, "SF-HEADERS-ENFORCED")


@pytest.mark.requirement("SF-AUTH-ERRORS")
@pytest.mark.parametrize("hdrs,status", [
    (headers(key="#K-unknown"), 401), (headers(org=B_ORG), 403), (headers(project=B_PROJECT), 403),
])
def test_unknown_or_mismatched_tenant_SF_AUTH_ERRORS(api, hdrs, status):
    failed(api("POST", f"{TAG}/quota/query", hdrs=hdrs), status, "SF-AUTH-ERRORS")
    failed(api("POST", f"{TAG}/quota/query", hdrs=hdrs), status, "SF-HEADERS-ENFORCED")


@pytest.mark.requirement("SF-AUTH-ERRORS")
def test_tenants_are_isolated(api):
    b = headers(B_KEY, B_ORG, B_PROJECT)
    assert tag_of(api, "user_rt_tag_if1", b)["id"] == 12 and tag_of(api, "user_rt_tag_if1")["id"] == 73
    assert quota(api, b) == {"remain": 99, "use": 1}
    assert "value" not in values(api, "sddd", [FENCENG], b)[FENCENG]
    api("POST", f"{TAG}/stop", {"name": "user_rt_tag_if1"}, hdrs=b)
    assert quota(api) == {"remain": 568, "use": 32} and quota(api, b)["use"] == 0
    failed(api("GET", f"{TAG}/get", params={"name": "user_rt_tag_disposable_demo"}, hdrs=b), 404)


@pytest.mark.parametrize("requirement,path,body", [
    ("SF-TAG-NAME-BODY", f"{TAG}/start", {}),
    ("SF-TAG-NAME-BODY", f"{TAG}/stop", {"name": ""}),
    ("SF-TAG-NAME-BODY", f"{TAG}/delete", None),
    ("SF-QUOTA-BODY", f"{TAG}/quota/query", [1]),
    ("SF-ONLINE-AUDIENCE-ID", f"{ONLINE}/get", {"attribute_names": [FENCENG]}),
    ("SF-ONLINE-AUDIENCE-ID", f"{ONLINE}/get", {"audience_entity_id": {}, "attribute_names": [FENCENG]}),
    ("SF-ONLINE-ATTRS-REQUIRED", f"{ONLINE}/get", {"audience_entity_id": {"identity_id_map": {"distinct_id": "sddd"}}}),
    ("SF-ONLINE-ATTRS-REQUIRED", f"{ONLINE}/batch-get", {"audience_entity_ids": []}),
    ("SF-BATCH-IDS-REQUIRED", f"{ONLINE}/batch-get", {"attribute_names": [FENCENG]}),
    ("SF-ONLINE-ENTITY-ID", f"{ONLINE}/get", {"audience_entity_id": {"entity_id": {"data_type": "INT"}}, "attribute_names": []}),
    ("SF-REQUEST-FORMS", f"{ONLINE}/get", {"audience_entity_id": {"identity_id_map": {"distinct_id": 7}}, "attribute_names": [FENCENG]}),
    ("SF-REQUEST-FORMS", f"{ONLINE}/get", {"audience_entity_id": {"identity_id_map": {"distinct_id": "sddd"}}, "attribute_names": FENCENG}),
    ("SF-REQUEST-FORMS", f"{ONLINE}/get", {"audience_entity_id": {"identity_id_map": {"distinct_id": "sddd"}}, "attribute_names": [],
                                           "entity_name": ""}),
    ("SF-REQUEST-FORMS", f"{ONLINE}/batch-get", {"audience_entity_ids": {"identity_id_map": {"distinct_id": "sddd"}}, "attribute_names": []}),
    ("SF-TAG-NAME-BODY", f"{TAG}/start", {"name": 73}),
    ("SF-BATCH-UNKNOWN-USER", f"{ONLINE}/batch-get", {"audience_entity_ids": [{"distinct_id": "sddd"}], "attribute_names": []}),
])
def test_invalid_request_names_requirement(api, requirement, path, body):
    failed(api("POST", path, body), 400, requirement)


@pytest.mark.requirement("SF-GET-NAME-REQUIRED")
def test_get_without_name_like_the_documents_curl(api):
    failed(api("GET", f"{TAG}/get"), 400, "SF-GET-NAME-REQUIRED")


@pytest.mark.requirement("SF-QUOTA-BODY")
def test_quota_takes_empty_object(api):
    assert api("POST", f"{TAG}/quota/query", {}).json()["data"] == {"remain": 568, "use": 32}


# -- online look-ups ---------------------------------------------------------------------------

@pytest.mark.requirement("SF-ONLINE-UNKNOWN-USER")
def test_unknown_user_is_an_error(api):
    body = {"audience_entity_id": {"identity_id_map": {"distinct_id": "nobody"}}, "attribute_names": [FENCENG]}
    err = failed(api("POST", f"{ONLINE}/get", body), 404, "SF-ONLINE-UNKNOWN-USER")
    assert "用户不存在" in err["message"]


@pytest.mark.requirement("SF-BATCH-UNKNOWN-USER")
def test_batch_with_unknown_user_is_an_error(api):
    body = {"audience_entity_ids": [{"identity_id_map": {"distinct_id": "sddd"}}, {"identity_id_map": {"distinct_id": "nobody"}}],
            "attribute_names": [FENCENG]}
    failed(api("POST", f"{ONLINE}/batch-get", body), 404, "SF-ONLINE-UNKNOWN-USER")


@pytest.mark.requirement("SF-ONLINE-UNKNOWN-TAG")
def test_unknown_tag_has_no_value(api):
    assert values(api, "sddd", ["user_rt_tag_never_made"]) == {"user_rt_tag_never_made": {"name": "user_rt_tag_never_made"}}


@pytest.mark.requirement("SF-ONLINE-UNKNOWN-TAG")
def test_an_empty_name_names_no_tag_and_is_answered(api):
    """当请求的实时标签不存在时,接口不会报错: "" names no tag, so it is answered without value, not refused."""
    assert values(api, "sddd", ["", FENCENG])[""] == {"name": ""}


@pytest.mark.requirement("SF-BATCH-UNKNOWN-TAG")
def test_batch_lists_an_unknown_tag_without_value(api):
    body = {"audience_entity_ids": [{"identity_id_map": {"distinct_id": "sddd"}}], "attribute_names": ["user_rt_tag_never_made", FENCENG]}
    entity = api("POST", f"{ONLINE}/batch-get", body).json()["data"]["audience_entities"][0]
    assert entity["audience_entity_attributes"][0] == {"name": "user_rt_tag_never_made"}


@pytest.mark.requirement("SF-ONLINE-STALE-TAG")
def test_stopped_tag_has_no_value(api):
    assert values(api, "sddd", ["user_rt_tag_disposable_demo"])["user_rt_tag_disposable_demo"] == {"name": "user_rt_tag_disposable_demo"}


@pytest.mark.requirement("SF-ONLINE-ENTITY-ID")
@pytest.mark.parametrize("entity_id", [{"data_type": "INT", "int_value": "224266287"}, {"data_type": "INT", "int_value": 224266287},
                                       {"data_type": "STRING", "string_value": "224266287"}])
def test_lookup_by_entity_id(api, entity_id):
    body = {"audience_entity_id": {"entity_id": entity_id}, "attribute_names": [FENCENG]}
    entity = api("POST", f"{ONLINE}/get", body).json()["data"]["audience_entity"]
    assert entity["entity_id"]["int_value"] == "224266287"
    assert entity["audience_entity_attributes"][0]["value"]["string_value"] == "分层2"


@pytest.mark.requirement("SF-ONLINE-ENTITY-NAME")
def test_entity_name_defaults_to_user_and_others_are_refused(api):
    body = {"audience_entity_id": {"identity_id_map": {"distinct_id": "sddd"}}, "attribute_names": [FENCENG]}
    assert api("POST", f"{ONLINE}/get", body).json()["data"]["audience_entity"]["entity_name"] == "user"
    failed(api("POST", f"{ONLINE}/get", {**body, "entity_name": "item"}), 404, "SF-ONLINE-ENTITY-ID")  # only users are modeled


@pytest.mark.requirement("SF-BATCH-RESPONSE")
def test_batch_answers_each_user_in_order(api):
    body = {"audience_entity_ids": [{"identity_id_map": {"distinct_id": "lisi"}}, {"identity_id_map": {"distinct_id": "sddd"}}],
            "attribute_names": [FENCENG, "user_rt_tag_fenceng"]}
    answer = api("POST", f"{ONLINE}/batch-get", body).json()
    schema_ok(answer, "batch_get_response.json")
    got = [[a.get("value", {}).get("string_value") for a in e["audience_entity_attributes"]] for e in answer["data"]["audience_entities"]]
    assert got == [["分层2", None], ["分层1", None]]


# -- bad input, rejected requests ----------------------------------------------------------------

@pytest.mark.requirement("SF-BAD-INPUT")
@pytest.mark.parametrize("data,ctype,status", [
    (b'{"name": ', "application/json", 400),
    (b'{"name": "user_rt_tag_if1"}', "text/plain", 415),
    (b'{"name": "' + b"x" * (2 << 20) + b'"}', "application/json", 413),
    (b'{"name": "user_rt_tag_if1", "x": ' + b"[" * 100 + b"]" * 100 + b"}", "application/json", 400),
])
def test_unreadable_body_gets_envelope_SF_BAD_INPUT(server, data, ctype, status):
    hdrs = {**headers(), "Content-Type": ctype}
    resp = requests.post(server.url + f"{TAG}/start", data=data, headers=hdrs, timeout=10)
    failed(resp, status, "SF-BAD-INPUT")


def test_rejected_requests_change_nothing(api, server):
    before = server.state("sensors")
    failed(api("POST", f"{TAG}/start", {"name": "user_rt_tag_if1"}, hdrs=headers(org=B_ORG)), 403)
    failed(api("POST", f"{TAG}/delete", {"name": FENCENG}), 409)
    failed(api("POST", f"{ONLINE}/batch-get", {"audience_entity_ids": [{"identity_id_map": {"distinct_id": "x"}}], "attribute_names": []}), 404)
    failed(api("POST", f"{H5}/save", {"project": PROJECT, "tag_name": "user_rt_tag_if1", "tag_cname": "x", "eql": "user.age ==", "layer": "1"}), 400)
    assert server.state("sensors") == before


# -- H5 page and save ----------------------------------------------------------------------------

def signed_in(server: MockServer, key: str = KEY) -> requests.Session:
    """A client holding the page's session cookie, got the way a browser gets it (SF-H5-PROJECT-RESOLVE)."""
    session = requests.Session()
    resp = session.get(server.url + H5, params={"project": PROJECT, "api_key": key}, timeout=10)
    assert resp.status_code == 200 and session.cookies.get("sf_h5_session"), resp.text
    return session


def page(server: MockServer, **query: str) -> requests.Response:
    with signed_in(server) as session:
        return session.get(server.url + H5, params=query, timeout=10)


def save(server: MockServer, body: dict[str, Any]) -> requests.Response:
    """The save as the page's script sends it: JSON, the session cookie, no API headers."""
    with signed_in(server) as session:
        return session.post(server.url + H5 + "/save", json=body, timeout=10)


@pytest.mark.requirement("SF-H5-URL")
def test_h5_document_url_serves_create_page(server):
    resp = signed_in(server).get(server.url + H5 + "?project=default&mode=create&language=zh-cn", timeout=10)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html")
    for element in ('id="rt-tag-form"', 'id="tag-name"', 'id="tag-cname"', 'id="tag-eql"', 'id="tag-layer"', 'id="rt-tag-save"'):
        assert element in resp.text
    assert "window.parent.postMessage" in resp.text and '"SENSORS_SF_REALTIME_TAG_SEND"' in resp.text
    assert '"success_type": "CREATE_SUCCESS"' in resp.text


@pytest.mark.requirement("SF-H5-MODE")
def test_h5_defaults_create_and_zh_cn_SF_H5_LANGUAGE(server):
    text = page(server, project="default").text
    assert 'data-mode="create"' in text and '<html lang="zh-cn">' in text and "新建实时标签" in text


@pytest.mark.requirement("SF-H5-LANGUAGE")
@pytest.mark.parametrize("language,title", [("zh-tw", "新建即時標籤"), ("en-us", "Create real-time tag"), ("ja", "リアルタイムタグを作成"), ("th", "สร้างแท็กเรียลไทม์")])
def test_h5_languages(server, language, title):
    assert f'<h1 id="rt-tag-title">{title}</h1>' in page(server, project="default", language=language).text


@pytest.mark.requirement("SF-H5-MODE")
def test_h5_view_is_read_only_and_edit_sends_edit_success(server):
    view = page(server, project="default", mode="view", tag_name="user_rt_tag_if1").text
    assert 'id="rt-tag-save"' not in view and 'value="iframe 创建11121" readonly' in view and "STOPPED" in view
    edit = page(server, project="default", mode="edit", tag_name="user_rt_tag_if1").text
    assert 'id="rt-tag-save"' in edit and '"success_type": "EDIT_SUCCESS"' in edit and 'value="user.age == 11"' in edit


@pytest.mark.parametrize("parameter,query,status", [
    ("SF-H5-PROJECT-REQUIRED", {"mode": "create"}, 400),
    ("SF-H5-PROJECT-REQUIRED", {"project": ""}, 400),
    ("SF-H5-TAG-NAME", {"project": "default", "mode": "edit"}, 400),
    ("SF-H5-TAG-NAME", {"project": "default", "mode": "view"}, 400),
    ("SF-H5-MODE", {"project": "default", "mode": "delete"}, 400),
    ("SF-H5-LANGUAGE", {"project": "default", "language": "fr"}, 400),
    ("SF-H5-PROJECT-REQUIRED", {"project": "nowhere"}, 404),
    ("SF-H5-TAG-NAME", {"project": "default", "mode": "view", "tag_name": "user_rt_tag_missing"}, 404),
])
def test_h5_bad_parameters_SF_H5_ERRORS(server, parameter, query, status):
    """The document lists the parameters (``parameter``); the page's refusal is the mock's choice, SF-H5-ERRORS."""
    resp = page(server, **query)
    assert resp.status_code == status and resp.headers["Content-Type"].startswith("text/html")
    assert "SF-H5-ERRORS" in resp.text


@pytest.mark.requirement("SF-H5-SAVE")
def test_h5_save_create_start_lookup_then_edit(api, server):
    body = {"project": "default", "mode": "create", "tag_name": "user_rt_tag_a232", "tag_cname": "2323", "eql": "user.age == 11", "layer": "分层 A"}
    resp = save(server, body)
    schema_ok(resp.json(), "h5_save_response.json")
    assert resp.json()["data"] == {"tag_name": "user_rt_tag_a232", "tag_cname": "2323"}
    created = tag_of(api, "user_rt_tag_a232")
    assert created["status"] == "CREATED" and created["cname"] == "2323" and created["id"] == 76
    failed(save(server, body), 409, "SF-H5-SAVE")
    api("POST", f"{TAG}/start", {"name": "user_rt_tag_a232"})
    assert values(api, "sddd", ["user_rt_tag_a232"])["user_rt_tag_a232"]["value"]["string_value"] == "分层 A"
    edit = {**body, "mode": "edit", "tag_cname": "改名", "layer": "分层 B"}
    assert save(server, edit).json()["data"]["tag_cname"] == "改名"
    assert values(api, "sddd", ["user_rt_tag_a232"])["user_rt_tag_a232"]["value"]["string_value"] == "分层 B"
    failed(save(server, {**edit, "tag_name": "user_rt_tag_missing"}), 404, "SF-H5-SAVE")


def test_h5_under_vendor_prefix_saves_under_prefix(server):
    text = signed_in(server).get(server.url + "/sensors" + H5, params={"project": "default"}, timeout=10).text
    assert f'"save_url": "/sensors{H5}/save"' in text


# -- credentials and state -----------------------------------------------------------------------

def test_credentials_check_keys(server):
    check = server.credentials()["sensors"]["check"]
    assert check == {"api_key": KEY, "organization_id": ORG, "project": PROJECT, "tag_name": "user_rt_tag_if1",
                     "disposable_tag_name": "user_rt_tag_disposable_demo", "distinct_id": "sddd"}


def test_reset_restores_disposable_tag_and_state_view(api, server):
    api("POST", f"{TAG}/delete", {"name": "user_rt_tag_disposable_demo"})
    assert "user_rt_tag_disposable_demo" not in server.state("sensors")["projects"][f"{ORG}/{PROJECT}"]["tags"]
    server.reset()
    view = server.state("sensors")["projects"][f"{ORG}/{PROJECT}"]
    assert "user_rt_tag_disposable_demo" in view["tags"] and view["quota_now"] == {"remain": 568, "use": 32}
    assert view["tags"][FENCENG]["computed"]["values"] == {"-2443016794336717482": "分层1", "224266287": "分层2"}
