"""Sensors Focus real-time tags (实时标签) open API -- divergent-but-conforming mock.

Run:  python app.py --port 8080   (binds 127.0.0.1)
See CHOICES.md for every open point and the choice taken.
"""
from __future__ import annotations

import argparse
import ast
import copy
import html
import json
import secrets
import time
import uuid
from datetime import datetime, timedelta, timezone

from aiohttp import web

CREDS = {
    "api_key": "#K-divergeSensorsKeyA0001",
    "organization_id": "org-diverge-a01",
    "project": "default",
    "tag_name": "user_rt_tag_lifecycle",
    "disposable_tag_name": "user_rt_tag_disposable",
    "distinct_id": "u-1001",
}

# second tenant (isolation)
CREDS_B = {
    "api_key": "#K-divergeSensorsKeyB0002",
    "organization_id": "org-diverge-b02",
    "project": "default",
    "tag_name": "user_rt_tag_lifecycle",
    "distinct_id": "u-1001",
}

TZ = timezone(timedelta(hours=8))
CALC_SECONDS = 1.5          # STARTED tag is CALCULATING this long before values are served
QUOTA_LIMIT = 50            # tags per project
BATCH_LIMIT = 100           # max audience_entity_ids per batch-get
SUPPORTED_LANGS = ("zh-cn", "zh-tw", "en-us", "ja", "th")
MODES = ("create", "view", "edit")
ENTITY_NAMES = ("user",)
TAG_PREFIX = "user_rt_tag_"

H5_PATH = "/sf/h5/iframe-app/sf/realtime-tag"

# ----------------------------------------------------------------------------- switchable defects (off by default)
DEFECTS: dict[str, dict[str, str]] = {
    "h5_view_without_tag_name": {
        "sentence": "tag_name | 非必传 | 实时标签的名称,当 mode 是编辑或者查看的时候必传 |",
        "english": "tag_name: optional; the real-time tag's name, required when mode is edit or view.",
        "bug": "The H5 page only enforces tag_name for mode=edit: GET the iframe URL with mode=view and no "
               "tag_name answers 200 with a page instead of the 400 refusal.",
    },
    "start_returns_data": {
        "sentence": "调用成功后,code 为 SUCCESS,data 不返回数据。",
        "english": "(start section) After a successful call, code is SUCCESS and data returns no data.",
        "bug": "POST /real-time-tag/start answers SUCCESS with data {\"name\": ..., \"status\": \"CALCULATING\"} "
               "instead of no data (data null).",
    },
    "stop_ignores_calculating": {
        "sentence": "调用成功后,code 为 SUCCESS,data 不返回数据。",
        "english": "(stop section, 实时标签的停用 = deactivating the tag) After a successful call, code is SUCCESS "
                   "and data returns no data -- SUCCESS means the tag was stopped.",
        "bug": "POST /real-time-tag/stop on a tag that was just started (still computing) answers SUCCESS but "
               "only RUNNING tags are switched off: GET /real-time-tag/get still shows it not STOPPED and it "
               "later serves values.",
    },
    "get_without_name_returns_first": {
        "sentence": "query | name | 必传 | 实时标签名称",
        "english": "query parameter name: required; the real-time tag's name.",
        "bug": "GET /real-time-tag/get without a name (or with name=) treats the name as an optional filter and "
               "answers SUCCESS with the project's first tag instead of refusing the call.",
    },
    "quota_requires_body": {
        "sentence": "调用成功后,code 为 SUCCESS,data 数据:",
        "english": "(quota section, whose request example sends only headers and no body) After a successful "
                   "call, code is SUCCESS with the data (remain, use).",
        "bug": "POST /real-time-tag/quota/query sent exactly like the document's example (no body) answers "
               "INVALID_ARGUMENT (请求体不能为空) instead of SUCCESS with remain/use; a body of {} still works.",
    },
    "online_user_prefix_match": {
        "sentence": "说明:当用户不存在时,请求接口会报错,提示用户不存在;",
        "english": "Note: when the user does not exist, the request reports an error saying the user does not "
                   "exist.",
        "bug": "Online look-ups match distinct_id/login_id by prefix: express-attribute-online/get with "
               "distinct_id \"u-100\" (no such user) answers SUCCESS with user u-1001's tags instead of "
               "USER_NOT_EXIST (batch-get likewise includes that user).",
    },
    "online_tag_index_cross_tenant": {
        "sentence": "iframe 创建实时标签 → 接口调用启用标签 → 标签计算完成后 → 根据用户调用结果查询结果查询实时标签的值。",
        "english": "(normal usage flow) Create the tag in the iframe -> enable it through the API -> after the tag "
                   "has been computed -> query the tag's value for a user.",
        "bug": "Online look-ups consult an index of running tags keyed by tag name only: once tenant A has "
               "started user_rt_tag_lifecycle, tenant B (whose same-named tag was never started) gets a value "
               "for it, computed with A's rule.",
    },
    "online_get_drops_valueless_entries": {
        "sentence": "当请求的实时标签不存在时,接口不会报错,返回的结果中实时标签对应的 value 无值。",
        "english": "When a requested real-time tag does not exist the API does not fail; in the result the "
                   "entry for that tag has no value.",
        "bug": "express-attribute-online/get drops every attribute entry that has no value, so an unknown (or "
               "stopped) tag is missing from audience_entity_attributes instead of being listed without value.",
    },
    "batch_entity_name_echoed": {
        "sentence": "entity_name | 必返 | 实体名称",
        "english": "(batch-get response) entity_name: always returned; the entity name (which defaults to user "
                   "when not passed).",
        "bug": "express-attribute-online/batch-get echoes the request's entity_name into each entity, so a "
               "request without entity_name answers \"entity_name\": null instead of \"user\".",
    },
}
DEFECTS_KEY = web.AppKey("defects", frozenset)


# ----------------------------------------------------------------------------- helpers
def now_str() -> str:
    return datetime.now(TZ).isoformat(timespec="milliseconds")


def new_request_id() -> str:
    return str(uuid.uuid4())


class ApiError(Exception):
    def __init__(self, code: str, description: str, ei_code: str, cause: str = "", action: str = "",
                 context: dict | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.ei_code = ei_code
        self.cause = cause or description
        self.action = action or "请检查请求参数后重试"
        self.context = context or {}


def envelope(data=None, request_id=None, message="success"):
    return {"code": "SUCCESS", "message": message, "request_id": request_id or new_request_id(),
            "data": data, "error_info": None}


def failure(err: ApiError, request_id: str):
    return {
        "code": err.code,
        "message": err.description,
        "request_id": request_id,
        "data": None,
        "error_info": {
            "code": err.ei_code,
            "description": err.description,
            "system_response": "请求未被执行",
            "error_causes": [{"error_cause": err.cause, "action_suggestion": err.action}],
            "context": err.context,
        },
    }


def json_response(payload: dict, status: int = 200) -> web.Response:
    resp = web.json_response(payload, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))
    resp.headers["X-Request-Id"] = payload.get("request_id") or ""
    return resp


def param_error(desc: str, field: str | None = None) -> ApiError:
    return ApiError("INVALID_ARGUMENT", desc, "SF-R-F-1-1", context={"field": field} if field else {})


# ----------------------------------------------------------------------------- tiny EQL evaluator
class EqlError(Exception):
    pass


def _eval_eql(node, user: dict):
    if isinstance(node, ast.Expression):
        return _eval_eql(node.body, user)
    if isinstance(node, ast.BoolOp):
        vals = [_eval_eql(v, user) for v in node.values]
        return all(vals) if isinstance(node.op, ast.And) else any(vals)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _eval_eql(node.operand, user)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        v = _eval_eql(node.operand, user)
        if isinstance(v, (int, float)):
            return -v
        raise EqlError("bad unary")
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval_eql(e, user) for e in node.elts]
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "user":
        return user.get(node.attr)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and not node.args:
        target = _eval_eql(node.func.value, user)
        if node.func.attr == "is_null":
            return target is None
        if node.func.attr == "is_not_null":
            return target is not None
        raise EqlError("unknown function")
    if isinstance(node, ast.Compare):
        left = _eval_eql(node.left, user)
        for op, comp in zip(node.ops, node.comparators):
            right = _eval_eql(comp, user)
            try:
                if isinstance(op, ast.Eq):
                    ok = left == right
                elif isinstance(op, ast.NotEq):
                    ok = left != right
                elif isinstance(op, ast.In):
                    ok = left in right
                elif isinstance(op, ast.NotIn):
                    ok = left not in right
                elif isinstance(op, (ast.Gt, ast.GtE, ast.Lt, ast.LtE)):
                    if left is None or right is None:
                        ok = False
                    elif isinstance(op, ast.Gt):
                        ok = left > right
                    elif isinstance(op, ast.GtE):
                        ok = left >= right
                    elif isinstance(op, ast.Lt):
                        ok = left < right
                    else:
                        ok = left <= right
                else:
                    raise EqlError("bad operator")
            except TypeError:
                ok = False
            if not ok:
                return False
            left = right
        return True
    raise EqlError("unsupported expression")


def compile_eql(expr: str):
    if not isinstance(expr, str) or not expr.strip() or len(expr) > 2000:
        raise EqlError("empty")
    tree = ast.parse(expr.strip(), mode="eval")
    _eval_eql(tree, {})  # dry run to validate the shape
    return tree


def make_rule(groups: list[tuple[str, str]]) -> str:
    """groups: [(eql, layer label)] -> rule JSON string shaped like the document's example."""
    return json.dumps({
        "segment_based_rule": {"groups": [
            {"segment": {"type": "GROUP_EXPRESSION_BASED", "group_expression_rule": {
                "groups": [{"type": "EQL_BASED", "eql_segment_rule": {"eql": eql}}],
                "group_expression": "\"$1\""}}, "tag": label}
            for eql, label in groups]},
        "tag_type": "SEGMENT_BASED", "version": 2.0}, ensure_ascii=False)


def rule_groups(rule: str):
    try:
        r = json.loads(rule)
        out = []
        for g in r["segment_based_rule"]["groups"]:
            eql = g["segment"]["group_expression_rule"]["groups"][0]["eql_segment_rule"]["eql"]
            out.append((compile_eql(eql), g["tag"]))
        return out
    except Exception:
        return []


# ----------------------------------------------------------------------------- state
class Store:
    def __init__(self):
        self.next_tag_id = 101
        self.orgs: dict[str, dict] = {}
        self.h5_tokens: dict[str, tuple[str, str]] = {}
        self._seed()

    # -- provisioning
    def _add_org(self, org_id, api_key, projects: dict[str, int]):
        self.orgs[org_id] = {"api_key": api_key, "projects": {
            p: {"project_id": pid, "tags": {}, "users": []} for p, pid in projects.items()}}

    def _add_user(self, org, project, entity_id, distinct_id, login_id=None, **props):
        self.orgs[org]["projects"][project]["users"].append(
            {"entity_id": entity_id, "distinct_id": distinct_id, "login_id": login_id, "props": props})

    def add_tag(self, org, project, name, cname, groups, status="STOPPED", comment="", group_id=5,
                creator="admin"):
        proj = self.orgs[org]["projects"][project]
        ts = now_str()
        tag = {
            "id": self.next_tag_id, "name": name, "cname": cname, "project_id": proj["project_id"],
            "group_id": group_id, "comment": comment, "type": "GROUP_BASED", "use_instant_event": False,
            "data_type": "STRING", "status": status, "time_zone": "", "rule": make_rule(groups),
            "create_time": ts, "update_time": ts, "creator": creator,
            "last_calc_time": ts if status == "RUNNING" else None,
            "_ready_at": 0.0,
        }
        self.next_tag_id += 1
        proj["tags"][name] = tag
        return tag

    def _seed(self):
        a, b = CREDS["organization_id"], CREDS_B["organization_id"]
        self._add_org(a, CREDS["api_key"], {"default": 2, "production": 3})
        self._add_org(b, CREDS_B["api_key"], {"default": 7})
        # tenant A / default users
        self._add_user(a, "default", -2443016794336717482, "u-1001", "login-1001", age=35, city="上海",
                       vip_level="gold")
        self._add_user(a, "default", 224266287, "u-1002", "login-1002", age=11, city="北京", vip_level="silver")
        self._add_user(a, "default", 224266288, "u-1003", None, age=22, city=None, vip_level="platinum")
        self._add_user(a, "default", 224266289, "u-1004", "login-1004", age=58, city="深圳", vip_level=None)
        # tenant A / production: same distinct id, different person
        self._add_user(a, "production", 9000001, "u-1001", None, age=19, city="杭州", vip_level="gold")
        # tenant B: overlapping distinct ids, different people and values
        self._add_user(b, "default", 771000001, "u-1001", None, age=12, city="广州", vip_level="bronze")
        self._add_user(b, "default", 771000002, "b-only-2001", None, age=44, city="成都", vip_level="gold")

        seg_age = [("(user.age >= 30)", "分层 1"), ("(user.age < 30)", "分层 2")]
        self.add_tag(a, "default", CREDS["tag_name"], "生命周期测试标签", seg_age, comment="lifecycle")
        self.add_tag(a, "default", CREDS["disposable_tag_name"], "可删除标签",
                     [("user.city.is_null()", "无城市")], comment="disposable")
        self.add_tag(a, "default", "user_rt_tag_vip", "高价值用户",
                     [("user.vip_level in ['gold', 'platinum']", "高价值"),
                      ("user.vip_level == 'silver'", "中价值")], status="RUNNING")
        self.add_tag(a, "default", "user_rt_tag_city", "城市分层",
                     [("user.city == '上海' and user.age == 35", "沪上中年"), ("user.city.is_not_null()", "有城市")],
                     status="RUNNING")
        self.add_tag(a, "production", "user_rt_tag_vip", "高价值用户(prod)",
                     [("user.vip_level == 'gold'", "金卡")], status="RUNNING")
        self.add_tag(b, "default", CREDS_B["tag_name"], "B 生命周期", [("user.age > 0", "B 分层")])
        self.add_tag(b, "default", "user_rt_tag_b_secret", "B 私有标签", [("user.age > 0", "B 私有")],
                     status="RUNNING")

    # -- views
    @staticmethod
    def refresh(tag):
        if tag["status"] == "CALCULATING" and time.monotonic() >= tag["_ready_at"]:
            tag["status"] = "RUNNING"
            tag["last_calc_time"] = now_str()
        return tag

    @staticmethod
    def public(tag):
        return {k: v for k, v in tag.items() if not k.startswith("_")}


# ----------------------------------------------------------------------------- request plumbing
def get_store(request) -> Store:
    return request.app["store"]


def get_defects(request) -> frozenset:
    return request.app[DEFECTS_KEY]


def authenticate(request):
    """Order: X-Organization-Id -> sensorsdata-project -> api-key."""
    store = get_store(request)
    org_id = request.headers.get("X-Organization-Id")
    if not org_id or not org_id.strip():
        raise ApiError("PERMISSION_DENIED", "缺少请求头 X-Organization-Id", "SF-A-F-1-1",
                       action="请在请求头中传入 X-Organization-Id")
    org = store.orgs.get(org_id)
    if org is None:
        raise ApiError("PERMISSION_DENIED", "组织不存在或无权访问", "SF-A-F-1-2", context={"organization": org_id})
    project = request.headers.get("sensorsdata-project")
    if not project or not project.strip():
        raise ApiError("PROJECT_NOT_EXIST", "缺少请求头 sensorsdata-project", "SF-A-F-2-1",
                       action="请在请求头中传入 sensorsdata-project")
    proj = org["projects"].get(project)
    if proj is None:
        raise ApiError("PROJECT_NOT_EXIST", "项目不存在", "SF-A-F-2-2", context={"project": project})
    key = request.headers.get("api-key")
    if not key:
        raise ApiError("PERMISSION_DENIED", "缺少请求头 api-key", "SF-A-F-3-1", action="请在请求头中传入 api-key")
    if not secrets.compare_digest(key.encode(), org["api_key"].encode()):
        raise ApiError("PERMISSION_DENIED", "api-key 无效", "SF-A-F-3-2")
    return org_id, project, proj


async def read_json_object(request, allow_empty=False):
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise param_error("请求体过大")
    if not raw.strip():
        if allow_empty:
            return {}
        raise param_error("请求体不能为空")
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise param_error("请求体不是合法的 JSON")
    if not isinstance(body, dict):
        if allow_empty:
            return {}
        raise param_error("请求体必须是 JSON 对象")
    return body


def api(handler):
    async def wrapped(request):
        rid = new_request_id()
        try:
            ctx = authenticate(request)
            data = await handler(request, ctx)
            return json_response(envelope(data, rid))
        except ApiError as e:
            return json_response(failure(e, rid))
        except Exception as e:  # never a 5xx
            return json_response(failure(ApiError("INTERNAL_ERROR", "请求处理失败", "SF-S-F-9-9",
                                                  context={"type": type(e).__name__}), rid))
    return wrapped


def require_name(body: dict, allowed=("name",)):
    extra = sorted(set(body) - set(allowed))
    if extra:
        raise param_error(f"不支持的参数: {', '.join(extra)}", extra[0])
    name = body.get("name")
    if name is None:
        raise param_error("name 不能为空", "name")
    if not isinstance(name, str) or not name.strip():
        raise param_error("name 必须是非空字符串", "name")
    return name


def find_tag(proj, name):
    tag = proj["tags"].get(name)
    if tag is None:
        raise ApiError("REAL_TIME_TAG_NOT_EXIST", "实时标签不存在", "SF-T-F-1-1", context={"name": name},
                       action="请确认实时标签名称是否正确")
    return Store.refresh(tag)


# ----------------------------------------------------------------------------- lifecycle
@api
async def start_tag(request, ctx):
    _, _, proj = ctx
    name = require_name(await read_json_object(request))
    tag = find_tag(proj, name)
    if tag["status"] != "STOPPED":
        raise ApiError("REAL_TIME_TAG_STATUS_ERROR", f"实时标签当前状态为 {tag['status']},不能启用",
                       "SF-T-F-2-1", context={"name": name, "status": tag["status"]})
    tag["status"] = "CALCULATING"
    tag["_ready_at"] = time.monotonic() + CALC_SECONDS
    tag["update_time"] = now_str()
    if "start_returns_data" in get_defects(request):
        return {"name": name, "status": tag["status"]}
    return None


@api
async def stop_tag(request, ctx):
    _, _, proj = ctx
    name = require_name(await read_json_object(request))
    tag = find_tag(proj, name)
    if tag["status"] == "STOPPED":
        raise ApiError("REAL_TIME_TAG_STATUS_ERROR", "实时标签已停用", "SF-T-F-2-2",
                       context={"name": name, "status": tag["status"]})
    if "stop_ignores_calculating" in get_defects(request):
        if tag["status"] == "RUNNING":
            tag["status"] = "STOPPED"
    else:
        tag["status"] = "STOPPED"
    tag["update_time"] = now_str()
    return None


@api
async def delete_tag(request, ctx):
    _, _, proj = ctx
    name = require_name(await read_json_object(request))
    tag = find_tag(proj, name)
    if tag["status"] != "STOPPED":
        raise ApiError("REAL_TIME_TAG_STATUS_ERROR", "实时标签未停用,请先停用再删除", "SF-T-F-2-3",
                       context={"name": name, "status": tag["status"]}, action="请先调用停用接口")
    del proj["tags"][name]
    return None


@api
async def get_tag(request, ctx):
    _, _, proj = ctx
    names = request.query.getall("name", [])
    if "get_without_name_returns_first" in get_defects(request) and len(names) <= 1:
        name = names[0] if names else None
        matches = [t for n, t in proj["tags"].items() if not name or n == name]
        if not name and matches:
            return {"realtime_tag": Store.public(Store.refresh(matches[0]))}
    if not names:
        raise param_error("query 参数 name 不能为空", "name")
    if len(names) > 1:
        raise param_error("query 参数 name 只能传一个", "name")
    name = names[0]
    if not name.strip():
        raise param_error("query 参数 name 不能为空", "name")
    tag = find_tag(proj, name)
    return {"realtime_tag": Store.public(tag)}


@api
async def quota_query(request, ctx):
    _, _, proj = ctx
    await read_json_object(request, allow_empty="quota_requires_body" not in get_defects(request))  # body is ignored
    use = len(proj["tags"])
    return {"remain": max(QUOTA_LIMIT - use, 0), "use": use, "total": QUOTA_LIMIT}


# ----------------------------------------------------------------------------- online look-ups
IDENTITY_KEYS = {"distinct_id": "distinct_id", "login_id": "login_id", "$identity_login_id": "login_id",
                 "$identity_distinct_id": "distinct_id"}


def parse_entity_name(body):
    en = body.get("entity_name", None)
    if en is None:
        return "user"
    if not isinstance(en, str) or en not in ENTITY_NAMES:
        raise ApiError("ENTITY_NOT_EXIST", "实体不存在", "SF-E-F-1-1", context={"entity_name": en})
    return en


def parse_attribute_names(body):
    names = body.get("attribute_names")
    if names is None:
        raise param_error("attribute_names 不能为空", "attribute_names")
    if not isinstance(names, list) or not names:
        raise param_error("attribute_names 必须是非空数组", "attribute_names")
    if len(names) > 100:
        raise param_error("attribute_names 最多 100 个", "attribute_names")
    out = []
    for n in names:
        if not isinstance(n, str) or not n.strip():
            raise param_error("attribute_names 的元素必须是非空字符串", "attribute_names")
        if n not in out:
            out.append(n)
    return out


def parse_entity_id(obj, field):
    """Returns a matcher dict; raises ApiError if malformed."""
    if not isinstance(obj, dict) or not obj:
        raise param_error(f"{field} 必须是对象", field)
    idm = obj.get("identity_id_map")
    eid = obj.get("entity_id")
    if idm is None and eid is None:
        raise param_error(f"{field} 需要 identity_id_map 或 entity_id", field)
    m = {}
    if idm is not None:
        if not isinstance(idm, dict) or not idm:
            raise param_error("identity_id_map 必须是非空对象", field)
        for k, v in idm.items():
            if k not in IDENTITY_KEYS:
                raise param_error(f"不支持的用户标识: {k}", field)
            if not isinstance(v, str) or not v:
                raise param_error(f"用户标识 {k} 必须是非空字符串", field)
            m.setdefault(IDENTITY_KEYS[k], set()).add(v)
    if eid is not None:
        if not isinstance(eid, dict):
            raise param_error("entity_id 必须是对象", field)
        dt = eid.get("data_type")
        if dt == "INT" or (dt is None and "int_value" in eid):
            iv = eid.get("int_value")
            if isinstance(iv, bool) or not isinstance(iv, (int, str)):
                raise param_error("entity_id.int_value 非法", field)
            try:
                iv = int(iv)
            except ValueError:
                raise param_error("entity_id.int_value 非法", field)
            m["entity_id"] = iv
        elif dt == "STRING" or (dt is None and "string_value" in eid):
            sv = eid.get("string_value")
            if not isinstance(sv, str) or not sv:
                raise param_error("entity_id.string_value 非法", field)
            try:
                m["entity_id"] = int(sv)
            except ValueError:
                m["entity_id"] = sv  # will never match: user ids are INT
        else:
            raise param_error("entity_id.data_type 必须是 INT 或 STRING", field)
    return m


def resolve_user(proj, matcher, defects=frozenset()):
    for u in proj["users"]:
        ok = True
        for k, vals in matcher.items():
            if k == "entity_id":
                ok = u["entity_id"] == vals
            elif "online_user_prefix_match" in defects:
                ok = len(vals) == 1 and any(str(u.get(k) or "").startswith(v) for v in vals)
            else:
                ok = len(vals) == 1 and u.get(k) in vals
            if not ok:
                break
        if ok:
            return u
    return None


def attribute_entry(proj, user, name, defects=frozenset(), store=None):
    tag = proj["tags"].get(name)
    if "online_tag_index_cross_tenant" in defects and store is not None:
        for org in store.orgs.values():
            for p in org["projects"].values():
                t = p["tags"].get(name)
                if t is not None and Store.refresh(t)["status"] == "RUNNING":
                    tag = t
                    break
            else:
                continue
            break
    if tag is None:
        return {"name": name, "error_msg": "UNAVAILABLE"}
    Store.refresh(tag)
    if tag["status"] == "STOPPED":
        return {"name": name, "error_msg": "UNSUBSCRIBE"}
    if tag["status"] != "RUNNING":
        return {"name": name, "error_msg": "NOT_READY"}
    for tree, label in rule_groups(tag["rule"]):
        try:
            if _eval_eql(tree, user["props"]):
                return {"name": name, "value": {"data_type": "STRING", "string_value": label},
                        "error_msg": "SUCCESS"}
        except EqlError:
            continue
    return {"name": name, "error_msg": "SUCCESS"}


def entity_view(proj, user, entity_name, names, defects=frozenset(), store=None):
    return {
        "entity_id": {"data_type": "INT", "int_value": str(user["entity_id"])},
        "entity_name": entity_name,
        "audience_entity_attributes": [attribute_entry(proj, user, n, defects, store) for n in sorted(names)],
    }


@api
async def online_get(request, ctx):
    _, _, proj = ctx
    body = await read_json_object(request)
    entity_name = parse_entity_name(body)
    if "audience_entity_id" not in body or body["audience_entity_id"] is None:
        raise param_error("audience_entity_id 不能为空", "audience_entity_id")
    matcher = parse_entity_id(body["audience_entity_id"], "audience_entity_id")
    names = parse_attribute_names(body)
    defects = get_defects(request)
    user = resolve_user(proj, matcher, defects)
    if user is None:
        raise ApiError("USER_NOT_EXIST", "用户不存在", "SF-U-F-1-1", action="请确认用户标识是否正确")
    view = entity_view(proj, user, entity_name, names, defects, get_store(request))
    if "online_get_drops_valueless_entries" in defects:
        view["audience_entity_attributes"] = [e for e in view["audience_entity_attributes"] if "value" in e]
    return {"audience_entity": view}


@api
async def online_batch_get(request, ctx):
    _, _, proj = ctx
    body = await read_json_object(request)
    entity_name = parse_entity_name(body)
    ids = body.get("audience_entity_ids")
    if ids is None:
        raise param_error("audience_entity_ids 不能为空", "audience_entity_ids")
    if not isinstance(ids, list) or not ids:
        raise param_error("audience_entity_ids 必须是非空数组", "audience_entity_ids")
    if len(ids) > BATCH_LIMIT:
        raise param_error(f"audience_entity_ids 最多 {BATCH_LIMIT} 个", "audience_entity_ids")
    matchers = [parse_entity_id(x, f"audience_entity_ids[{i}]") for i, x in enumerate(ids)]
    names = parse_attribute_names(body)
    defects = get_defects(request)
    if "batch_entity_name_echoed" in defects:
        entity_name = body.get("entity_name")
    out, seen = [], set()
    for m in matchers:
        u = resolve_user(proj, m, defects)
        if u is None or u["entity_id"] in seen:
            continue  # unknown users are left out; duplicates collapse
        seen.add(u["entity_id"])
        out.append(entity_view(proj, u, entity_name, names, defects, get_store(request)))
    return {"audience_entities": out}


# ----------------------------------------------------------------------------- H5 iframe page
I18N = {
    "zh-cn": {"title": "实时标签", "create": "创建实时标签", "edit": "编辑实时标签", "view": "查看实时标签",
              "save": "保存", "cname": "显示名", "rule": "规则 (EQL)", "label": "分层名称", "comment": "备注"},
    "zh-tw": {"title": "即時標籤", "create": "建立即時標籤", "edit": "編輯即時標籤", "view": "檢視即時標籤",
              "save": "儲存", "cname": "顯示名", "rule": "規則 (EQL)", "label": "分層名稱", "comment": "備註"},
    "en-us": {"title": "Real-time tag", "create": "Create real-time tag", "edit": "Edit real-time tag",
              "view": "View real-time tag", "save": "Save", "cname": "Display name", "rule": "Rule (EQL)",
              "label": "Layer name", "comment": "Comment"},
    "ja": {"title": "リアルタイムタグ", "create": "リアルタイムタグを作成", "edit": "リアルタイムタグを編集",
           "view": "リアルタイムタグを表示", "save": "保存", "cname": "表示名", "rule": "ルール (EQL)",
           "label": "レイヤー名", "comment": "備考"},
    "th": {"title": "แท็กเรียลไทม์", "create": "สร้างแท็กเรียลไทม์", "edit": "แก้ไขแท็กเรียลไทม์",
           "view": "ดูแท็กเรียลไทม์", "save": "บันทึก", "cname": "ชื่อที่แสดง", "rule": "กฎ (EQL)",
           "label": "ชื่อเลเยอร์", "comment": "หมายเหตุ"},
}


def h5_error(status, msg):
    body = f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Error</title></head>" \
           f"<body><p class=\"sf-error\">{html.escape(msg)}</p></body></html>"
    return web.Response(status=status, text=body, content_type="text/html", charset="utf-8")


def h5_tenant(request):
    """The iframe normally rides on the Sensors login cookie; here: the API headers if sent, a
    `sf_org` cookie, else the primary tenant."""
    store = get_store(request)
    org_id = request.headers.get("X-Organization-Id") or request.cookies.get("sf_org") or CREDS["organization_id"]
    if org_id not in store.orgs:
        return None, None
    key = request.headers.get("api-key")
    if key is not None and key != store.orgs[org_id]["api_key"]:
        return None, None
    return org_id, store.orgs[org_id]


async def h5_page(request):
    q = request.query
    project = q.get("project")
    if project is None or not project.strip():
        return h5_error(400, "缺少必传参数 project")
    mode = (q.get("mode") or "create").lower()
    if mode not in MODES:
        return h5_error(400, "mode 只能是 create、view 或 edit")
    lang = (q.get("language") or "zh-cn").lower()
    if lang not in SUPPORTED_LANGS:
        lang = "zh-cn"  # unsupported language: fall back to the default
    tag_name = q.get("tag_name")
    required_for = ("edit",) if "h5_view_without_tag_name" in get_defects(request) else ("view", "edit")
    if mode in required_for and (tag_name is None or not tag_name.strip()):
        return h5_error(400, "mode 为 view 或 edit 时必须传 tag_name")
    org_id, org = h5_tenant(request)
    if org is None:
        return h5_error(403, "无权访问")
    proj = org["projects"].get(project)
    if proj is None:
        return h5_error(404, "项目不存在")
    t = I18N[lang]
    tag = None
    notice = ""
    if mode in ("view", "edit"):
        tag = proj["tags"].get(tag_name)
        if tag is None:
            notice = {"zh-cn": "实时标签不存在"}.get(lang, "Real-time tag not found")
    store = get_store(request)
    token = secrets.token_urlsafe(16)
    store.h5_tokens[token] = (org_id, project)
    cname = html.escape(tag["cname"]) if tag else ""
    comment = html.escape(tag["comment"]) if tag else ""
    eql, label = "", ""
    if tag:
        try:
            g0 = json.loads(tag["rule"])["segment_based_rule"]["groups"][0]
            eql = html.escape(g0["segment"]["group_expression_rule"]["groups"][0]["eql_segment_rule"]["eql"])
            label = html.escape(g0["tag"])
        except Exception:
            pass
    ro = " disabled" if mode == "view" or notice else ""
    cfg = json.dumps({"project": project, "mode": mode, "language": lang, "tag_name": tag_name if tag else None,
                      "token": token, "submit": H5_PATH + "/submit"}, ensure_ascii=False).replace("</", "<\\/")
    page = f"""<!DOCTYPE html>
<html lang="{lang}" data-mode="{mode}">
<head><meta charset="utf-8"><title>{t['title']}</title></head>
<body>
<h1>{t[mode]}</h1>
{f'<p class="sf-error">{html.escape(notice)}</p>' if notice else ''}
<form id="sf-rt-tag-form">
  <label>{t['cname']} <input name="tag_cname" value="{cname}"{ro}></label>
  <label>{t['rule']} <input name="eql" value="{eql}"{ro}></label>
  <label>{t['label']} <input name="label" value="{label}"{ro}></label>
  <label>{t['comment']} <input name="comment" value="{comment}"{ro}></label>
  {'' if ro else f'<button type="submit">{t["save"]}</button>'}
</form>
<script>
(function () {{
  var CFG = {cfg};
  var MESSAGE_KEY = 'SENSORS_SF_REALTIME_TAG_SEND';
  function targetOrigin() {{
    try {{ return document.referrer ? new URL(document.referrer).origin : '*'; }} catch (e) {{ return '*'; }}
  }}
  function notify(type, data) {{
    var msg = {{ key: MESSAGE_KEY, value: {{ type: type, data: {{ tag_name: data.tag_name, tag_cname: data.tag_cname }} }} }};
    if (window.parent && window.parent !== window) window.parent.postMessage(msg, targetOrigin());
  }}
  var form = document.getElementById('sf-rt-tag-form');
  form.addEventListener('submit', function (ev) {{
    ev.preventDefault();
    var fd = new FormData(form);
    var payload = {{ token: CFG.token, mode: CFG.mode, tag_name: CFG.tag_name,
      tag_cname: fd.get('tag_cname'), eql: fd.get('eql'), label: fd.get('label'), comment: fd.get('comment') }};
    fetch(CFG.submit, {{ method: 'POST', credentials: 'same-origin',
      headers: {{ 'Content-Type': 'application/json' }}, body: JSON.stringify(payload) }})
      .then(function (r) {{ return r.json(); }})
      .then(function (res) {{
        if (res.code !== 'SUCCESS') {{ alert(res.message); return; }}
        notify(CFG.mode === 'edit' ? 'EDIT_SUCCESS' : 'CREATE_SUCCESS', res.data);
      }});
  }});
}})();
</script>
</body>
</html>"""
    resp = web.Response(text=page, content_type="text/html", charset="utf-8")
    resp.headers["Cache-Control"] = "no-store"
    return resp


async def h5_submit(request):
    """Backend of the iframe's save button (not part of the open API). Returns the envelope whose
    `data` is exactly what the page posts as value.data."""
    rid = new_request_id()
    try:
        body = await read_json_object(request)
        store = get_store(request)
        tok = body.get("token")
        if not isinstance(tok, str) or tok not in store.h5_tokens:
            raise ApiError("PERMISSION_DENIED", "页面会话无效,请重新打开页面", "SF-A-F-4-1")
        org_id, project = store.h5_tokens[tok]
        proj = store.orgs[org_id]["projects"][project]
        mode = body.get("mode", "create")
        if mode not in ("create", "edit"):
            raise param_error("mode 只能是 create 或 edit", "mode")
        cname = body.get("tag_cname")
        if not isinstance(cname, str) or not cname.strip() or len(cname) > 100:
            raise param_error("显示名不能为空且不超过 100 字符", "tag_cname")
        eql = body.get("eql")
        label = body.get("label") or "分层 1"
        comment = body.get("comment") or ""
        if not isinstance(label, str) or not isinstance(comment, str):
            raise param_error("参数类型错误")
        try:
            compile_eql(eql)
        except Exception:
            raise param_error("规则 EQL 不合法", "eql")
        if mode == "create":
            if len(proj["tags"]) >= QUOTA_LIMIT:
                raise ApiError("QUOTA_EXCEEDED", "实时标签额度不足", "SF-Q-F-1-1")
            name = TAG_PREFIX + secrets.token_hex(3)
            while name in proj["tags"]:
                name = TAG_PREFIX + secrets.token_hex(3)
            store.add_tag(org_id, project, name, cname.strip(), [(eql, label)], comment=comment, creator="h5")
        else:
            name = body.get("tag_name")
            if not isinstance(name, str):
                raise param_error("tag_name 不能为空", "tag_name")
            tag = find_tag(proj, name)
            tag["cname"] = cname.strip()
            tag["comment"] = comment
            tag["rule"] = make_rule([(eql, label)])
            tag["update_time"] = now_str()
        return json_response(envelope({"tag_name": name, "tag_cname": cname.strip()}, rid))
    except ApiError as e:
        return json_response(failure(e, rid))
    except Exception as e:
        return json_response(failure(ApiError("INTERNAL_ERROR", "请求处理失败", "SF-S-F-9-9",
                                              context={"type": type(e).__name__}), rid))


# ----------------------------------------------------------------------------- app
def make_app(defects: frozenset[str] = frozenset()) -> web.Application:
    defects = frozenset(defects)
    unknown = sorted(defects - set(DEFECTS))
    if unknown:
        raise ValueError(f"unknown defect(s): {', '.join(unknown)}")
    app = web.Application(client_max_size=1024 * 1024)
    app["store"] = Store()
    app[DEFECTS_KEY] = defects
    base = "/api/v3/focus/v1"
    app.router.add_post(base + "/real-time-tag/start", start_tag)
    app.router.add_post(base + "/real-time-tag/stop", stop_tag)
    app.router.add_get(base + "/real-time-tag/get", get_tag, allow_head=False)
    app.router.add_post(base + "/real-time-tag/delete", delete_tag)
    app.router.add_post(base + "/real-time-tag/quota/query", quota_query)
    app.router.add_post(base + "/express-attribute-online/get", online_get)
    app.router.add_post(base + "/express-attribute-online/batch-get", online_batch_get)
    app.router.add_get(H5_PATH, h5_page)
    app.router.add_post(H5_PATH + "/submit", h5_submit)
    return app


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args()
    web.run_app(make_app(), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
