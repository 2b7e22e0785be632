"""Sensors Focus real-time tags: the domain model behind the handlers of :mod:`cdpkit.mockserver.sensors`.

A tag's ``rule`` (a JSON text, SF-GET-RULE-JSON-STRING) is a list of layers, each an EQL condition
and the value (``tag``) users matching it get. Starting a tag evaluates the rule against the
project's seeded user profiles (SF-COMPUTE-MODEL); the small EQL subset below covers the vendor's
published examples (``user.age == 11``, ``user.city.is_null()``, ``user.vip_level in ['a','b']``,
``user.tag == 'x' and user.age == 11``).

State kinds, per tenant project ``P = "<organization>/<project>"``:
``keys`` (api-key -> {organization_id}), ``projects`` (P -> project record), ``tags:P`` (name ->
the documented realtime_tag object), ``computed:P`` (name -> {ready_at, values: {entity_id: value}}),
``users:P`` (entity_id -> {entity_id, identities, profile}).
"""

from __future__ import annotations

import functools
import json
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import orjson

from cdpkit.mockserver.ids import uuid4_hex
from cdpkit.mockserver.store import Scope
from cdpkit.mockserver.vendor import Reply

# SF-TAG-STATUS-VALUES (assumption): STOPPED is the document's; CREATED and RUNNING are the mock's.
CREATED, RUNNING, STOPPED = "CREATED", "RUNNING", "STOPPED"
CHINA = timezone(timedelta(hours=8))
TAG_DEFAULTS: dict[str, Any] = {
    "group_id": None, "comment": "", "type": "GROUP_BASED", "use_instant_event": False,
    "data_type": "STRING", "status": CREATED, "time_zone": "",
}


class EqlError(ValueError):
    """An EQL condition the mock cannot parse (the H5 save answers 400 naming it)."""


_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?)|(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")|(?P<ref>\$\d+)"
    r"|(?P<op>==|!=|>=|<=|>|<|\(|\)|\[|\]|,)|(?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?:\(\))?))"
)
_COMPARE = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
    ">": lambda a, b: a is not None and a > b, "<": lambda a, b: a is not None and a < b,
    ">=": lambda a, b: a is not None and a >= b, "<=": lambda a, b: a is not None and a <= b,
}
_LITERAL_WORDS = {"true": True, "false": False, "null": None}


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise EqlError(f"cannot read EQL at {text[pos:pos + 20]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


# SF-H5-SAVE / SF-COMPUTE-MODEL: how deeply parentheses may nest in one EQL condition. The parser
# descends once per level, so a bound keeps any condition a client can send (1,000 characters on the
# H5 save; seeds are longer) far from Python's recursion limit: deeper is refused in words, never a 500.
MAX_EQL_DEPTH = 64

Condition = Callable[[dict[str, Any], dict[str, bool]], bool]


def _ref(name: str) -> Condition:
    def evaluate(profile: dict[str, Any], refs: dict[str, bool]) -> bool:
        if name not in refs:
            raise EqlError(f"group expression names {name}, which has no condition")
        return refs[name]
    return evaluate


def _all_of(parts: list[Condition], combine: Callable[[list[bool]], bool]) -> Condition:
    # every part is evaluated (no short cut), so a condition naming a missing $n fails whatever precedes it
    return lambda profile, refs: combine([part(profile, refs) for part in parts])


class _Compiler:
    """Recursive descent over the tokens, once per condition text; yields a function of (profile, refs).

    ``not`` is read in a loop and and/or chains are flat lists, so only parentheses nest, and at most
    :data:`MAX_EQL_DEPTH` deep."""

    def __init__(self, text: str) -> None:
        self.tokens, self.i, self.depth = _tokens(text), 0, 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1].lower() != value):
            raise EqlError(f"expected {value or 'more'} in EQL, found {token[1] if token else 'the end'}")
        self.i += 1
        return token

    def parse(self) -> Condition:
        result = self.disjunction()
        if self.peek() is not None:
            raise EqlError(f"unexpected {self.peek()[1]!r} in EQL")  # type: ignore[index]
        return result

    def disjunction(self) -> Condition:
        parts = [self.conjunction()]
        while (t := self.peek()) and t[1].lower() == "or":
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else _all_of(parts, any)

    def conjunction(self) -> Condition:
        parts = [self.negation()]
        while (t := self.peek()) and t[1].lower() == "and":
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else _all_of(parts, all)

    def negation(self) -> Condition:
        negations = 0
        while (t := self.peek()) and t[1].lower() == "not":
            self.take()
            negations += 1
        inner = self.atom()
        return (lambda profile, refs: not inner(profile, refs)) if negations % 2 else inner

    def literal(self) -> Any:
        kind, text = self.take()
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind == "str":
            return text[1:-1].replace("\\'", "'").replace('\\"', '"')
        if kind == "word" and text.lower() in _LITERAL_WORDS:
            return _LITERAL_WORDS[text.lower()]
        raise EqlError(f"expected a literal in EQL, found {text!r}")

    def atom(self) -> Condition:
        kind, text = self.take()
        if text == "(":
            self.depth += 1
            if self.depth > MAX_EQL_DEPTH:
                raise EqlError(f"EQL parentheses nest deeper than {MAX_EQL_DEPTH} levels")
            result = self.disjunction()
            self.take(")")
            self.depth -= 1
            return result
        if kind == "ref":
            return _ref(text)
        if kind == "word" and text.lower() in ("true", "false"):
            constant = text.lower() == "true"
            return lambda profile, refs: constant
        if kind != "word" or not text.startswith("user."):
            raise EqlError(f"expected user.<property> in EQL, found {text!r}")
        path = text.removeprefix("user.")
        if path.endswith(".is_null()"):
            name = path.removesuffix(".is_null()")
            return lambda profile, refs: profile.get(name) is None
        if path.endswith(".is_not_null()"):
            name = path.removesuffix(".is_not_null()")
            return lambda profile, refs: profile.get(name) is not None
        op = self.take()[1].lower()
        if op == "not":
            self.take("in")
            excluded = self.literal_list()
            return lambda profile, refs: profile.get(path) not in excluded
        if op == "in":
            included = self.literal_list()
            return lambda profile, refs: profile.get(path) in included
        if op not in _COMPARE:
            raise EqlError(f"unknown EQL operator {op!r}")
        compare, right = _COMPARE[op], self.literal()

        def evaluate(profile: dict[str, Any], refs: dict[str, bool]) -> bool:
            try:
                return bool(compare(profile.get(path), right))
            except TypeError:
                return False
        return evaluate

    def literal_list(self) -> list[Any]:
        self.take("[")
        items = [] if (t := self.peek()) and t[1] == "]" else [self.literal()]
        while (t := self.peek()) and t[1] == ",":
            self.take()
            items.append(self.literal())
        self.take("]")
        return items


def compile_eql(eql: str) -> Condition:
    """The condition as a function of (profile, refs); raises :class:`EqlError` if unreadable or nested too deep.
    Cached: a tag's conditions are read once, not once per user."""
    if not isinstance(eql, str):
        raise EqlError(f"an EQL condition is a string, not {type(eql).__name__}")
    return _compiled(eql)


@functools.lru_cache(maxsize=1024)
def _compiled(eql: str) -> Condition:
    return _Compiler(eql).parse()


def eql_matches(eql: str, profile: dict[str, Any], refs: dict[str, bool] | None = None) -> bool:
    """Whether a user profile satisfies an EQL condition (raises :class:`EqlError` if unreadable)."""
    return compile_eql(eql)(profile, refs or {})


def build_rule(layers: list[dict[str, str]]) -> str:
    """The rule JSON text, in the document's format, for ``[{eql, tag}, …]`` layers."""
    groups = [
        {
            "segment": {
                "type": "GROUP_EXPRESSION_BASED",
                "group_expression_rule": {
                    "groups": [{"type": "EQL_BASED", "eql_segment_rule": {"eql": f"({layer['eql']})"}}],
                    "group_expression": '"$1"',
                },
            },
            "tag": layer["tag"],
        }
        for layer in layers
    ]
    return json.dumps({"segment_based_rule": {"groups": groups}, "tag_type": "SEGMENT_BASED", "version": 2.0},
                      ensure_ascii=False, separators=(",", ":"))


# A layer as the look-up runs it: (tag, whether a profile meets the layer's group expression).
Layer = tuple[Any, Callable[[dict[str, Any]], bool]]
_NO_REFS: dict[str, bool] = {}  # what a condition of a group sees: it names no $n (conditions never write to it)


def _layer_matcher(conditions: tuple[Condition, ...], expression: Condition, expression_text: str) -> Callable[[dict[str, Any]], bool]:
    """One function of the profile per layer, built when the rule is compiled, not per look-up. Every condition
    is evaluated before the expression (no short cut), so a condition that cannot be evaluated fails whatever
    the others give; the usual layer, one condition and the expression ``$1``, is that condition itself."""
    if expression_text == "$1" and len(conditions) == 1:
        only = conditions[0]
        return lambda profile: bool(only(profile, _NO_REFS))
    names = tuple(f"${n}" for n in range(1, len(conditions) + 1))

    def matches(profile: dict[str, Any]) -> bool:
        return bool(expression(profile, dict(zip(names, [condition(profile, _NO_REFS) for condition in conditions]))))
    return matches


def compile_rule(rule: str) -> tuple[Layer, ...] | None:
    """A rule's layers as (tag, matches(profile)); None when the rule is not segment based.
    Raises (EqlError, or the error of a group of another shape) when a layer cannot be evaluated. Cached."""
    return _compiled_rule(rule) if isinstance(rule, str) else None


@functools.lru_cache(maxsize=256)
def _compiled_rule(rule: str) -> tuple[Layer, ...] | None:
    try:
        groups = json.loads(rule)["segment_based_rule"]["groups"]
    except RecursionError:
        raise EqlError("the rule's JSON nests too deeply") from None
    except (ValueError, KeyError, TypeError):
        return None
    layers = []
    for group in groups:
        expression_rule = group.get("segment", {}).get("group_expression_rule", {})
        conditions = tuple(compile_eql(g.get("eql_segment_rule", {}).get("eql", "false")) for g in expression_rule.get("groups", []))
        names = [f"${n}" for n in range(1, len(conditions) + 1)]
        expression = expression_rule.get("group_expression", "").strip().strip('"') or " and ".join(names) or "false"
        layers.append((group.get("tag"), _layer_matcher(conditions, compile_eql(expression), expression)))
    return tuple(layers)


def layer_value(rule: str, profile: dict[str, Any]) -> str | None:
    """The first layer whose condition the profile meets; None when none does or the rule is not segment based."""
    for tag, matches in compile_rule(rule) or ():
        if matches(profile):
            return tag
    return None


def clock(now: float) -> str:
    """The document's time format (``2025-04-18 17:29:44``), in China time."""
    return datetime.fromtimestamp(now, CHINA).strftime("%Y-%m-%d %H:%M:%S")


def project_key(organization_id: str, project: str) -> str:
    return f"{organization_id}/{project}"


def compute(scope: Scope, pkey: str, tag: dict[str, Any], now: float, ready_now: bool = False) -> None:
    """SF-COMPUTE-MODEL: a started (or edited, running) tag's values are served after the project's delay.

    A user's value is the tag's rule evaluated on that user's profile when it is looked up
    (:func:`tag_value`), so starting a tag, or a seed, costs the same for ten users as for a million:
    no request walks every user of a project. The rule is read here, so one that cannot be evaluated
    fails now rather than at a later look-up."""
    compile_rule(tag["rule"])
    delay = 0.0 if ready_now else float(scope.get("projects", pkey).get("compute_delay_seconds", 0))
    scope.put(f"computed:{pkey}", tag["name"], {"ready_at": now + delay})


def tag_value(computed: dict[str, Any], tag: dict[str, Any], user: dict[str, Any]) -> str | None:
    """A computed tag's value for one user (None: the user matches no layer)."""
    return tag_values(computed, tag)(user)


def tag_values(computed: dict[str, Any], tag: dict[str, Any]) -> Callable[[dict[str, Any]], str | None]:
    """:func:`tag_value` with the tag and its computed record fixed: a look-up reads the rule once and applies
    it to each user it names."""
    if "values" in computed:  # a state saved when values were computed for every user at start
        values = computed["values"]
        return lambda user: values.get(user["entity_id"])
    layers = compile_rule(tag["rule"]) or ()

    def value(user: dict[str, Any]) -> str | None:
        profile = user.get("profile") or {}
        for layer_tag, matches in layers:
            if matches(profile):
                return layer_tag
        return None
    return value


# -- users by identity (SF-ONLINE-AUDIENCE-ID): kind ``identities:P``, one key per (name, value) ------

def identity_key(name: str, value: Any) -> str:
    """The index key of one identity: compact JSON of ``[name, value]``, non-ASCII kept as is.

    Every look-up by identity computes one, so text (the usual identity) goes through orjson, whose output
    for a str is byte for byte ``json.dumps``'s with these options (checked over every code point); what
    orjson writes otherwise or refuses (numbers, mappings, lone surrogates) takes the json module's way."""
    if type(name) is str and type(value) is str:
        try:
            return orjson.dumps([name, value]).decode()
        except orjson.JSONEncodeError:
            pass
    return json.dumps([name, value], ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _index(scope: Scope, pkey: str, entity_id: str, identities: dict[str, Any], add: bool) -> None:
    kind = f"identities:{pkey}"
    for name, value in identities.items():
        key = identity_key(name, value)
        ids = [i for i in scope.get(kind, key) or [] if i != entity_id]
        if add:
            ids = sorted([*ids, entity_id])
        if ids:
            scope.put(kind, key, ids)
        else:
            scope.delete(kind, key)


def put_user(scope: Scope, pkey: str, user: dict[str, Any]) -> None:
    """Store a user and keep the identity index in step, through the same pending writes (a refused
    request or seed changes neither)."""
    users = f"users:{pkey}"
    old = scope.get(users, user["entity_id"])
    if old is not None:
        _index(scope, pkey, old["entity_id"], old.get("identities") or {}, add=False)
    scope.put(users, user["entity_id"], user)
    _index(scope, pkey, user["entity_id"], user["identities"], add=True)


def user_by_identities(scope: Scope, pkey: str, wanted: dict[str, Any],
                       project: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The first user (in entity_id order) whose identities include every pair of ``wanted``: O(1) through the
    index; a project stored before the index existed is scanned until its next seed builds it. ``project``:
    the project record when the caller has read it already (the look-up then reads it no second time)."""
    users = f"users:{pkey}"
    if project is None:
        project = scope.get("projects", pkey) or {}
    if not wanted or not project.get("identity_index"):
        return next((u for _, u in scope.items(users) if all(u["identities"].get(k) == v for k, v in wanted.items())), None)
    name, value = next(iter(wanted.items()))
    for entity_id in scope.get(f"identities:{pkey}", identity_key(name, value)) or []:
        user = scope.get(users, entity_id)
        if user is None:
            continue
        identities = user["identities"]
        for k, v in wanted.items():
            if not identities.get(k) == v:
                break
        else:
            return user
    return None


def quota(scope: Scope, pkey: str) -> dict[str, int]:
    """SF-QUOTA-MODEL: units in use = units held elsewhere + running tags; remain = total - use."""
    project = scope.get("projects", pkey)
    running = sum(1 for _, tag in scope.items(f"tags:{pkey}") if tag["status"] == RUNNING)
    use = int(project["quota"]["other_use"]) + running
    return {"remain": max(int(project["quota"]["total"]) - use, 0), "use": use}


def new_tag(project: dict[str, Any], fields: dict[str, Any], now: float) -> dict[str, Any]:
    """A documented realtime_tag object from seed or H5 fields; the project record's id counter advances."""
    tag_id = fields.get("id", project["next_tag_id"])
    project["next_tag_id"] = max(project["next_tag_id"], tag_id + 1)
    rule = fields.get("rule") or build_rule(fields.get("layers") or [])
    stamp = clock(now)
    given = {**TAG_DEFAULTS, **{k: fields[k] for k in TAG_DEFAULTS if k in fields}}
    return {
        "id": tag_id, "name": fields["name"], "cname": fields.get("cname", fields["name"]),
        "project_id": project["project_id"], **given, "rule": rule,
        "create_time": fields.get("create_time", stamp), "update_time": fields.get("update_time", stamp),
    }


def request_id() -> str:
    """SF-REQUEST-ID (assumption): 32 lowercase hex digits, like every example."""
    return uuid4_hex()


def ok(data: Any = None) -> Reply:
    """SF-ENVELOPE: the success envelope, every field of VENDOR-NOTES present; data {} when there is none."""
    body = {"code": "SUCCESS", "message": None, "request_id": request_id(), "data": {} if data is None else data,
            "error_info": None}
    return Reply(200, body)


# -- seed data, demo, credentials, state view ----------------------------------------------------

DEMO_KEY = "#K-7IGwJpE2M9CpID4101qj2hWg9t59hoF3"
DEMO_ORG = "org-sep-3164dp4"
OTHER_KEY = "#K-cdpkitDemoTenantB0000000000000000"
OTHER_ORG = "org-cdpkit-demo-b"
IF1_RULE = build_rule([{"eql": "user.age == 11", "tag": "分层 1"}])


def _need(ok_: bool, message: str) -> None:
    if not ok_:
        raise ValueError(f"sensors seed: {message}")


def _load_project(scope: Scope, organization: str, name: str, body: dict[str, Any], now: float) -> None:
    pkey = project_key(organization, name)
    project = scope.get("projects", pkey) or {
        "organization_id": organization, "project": name, "project_id": 1, "next_tag_id": 1,
        "quota": {"total": 600, "other_use": 0}, "compute_delay_seconds": 0, "disposable_tags": [], "identity_index": 1,
    }
    for key in ("project_id", "compute_delay_seconds"):
        if key in body:
            project[key] = body[key]
    project["quota"].update(body.get("quota") or {})
    if not project.get("identity_index"):  # a project stored before the index existed: build it once
        for _, user in scope.items(f"users:{pkey}"):
            _index(scope, pkey, user["entity_id"], user.get("identities") or {}, add=True)
        project["identity_index"] = 1
    for user in body.get("users") or []:
        _need(isinstance(user, dict) and "entity_id" in user, f"{pkey}: a user needs entity_id, got {user!r}")
        put_user(scope, pkey, {"entity_id": str(user["entity_id"]), "identities": dict(user.get("identities") or {}),
                               "profile": dict(user.get("profile") or {})})
    for fields in body.get("tags") or []:
        _need(isinstance(fields, dict) and isinstance(fields.get("name"), str), f"{pkey}: a tag needs a name, got {fields!r}")
        existing = scope.get(f"tags:{pkey}", fields["name"])
        tag = new_tag(project, {**(existing or {}), **fields}, now)
        _need(tag["status"] in (CREATED, RUNNING, STOPPED), f"{pkey}: tag status must be CREATED, RUNNING or STOPPED")
        scope.put(f"tags:{pkey}", tag["name"], tag)
        if fields.get("disposable") and tag["name"] not in project["disposable_tags"]:
            project["disposable_tags"].append(tag["name"])
    scope.put("projects", pkey, project)
    for _, tag in scope.items(f"tags:{pkey}"):
        if tag["status"] == RUNNING:  # seeded running tags are computed already (users added later join them)
            compute(scope, pkey, tag, now, ready_now=True)


def load_seed(scope: Scope, section: dict[str, Any]) -> None:
    """``{organizations: {org: {api_keys: [...], projects: {name: {project_id?, quota?: {total, other_use},
    compute_delay_seconds?, users: [{entity_id, identities, profile}], tags: [{name, …, layers|rule, disposable?}]}}}}}``."""
    now = time.time()
    for organization, org_body in (section.get("organizations") or {}).items():
        _need(isinstance(org_body, dict), f"organization {organization!r} needs a mapping")
        for key in org_body.get("api_keys") or []:
            scope.put("keys", key, {"organization_id": organization})
        for name, body in (org_body.get("projects") or {}).items():
            _load_project(scope, organization, name, body or {}, now)


def demo() -> dict[str, Any]:
    """Every example of the document (SF-DEMO-RECONCILE), a disposable tag, and a second tenant."""
    sddd = {"entity_id": "-2443016794336717482", "identities": {"distinct_id": "sddd"}, "profile": {"age": 11, "city": "上海"}}
    return {"organizations": {
        DEMO_ORG: {"api_keys": [DEMO_KEY], "projects": {"default": {
            "project_id": 2, "quota": {"total": 600, "other_use": 31},
            "users": [sddd, {"entity_id": "224266287", "identities": {"distinct_id": "lisi"}, "profile": {"age": 25, "city": None}}],
            "tags": [
                {"id": 73, "name": "user_rt_tag_if1", "cname": "iframe 创建11121", "group_id": 5, "comment": "1", "status": STOPPED,
                 "rule": IF1_RULE, "create_time": "2025-04-18 17:29:44", "update_time": "2025-04-18 17:39:42"},
                {"id": 74, "name": "user_rt_tag_fencengshuzhiyunsuanfuyanzheng", "cname": "分层数值运算符验证", "group_id": 5,
                 "status": RUNNING, "layers": [{"eql": "user.age == 11", "tag": "分层1"}, {"eql": "user.age >= 18", "tag": "分层2"}],
                 "create_time": "2025-04-18 17:40:02", "update_time": "2025-04-18 17:41:10"},
                {"id": 75, "name": "user_rt_tag_disposable_demo", "cname": "可删除的演示标签", "group_id": 5, "status": STOPPED,
                 "layers": [{"eql": "user.city.is_null()", "tag": "无城市"}], "disposable": True,
                 "create_time": "2025-04-18 17:45:00", "update_time": "2025-04-18 17:45:00"},
            ],
        }}},
        OTHER_ORG: {"api_keys": [OTHER_KEY], "projects": {"production": {
            "project_id": 7, "quota": {"total": 100, "other_use": 0},
            "users": [{"entity_id": "9001", "identities": {"distinct_id": "sddd"}, "profile": {"age": 40}}],
            "tags": [{"id": 12, "name": "user_rt_tag_if1", "cname": "tenant B tag", "group_id": 1, "status": RUNNING,
                      "layers": [{"eql": "user.age >= 18", "tag": "B 成人"}]}],
        }}},
    }}


def credentials(scope: Scope) -> dict[str, Any]:
    """Tenants, and the check keys: api_key, organization_id, project, tag_name, disposable_tag_name, distinct_id."""
    keys = dict(scope.items("keys"))
    projects = dict(scope.items("projects"))
    tenants = [{"api_key": k, "organization_id": r["organization_id"],
                "projects": sorted(p["project"] for p in projects.values() if p["organization_id"] == r["organization_id"])}
               for k, r in keys.items()]
    check: dict[str, Any] = {}
    for key in sorted(keys, key=lambda k: k != DEMO_KEY):
        org = keys[key]["organization_id"]
        for pkey, project in sorted(projects.items(), key=lambda kv: kv[1]["project"] != "default"):
            if project["organization_id"] != org:
                continue
            tags = dict(scope.items(f"tags:{pkey}"))
            disposable = [t for t in project["disposable_tags"] if t in tags]
            startable = sorted((t for t in tags if t not in disposable), key=lambda t: (tags[t]["status"] == RUNNING, t != "user_rt_tag_if1"))
            distinct = next((u["identities"]["distinct_id"] for _, u in scope.items(f"users:{pkey}") if "distinct_id" in u["identities"]), None)
            if startable and disposable and distinct is not None:
                check = {"api_key": key, "organization_id": org, "project": project["project"], "tag_name": startable[0],
                         "disposable_tag_name": disposable[0], "distinct_id": distinct}
                return {"tenants": tenants, "check": check}
    return {"tenants": tenants, "check": check}


def _with_values(tag: dict[str, Any], record: dict[str, Any] | None, users: dict[str, Any]) -> dict[str, Any] | None:
    """A computed record with every user's value, as the state view shows it."""
    if record is None or "values" in record:
        return record
    return {**record, "values": {eid: v for eid, user in users.items() if (v := tag_value(record, tag, user)) is not None}}


def state_view(scope: Scope) -> dict[str, Any]:
    """Per project: quota, tags with status and computed values, users."""
    out: dict[str, Any] = {"api_keys": dict(scope.items("keys")), "projects": {}}
    for pkey, project in scope.items("projects"):
        computed = dict(scope.items(f"computed:{pkey}"))
        users = dict(scope.items(f"users:{pkey}"))
        out["projects"][pkey] = {
            **project,
            "quota_now": quota(scope, pkey),
            "tags": {name: {**tag, "computed": _with_values(tag, computed.get(name), users)} for name, tag in scope.items(f"tags:{pkey}")},
            "users": users,
        }
    return out
