"""Sensors Focus real-time tag rules: the EQL subset the mock reads, and the rule (layers) built on it.

A tag's ``rule`` (a JSON text, SF-GET-RULE-JSON-STRING) is a list of layers, each an EQL condition
(or several, joined by a group expression over ``$1``…``$n``) and the value (``tag``) users matching it
get. The subset covers the vendor's published examples (``user.age == 11``, ``user.city.is_null()``,
``user.vip_level in ['a','b']``, ``user.tag == 'x' and user.age == 11``). Conditions and rules are
compiled once per text (cached), so a look-up only applies functions to a profile (issue 9). The domain
model that uses them is :mod:`cdpkit.mockserver.sensors_model`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any


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
        return self._joined("or", self.conjunction, any)

    def conjunction(self) -> Condition:
        return self._joined("and", self.negation, all)

    def _joined(self, keyword: str, operand: Callable[[], Condition], combine: Callable[[list[bool]], bool]) -> Condition:
        """``operand (keyword operand)*``: one operand as it is, several combined (``any`` for or, ``all`` for and)."""
        parts = [operand()]
        while (t := self.peek()) and t[1].lower() == keyword:
            self.take()
            parts.append(operand())
        return parts[0] if len(parts) == 1 else _all_of(parts, combine)

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
