"""The ``cdpkit`` command: a thin table of subcommands, each implemented in the layer it belongs to.

A subcommand module offers ``HELP`` (one line), ``DESCRIPTION`` (the --help text, with examples),
``configure(parser)`` and ``run(args) -> int`` (the exit status).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from typing import Any, Sequence

# name -> module; the order is the order --help lists them in.
COMMANDS: dict[str, str] = {
    "mock": "cdpkit.mockserver.cli",
    "check": "cdpkit.suites.cli",
    "report": "cdpkit.suites.report_command",
    "gen": "cdpkit.gen_command",
    "openapi": "cdpkit.openapi_command",
    "catalog": "cdpkit.catalog_command",
}

EPILOG = """\
examples:
  cdpkit mock                                      all five mocks on http://127.0.0.1:8080
  cdpkit openapi --vendor zebline --format yaml    print Zebline's OpenAPI document
  cdpkit catalog --kind assumption                 what cdpkit chose where the documents are silent
  cdpkit <command> --help                          what a command does and its options
"""


class _VersionAction(argparse.Action):
    """``--version``: argparse's own, but the version is looked up only when asked for. Finding an installed
    distribution's version imports importlib.metadata and reads the package metadata, ~20 ms that every
    `cdpkit mock` start would otherwise spend before it serves (issue 9)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0,
                         help="show program's version number and exit", **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        from cdpkit import __version__

        parser._print_message(f"cdpkit {__version__}\n", sys.stdout)
        parser.exit()


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that subcommand's module is imported (the others pull in pytest,
    schemathesis or Faker, which `cdpkit mock` should not wait for at start-up)."""
    parser = argparse.ArgumentParser(
        prog="cdpkit",
        description="Conformance suites and a stateful mock for five customer-data-platform HTTP APIs "
        "(TTO CDP, Alibaba Cloud Quick Audience, Sensors Focus, GPTBots, Zebline).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        if only is not None and name != only:
            continue
        if importlib.util.find_spec(module_name) is None:  # a layer not built yet offers no command
            continue
        module = importlib.import_module(module_name)
        child = sub.add_parser(
            name,
            help=module.HELP,
            description=module.DESCRIPTION,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.configure(child)
        child.set_defaults(_run=module.run)
    return parser


SIGNED_VALUE_OPTIONS = ("--features",)  # their values may start with "-" ("-h5"), which argparse reads as an option


def join_signed_values(argv: list[str]) -> list[str]:
    """``--features -h5`` as ``--features=-h5``, so argparse does not take ``-h5`` for an option."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        if i and argv[i - 1] in SIGNED_VALUE_OPTIONS and arg[:1] in "+-" and not arg.startswith("--"):
            out[-1] = f"{argv[i - 1]}={arg}"
        else:
            out.append(arg)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    argv = join_signed_values(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except SystemExit as exc:  # `raise SystemExit("message")` in a subcommand: a usage error, exit 2 like argparse's
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            return 2
        raise
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`cdpkit gen … | head`): stop quietly, as `yes | head` does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
