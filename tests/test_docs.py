"""The README stays true: its assumptions table is the catalog's, its commands and links exist.

Regenerate the table with ``python -m tests.test_docs``.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

from cdpkit.catalog_command import markdown
from cdpkit.schemas.catalog import requirements

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- assumptions:start -->", "<!-- assumptions:end -->"


def generated_block() -> str:
    return f"{START}\n{markdown([r for r in requirements() if r.kind == 'assumption'])}{END}"


def current_block(text: str) -> str:
    return text[text.index(START) : text.index(END) + len(END)]


def test_readme_lists_every_assumption_of_the_catalog():
    assert current_block(README.read_text("utf-8")) == generated_block(), (
        "README's assumptions table is stale: run `python -m tests.test_docs`"
    )


def test_readme_opens_with_the_two_commands():
    blocks = re.findall(r"```bash\n(.*?)\n```", README.read_text("utf-8"), re.S)
    assert blocks[0] == "python3 -m pip install -e . && cdpkit mock"
    assert blocks[1] == "python3 -m pip install -e '.[test]' && python3 -m pytest"


def test_ci_runs_exactly_the_readme_test_command():
    ci = (README.parent / ".ci" / "run").read_text("utf-8")
    assert "python3 -m pip install -e '.[test]' && python3 -m pytest" in ci


def test_readme_mentions_every_command():
    from cdpkit.cli import COMMANDS

    text = README.read_text("utf-8")
    for name in COMMANDS:
        assert f"cdpkit {name}" in text, name



# Every command the README and the --help texts show ----------------------------------------------------

CATALOG_ID = re.compile(r"\b(?:TTO|QA|SF|GPT|ZEB)-[A-Z0-9]+(?:-[A-Z0-9]+)*\b")


def help_texts() -> dict[str, str]:
    """``cdpkit --help`` and each ``cdpkit COMMAND --help``, as printed."""
    import argparse

    from cdpkit.cli import build_parser

    parser = build_parser()
    texts = {"cdpkit --help": parser.format_help()}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            texts.update({f"cdpkit {name} --help": sub.format_help() for name, sub in action.choices.items()})
    return texts


def _commands_in(lines: list[str]) -> list[str]:
    """The ``cdpkit …`` commands in shell lines: continuations joined, comments, descriptions (after three
    spaces), redirections and the other commands of a pipeline or list dropped."""
    joined: list[str] = []
    for line in lines:
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1].rstrip() + " " + line.strip()
        else:
            joined.append(line.strip())
    out = []
    for line in joined:
        line = re.split(r"\s#\s|\s{3,}", line)[0]
        for part in re.split(r"&&|\|\||[&|;]", line):
            part = part.split(">")[0].strip()
            if part.startswith("cdpkit ") and "<" not in part:
                out.append(part)
    return out


def documented_commands() -> list[tuple[str, str]]:
    """(where, command) for every ``cdpkit`` command in the README's shell blocks and the help texts' examples."""
    found = []
    for block in re.findall(r"```(?:bash|sh|shell)\n(.*?)\n```", README.read_text("utf-8"), re.DOTALL):
        found += [("README.md", c) for c in _commands_in(block.splitlines())]
    for where, text in help_texts().items():
        examples = text.split("examples:\n", 1)[1] if "examples:\n" in text else ""
        lines = []
        for line in examples.splitlines():
            if not line.startswith(" "):  # the end of the examples (an unindented heading or paragraph)
                break
            lines.append(line)
        found += [(where, c) for c in _commands_in(lines)]
    return found


def test_the_readme_and_every_help_show_commands() -> None:
    wheres = {where for where, _ in documented_commands()}
    assert "README.md" in wheres and set(help_texts()) <= wheres, set(help_texts()) - wheres


@pytest.mark.parametrize("where,command", documented_commands(), ids=lambda v: v if " " not in v else None)
def test_every_documented_command_parses_and_names_what_exists(where: str, command: str) -> None:
    """Each example parses as the command line it is, and what it names exists: catalog IDs, operations,
    the requirement an --invalid breaks, and (for check and mock) options that pass validation."""
    from cdpkit.cli import COMMANDS, build_parser, join_signed_values

    argv = [a for a in shlex.split(command)[1:] if a != "…"]
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    try:
        args = parser.parse_args(join_signed_values(argv))
    except SystemExit as exc:
        pytest.fail(f"{where}: `{command}` does not parse (exit {exc.code})")
    known = {r.id for r in requirements()}
    assert not set(CATALOG_ID.findall(command)) - known, f"{where}: `{command}` names IDs the catalog does not have"
    if args.command == "gen" and args.operation:
        from cdpkit.generators import registry

        reg = registry.lookup(args.operation)
        assert args.invalid in (None, "all", *reg.violations), f"{where}: {reg.name} cannot break {args.invalid}"
    try:
        if args.command == "check" and not args.profile:
            from cdpkit.suites.cli import settings

            settings(args)
        if args.command == "mock" and not (args.seed or args.config):  # the files it names are the reader's
            from cdpkit.mockserver.cli import config_from_args

            config_from_args(args)
    except (ValueError, SystemExit) as exc:
        pytest.fail(f"{where}: `{command}` is refused: {exc}")


def test_the_readme_and_help_texts_name_only_catalog_ids() -> None:
    """Outside the generated assumptions table (the catalog's own text, which quotes vendor error codes)."""
    known = {r.id for r in requirements()}
    readme = README.read_text("utf-8")
    for where, text in {"README.md": readme.replace(current_block(readme), ""), **help_texts()}.items():
        assert not set(CATALOG_ID.findall(text)) - known, (where, sorted(set(CATALOG_ID.findall(text)) - known))


if __name__ == "__main__":
    text = README.read_text("utf-8")
    README.write_text(text.replace(current_block(text), generated_block()), "utf-8")
    sys.exit(0)
