"""Independent in-memory implementation of the Sensors Focus real-time tag open API.

Written from the vendor document only (see CHOICES.md for every gap that had to be filled).

Run:  python app.py --port 8080 [--host 127.0.0.1] [--compute-seconds 1.0] [--quota 600]
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import html
import json
import random
import re
import secrets
import string
import time
from pathlib import Path

from aiohttp import web

MAX_BODY = 1024 * 1024            # 1 MiB
MAX_BATCH_USERS = 100
MAX_ATTRIBUTE_NAMES = 100
DEFAULT_QUOTA = 600
TZ = dt.timezone(dt.timedelta(hours=8))   # vendor is in China; timestamps are shown without zone

ST_STOPPED = "STOPPED"
ST_STARTING = "STARTING"
ST_RUNNING = "RUNNING"

API = "/api/v3/focus/v1"
H5_PAGE = "/sf/h5/iframe-app/sf/realtime-tag"
H5_SAVE = "/sf/h5/iframe-app/sf/realtime-tag/save"
LANGUAGES = ("zh-cn", "zh-tw", "en-us", "ja", "th")
MODES = ("create", "edit", "view")

# --------------------------------------------------------------------------- switchable defects
# Each entry: the document sentence the bug breaks (verbatim from the seed), its English, and the bug.
DEFECTS: dict[str, dict[str, str]] = {
    "start_returns_data": {
        "sentence": "调用成功后,code 为 SUCCESS,data 不返回数据。",
        "english": "After a successful call, code is SUCCESS and data returns no data.",
        "bug": "real-time-tag/start answers SUCCESS with data {\"name\": ..., \"status\": \"STARTING\"} "
               "instead of an empty data object.",
    },
    "stop_ignores_computing_tag": {
        "sentence": "实时标签的停用",
        "english": "Stopping (disabling) a real-time tag.",
        "bug": "real-time-tag/stop only stops tags that are already RUNNING; a tag still computing "
               "(STARTING) gets SUCCESS but keeps computing and later becomes RUNNING.",
    },
    "deleted_tag_still_readable": {
        "sentence": "实时标签的删除",
        "english": "Deleting a real-time tag.",
        "bug": "real-time-tag/delete answers SUCCESS but only soft-deletes; real-time-tag/get still "
               "returns the deleted tag with code SUCCESS.",
    },
    "quota_leak_on_stop": {
        "sentence": "查询触发策略的额度使用信息",
        "english": "Query the quota usage information.",
        "bug": "the quota 'use' counter is incremented on start but never decremented on stop, so after "
               "stopping a running tag quota/query still counts it (use too high, remain too low).",
    },
    "stopped_tag_value_served": {
        "sentence": "计算成功的实时标签名称",
        "english": "attribute_names: the names of real-time tags that have been computed successfully.",
        "bug": "a tag that was running and has been stopped keeps serving its (stale) value with "
               "error_msg SUCCESS from express-attribute-online/get and batch-get.",
    },
    "cross_tenant_tag_value": {
        "sentence": "当请求的实时标签不存在时,接口不会报错,返回的结果中实时标签对应的 value 无值。",
        "english": "When the requested real-time tag does not exist, the API does not report an error, "
                   "and the tag's value in the result is empty.",
        "bug": "a tag name unknown in the caller's project is looked up in every tenant's projects, so "
               "another tenant's tag is evaluated and its value returned.",
    },
    "unknown_user_success": {
        "sentence": "说明:当用户不存在时,请求接口会报错,提示用户不存在;",
        "english": "Note: when the user does not exist, the request reports an error saying the user "
                   "does not exist.",
        "bug": "express-attribute-online/get for an unknown user answers code SUCCESS with "
               "data.audience_entity = null instead of an error.",
    },
    "batch_ignores_attribute_names": {
        "sentence": "实时标签名称",
        "english": "attribute_names (required): the real-time tag names [to query].",
        "bug": "express-attribute-online/batch-get ignores attribute_names and returns every tag of the "
               "project for each user.",
    },
    "entity_name_default_missing": {
        "sentence": "实体名称,不传默认为用户实体,即 user",
        "english": "Entity name; when not passed it defaults to the user entity, i.e. user.",
        "bug": "when entity_name is omitted the online get/batch-get answer carries entity_name null "
               "instead of \"user\".",
    },
    "h5_edit_posts_create_success": {
        "sentence": "创建成功标识,编辑保存成功后此处数据为 EDIT_SUCCESS",
        "english": "Creation-success marker; after an edit is saved successfully this value is EDIT_SUCCESS.",
        "bug": "the H5 page's save call reports type CREATE_SUCCESS for an edit (mode=edit), so the page "
               "posts CREATE_SUCCESS to the parent window after editing.",
    },
    "h5_rejects_zh_tw": {
        "sentence": "多语言设置,支持中文简体(zh-cn)、中文繁体(zh-tw)、英语(en-us)、日语(ja)和泰语(th),默认为 zh-cn",
        "english": "Language setting; supports Simplified Chinese (zh-cn), Traditional Chinese (zh-tw), "
                   "English (en-us), Japanese (ja) and Thai (th); defaults to zh-cn.",
        "bug": "the H5 iframe page rejects language=zh-tw with a 400 parameter-error page (its language "
               "list has zh-hk instead).",
    },
    "get_missing_name_500": {
        "sentence": "query | name | 必传 | 实时标签名称",
        "english": "query parameter name, required: the real-time tag name.",
        "bug": "real-time-tag/get without the name query parameter crashes (KeyError) and answers "
               "HTTP 500 INTERNAL instead of an INVALID_ARGUMENT envelope.",
    },
}


# --------------------------------------------------------------------------- helpers

def now_str() -> str:
    return dt.datetime.now(TZ).strftime("%Y-%m-%d %H:%M:%S")


def new_request_id() -> str:
    return secrets.token_hex(16)


class ApiError(Exception):
    """A failure answered with the vendor envelope.  http_status 200 = business failure."""

    ERROR_INFO_CODES = {
        "INVALID_ARGUMENT": "SF-C-P-1-1",
        "UNAUTHENTICATED": "SF-C-A-1-1",
        "PERMISSION_DENIED": "SF-C-A-2-1",
        "NOT_FOUND": "SF-D-F-2-1",
        "USER_NOT_FOUND": "SF-D-F-2-2",
        "FAILED_PRECONDITION": "SF-D-S-3-1",
        "RESOURCE_EXHAUSTED": "SF-D-Q-4-1",
        "METHOD_NOT_ALLOWED": "SF-C-P-1-2",
        "PAYLOAD_TOO_LARGE": "SF-C-P-1-3",
        "INTERNAL": "SF-S-I-5-1",
    }

    def __init__(self, code: str, message: str, http_status: int = 200,
                 suggestion: str = "", context: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status
        self.suggestion = suggestion or "请检查请求参数后重试"
        self.context = context or {}

    def envelope(self) -> dict:
        return {
            "code": self.code,
            "message": self.message,
            "request_id": new_request_id(),
            "data": None,
            "error_info": {
                "code": self.ERROR_INFO_CODES.get(self.code, "SF-S-I-5-1"),
                "description": self.message,
                "system_response": "请求未被处理",
                "error_causes": [{"error_cause": self.message,
                                  "action_suggestion": self.suggestion}],
                "context": self.context,
            },
        }


def ok(data) -> web.Response:
    return web.json_response({
        "code": "SUCCESS",
        "message": None,
        "request_id": new_request_id(),
        "data": data,
        "error_info": None,
    }, dumps=lambda o: json.dumps(o, ensure_ascii=False))


def err_response(e: ApiError) -> web.Response:
    return web.json_response(e.envelope(), status=e.http_status,
                             dumps=lambda o: json.dumps(o, ensure_ascii=False))


def invalid(msg: str) -> ApiError:
    return ApiError("INVALID_ARGUMENT", msg, 200, "请按照接口文档传入正确的参数")


# --------------------------------------------------------------------------- tiny EQL evaluator
# Supports: user.prop == / != / > / >= / < / <= literal, user.prop in [..], user.prop not in [..],
# user.prop.is_null(), user.prop.is_not_null(), and / or / not, parentheses.

_TOKEN_RE = re.compile(r"""
    \s*(?:
      (?P<num>-?\d+(?:\.\d+)?)
    | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<op>==|!=|>=|<=|>|<|\(|\)|\[|\]|,)
    | (?P<ident>[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*(?:\(\))?)
    )""", re.X)


class EqlError(Exception):
    pass


def _tokenize(src: str):
    pos, out = 0, []
    src = src.rstrip()
    while pos < len(src):
        m = _TOKEN_RE.match(src, pos)
        if not m or m.end() == pos:
            raise EqlError(f"bad token at {pos}")
        pos = m.end()
        kind = m.lastgroup
        val = m.group(kind)
        if kind == "num":
            out.append(("lit", float(val) if "." in val else int(val)))
        elif kind == "str":
            out.append(("lit", re.sub(r"\\(.)", r"\1", val[1:-1])))
        elif kind == "op":
            out.append(("op", val))
        else:
            low = val.lower()
            if low in ("and", "or", "not", "in"):
                out.append(("kw", low))
            elif low in ("true", "false"):
                out.append(("lit", low == "true"))
            elif low == "null":
                out.append(("lit", None))
            else:
                out.append(("ident", val))
    return out


class _Parser:
    def __init__(self, tokens, props):
        self.t, self.i, self.props = tokens, 0, props

    def peek(self):
        return self.t[self.i] if self.i < len(self.t) else (None, None)

    def take(self, kind=None, val=None):
        tok = self.peek()
        if tok[0] is None or (kind and tok[0] != kind) or (val is not None and tok[1] != val):
            raise EqlError(f"unexpected {tok}")
        self.i += 1
        return tok

    def parse(self):
        v = self.expr_or()
        if self.i != len(self.t):
            raise EqlError("trailing tokens")
        return v

    def expr_or(self):
        v = self.expr_and()
        while self.peek() == ("kw", "or"):
            self.take()
            r = self.expr_and()
            v = v or r
        return v

    def expr_and(self):
        v = self.expr_not()
        while self.peek() == ("kw", "and"):
            self.take()
            r = self.expr_not()
            v = v and r
        return v

    def expr_not(self):
        if self.peek() == ("kw", "not"):
            self.take()
            return not self.expr_not()
        return self.atom()

    def value_of(self, ident):
        parts = ident.split(".")
        if parts[0] != "user" or len(parts) != 2:
            raise EqlError(f"unknown field {ident}")
        return self.props.get(parts[1])

    def literal(self):
        kind, val = self.take()
        if kind != "lit":
            raise EqlError("literal expected")
        return val

    def atom(self):
        kind, val = self.peek()
        if (kind, val) == ("op", "("):
            self.take()
            v = self.expr_or()
            self.take("op", ")")
            return v
        if kind != "ident":
            raise EqlError("field expected")
        self.take()
        for suffix, want_null in ((".is_null()", True), (".is_not_null()", False)):
            if val.endswith(suffix):
                return (self.value_of(val[: -len(suffix)]) is None) == want_null
        left = self.value_of(val)
        kind, op = self.peek()
        negate = False
        if (kind, op) == ("kw", "not"):
            self.take()
            negate = True
            kind, op = self.peek()
            if (kind, op) != ("kw", "in"):
                raise EqlError("'in' expected")
        if (kind, op) == ("kw", "in"):
            self.take()
            self.take("op", "[")
            items = []
            if self.peek() != ("op", "]"):
                items.append(self.literal())
                while self.peek() == ("op", ","):
                    self.take()
                    items.append(self.literal())
            self.take("op", "]")
            return (left in items) != negate
        if kind != "op" or op not in ("==", "!=", ">", ">=", "<", "<="):
            raise EqlError("operator expected")
        self.take()
        right = self.literal()
        if op == "==":
            return left == right
        if op == "!=":
            return left != right
        if left is None or right is None:
            return False
        try:
            return {">": left > right, ">=": left >= right,
                    "<": left < right, "<=": left <= right}[op]
        except TypeError:
            return False


def eql_matches(eql: str, props: dict) -> bool:
    try:
        return bool(_Parser(_tokenize(eql), props).parse())
    except (EqlError, RecursionError, ValueError, UnicodeDecodeError):
        return False


def eql_valid(eql: str) -> bool:
    try:
        _Parser(_tokenize(eql), {}).parse()
        return True
    except (EqlError, RecursionError, ValueError, UnicodeDecodeError):
        return False


def build_rule(layers: list[tuple[str, str]]) -> str:
    groups = []
    for tag, eql in layers:
        groups.append({
            "segment": {
                "type": "GROUP_EXPRESSION_BASED",
                "group_expression_rule": {
                    "groups": [{"type": "EQL_BASED", "eql_segment_rule": {"eql": eql}}],
                    "group_expression": "\"$1\"",
                },
            },
            "tag": tag,
        })
    return json.dumps({"segment_based_rule": {"groups": groups},
                       "tag_type": "SEGMENT_BASED", "version": 2.0},
                      ensure_ascii=False, separators=(",", ":"))


def rule_layers(rule: str) -> list[tuple[str, str]]:
    try:
        r = json.loads(rule)
        out = []
        for g in r["segment_based_rule"]["groups"]:
            eqls = [x["eql_segment_rule"]["eql"]
                    for x in g["segment"]["group_expression_rule"]["groups"]]
            out.append((g["tag"], " and ".join(f"({e})" for e in eqls)))
        return out
    except Exception:  # noqa: BLE001 - malformed stored rule simply yields no layers
        return []


# --------------------------------------------------------------------------- state

class Tag:
    def __init__(self, tid, name, cname, project_id, layers, status=ST_STOPPED, comment=""):
        self.id = tid
        self.name = name
        self.cname = cname
        self.project_id = project_id
        self.group_id = 5
        self.comment = comment
        self.type = "GROUP_BASED"
        self.use_instant_event = False
        self.data_type = "STRING"
        self.status = status
        self.time_zone = ""
        self.rule = build_rule(layers)
        self.create_time = now_str()
        self.update_time = self.create_time
        self.ready_at = 0.0 if status == ST_RUNNING else None
        self.was_running = False          # used only by defect stopped_tag_value_served

    def refresh(self):
        if self.status == ST_STARTING and self.ready_at is not None and time.time() >= self.ready_at:
            self.status = ST_RUNNING

    def to_json(self):
        self.refresh()
        return {
            "id": self.id, "name": self.name, "cname": self.cname,
            "project_id": self.project_id, "group_id": self.group_id,
            "comment": self.comment, "type": self.type,
            "use_instant_event": self.use_instant_event, "data_type": self.data_type,
            "status": self.status, "time_zone": self.time_zone, "rule": self.rule,
            "create_time": self.create_time, "update_time": self.update_time,
        }

    def value_for(self, props):
        for tag, eql in rule_layers(self.rule):
            if eql_matches(eql, props):
                return tag
        return None


class User:
    def __init__(self, entity_id: int, identities: dict, props: dict):
        self.entity_id = entity_id
        self.identities = identities
        self.props = props


class Project:
    def __init__(self, pid, name, quota):
        self.id = pid
        self.name = name
        self.quota = quota
        self.tags: dict[str, Tag] = {}
        self.users: list[User] = []
        self.leaked = 0                      # defect quota_leak_on_stop
        self.trash: dict[str, Tag] = {}      # defect deleted_tag_still_readable

    def find_user(self, identity_map: dict):
        for key, val in identity_map.items():
            for u in self.users:
                if u.identities.get(key) == val:
                    return u
        return None

    def find_user_by_id(self, eid):
        for u in self.users:
            if str(u.entity_id) == str(eid):
                return u
        return None

    def used(self):
        n = 0
        for t in self.tags.values():
            t.refresh()
            if t.status in (ST_STARTING, ST_RUNNING):
                n += 1
        return n


class Tenant:
    def __init__(self, api_key, org_id):
        self.api_key = api_key
        self.org_id = org_id
        self.projects: dict[str, Project] = {}


class State:
    def __init__(self, compute_seconds: float, quota: int, defects: frozenset = frozenset()):
        self.compute_seconds = compute_seconds
        self.quota = quota
        self.defects = frozenset(defects)
        self.tenants: dict[str, Tenant] = {}
        self._tag_id = 70
        self._proj_id = 1

    def next_tag_id(self):
        self._tag_id += 1
        return self._tag_id

    def add_project(self, tenant, name):
        self._proj_id += 1
        p = Project(self._proj_id, name, self.quota)
        tenant.projects[name] = p
        return p

    def add_tag(self, project, name, cname, layers, status=ST_STOPPED, comment=""):
        t = Tag(self.next_tag_id(), name, cname, project.id, layers, status, comment)
        project.tags[name] = t
        return t


def provision(state: State) -> dict:
    a = Tenant("#K-7IGwJpE2M9CpID4101qj2hWg9t59hoF3", "org-sep-3164dp4")
    b = Tenant("#K-Zq83LmVb0Xn5TcRw2YpUe7Ho1Kd4Gs6Aa", "org-sep-9921xk7")
    state.tenants[a.api_key] = a
    state.tenants[b.api_key] = b

    pa = state.add_project(a, "default")
    state.add_project(a, "production")          # empty second project of tenant A
    pb = state.add_project(b, "default")

    age_layers = [("分层 1", "(user.age == 11)"), ("分层 2", "(user.age >= 18 and user.age < 30)"),
                  ("分层 3", "(user.age >= 30)")]
    state.add_tag(pa, "user_rt_tag_if1", "iframe 创建11121", age_layers, ST_RUNNING, "1")
    state.add_tag(pa, "user_rt_tag_fencengshuzhiyunsuanfuyanzheng", "分层数值运算符验证",
                  [("分层1", "user.vip_level in ['a', 'b']"), ("分层2", "user.city.is_null()")],
                  ST_RUNNING)
    state.add_tag(pa, "user_rt_tag_fenceng", "分层", [("北京用户", "user.city == '北京'")],
                  ST_STOPPED)
    state.add_tag(pa, "user_rt_tag_disposable", "可删除标签",
                  [("高级", "user.vip_level == 'a'")], ST_STOPPED)

    pa.users = [
        User(-2443016794336717482, {"distinct_id": "sddd", "$identity_login_id": "login_sddd",
                                    "$identity_mobile": "13800000001"},
             {"age": 11, "city": "北京", "vip_level": "a"}),
        User(224266287, {"distinct_id": "user_002", "$identity_login_id": "login_002"},
             {"age": 25, "city": "上海", "vip_level": "c"}),
        User(224266288, {"distinct_id": "user_003", "$identity_anonymous_id": "anon-003"},
             {"age": 40, "city": None, "vip_level": None}),
    ]

    state.add_tag(pb, "user_rt_tag_b1", "租户B标签", [("B层", "user.age > 0")], ST_RUNNING)
    pb.users = [User(900000001, {"distinct_id": "tenant_b_user"}, {"age": 33})]

    return {
        "api_key": a.api_key,
        "organization_id": a.org_id,
        "project": "default",
        "tag_name": "user_rt_tag_if1",
        "disposable_tag_name": "user_rt_tag_disposable",
        "distinct_id": "sddd",
        "other_distinct_ids": ["user_002", "user_003"],
        "second_tenant": {"api_key": b.api_key, "organization_id": b.org_id,
                          "project": "default", "tag_name": "user_rt_tag_b1",
                          "distinct_id": "tenant_b_user"},
    }


# --------------------------------------------------------------------------- request plumbing

def authenticate(request: web.Request, state: State) -> Project:
    key = request.headers.get("api-key")
    org = request.headers.get("X-Organization-Id")
    proj = request.headers.get("sensorsdata-project")
    if not key:
        raise ApiError("UNAUTHENTICATED", "缺少请求头 api-key", 401, "请在请求头中传入 api-key")
    tenant = state.tenants.get(key)
    if tenant is None:
        raise ApiError("UNAUTHENTICATED", "api-key 无效", 401, "请检查 api-key 是否正确")
    if not org:
        raise ApiError("UNAUTHENTICATED", "缺少请求头 X-Organization-Id", 401,
                       "请在请求头中传入 X-Organization-Id")
    if org != tenant.org_id:
        raise ApiError("PERMISSION_DENIED", "api-key 不属于该组织", 403,
                       "请检查 X-Organization-Id 是否正确")
    if not proj:
        raise ApiError("UNAUTHENTICATED", "缺少请求头 sensorsdata-project", 401,
                       "请在请求头中传入 sensorsdata-project")
    project = tenant.projects.get(proj)
    if project is None:
        raise ApiError("PERMISSION_DENIED", f"项目 {proj} 不存在或无权访问", 403,
                       "请检查 sensorsdata-project 是否正确")
    return project


async def read_json_object(request: web.Request) -> dict:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError("PAYLOAD_TOO_LARGE", "请求体过大", 413, "请减小请求体")
    if not raw.strip():
        raise ApiError("INVALID_ARGUMENT", "请求体不能为空", 400, "请传入 JSON 请求体")
    try:
        body = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError("INVALID_ARGUMENT", "请求体不是合法的 JSON", 400, "请传入合法的 JSON 请求体")
    if not isinstance(body, dict):
        raise ApiError("INVALID_ARGUMENT", "请求体必须是 JSON 对象", 400, "请传入 JSON 对象")
    return body


def require_name(value, field="name") -> str:
    if value is None:
        raise invalid(f"{field} 为必传参数")
    if not isinstance(value, str):
        raise invalid(f"{field} 必须是字符串")
    if not value.strip():
        raise invalid(f"{field} 不能为空")
    if len(value) > 255:
        raise invalid(f"{field} 过长")
    return value


def get_tag(project: Project, name: str) -> Tag:
    tag = project.tags.get(name)
    if tag is None:
        raise ApiError("NOT_FOUND", f"实时标签 {name} 不存在", 200, "请检查实时标签名称",
                       {"name": name})
    tag.refresh()
    return tag


# --------------------------------------------------------------------------- handlers

def make_handlers(state: State):
    defects = state.defects

    def quota_used(project):
        used = project.used()
        if "quota_leak_on_stop" in defects:
            used += project.leaked
        return used

    async def start(request):
        project = authenticate(request, state)
        body = await read_json_object(request)
        tag = get_tag(project, require_name(body.get("name")))
        if tag.status in (ST_STARTING, ST_RUNNING):
            return ok({})      # idempotent
        if quota_used(project) >= project.quota:
            raise ApiError("RESOURCE_EXHAUSTED", "实时标签额度不足", 200,
                           "请停用其他实时标签或联系管理员扩容",
                           {"remain": 0, "use": quota_used(project)})
        tag.status = ST_STARTING
        tag.ready_at = time.time() + state.compute_seconds
        tag.update_time = now_str()
        tag.refresh()
        if "start_returns_data" in defects:
            return ok({"name": tag.name, "status": ST_STARTING})
        return ok({})

    async def stop(request):
        project = authenticate(request, state)
        body = await read_json_object(request)
        tag = get_tag(project, require_name(body.get("name")))
        if "stop_ignores_computing_tag" in defects and tag.status == ST_STARTING:
            return ok({})      # bug: the compute job is not cancelled
        if tag.status != ST_STOPPED:
            if tag.status == ST_RUNNING:
                tag.was_running = True
            tag.status = ST_STOPPED
            tag.ready_at = None
            tag.update_time = now_str()
            project.leaked += 1
        return ok({})

    async def get(request):
        project = authenticate(request, state)
        if "get_missing_name_500" in defects:
            names = [request.query["name"]]          # bug: KeyError when absent
        else:
            names = request.query.getall("name", [])
        if not names:
            raise invalid("name 为必传参数")
        name = require_name(names[0])
        if "deleted_tag_still_readable" in defects and name not in project.tags \
                and name in project.trash:
            return ok({"realtime_tag": project.trash[name].to_json()})
        tag = get_tag(project, name)
        return ok({"realtime_tag": tag.to_json()})

    async def delete(request):
        project = authenticate(request, state)
        body = await read_json_object(request)
        tag = get_tag(project, require_name(body.get("name")))
        if tag.status != ST_STOPPED:
            raise ApiError("FAILED_PRECONDITION", f"实时标签 {tag.name} 正在运行,请先停用后再删除",
                           200, "请先调用停用接口", {"name": tag.name, "status": tag.status})
        del project.tags[tag.name]
        project.trash[tag.name] = tag
        return ok({})

    async def quota(request):
        project = authenticate(request, state)
        # The documented call carries no body; whatever is sent is ignored.
        used = quota_used(project)
        return ok({"remain": max(project.quota - used, 0), "use": used})

    def parse_entity_name(body):
        name = body.get("entity_name")
        if name is None:
            return None if "entity_name_default_missing" in defects else "user"
        if not isinstance(name, str):
            raise invalid("entity_name 必须是字符串")
        if name != "user":
            raise invalid(f"不支持的实体 {name},仅支持 user")
        return name

    def parse_attribute_names(body):
        names = body.get("attribute_names")
        if names is None:
            raise invalid("attribute_names 为必传参数")
        if not isinstance(names, list):
            raise invalid("attribute_names 必须是字符串数组")
        if not names:
            raise invalid("attribute_names 不能为空")
        if len(names) > MAX_ATTRIBUTE_NAMES:
            raise invalid(f"attribute_names 最多 {MAX_ATTRIBUTE_NAMES} 个")
        out = []
        for n in names:
            if not isinstance(n, str) or not n:
                raise invalid("attribute_names 的元素必须是非空字符串")
            if n not in out:
                out.append(n)
        return out

    def parse_entity_id(obj, field):
        """Returns ('identity', {k: v}) or ('entity_id', value)."""
        if not isinstance(obj, dict):
            raise invalid(f"{field} 必须是对象")
        idmap = obj.get("identity_id_map")
        eid = obj.get("entity_id")
        if idmap is not None:
            if not isinstance(idmap, dict) or not idmap:
                raise invalid(f"{field}.identity_id_map 必须是非空对象")
            for k, v in idmap.items():
                if not isinstance(v, str) or not v:
                    raise invalid(f"{field}.identity_id_map.{k} 必须是非空字符串")
            return ("identity", idmap)
        if eid is not None:
            if not isinstance(eid, dict):
                raise invalid(f"{field}.entity_id 必须是对象")
            dtype = eid.get("data_type", "INT")
            if dtype == "INT":
                v = eid.get("int_value")
                if isinstance(v, bool) or not isinstance(v, (int, str)) or \
                        not re.fullmatch(r"-?\d{1,20}", str(v)):
                    raise invalid(f"{field}.entity_id.int_value 必须是整数")
                return ("entity_id", int(v))
            if dtype == "STRING":
                v = eid.get("string_value")
                if not isinstance(v, str) or not v:
                    raise invalid(f"{field}.entity_id.string_value 必须是非空字符串")
                return ("entity_id", v)
            raise invalid(f"{field}.entity_id.data_type 仅支持 INT 或 STRING")
        raise invalid(f"{field} 需要 identity_id_map 或 entity_id")

    def resolve(project, ref):
        kind, val = ref
        return project.find_user(val) if kind == "identity" else project.find_user_by_id(val)

    def attributes_for(project, user, names):
        out = []
        for n in names:
            tag = project.tags.get(n)
            if tag is None and "cross_tenant_tag_value" in defects:
                for tenant in state.tenants.values():      # bug: global name index
                    for p in tenant.projects.values():
                        if tag is None and n in p.tags:
                            tag = p.tags[n]
            if tag is None:
                out.append({"name": n})            # unknown tag: no value, no error
                continue
            tag.refresh()
            if tag.status == ST_STARTING:
                out.append({"name": n, "error_msg": "NOT_READY"})
                continue
            stale = ("stopped_tag_value_served" in defects and tag.status == ST_STOPPED
                     and tag.was_running)
            if tag.status != ST_RUNNING and not stale:
                out.append({"name": n, "error_msg": "UNAVAILABLE"})
                continue
            v = tag.value_for(user.props)
            if v is None:
                out.append({"name": n, "error_msg": "SUCCESS"})
            else:
                out.append({"name": n, "value": {"data_type": "STRING", "string_value": v,
                                                 "list_value": []},
                            "error_msg": "SUCCESS"})
        return out

    def entity_json(project, user, entity_name, names):
        return {
            "entity_id": {"data_type": "INT", "int_value": str(user.entity_id)},
            "entity_name": entity_name,
            "audience_entity_attributes": attributes_for(project, user, names),
        }

    async def online_get(request):
        project = authenticate(request, state)
        body = await read_json_object(request)
        entity_name = parse_entity_name(body)
        if body.get("audience_entity_id") is None:
            raise invalid("audience_entity_id 为必传参数")
        ref = parse_entity_id(body.get("audience_entity_id"), "audience_entity_id")
        names = parse_attribute_names(body)
        user = resolve(project, ref)
        if user is None and "unknown_user_success" in defects:
            return ok({"audience_entity": None})
        if user is None:
            raise ApiError("USER_NOT_FOUND", "用户不存在", 200, "请检查用户标识是否正确",
                           {"audience_entity_id": body.get("audience_entity_id")})
        return ok({"audience_entity": entity_json(project, user, entity_name, names)})

    async def online_batch_get(request):
        project = authenticate(request, state)
        body = await read_json_object(request)
        entity_name = parse_entity_name(body)
        ids = body.get("audience_entity_ids")
        if ids is None:
            raise invalid("audience_entity_ids 为必传参数")
        if not isinstance(ids, list):
            raise invalid("audience_entity_ids 必须是数组")
        if not ids:
            raise invalid("audience_entity_ids 不能为空")
        if len(ids) > MAX_BATCH_USERS:
            raise invalid(f"audience_entity_ids 最多 {MAX_BATCH_USERS} 个")
        refs = [parse_entity_id(x, f"audience_entity_ids[{i}]") for i, x in enumerate(ids)]
        names = parse_attribute_names(body)
        if "batch_ignores_attribute_names" in defects:
            names = list(project.tags)
        seen, entities = set(), []
        for ref in refs:
            user = resolve(project, ref)
            if user is None or user.entity_id in seen:
                continue                            # unknown users are left out
            seen.add(user.entity_id)
            entities.append(entity_json(project, user, entity_name, names))
        return ok({"audience_entities": entities})

    # ---- H5 iframe page (tag creation / edit / view)
    async def h5_page(request):
        q = request.query
        project = q.get("project", "")
        mode = q.get("mode", "create") or "create"
        tag_name = q.get("tag_name", "")
        language = q.get("language", "zh-cn") or "zh-cn"
        problems = []
        if not project:
            problems.append("缺少参数 project")
        if mode not in MODES:
            problems.append("mode 只能是 create / edit / view")
        elif mode in ("edit", "view") and not tag_name:
            problems.append("mode 为 edit 或 view 时 tag_name 必传")
        languages = LANGUAGES
        if "h5_rejects_zh_tw" in defects:
            languages = ("zh-cn", "zh-hk", "en-us", "ja", "th")
        if language not in languages:
            problems.append("language 只能是 " + " / ".join(languages))
        if problems:
            return web.Response(status=400, content_type="text/html", charset="utf-8",
                                text="<!doctype html><meta charset=utf-8><title>参数错误</title>"
                                     "<h1>参数错误</h1><ul>" +
                                     "".join(f"<li>{html.escape(p)}</li>" for p in problems) +
                                     "</ul>")
        page = H5_TEMPLATE
        for k, v in (("PROJECT", project), ("MODE", mode), ("TAG_NAME", tag_name),
                     ("LANGUAGE", language)):
            page = page.replace(f"__{k}_JSON__", json.dumps(v).replace("<", "\\u003c"))
            page = page.replace(f"__{k}__", html.escape(v))
        return web.Response(text=page, content_type="text/html", charset="utf-8",
                            headers={"Content-Language": language})

    async def h5_save(request):
        project = authenticate(request, state)
        body = await read_json_object(request)
        mode = body.get("mode", "create")
        if mode not in ("create", "edit"):
            raise invalid("mode 只能是 create 或 edit")
        cname = require_name(body.get("cname"), "cname")
        comment = body.get("comment", "") or ""
        if not isinstance(comment, str):
            raise invalid("comment 必须是字符串")
        layers_in = body.get("layers")
        if not isinstance(layers_in, list) or not layers_in:
            raise invalid("layers 必须是非空数组")
        layers = []
        for i, layer in enumerate(layers_in):
            if not isinstance(layer, dict):
                raise invalid(f"layers[{i}] 必须是对象")
            t = require_name(layer.get("tag"), f"layers[{i}].tag")
            e = require_name(layer.get("eql"), f"layers[{i}].eql")
            if not eql_valid(e):
                raise invalid(f"layers[{i}].eql 不是合法的 EQL")
            layers.append((t, e))
        if mode == "create":
            name = body.get("name")
            if name in (None, ""):
                name = "user_rt_tag_" + "".join(random.choices(string.ascii_lowercase + string.digits, k=4))
                while name in project.tags:
                    name = "user_rt_tag_" + "".join(random.choices(string.ascii_lowercase + string.digits, k=4))
            name = require_name(name)
            if not re.fullmatch(r"user_rt_tag_[a-z0-9_]{1,100}", name):
                raise invalid("name 必须以 user_rt_tag_ 开头,且只包含小写字母、数字和下划线")
            if name in project.tags:
                raise ApiError("ALREADY_EXISTS", f"实时标签 {name} 已存在", 200, "请更换标签名称")
            tag = state.add_tag(project, name, cname, layers, ST_STOPPED, comment)
            result_type = "CREATE_SUCCESS"
        else:
            tag = get_tag(project, require_name(body.get("name")))
            tag.cname = cname
            tag.comment = comment
            tag.rule = build_rule(layers)
            tag.update_time = now_str()
            result_type = "CREATE_SUCCESS" if "h5_edit_posts_create_success" in defects \
                else "EDIT_SUCCESS"
        return ok({"type": result_type, "tag_name": tag.name, "tag_cname": tag.cname})

    return dict(start=start, stop=stop, get=get, delete=delete, quota=quota,
                online_get=online_get, online_batch_get=online_batch_get,
                h5_page=h5_page, h5_save=h5_save)


H5_TEMPLATE = """<!doctype html>
<html lang="__LANGUAGE__"><head><meta charset="utf-8"><title>实时标签</title></head>
<body>
<h1>实时标签 (project: __PROJECT__, mode: __MODE__)</h1>
<p>The real product authenticates the iframe with the Sensors login cookie. This stand-in asks for
the open API credentials instead.</p>
<form id="f">
 <label>api-key <input name="api_key"></label><br>
 <label>X-Organization-Id <input name="org"></label><br>
 <label>标签名 name <input name="name" value="__TAG_NAME__"></label><br>
 <label>显示名 cname <input name="cname"></label><br>
 <label>备注 comment <input name="comment"></label><br>
 <label>分层名 <input name="tag" value="分层 1"></label>
 <label>EQL <input name="eql" value="user.age == 11"></label><br>
 <button type="submit">保存</button>
</form>
<pre id="out"></pre>
<script>
const PROJECT = __PROJECT_JSON__, MODE = __MODE_JSON__, TAG_NAME = __TAG_NAME_JSON__;
const form = document.getElementById('f');
function headers() {
  return {'Content-Type': 'application/json', 'api-key': form.api_key.value,
          'X-Organization-Id': form.org.value, 'sensorsdata-project': PROJECT};
}
if (MODE !== 'create') {
  form.addEventListener('change', async () => {
    if (!form.api_key.value || !form.org.value) return;
    const r = await fetch('/api/v3/focus/v1/real-time-tag/get?name=' + encodeURIComponent(TAG_NAME),
                          {headers: headers()});
    document.getElementById('out').textContent = JSON.stringify(await r.json(), null, 2);
  });
  if (MODE === 'view') form.querySelector('button').disabled = true;
}
form.addEventListener('submit', async ev => {
  ev.preventDefault();
  const r = await fetch('__SAVE_PATH__', {method: 'POST', headers: headers(), body: JSON.stringify({
    mode: MODE, name: form.name.value, cname: form.cname.value, comment: form.comment.value,
    layers: [{tag: form.tag.value, eql: form.eql.value}]})});
  const res = await r.json();
  document.getElementById('out').textContent = JSON.stringify(res, null, 2);
  if (res.code === 'SUCCESS') {
    window.parent.postMessage({key: 'SENSORS_SF_REALTIME_TAG_SEND',
      value: {type: res.data.type, data: {tag_name: res.data.tag_name, tag_cname: res.data.tag_cname}}}, '*');
  }
});
</script>
</body></html>
""".replace("__SAVE_PATH__", H5_SAVE)


# --------------------------------------------------------------------------- app

ROUTES = [
    ("POST", f"{API}/real-time-tag/start", "start"),
    ("POST", f"{API}/real-time-tag/stop", "stop"),
    ("GET", f"{API}/real-time-tag/get", "get"),
    ("POST", f"{API}/real-time-tag/delete", "delete"),
    ("POST", f"{API}/real-time-tag/quota/query", "quota"),
    ("POST", f"{API}/express-attribute-online/get", "online_get"),
    ("POST", f"{API}/express-attribute-online/batch-get", "online_batch_get"),
    ("GET", H5_PAGE, "h5_page"),
    ("POST", H5_SAVE, "h5_save"),
]


@web.middleware
async def envelope_middleware(request, handler):
    try:
        return await handler(request)
    except ApiError as e:
        return err_response(e)
    except web.HTTPRequestEntityTooLarge:
        return err_response(ApiError("PAYLOAD_TOO_LARGE", "请求体过大", 413, "请减小请求体"))
    except web.HTTPMethodNotAllowed as e:
        resp = err_response(ApiError("METHOD_NOT_ALLOWED", f"不支持的请求方法 {request.method}", 405,
                                     "请使用文档中的请求方法"))
        resp.headers["Allow"] = ",".join(sorted(e.allowed_methods))
        return resp
    except web.HTTPNotFound:
        return err_response(ApiError("NOT_FOUND", f"接口 {request.path} 不存在", 404, "请检查请求路径"))
    except web.HTTPException as e:
        if e.status >= 500:
            raise
        return err_response(ApiError("INVALID_ARGUMENT", e.reason or "请求错误", e.status))
    except asyncio.CancelledError:
        raise
    except Exception as e:  # noqa: BLE001 - last resort, keep envelope shape
        return err_response(ApiError("INTERNAL", f"服务内部错误: {type(e).__name__}", 500,
                                     "请稍后重试"))


def build_app(compute_seconds: float = 1.0, quota: int = DEFAULT_QUOTA,
              defects: frozenset[str] = frozenset()):
    defects = frozenset(defects)
    unknown = defects - set(DEFECTS)
    if unknown:
        raise ValueError(f"unknown defects: {sorted(unknown)}")
    state = State(compute_seconds, quota, defects)
    creds = provision(state)
    app = web.Application(middlewares=[envelope_middleware], client_max_size=MAX_BODY)
    handlers = make_handlers(state)
    for method, path, name in ROUTES:
        if method == "GET":
            app.router.add_get(path, handlers[name])      # also answers HEAD
        else:
            app.router.add_route(method, path, handlers[name])
    app["state"] = state
    app["creds"] = creds
    return app


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--compute-seconds", type=float, default=1.0,
                    help="time a started tag spends computing before values are served")
    ap.add_argument("--quota", type=int, default=DEFAULT_QUOTA,
                    help="real-time tag quota per project (running tags)")
    ap.add_argument("--defect", action="append", default=[], choices=sorted(DEFECTS),
                    help="switch on a named defect (repeatable)")
    args = ap.parse_args()
    app = build_app(args.compute_seconds, args.quota, frozenset(args.defect))
    creds_path = Path(__file__).with_name("creds.json")
    creds_path.write_text(json.dumps(app["creds"], ensure_ascii=False, indent=2) + "\n",
                          encoding="utf-8")
    web.run_app(app, host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
