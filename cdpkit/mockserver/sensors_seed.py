"""Sensors Focus seed check: what ``cdpkit/schemas/sensors/seed.json`` cannot say.

A seeded tag's conditions must be EQL the mock reads, or starting the tag (or a seeded RUNNING tag's
computation) would fail inside the mock. The schema has already checked the shape when this runs
(:meth:`cdpkit.mockserver.runtime.Mock.apply_seed`); this parses every condition with the model's own
public functions, so a seed is refused exactly when a later computation would fail.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

from cdpkit.mockserver.sensors_model import eql_matches, layer_value

RULE_SHAPE = ("a rule the mock can evaluate: a JSON text whose segment_based_rule.groups is a list of "
              "{segment: {group_expression_rule: {groups: [{eql_segment_rule: {eql}}], group_expression}}, tag}")


def _why(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _rule_problems(rule: str) -> Iterator[tuple[str, str]]:
    try:
        parsed = json.loads(rule)
    except (ValueError, RecursionError):  # a rule nested beyond the parser's depth is no rule either
        yield "", "a JSON text (SF-GET-RULE-JSON-STRING)"
        return
    segment_based = parsed.get("segment_based_rule") if isinstance(parsed, dict) else None
    if not isinstance(segment_based, dict) or "groups" not in segment_based:
        return  # not segment based: the mock computes no value for it, and nothing fails
    groups = segment_based["groups"]
    if not isinstance(groups, list):
        yield "", f"{RULE_SHAPE}; segment_based_rule.groups is {type(groups).__name__}"
        return
    for n, group in enumerate(groups):
        one = json.dumps({"segment_based_rule": {"groups": [group]}})
        try:
            layer_value(one, {})  # the very call a computation makes, one group at a time
        except Exception as exc:  # EqlError, or a group of another shape
            yield "", f"{RULE_SHAPE}; group {n}: {_why(exc)}"


def seed_problems(section: dict[str, Any]) -> list[tuple[str, str]]:
    """(path inside the section, what was expected) for every condition the mock could not evaluate."""
    found: list[tuple[str, str]] = []
    for org, org_body in (section.get("organizations") or {}).items():
        for name, project in ((org_body or {}).get("projects") or {}).items():
            for i, tag in enumerate((project or {}).get("tags") or []):
                at = f"organizations/{org}/projects/{name}/tags/{i}"
                for j, layer in enumerate(tag.get("layers") or []):
                    try:
                        eql_matches(layer["eql"], {})
                    except Exception as exc:
                        found.append((f"{at}/layers/{j}/eql", f"an EQL condition the mock reads: {_why(exc)}"))
                if tag.get("rule"):
                    found.extend((f"{at}/rule{sub}", why) for sub, why in _rule_problems(tag["rule"]))
    return found
