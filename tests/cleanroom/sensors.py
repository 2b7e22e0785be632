"""Clean-room in-memory server for the Sensors Focus real-time tag open API (seed 002).

Implements: GET  /api/v3/focus/v1/real-time-tag/get
            POST /api/v3/focus/v1/real-time-tag/{start,stop,delete,quota/query}
            POST /api/v3/focus/v1/express-attribute-online/{get,batch-get}
The H5 iframe creation page is NOT implemented (it lives on another host); tags are pre-created.
"""
import json
import time
import uuid

from aiohttp import web

CREDS = {
    "api_key": "#K-cr9QvT2x7LmB0sNd41pZkW8uYeHa3",
    "organization_id": "org-cr-7731xq",
    "project": "sf_cleanroom",
    "tag_name": "user_rt_tag_age_layer",
    "disposable_tag_name": "user_rt_tag_tmp_disposable",
    "distinct_id": "sd_user_0001",
}

COMPUTE_DELAY = 1.0   # seconds between start and values becoming available
QUOTA_TOTAL = 4       # 3 tags already running -> remain 1 at start-up
MAX_BATCH = 100

CHOICES = [
    "Business errors (unknown tag, unknown user, bad/missing field, quota exhausted, wrong state) are answered at HTTP 200 with a failure `code` (not SUCCESS) in the documented envelope {code, message, request_id, data, error_info}.",
    "Malformed JSON bodies are answered HTTP 400 with code INVALID_JSON in the same envelope.",
    "Missing/invalid api-key is HTTP 401 (code INVALID_API_KEY); missing/unknown X-Organization-Id or sensorsdata-project is HTTP 403 (code PERMISSION_DENIED); header names are case-insensitive.",
    "start and stop answer HTTP 202 on success (computation is asynchronous); all other successes are HTTP 200.",
    "start/stop/delete success bodies omit the `data` key entirely (document: data 不必须 / 不返回数据) and carry message: null, error_info: null.",
    "Failure bodies carry data: null and error_info {code like 'SF-D-F-2-1', description, system_response, error_causes:[{error_cause, action_suggestion}], context}.",
    "Error code strings chosen: TAG_NOT_EXIST, USER_NOT_EXIST, INVALID_ARGUMENT, INVALID_JSON, QUOTA_EXCEEDED, TAG_NOT_RUNNING, TAG_IS_RUNNING, ENTITY_NOT_EXIST, INVALID_API_KEY, PERMISSION_DENIED.",
    "Computation model: start sets status RUNNING immediately; values become available 1.0 s after start; before that a look-up answers the attribute with no value and error_msg NOT_READY.",
    "A STOPPED tag in a look-up is answered with no value and error_msg UNAVAILABLE; values are dropped when the tag stops (recomputed after the next start).",
    "A look-up attribute naming no existing (or a deleted) tag is answered as {name} only: no value, no error_msg, and the call still succeeds.",
    "An existing running computed tag for which the user has no value is answered as {name, error_msg: SUCCESS} without value; valued attributes carry error_msg SUCCESS too.",
    "audience_entity_attributes are returned sorted by tag name (not request order); duplicate names are answered once.",
    "Batch look-up: audience_entities are sorted by entity_id descending (not request order); duplicate users answered once; users that do not exist are silently left out (no error).",
    "Batch look-up: an empty audience_entity_ids list succeeds with an empty audience_entities list; more than 100 ids is INVALID_ARGUMENT.",
    "attribute_names given as a bare string is coerced to a one-item list; an empty list succeeds with no attributes; a non-string item is INVALID_ARGUMENT.",
    "Users may be named by identity_id_map.distinct_id or by entity_id {data_type: INT, int_value} (int_value as string or number); other identity keys name no user.",
    "entity_name defaults to 'user'; any other value is ENTITY_NOT_EXIST at HTTP 200.",
    "Starting an already RUNNING tag succeeds without consuming more quota; stopping a tag that is not running is refused with TAG_NOT_RUNNING.",
    "Deleting a RUNNING tag is refused with TAG_IS_RUNNING (stop it first); deleting an unknown/already-deleted tag is TAG_NOT_EXIST.",
    "Quota: total 4 slots, 3 pre-running tags use 3 -> {remain: 1, use: 3}; start consumes one slot, stop frees it; a start with remain 0 is QUOTA_EXCEEDED. Extra field `total` is included.",
    "quota/query accepts an empty body or any JSON body (ignored); a non-empty malformed body is 400 INVALID_JSON.",
    "GET real-time-tag/get ignores any request body; missing/empty `name` query is INVALID_ARGUMENT.",
    "Request bodies are parsed as JSON regardless of Content-Type; unknown extra fields are ignored; a JSON body that is not an object is INVALID_ARGUMENT.",
    "Online look-ups ({online-domain}) are served by the same app as the tag management calls.",
    "Tag status strings used: STOPPED and RUNNING.",
]

DEFECTS = {
    "crash_on_bad_json": "-H 'Content-Type: application/json' \\ :: a POST whose body is not valid JSON makes the server raise and answer HTTP 500 instead of a 4xx/failure code",
    "deleted_tag_still_readable": "实时标签的删除 :: after delete, real-time-tag/get still returns the tag and real-time-tag/start can still start it (the deleted flag is never checked)",
    "quota_not_enforced": "查询触发策略的额度使用信息 :: start neither checks nor consumes quota: starting beyond the quota succeeds and quota/query figures do not change when a tag starts",
    "batch_returns_extra_users": "在线查询一批用户的实时标签集,沿用查询用户属性的接口,以 HTTP API 形式接入,通过 HTTP API 方式查询一批用户的已订阅属性集。 :: batch-get answers every known user, not only those listed in audience_entity_ids",
    "headers_ignored": "-H 'api-key: #K-7IGwJpE2M9CpID4101qj2hWg9t59hoF3' \\ :: a missing or wrong api-key header is accepted and the call succeeds",
    "unknown_user_not_refused": "说明:当用户不存在时,请求接口会报错,提示用户不存在;当请求的实时标签不存在时,接口不会报错,返回的结果中实时标签对应的 value 无值。 :: single-user get for a user that does not exist answers SUCCESS with an empty attribute list instead of the user-not-exist error",
}

P = "/api/v3/focus/v1"


def _rid():
    return uuid.uuid4().hex


def _now_str():
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())


# ----------------------------------------------------------------------------------------- state
USERS = [  # distinct_id, entity_id, profile
    ("sd_user_0001", 9083417265, {"age": 11, "city": "上海", "vip": "gold", "orders": 7}),
    ("sd_user_0002", 224266287, {"age": 25, "city": "北京", "vip": "silver", "orders": 2}),
    ("sd_user_0003", 5511002233, {"age": 11, "city": "北京", "vip": None, "orders": 0}),
    ("sd_user_0004", 77012, {"age": 40, "city": None, "vip": "gold", "orders": 15}),
]


def _layer_age(p):
    return "分层 1" if p.get("age") == 11 else None


def _layer_vip(p):
    return {"gold": "高价值", "silver": "中价值"}.get(p.get("vip"))


def _layer_city(p):
    return None if p.get("city") is None else ("一线" if p["city"] in ("北京", "上海") else "其他")


def _orders(p):
    return p.get("orders")


def _rule(eql):
    return json.dumps({"segment_based_rule": {"groups": [{"segment": {
        "type": "GROUP_EXPRESSION_BASED", "group_expression_rule": {"groups": [
            {"type": "EQL_BASED", "eql_segment_rule": {"eql": eql}}], "group_expression": "\"$1\""}},
        "tag": "分层 1"}]}, "tag_type": "SEGMENT_BASED", "version": 2.0}, ensure_ascii=False)


TAG_SEED = [  # name, cname, data_type, status, eql, value fn
    ("user_rt_tag_vip_level", "会员价值分层", "STRING", "RUNNING", "user.vip_level in ['gold','silver']", _layer_vip),
    ("user_rt_tag_order_cnt", "订单数", "INT", "RUNNING", "user.orders >= 0", _orders),
    ("user_rt_tag_city_layer", "城市分层", "STRING", "RUNNING", "user.city.is_null() == false", _layer_city),
    (CREDS["tag_name"], "年龄分层", "STRING", "STOPPED", "(user.age == 11)", _layer_age),
    (CREDS["disposable_tag_name"], "临时标签", "STRING", "STOPPED", "user.tag == 'x' and user.age == 11", _layer_age),
]


class State:
    def __init__(self):
        self.users = {d: {"entity_id": e, "profile": p} for d, e, p in USERS}
        self.by_eid = {e: d for d, e, p in USERS}
        self.tags = {}
        for i, (name, cname, dt, status, eql, fn) in enumerate(TAG_SEED):
            self.tags[name] = {
                "meta": {"id": 71 + i, "name": name, "cname": cname, "project_id": 2, "group_id": 5,
                         "comment": "", "type": "GROUP_BASED", "use_instant_event": False, "data_type": dt,
                         "status": status, "time_zone": "", "rule": _rule(eql),
                         "create_time": "2025-04-18 17:29:44", "update_time": "2025-04-18 17:39:42"},
                "fn": fn, "deleted": False,
                "started_at": (time.monotonic() - 3600.0) if status == "RUNNING" else None,
            }
        self.used = sum(1 for t in self.tags.values() if t["meta"]["status"] == "RUNNING")


# ----------------------------------------------------------------------------------------- helpers
def _ok(data=None, status=200, with_data=True):
    body = {"code": "SUCCESS", "message": None, "request_id": _rid()}
    if with_data:
        body["data"] = data
    body["error_info"] = None
    return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


class Fail(Exception):
    def __init__(self, code, message, status=200, num="2-1"):
        super().__init__(message)
        self.code, self.message, self.status, self.num = code, message, status, num


def _fail_response(f):
    body = {"code": f.code, "message": f.message, "request_id": _rid(), "data": None,
            "error_info": {"code": "SF-D-F-" + f.num, "description": f.message, "system_response": f.code,
                           "error_causes": [{"error_cause": f.message,
                                             "action_suggestion": "请检查请求参数后重试"}],
                           "context": {}}}
    return web.json_response(body, status=f.status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


def _bad(msg):
    return Fail("INVALID_ARGUMENT", msg, num="1-1")


async def _json_body(request, defects, allow_empty=False):
    raw = await request.read()
    if allow_empty and not raw.strip():
        return {}
    if "crash_on_bad_json" in defects:
        body = json.loads(raw.decode("utf-8"))  # bug: exception escapes -> HTTP 500
    else:
        try:
            body = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise Fail("INVALID_JSON", "请求体不是合法的 JSON", status=400, num="1-0")
    if not isinstance(body, dict):
        raise _bad("请求体必须是 JSON 对象")
    return body


def _check_headers(request, defects):
    key = request.headers.get("api-key")
    if "headers_ignored" not in defects and key != CREDS["api_key"]:
        raise Fail("INVALID_API_KEY", "api-key 缺失或无效", status=401, num="0-1")
    if request.headers.get("X-Organization-Id") != CREDS["organization_id"]:
        raise Fail("PERMISSION_DENIED", "X-Organization-Id 缺失或无效", status=403, num="0-2")
    if request.headers.get("sensorsdata-project") != CREDS["project"]:
        raise Fail("PERMISSION_DENIED", "sensorsdata-project 缺失或项目不存在", status=403, num="0-3")


def _name_arg(value):
    if value is None:
        raise _bad("name 为必传参数")
    if not isinstance(value, str) or not value.strip():
        raise _bad("name 必须是非空字符串")
    return value


def _live_tag(state, name, defects, allow_deleted=False):
    t = state.tags.get(name)
    if t is None or (t["deleted"] and not allow_deleted):
        raise Fail("TAG_NOT_EXIST", "实时标签不存在: %s" % name, num="3-1")
    return t


def _entity_name(body):
    en = body.get("entity_name", "user")
    if en is None:
        en = "user"
    if not isinstance(en, str):
        raise _bad("entity_name 必须是字符串")
    if en != "user":
        raise Fail("ENTITY_NOT_EXIST", "实体不存在: %s" % en, num="3-3")
    return en


def _attr_names(body):
    names = body.get("attribute_names")
    if names is None:
        raise _bad("attribute_names 为必传参数")
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _bad("attribute_names 必须是字符串数组")
    return sorted(set(names))


def _resolve_user(state, ident):
    """Return distinct_id of the user named by ident, or None if no such user. Raises on bad shape."""
    if not isinstance(ident, dict):
        raise _bad("用户标识必须是对象")
    idm, eid = ident.get("identity_id_map"), ident.get("entity_id")
    if idm is None and eid is None:
        raise _bad("用户标识需要 identity_id_map 或 entity_id")
    if idm is not None:
        if not isinstance(idm, dict) or not idm or not all(isinstance(v, str) for v in idm.values()):
            raise _bad("identity_id_map 必须是非空的字符串映射")
        did = idm.get("distinct_id")
        return did if did in state.users else None
    if not isinstance(eid, dict):
        raise _bad("entity_id 必须是对象")
    raw = eid.get("int_value", eid.get("string_value"))
    try:
        num = int(raw)
    except (TypeError, ValueError):
        return None
    return state.by_eid.get(num)


def _value(dt, v):
    if dt == "STRING":
        return {"data_type": "STRING", "string_value": str(v), "list_value": []}
    return {"data_type": dt, "int_value": str(v), "list_value": []}


def _attributes(state, did, names):
    out = []
    prof = state.users[did]["profile"]
    for n in names:
        t = state.tags.get(n)
        if t is None or t["deleted"]:
            out.append({"name": n})
            continue
        meta = t["meta"]
        if meta["status"] != "RUNNING":
            out.append({"name": n, "error_msg": "UNAVAILABLE"})
        elif time.monotonic() - t["started_at"] < COMPUTE_DELAY:
            out.append({"name": n, "error_msg": "NOT_READY"})
        else:
            v = t["fn"](prof)
            item = {"name": n}
            if v is not None:
                item["value"] = _value(meta["data_type"], v)
            item["error_msg"] = "SUCCESS"
            out.append(item)
    return out


def _entity(state, did, names):
    return {"entity_id": {"data_type": "INT", "int_value": str(state.users[did]["entity_id"])},
            "entity_name": "user", "audience_entity_attributes": _attributes(state, did, names)}


# ----------------------------------------------------------------------------------------- app
def make_app(defects: frozenset = frozenset()) -> web.Application:
    defects = frozenset(defects)
    unknown = defects - set(DEFECTS)
    if unknown:
        raise ValueError("unknown defects: %s" % sorted(unknown))
    state = State()

    def endpoint(fn):
        async def handler(request):
            try:
                _check_headers(request, defects)
                return await fn(request)
            except Fail as f:
                return _fail_response(f)
        return handler

    async def get_tag(request):
        name = _name_arg(request.query.get("name"))
        t = _live_tag(state, name, defects, allow_deleted="deleted_tag_still_readable" in defects)
        return _ok({"realtime_tag": dict(t["meta"])})

    async def start_tag(request):
        body = await _json_body(request, defects)
        name = _name_arg(body.get("name"))
        t = _live_tag(state, name, defects, allow_deleted="deleted_tag_still_readable" in defects)
        if t["meta"]["status"] != "RUNNING":
            if "quota_not_enforced" not in defects:
                if state.used >= QUOTA_TOTAL:
                    raise Fail("QUOTA_EXCEEDED", "实时标签额度不足,剩余额度为 0", num="4-1")
                state.used += 1
            t["meta"]["status"] = "RUNNING"
            t["meta"]["update_time"] = _now_str()
            t["started_at"] = time.monotonic()
        return _ok(status=202, with_data=False)

    async def stop_tag(request):
        body = await _json_body(request, defects)
        name = _name_arg(body.get("name"))
        t = _live_tag(state, name, defects)
        if t["meta"]["status"] != "RUNNING":
            raise Fail("TAG_NOT_RUNNING", "实时标签未启用,无法停用: %s" % name, num="4-2")
        t["meta"]["status"] = "STOPPED"
        t["meta"]["update_time"] = _now_str()
        t["started_at"] = None
        state.used = max(0, state.used - 1)
        return _ok(status=202, with_data=False)

    async def delete_tag(request):
        body = await _json_body(request, defects)
        name = _name_arg(body.get("name"))
        t = _live_tag(state, name, defects)
        if t["meta"]["status"] == "RUNNING":
            raise Fail("TAG_IS_RUNNING", "实时标签启用中,请先停用再删除: %s" % name, num="4-3")
        t["deleted"] = True
        return _ok(with_data=False)

    async def quota(request):
        await _json_body(request, defects, allow_empty=True)
        return _ok({"remain": max(0, QUOTA_TOTAL - state.used), "use": state.used, "total": QUOTA_TOTAL})

    async def online_get(request):
        body = await _json_body(request, defects)
        _entity_name(body)
        if body.get("audience_entity_id") is None:
            raise _bad("audience_entity_id 为必传参数")
        names = _attr_names(body)
        did = _resolve_user(state, body["audience_entity_id"])
        if did is None:
            if "unknown_user_not_refused" in defects:
                return _ok({"audience_entity": {"entity_id": None, "entity_name": "user",
                                                "audience_entity_attributes": []}})
            raise Fail("USER_NOT_EXIST", "用户不存在", num="3-2")
        return _ok({"audience_entity": _entity(state, did, names)})

    async def online_batch_get(request):
        body = await _json_body(request, defects)
        _entity_name(body)
        ids = body.get("audience_entity_ids")
        if ids is None:
            raise _bad("audience_entity_ids 为必传参数")
        if not isinstance(ids, list):
            raise _bad("audience_entity_ids 必须是数组")
        if len(ids) > MAX_BATCH:
            raise _bad("audience_entity_ids 最多 %d 个" % MAX_BATCH)
        names = _attr_names(body)
        dids = {d for d in (_resolve_user(state, i) for i in ids) if d is not None}
        if "batch_returns_extra_users" in defects:
            dids = set(state.users)  # bug: forgets to filter by the requested ids
        ordered = sorted(dids, key=lambda d: state.users[d]["entity_id"], reverse=True)
        return _ok({"audience_entities": [_entity(state, d, names) for d in ordered]})

    app = web.Application()
    app["state"] = state
    app.router.add_get(P + "/real-time-tag/get", endpoint(get_tag))
    app.router.add_post(P + "/real-time-tag/start", endpoint(start_tag))
    app.router.add_post(P + "/real-time-tag/stop", endpoint(stop_tag))
    app.router.add_post(P + "/real-time-tag/delete", endpoint(delete_tag))
    app.router.add_post(P + "/real-time-tag/quota/query", endpoint(quota))
    app.router.add_post(P + "/express-attribute-online/get", endpoint(online_get))
    app.router.add_post(P + "/express-attribute-online/batch-get", endpoint(online_batch_get))
    return app
