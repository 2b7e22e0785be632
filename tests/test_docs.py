"""The README stays true: its assumptions table is the catalog's, its commands and links exist.

Regenerate the table with ``python -m tests.test_docs``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from cdpkit.catalog_command import markdown
from schemas.catalog import requirements

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


if __name__ == "__main__":
    text = README.read_text("utf-8")
    README.write_text(text.replace(current_block(text), generated_block()), "utf-8")
    sys.exit(0)
