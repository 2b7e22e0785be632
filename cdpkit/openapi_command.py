"""``cdpkit openapi``: print a vendor's OpenAPI document, assembled from the schemas."""

from __future__ import annotations

import argparse
import json
import sys

import yaml

from cdpkit.schemas import VENDORS
from cdpkit.schemas.openapi import build

HELP = "print a vendor's OpenAPI 3.1 document (assembled from the JSON Schemas)"
DESCRIPTION = """\
Print the OpenAPI 3.1 document of one vendor API to stdout. It is assembled from the JSON Schemas
transcribed from the vendor's document, so it always agrees with what the mock enforces and what
the suites check. Feed it to schemathesis, Prism, Postman or a code generator: every $ref names a
whole component (no $defs), so openapi-python-client builds every operation (the tests prove it).

examples:
  cdpkit openapi --vendor gptbots > gptbots.json
  cdpkit openapi --vendor sensors --format yaml
  cdpkit openapi --vendor zebline > zebline.json && openapi-python-client generate --path zebline.json
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vendor", required=True, choices=VENDORS, help="which vendor API")
    parser.add_argument("--format", choices=("json", "yaml"), default="json", help="output format (default json)")


def run(args: argparse.Namespace) -> int:
    doc = build(args.vendor)
    if args.format == "yaml":
        yaml.safe_dump(doc, sys.stdout, allow_unicode=True, sort_keys=False)
    else:
        json.dump(doc, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    return 0
