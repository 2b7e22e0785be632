"""Sensors Focus real-time tags (seed 002): payloads for the tag API, the online look-ups and the H5 page.

Tag names follow the document's shape, ``user_rt_tag_`` then an identifier: pinyin of the tag's
Chinese name (``user_rt_tag_fencengshuzhiyunsuanfuyanzheng``, 分层数值运算符验证) or a short code
(``user_rt_tag_if1``, ``user_rt_tag_a232``). Users are named as the look-ups name them
(SF-ONLINE-AUDIENCE-ID / SF-ONLINE-ENTITY-ID): ``identity_id_map`` with a ``distinct_id`` (the
document's ``sddd``; in real traffic a login id, a Sensors web SDK cookie id or a device id) or an
``entity_id`` (a signed 64-bit id sent as a string, like ``-2443016794336717482``).

Most operations act on objects that must exist (a tag, a user). A payload cannot make them exist,
so each such operation has a ``fixture`` that seeds what a valid payload names into the tenant the
credentials (``organization_id``, ``project``) select, through a cdpkit mock's control API: the
document publishes no API that creates tags (the H5 page does, behind a login) or users. Against a
real system the names must already exist.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Iterable, Mapping, Sequence

from cdpkit.generators.draw import Draw
from cdpkit.generators.registry import Fixture, Operation, Payload

MARKETS = ("zh_CN", "zh_TW", "en_US")  # the H5 page's languages zh-cn, zh-tw, en-us (SF-H5-LANGUAGE)
TAG_PREFIX = "user_rt_tag_"
# Pinyin syllable groups of typical tag names (分层, 数值, 会员, 等级, 活跃, 流失 …), joined as the example is.
PINYIN = (
    "fenceng", "shuzhi", "yunsuanfu", "yanzheng", "huiyuan", "dengji", "huoyue", "liushi", "gaojiazhi", "xinke",
    "laoke", "goumai", "xiaofei", "jine", "pinci", "zuijin", "denglu", "zhuce", "chengshi", "nianling", "xingbie",
    "pianhao", "shangpin", "leimu", "youhuiquan", "jifen", "yue", "zhouqi", "shishi", "biaoqian", "kehu",
    "fuhui", "zhuanhua", "qianli", "chenshui", "huanxing", "tuijian", "qudao", "laiyuan", "shebei",
)
LANGUAGES = ("zh-cn", "zh-tw", "en-us", "ja", "th")  # SF-H5-LANGUAGE
# Project English names (SF-H5-PROJECT-REQUIRED: "如 default /production"); generated ones are
# lowercase identifiers like the example. "production" is left to the document (in the demo it is the
# second tenant's); the page finds a project in its session's organization (SF-H5-PROJECT-RESOLVE).
PROJECT_WORDS = ("shop", "mall", "app", "crm", "member", "retail", "game", "finance", "media", "travel")
PROJECT_SUFFIXES = ("", "_prod", "_test", "_cn", "_online")
LAYER_CONDITIONS = (  # the vendor's EQL examples (VENDOR-NOTES), as a layer and its value
    ("user.age == 11", "分层 1"), ("user.age >= 18", "成年用户"), ("user.city.is_null()", "无城市"),
    ("user.vip_level in ['a','b']", "高等级会员"), ("user.tag == 'x' and user.age == 11", "组合条件"),
)


# -- names ------------------------------------------------------------------------------------------

def tag_name(d: Draw) -> str:
    """``user_rt_tag_`` + pinyin words (optionally numbered) or a short code like ``if1`` / ``a232``."""
    if d.chance(0.6):
        words = "".join(d.choice(PINYIN) for _ in range(d.integer(2, 4)))
        return TAG_PREFIX + words + (str(d.integer(1, 999)) if d.chance(0.5) else "")
    letters = "".join(d.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(d.integer(1, 3)))
    return TAG_PREFIX + letters + d.digits(d.integer(2, 5))


def tag_cname(d: Draw) -> str:
    """A display name in the market's language (the example's ``iframe 创建11121``)."""
    return f"{d.fake('word')}{d.choice(('标签', '分层', '人群', ' tag'))}{d.integer(1, 9999)}"


def _web_cookie_id(d: Draw) -> str:
    """The Sensors web SDK's anonymous id: hex time, random, screen hash, resolution, hex time."""
    return f"{d.hex(14)}-{d.hex(14)}-{d.hex(8)}-{d.choice(('2073600', '1296000', '921600', '3686400'))}-{d.hex(14)}"


def _device_id(d: Draw) -> str:
    raw = d.hex(32)
    device = f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
    return device.upper() if d.chance(0.5) else device  # iOS IDFV upper case, Android lower case


def _login_id(d: Draw) -> str:
    return d.choice((lambda: d.digits(d.integer(8, 12)), lambda: d.phone_digits(), lambda: f"{d.fake('user_name')}{d.integer(1, 999)}"))()


def _short_id(d: Draw) -> str:
    return "".join(d.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(d.integer(4, 6))) + d.digits(4)  # like sddd


DISTINCT_ID_STYLES: tuple[Callable[[Draw], str], ...] = (_login_id, _web_cookie_id, _device_id, _short_id)


def distinct_id(d: Draw) -> str:
    return d.choice(DISTINCT_ID_STYLES)(d)


def int_entity_id(d: Draw) -> str:
    """A signed 64-bit user id as a string, as the examples send it (``-2443016794336717482``)."""
    return str(d.rng.getrandbits(64) - 2**63)


def audience_entity_id(d: Draw) -> dict[str, Any]:
    """``identity_id_map`` by distinct id (75 %) or ``entity_id`` as INT or STRING (VENDOR-NOTES)."""
    roll = d.rng.random()
    if roll < 0.75:
        return {"identity_id_map": {"distinct_id": distinct_id(d)}}
    if roll < 0.9:
        return {"entity_id": {"data_type": "INT", "int_value": int_entity_id(d)}}
    # The STRING form carries the same 64-bit id as text: the mock keys users by numeric entity id
    # and answers entity_id as INT (SF-ONLINE-ENTITY-ID), so a non-numeric one could not be found.
    return {"entity_id": {"data_type": "STRING", "string_value": int_entity_id(d)}}


def attribute_names(d: Draw) -> list[str]:
    names: list[str] = []
    for _ in range(d.integer(1, 5)):
        name = tag_name(d)
        if name not in names:
            names.append(name)
    return names


def project_name(d: Draw) -> str:
    if d.chance(0.3):
        return "default"
    return d.choice(PROJECT_WORDS) + d.choice(PROJECT_SUFFIXES)


# -- valid payloads ----------------------------------------------------------------------------------

def named_tag(d: Draw) -> Payload:
    """SF-TAG-NAME-BODY: ``{"name": "user_rt_tag_if1"}``."""
    return {"name": tag_name(d)}


def quota_body(d: Draw) -> Payload:
    """SF-QUOTA-BODY: the curl sends no body; an empty JSON object is its body form."""
    return {}


def _with_entity_name(d: Draw, payload: Payload) -> Payload:
    if d.chance(0.5):  # SF-ONLINE-ENTITY-NAME: optional, user by default
        return {"entity_name": "user", **payload}
    return payload


def online_get(d: Draw) -> Payload:
    return _with_entity_name(d, {"audience_entity_id": audience_entity_id(d), "attribute_names": attribute_names(d)})


def batch_get(d: Draw) -> Payload:
    ids = [audience_entity_id(d) for _ in range(d.integer(1, 5))]
    return _with_entity_name(d, {"audience_entity_ids": ids, "attribute_names": attribute_names(d)})


def h5_page(d: Draw) -> Payload:
    """SF-H5-URL: project always; mode and language often left to their defaults; tag_name for edit/view."""
    query: Payload = {"project": project_name(d)}
    mode = d.choice(("create", "edit", "view", None))
    if mode is not None:
        query["mode"] = mode
    if mode in ("edit", "view"):
        query["tag_name"] = tag_name(d)
    if d.chance(0.7):
        query["language"] = d.choice(LANGUAGES)
    return query


def h5_save(d: Draw) -> Payload:
    """SF-H5-SAVE (modeled): one layer, an EQL condition of the vendor's examples and its value."""
    eql, layer = d.choice(LAYER_CONDITIONS)
    body: Payload = {"project": project_name(d), "mode": d.choice(("create", "create", "edit")), "tag_name": tag_name(d),
                     "tag_cname": tag_cname(d), "eql": eql, "layer": layer}
    if d.chance(0.5):
        body["comment"] = d.fake("sentence")[:200]
    return body


# -- invalid payloads (each breaks one requirement) -------------------------------------------------

def bad_tag_name(d: Draw, payload: Payload) -> Payload:
    """SF-TAG-NAME-BODY: no name (or a misspelled key), an empty one, or one that is not a string: nothing names a tag."""
    return d.choice(({}, {"name": ""}, {"name": d.integer(1, 999)}, {"tag_name": payload["name"]}))


def bad_get_name(d: Draw, payload: Payload) -> Payload:
    """SF-GET-NAME-REQUIRED: no name (or a misspelled key), or an empty one."""
    return d.choice(({}, {"name": ""}, {"tag_name": payload["name"]}))


def bad_quota_body(d: Draw, payload: Payload) -> Any:
    """SF-QUOTA-BODY: a JSON body that is not an object."""
    return d.choice(([], ["remain"], "quota", 0))


def no_audience_id(d: Draw, payload: Payload) -> Payload:
    """SF-ONLINE-AUDIENCE-ID: absent, or naming the user neither by identity_id_map nor entity_id."""
    broken = {k: v for k, v in payload.items() if k != "audience_entity_id"}
    if d.chance(0.5):
        broken["audience_entity_id"] = d.choice(({}, {"distinct_id": distinct_id(d)}, {"user_id": distinct_id(d)}))
    return broken


def no_attribute_names(d: Draw, payload: Payload) -> Payload:
    """SF-ONLINE-ATTRS-REQUIRED: absent (or misspelled). A name that names no tag is not a violation:
    当请求的实时标签不存在时,接口不会报错."""
    broken = {k: v for k, v in payload.items() if k != "attribute_names"}
    if d.chance(0.3):
        broken["attribute_name"] = payload["attribute_names"]
    return broken


def _other_form(d: Draw, payload: Payload, ids_key: str) -> Payload:
    """One field in a form the examples do not show: a bare string for attribute_names, a number for an
    identity, an empty or non-string entity_name, an object instead of the batch's list."""
    names = payload["attribute_names"]
    choices: list[Payload] = [
        {**payload, "attribute_names": names[0]},
        {**payload, "attribute_names": [names[0], d.integer(1, 99)]},
        {**payload, "entity_name": d.choice(("", 1, None))},
    ]
    if ids_key == "audience_entity_id":
        choices.append({**payload, ids_key: {"identity_id_map": d.choice(({}, {"distinct_id": int(d.digits(8))}))}})
    else:
        choices.append({**payload, ids_key: payload[ids_key][0]})
    return d.choice(choices)


def single_other_form(d: Draw, payload: Payload) -> Payload:
    """SF-REQUEST-FORMS (assumption): a field of the single look-up in another JSON form."""
    return _other_form(d, payload, "audience_entity_id")


def batch_other_form(d: Draw, payload: Payload) -> Payload:
    """SF-REQUEST-FORMS (assumption): a field of the batch look-up in another JSON form."""
    return _other_form(d, payload, "audience_entity_ids")


def batch_item_naming_nobody(d: Draw, payload: Payload) -> Payload:
    """SF-BATCH-UNKNOWN-USER (assumption): one item names the user neither by identity_id_map nor entity_id."""
    ids = list(payload["audience_entity_ids"])
    ids[d.integer(0, len(ids) - 1)] = d.choice(({}, {"distinct_id": distinct_id(d)}))
    return {**payload, "audience_entity_ids": ids}


def _broken_entity_id(d: Draw) -> dict[str, Any]:
    return d.choice((
        {"entity_id": {"data_type": "INT"}},
        {"entity_id": {"data_type": "INT", "int_value": "12a" + d.digits(3)}},
        {"entity_id": {"data_type": "STRING"}},
        {"entity_id": {"data_type": "LONG", "int_value": d.digits(6)}},
    ))


def bad_entity_id(d: Draw, payload: Payload) -> Payload:
    """SF-ONLINE-ENTITY-ID: entity_id without the value its data_type needs, or of another type."""
    return {**payload, "audience_entity_id": _broken_entity_id(d)}


def bad_batch_entity_id(d: Draw, payload: Payload) -> Payload:
    ids = list(payload["audience_entity_ids"])
    ids[d.integer(0, len(ids) - 1)] = _broken_entity_id(d)
    return {**payload, "audience_entity_ids": ids}


def no_audience_ids(d: Draw, payload: Payload) -> Payload:
    """SF-BATCH-IDS-REQUIRED: absent (or misspelled)."""
    broken = {k: v for k, v in payload.items() if k != "audience_entity_ids"}
    if d.chance(0.3):
        broken["audience_entity_id"] = payload["audience_entity_ids"][0]
    return broken


def no_project(d: Draw, payload: Payload) -> Payload:
    """No project (SF-H5-PROJECT-REQUIRED), or an empty one."""
    broken = {k: v for k, v in payload.items() if k != "project"}
    return {**broken, "project": ""} if d.chance(0.3) else broken


def bad_mode(d: Draw, payload: Payload) -> Payload:
    """A mode other than create, view or edit (SF-H5-MODE)."""
    return {**payload, "mode": d.choice(("new", "CREATE", "delete", "preview"))}


def edit_without_tag(d: Draw, payload: Payload) -> Payload:
    """Edit or view without tag_name (SF-H5-TAG-NAME)."""
    return {**{k: v for k, v in payload.items() if k != "tag_name"}, "mode": d.choice(("edit", "view"))}


def bad_language(d: Draw, payload: Payload) -> Payload:
    """A language outside zh-cn, zh-tw, en-us, ja, th (SF-H5-LANGUAGE)."""
    return {**payload, "language": d.choice(("zh_CN", "en", "fr-fr", "ko"))}


H5_MISTAKES = {"SF-H5-PROJECT-REQUIRED": no_project, "SF-H5-MODE": bad_mode, "SF-H5-TAG-NAME": edit_without_tag,
               "SF-H5-LANGUAGE": bad_language}


def bad_page_query(d: Draw, payload: Payload) -> Payload:
    """SF-H5-ERRORS (assumption): page parameters the document's table does not allow. The document lists
    them; that the page refuses others (rather than showing its own message) is the mock's choice."""
    return d.choice(tuple(H5_MISTAKES.values()))(d, payload)


def bad_save(d: Draw, payload: Payload) -> Payload:
    """SF-H5-SAVE: a field the modeled save needs is missing, or tag_name is not an identifier."""
    if d.chance(0.5):
        missing = d.choice(("tag_name", "tag_cname", "eql", "layer"))
        return {k: v for k, v in payload.items() if k != missing}
    return {**payload, "tag_name": d.choice(("1" + payload["tag_name"], payload["tag_name"] + "-x", "标签"))}


# -- fixtures: what a batch of valid payloads needs to exist in the mock --------------------------

def stable_entity_id(identities: Mapping[str, str]) -> str:
    """A signed 64-bit entity id derived from a user's identities (the same user always gets the same id)."""
    digest = hashlib.blake2b(repr(sorted(identities.items())).encode(), digest_size=8).digest()
    return str(int.from_bytes(digest, "big") - 2**63)


def user_fixture(audience: Mapping[str, Any], profile: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The seeded user an ``audience_entity_id`` names."""
    if "entity_id" in audience:
        given = audience["entity_id"]
        entity_id = str(given["int_value"] if given["data_type"] == "INT" else given["string_value"])
        identities = {"distinct_id": f"entity-{entity_id}"}
    else:
        identities = dict(audience["identity_id_map"])
        entity_id = stable_entity_id(identities)
    return {"entity_id": entity_id, "identities": identities, "profile": dict(profile or {"age": 30})}


def tag_fixture(name: str, status: str = "STOPPED", layers: Sequence[Mapping[str, str]] = (),
                **fields: Any) -> dict[str, Any]:
    """A seeded tag (statuses CREATED, RUNNING, STOPPED are the mock's, SF-TAG-STATUS-VALUES)."""
    return {"name": name, "cname": fields.pop("cname", name), "status": status,
            "layers": [dict(layer) for layer in layers] or [{"eql": "user.age >= 18", "tag": "成年用户"}], **fields}


def seed_section(creds: Mapping[str, Any], tags: Iterable[dict[str, Any]] = (), users: Iterable[dict[str, Any]] = (),
                 project: str | None = None, **settings: Any) -> dict[str, Any]:
    """The mock's sensors seed section for the credentials' organization and project."""
    body = {"tags": list(tags), "users": list(users), **settings}
    return {"organizations": {str(creds["organization_id"]): {"projects": {project or str(creds["project"]): body}}}}


def _seed(base_url: str, section: dict[str, Any]) -> dict[str, str]:
    from cdpkit.mockserver.client import MockClient  # the control API over HTTP, not mock internals

    MockClient(base_url).seed({"sensors": section})
    return {}


def _tags_fixture(status: str) -> Fixture:
    def fixture(base_url: str, creds: Mapping[str, Any], payload: Payload) -> dict[str, str]:
        name = payload.get("name")
        return _seed(base_url, seed_section(creds, tags=[tag_fixture(name, status)])) if _text(name) else {}
    return fixture


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _well_formed(audience: Any) -> bool:
    if not isinstance(audience, dict):
        return False
    if "entity_id" in audience:
        given = audience["entity_id"]
        key = {"INT": "int_value", "STRING": "string_value"}.get(given.get("data_type")) if isinstance(given, dict) else None
        return key is not None and str(given.get(key, "")).lstrip("-").isdigit()
    ids = audience.get("identity_id_map")
    return isinstance(ids, dict) and bool(ids) and all(_text(v) for v in ids.values())


def _users_fixture(base_url: str, creds: Mapping[str, Any], payload: Payload) -> dict[str, str]:
    """The users a look-up names (an invalid payload gets the users it names well enough)."""
    audiences = payload.get("audience_entity_ids", [payload.get("audience_entity_id")])
    users = [user_fixture(a) for a in (audiences if isinstance(audiences, list) else []) if _well_formed(a)]
    return _seed(base_url, seed_section(creds, users=users)) if users else {}


def _h5_fixture(base_url: str, creds: Mapping[str, Any], payload: Payload) -> dict[str, str]:
    """The project the page names, in the credentials' organization, with the tag edit/view names."""
    if not _text(payload.get("project")):
        return {}
    tags = [tag_fixture(payload["tag_name"])] if payload.get("mode") in ("edit", "view") and _text(payload.get("tag_name")) else []
    return _seed(base_url, seed_section(creds, tags=tags, project=payload["project"]))


OPERATIONS = [
    Operation("start_realtime_tag", valid=named_tag, aliases=("start",), summary="start a real-time tag by name",
              invalid={"SF-TAG-NAME-BODY": bad_tag_name}, fixture=_tags_fixture("STOPPED")),
    Operation("stop_realtime_tag", valid=named_tag, aliases=("stop",), summary="stop a real-time tag by name",
              invalid={"SF-TAG-NAME-BODY": bad_tag_name}, fixture=_tags_fixture("RUNNING")),
    Operation("get_realtime_tag", valid=named_tag, aliases=("get",), summary="view a real-time tag (query name)",
              invalid={"SF-GET-NAME-REQUIRED": bad_get_name}, fixture=_tags_fixture("STOPPED")),
    Operation("delete_realtime_tag", valid=named_tag, aliases=("delete",), summary="delete a (stopped) real-time tag",
              invalid={"SF-TAG-NAME-BODY": bad_tag_name}, fixture=_tags_fixture("STOPPED")),
    Operation("query_realtime_tag_quota", valid=quota_body, aliases=("quota",), summary="remaining and used tag quota",
              invalid={"SF-QUOTA-BODY": bad_quota_body}),
    Operation("get_online_attributes", valid=online_get, aliases=("online", "online_get"),
              summary="one user's real-time tag values",
              invalid={"SF-ONLINE-AUDIENCE-ID": no_audience_id, "SF-ONLINE-ATTRS-REQUIRED": no_attribute_names,
                       "SF-REQUEST-FORMS": single_other_form, "SF-ONLINE-ENTITY-ID": bad_entity_id},
              fixture=_users_fixture),
    Operation("batch_get_online_attributes", valid=batch_get, aliases=("batch_get", "online_batch"),
              summary="several users' real-time tag values",
              invalid={"SF-BATCH-IDS-REQUIRED": no_audience_ids, "SF-ONLINE-ATTRS-REQUIRED": no_attribute_names,
                       "SF-REQUEST-FORMS": batch_other_form, "SF-BATCH-UNKNOWN-USER": batch_item_naming_nobody,
                       "SF-ONLINE-ENTITY-ID": bad_batch_entity_id},
              fixture=_users_fixture),
    Operation("h5_realtime_tag_page", valid=h5_page, aliases=("h5", "h5_page"), summary="the H5 iframe page's URL parameters",
              invalid={"SF-H5-ERRORS": bad_page_query}, fixture=_h5_fixture),
    Operation("h5_save_realtime_tag", valid=h5_save, aliases=("h5_save",), summary="MODELED: the mock H5 page's save call",
              invalid={"SF-H5-SAVE": bad_save}, fixture=_h5_fixture),
]
