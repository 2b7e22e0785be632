"""``cdpkit catalog``: list the requirements catalog, so users can see what is documented and what is assumed."""

from __future__ import annotations

import argparse
import json
import sys

from cdpkit.schemas import VENDORS
from cdpkit.schemas.catalog import Requirement, requirements

HELP = "list the requirements catalog (documented statements and cdpkit's assumptions)"
DESCRIPTION = """\
List the requirements catalog: one entry per normative statement of the vendor documents (kind
'documented') and one per choice cdpkit made where a document is silent (kind 'assumption').
Every mock rejection and every suite check names one of these IDs.

examples:
  cdpkit catalog --vendor zebline
  cdpkit catalog --kind assumption --format markdown > ASSUMPTIONS.md
  cdpkit catalog --id ZEB-ATTRIBUTES-REQUIRED
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vendor", choices=VENDORS, help="only this vendor")
    parser.add_argument("--kind", choices=("documented", "assumption"), help="only this kind")
    parser.add_argument("--id", dest="ids", action="append", metavar="ID", help="only these IDs (repeatable)")
    parser.add_argument("--format", choices=("text", "markdown", "json"), default="text")


def select(args: argparse.Namespace) -> list[Requirement]:
    chosen = [r for r in requirements(args.vendor) if args.kind in (None, r.kind)]
    if args.ids:
        chosen = [r for r in chosen if r.id in set(args.ids)]
    return chosen


def markdown(entries: list[Requirement]) -> str:
    lines = ["| ID | kind | applies to | statement (English) | source |", "|---|---|---|---|---|"]
    for r in entries:
        english = r.english.replace("|", "\\|").replace("\n", " ")
        source = (r.source or r.section).replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {r.id} | {r.kind} | {r.applies_to} | {english} | {source} |")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    entries = select(args)
    if args.ids and len(entries) < len(set(args.ids)):
        missing = set(args.ids) - {r.id for r in entries}
        print(f"cdpkit catalog: no entry {', '.join(sorted(missing))}", file=sys.stderr)
        return 2
    if args.format == "json":
        json.dump([r.__dict__ for r in entries], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    elif args.format == "markdown":
        sys.stdout.write(markdown(entries))
    else:
        for r in entries:
            print(f"{r.id}  [{r.kind}, {r.applies_to}]  {r.english}")
            print(f"    {r.quote}")
            if r.source:
                print(f"    source: {r.source}")
    return 0
