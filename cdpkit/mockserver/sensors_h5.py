"""The H5 iframe page of Sensors Focus real-time tags (SF-H5-*) and its modeled save call.

The real page is a single-page app behind the Sensors login cookie (SF-H5-SAME-SITE); the mock
serves a small self-contained HTML form instead (no external assets, stable element ids) that
posts to ``POST …/realtime-tag/save`` (SF-H5-SAVE, modeled) and then sends the documented
``postMessage`` to ``window.parent`` (SF-H5-POSTMESSAGE).

Sessions (SF-H5-PROJECT-RESOLVE): like the real page, the mock's acts for one organization, the one
its session names, and resolves ``project`` inside it; without a session it shows a sign-in form
(401) and the save call is refused (401). A browser gets the session as a cookie
(``sf_h5_session``, HttpOnly, SameSite=Lax as SF-H5-SAME-SITE describes) by opening the page once
with ``api_key=<a tenant's api-key>`` in its URL (what the sign-in form submits; the page answers
303 to the same URL without it); a plain HTTP client may instead send the API's own ``api-key``
(and ``X-Organization-Id``) headers. The cookie is signed with a key made at start-up, so it names
an organization no client can forge, and it lapses when the mock restarts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
from typing import Any
from urllib.parse import urlencode

from cdpkit.mockserver.sensors_model import (
    CREATED, RUNNING, EqlError, build_rule, clock, compute, eql_matches, new_tag, ok, project_key,
)
from cdpkit.mockserver.vendor import Call, Rejection, Reply

MESSAGE_KEY = "SENSORS_SF_REALTIME_TAG_SEND"
SUCCESS_TYPE = {"create": "CREATE_SUCCESS", "edit": "EDIT_SUCCESS"}  # SF-H5-POSTMESSAGE

# SF-H5-LANGUAGE: the five documented languages.
LABELS: dict[str, dict[str, str]] = {
    "zh-cn": {"create": "新建实时标签", "edit": "编辑实时标签", "view": "查看实时标签", "tag_name": "标签名称", "tag_cname": "显示名",
              "comment": "备注", "eql": "条件 (EQL)", "layer": "分层值", "save": "保存", "saved": "保存成功", "status": "状态"},
    "zh-tw": {"create": "新建即時標籤", "edit": "編輯即時標籤", "view": "查看即時標籤", "tag_name": "標籤名稱", "tag_cname": "顯示名",
              "comment": "備註", "eql": "條件 (EQL)", "layer": "分層值", "save": "保存", "saved": "保存成功", "status": "狀態"},
    "en-us": {"create": "Create real-time tag", "edit": "Edit real-time tag", "view": "View real-time tag", "tag_name": "Tag name",
              "tag_cname": "Display name", "comment": "Comment", "eql": "Condition (EQL)", "layer": "Layer value", "save": "Save",
              "saved": "Saved", "status": "Status"},
    "ja": {"create": "リアルタイムタグを作成", "edit": "リアルタイムタグを編集", "view": "リアルタイムタグを表示", "tag_name": "タグ名",
           "tag_cname": "表示名", "comment": "備考", "eql": "条件 (EQL)", "layer": "階層値", "save": "保存", "saved": "保存しました",
           "status": "状態"},
    "th": {"create": "สร้างแท็กเรียลไทม์", "edit": "แก้ไขแท็กเรียลไทม์", "view": "ดูแท็กเรียลไทม์", "tag_name": "ชื่อแท็ก",
           "tag_cname": "ชื่อที่แสดง", "comment": "หมายเหตุ", "eql": "เงื่อนไข (EQL)", "layer": "ค่าชั้น", "save": "บันทึก",
           "saved": "บันทึกแล้ว", "status": "สถานะ"},
}
FIELDS = ("tag_name", "tag_cname", "comment", "eql", "layer")

_SCRIPT = """
(function () {
  var config = JSON.parse(document.getElementById('rt-tag-config').textContent);
  var form = document.getElementById('rt-tag-form');
  var status = document.getElementById('rt-tag-status');
  function field(id) { return document.getElementById(id).value; }
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    if (config.mode === 'view') { return; }
    var body = {project: config.project, mode: config.mode, tag_name: field('tag-name'), tag_cname: field('tag-cname'),
                comment: field('tag-comment'), eql: field('tag-eql'), layer: field('tag-layer')};
    status.dataset.state = 'saving';
    fetch(config.save_url, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)})
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        if (answer.code !== 'SUCCESS') {
          status.textContent = answer.message; status.dataset.state = 'error'; return;
        }
        window.parent.postMessage({key: config.message_key, value: {type: config.success_type,
          data: {tag_name: answer.data.tag_name, tag_cname: answer.data.tag_cname}}}, '*');
        status.textContent = config.labels.saved; status.dataset.state = 'saved';
        if (config.mode === 'create') { document.getElementById('rt-tag-save').disabled = true; }
      })
      .catch(function (error) { status.textContent = String(error); status.dataset.state = 'error'; });
  });
})();
"""


# -- the session (SF-H5-PROJECT-RESOLVE) -----------------------------------------------------------

COOKIE = "sf_h5_session"
LOGIN_PARAMETER = "api_key"  # mock only: the page's URL may carry a tenant's api-key to open a session
_SIGNING_KEY = secrets.token_bytes(32)  # per process: a session lapses when the mock restarts


def _signature(organization: str) -> str:
    return hmac.new(_SIGNING_KEY, organization.encode(), hashlib.sha256).hexdigest()


def session_cookie(organization: str) -> str:
    """The cookie value naming ``organization``: the organization (base64url) and its signature."""
    encoded = base64.urlsafe_b64encode(organization.encode()).decode().rstrip("=")
    return f"{encoded}.{_signature(organization)}"


def _cookie_organization(value: str) -> str | None:
    encoded, _, signature = value.partition(".")
    try:
        organization = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return organization if hmac.compare_digest(signature.encode("utf-8", "replace"), _signature(organization).encode()) else None


def _key_organization(call: Call, api_key: str) -> str:
    key = call.state.get("keys", api_key)
    if key is None:
        raise Rejection(401, "unknown api-key: sign in with an api-key of your organization", ("SF-H5-PROJECT-RESOLVE",))
    return key["organization_id"]


def session(call: Call) -> str:
    """SF-H5-PROJECT-RESOLVE: the organization the page acts for: the API headers of a plain HTTP client,
    else the signed cookie; none is a 401."""
    api_key = call.headers.get("api-key")
    if api_key:
        organization = _key_organization(call, api_key)
        claimed = call.headers.get("X-Organization-Id")
        if claimed and claimed != organization:
            raise Rejection(403, f"this api-key does not belong to organization {claimed!r}", ("SF-H5-PROJECT-RESOLVE",))
        return organization
    organization = _cookie_organization(call.request.cookies.get(COOKIE, ""))
    if organization is None:
        raise Rejection(401, "sign in first: the page acts for one organization, the one its session names",
                        ("SF-H5-PROJECT-RESOLVE",), {"login": True})
    return organization


def _project(call: Call, organization: str, name: str) -> tuple[str, dict[str, Any]]:
    """SF-H5-PROJECT-RESOLVE: the project of that name in the session's organization, never another's."""
    pkey = project_key(organization, name)
    project = call.state.get("projects", pkey)
    if project is None:
        raise Rejection(404, f"project {name!r} does not exist", ("SF-H5-ERRORS",))
    return pkey, project


def _login(call: Call) -> Reply:
    """The page opened with ``api_key``: a session cookie for the key's organization, and the same URL without it."""
    organization = _key_organization(call, call.query[LOGIN_PARAMETER])
    rest = {k: v for k, v in call.query.items() if k != LOGIN_PARAMETER}
    location = call.request.path + (f"?{urlencode(rest)}" if rest else "")
    cookie = f"{COOKIE}={session_cookie(organization)}; Path=/; HttpOnly; SameSite=Lax"
    return Reply(303, {"location": location}, headers={"Location": location, "Set-Cookie": cookie})


def _first_layer(rule: str) -> dict[str, str]:
    """The eql and value of a rule's first layer, to prefill the form (empty for rules the form cannot show)."""
    try:
        group = json.loads(rule)["segment_based_rule"]["groups"][0]
        eql = group["segment"]["group_expression_rule"]["groups"][0]["eql_segment_rule"]["eql"]
    except (ValueError, KeyError, IndexError, TypeError, RecursionError):  # a seeded rule may be anything
        return {"eql": "", "layer": ""}
    if eql.startswith("(") and eql.endswith(")"):
        eql = eql[1:-1]
    return {"eql": eql, "layer": group.get("tag", "")}


def _input(field: str, label: str, value: str, readonly: bool) -> str:
    element_id = "tag-" + field.removeprefix("tag_").replace("_", "-")
    return (f'<label for="{element_id}">{html.escape(label)}</label>'
            f'<input id="{element_id}" name="{field}" value="{html.escape(value)}"{" readonly" if readonly else ""}>')


def page(call: Call) -> Reply:
    """SF-H5-URL: the create / edit / view page for a project."""
    call.require_valid("query")  # the parameters of SF-H5-PROJECT-REQUIRED, -MODE, -TAG-NAME, -LANGUAGE; refused: SF-H5-ERRORS
    if call.query.get(LOGIN_PARAMETER):
        return _login(call)
    mode = call.query.get("mode", "create")
    language = call.query.get("language", "zh-cn")
    labels = LABELS[language]
    pkey, project = _project(call, session(call), call.query["project"])
    values = dict.fromkeys(FIELDS, "")
    tag_status = ""
    if mode != "create":
        tag = call.state.get(f"tags:{pkey}", call.query["tag_name"])
        if tag is None:
            raise Rejection(404, f"real-time tag {call.query['tag_name']!r} does not exist", ("SF-H5-ERRORS",))
        values.update(tag_name=tag["name"], tag_cname=tag["cname"], comment=tag.get("comment") or "", **_first_layer(tag["rule"]))
        tag_status = tag["status"]
    config = {"project": project["project"], "mode": mode, "language": language, "labels": labels,
              "message_key": MESSAGE_KEY, "success_type": SUCCESS_TYPE.get(mode), "save_url": call.request.path + "/save"}
    inputs = "".join(
        _input(f, labels[f], values[f], readonly=mode == "view" or (mode == "edit" and f == "tag_name")) for f in FIELDS
    )
    save = "" if mode == "view" else f'<button id="rt-tag-save" type="submit">{html.escape(labels["save"])}</button>'
    status_line = f'<p id="rt-tag-current-status">{html.escape(labels["status"])}: {html.escape(tag_status)}</p>' if tag_status else ""
    config_json = json.dumps(config, ensure_ascii=False).replace("<", "\\u003c")
    body = f"""<!DOCTYPE html>
<html lang="{language}"><head><meta charset="utf-8"><title>{html.escape(labels[mode])}</title>
<style>body{{font-family:sans-serif;margin:1em}}label{{display:block;margin-top:.6em}}input{{width:24em}}</style></head>
<body id="rt-tag-page" data-mode="{mode}" data-project="{html.escape(project['project'])}" data-language="{language}">
<h1 id="rt-tag-title">{html.escape(labels[mode])}</h1>{status_line}
<form id="rt-tag-form">{inputs}{save}</form>
<p id="rt-tag-status" data-state="idle"></p>
<script id="rt-tag-config" type="application/json">{config_json}</script>
<script>{_SCRIPT}</script>
</body></html>"""
    return Reply(200, body, content_type="text/html")


def _login_form(query: dict[str, str]) -> str:
    """SF-H5-PROJECT-RESOLVE: the sign-in form; it reopens the same page with ``api_key`` (then a cookie)."""
    kept = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                   for k, v in query.items() if k != LOGIN_PARAMETER and isinstance(v, str))
    return (f'<form id="rt-tag-login" method="get">{kept}<label for="login-api-key">api-key</label>'
            f'<input id="login-api-key" name="{LOGIN_PARAMETER}" type="password" autocomplete="off">'
            f'<button id="rt-tag-login-submit" type="submit">登录 (sign in)</button></form>')


def error_page(rejection: Rejection, call: Call | None = None) -> Reply:
    """SF-H5-ERRORS: a small HTML page naming the problem, with the rejection's status; a 401 signs in."""
    ids = ", ".join(rejection.requirement_ids)
    login = _login_form(call.query if call is not None else {}) if rejection.status == 401 else ""
    body = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{rejection.status}</title></head>'
            f'<body id="rt-tag-page" data-error="{rejection.status}"><h1 id="rt-tag-error">{rejection.status}</h1>'
            f'<p id="rt-tag-error-message">{html.escape(rejection.message)}</p>'
            f'<p id="rt-tag-error-requirements">{html.escape(ids)}</p>{login}</body></html>')
    return Reply(rejection.status, body, content_type="text/html")


def save(call: Call) -> Reply:
    """SF-H5-SAVE (modeled): create (CREATED status) or edit a tag; answers {tag_name, tag_cname}."""
    call.require_valid("body")
    body = call.body
    pkey, project = _project(call, session(call), body["project"])
    try:
        eql_matches(body["eql"], {})
        eql_matches(f"({body['eql']})", {})  # as the rule will keep it (build_rule): within MAX_EQL_DEPTH there too
    except EqlError as exc:
        raise Rejection(400, f"eql: {exc}", ("SF-H5-SAVE",)) from None
    tags = f"tags:{pkey}"
    existing = call.state.get(tags, body["tag_name"])
    rule = build_rule([{"eql": body["eql"], "tag": body["layer"]}])
    if body.get("mode", "create") == "create":
        if existing is not None:
            raise Rejection(409, f"real-time tag {body['tag_name']!r} already exists", ("SF-H5-SAVE",))
        tag = new_tag(project, {"name": body["tag_name"], "cname": body["tag_cname"], "comment": body.get("comment", ""),
                                "rule": rule, "status": CREATED}, call.now)
        call.state.put("projects", pkey, project)
    else:
        if existing is None:
            raise Rejection(404, f"real-time tag {body['tag_name']!r} does not exist", ("SF-H5-SAVE",))
        tag = {**existing, "cname": body["tag_cname"], "comment": body.get("comment", existing.get("comment")),
               "rule": rule, "update_time": clock(call.now)}
        if tag["status"] == RUNNING:
            compute(call.state, pkey, tag, call.now)
    call.state.put(tags, tag["name"], tag)
    return ok({"tag_name": tag["name"], "tag_cname": tag["cname"]})
