"""``cdpkit gen``'s front: its help and options, importable without Faker (``cdpkit --help`` lists every
command, and Faker comes with the ``gen`` extra, not with the base install that runs the mock). The work
is in :mod:`cdpkit.generators.cli`."""

from __future__ import annotations

import argparse
import importlib.util
import sys

GEN_EXTRA = ("faker",)


HELP = "generate valid or one-violation payloads; print them or send them"
DESCRIPTION = """\
Generate realistic request payloads for a vendor operation and print them as NDJSON (one JSON
document per line), or send them to a server. A payload is what a sender controls: the JSON body
of a body operation, the query mapping of a GET; credentials are never generated (see --cred).

Valid payloads follow the vendor document's conventions, not merely its schema. --invalid ID makes
every payload break exactly that catalog requirement (--invalid all cycles through every ID the
operation can break); --list shows the operations, their short aliases and the requirement IDs.
--seed makes a run reproducible byte for byte: payload i of --seed N is
generators.valid(OP, seed="N:i"). Without --seed a random one is used and printed on stderr.
--locale picks the Faker locale for names, addresses and phone numbers (default en_US; 'market'
means the vendor's own market, e.g. th_TH for GPTBots).

--send URL delivers the payloads with bounded concurrency (--concurrency) and a token-bucket rate
limit (--rate, requests per second), shows a progress line on stderr and ends with a tally of the
statuses and how many answers were the ones the payloads call for (2xx for valid, 4xx for invalid).
Credentials come from --cred KEY=VALUE; against a cdpkit mock they default to the mock's own
(GET /__mock/credentials). Exit status: 0 all delivered, 1 some requests got no answer, 2 bad
arguments or credentials, 3 target unreachable.

examples:
  cdpkit gen --list
  cdpkit gen gptbots.get_user_cdp --count 1000 --seed 1 > queries.ndjson
  cdpkit gen gptbots.user_cdp --seed 7 --locale market --format json
  cdpkit gen gptbots.get_user_cdp --invalid all --count 10 --annotate
  cdpkit gen gptbots.get_user_cdp --count 5000 --send http://127.0.0.1:8080 --rate 500
  cdpkit gen gptbots.get_user_cdp --send https://api-sg.gptbots.ai --cred token=$GPTBOTS_KEY --count 20
"""

EXIT_OK, EXIT_UNDELIVERED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("operation", nargs="?", metavar="VENDOR.OPERATION",
                        help="e.g. gptbots.get_user_cdp (an operationId) or an alias from --list")
    parser.add_argument("--list", action="store_true", help="list operations, aliases and requirement IDs, then exit")
    parser.add_argument("--count", type=int, default=10, help="how many payloads (default 10)")
    parser.add_argument("--seed", type=int, default=None, help="seed for a reproducible run")
    parser.add_argument("--locale", default=None, help="Faker locale (default en_US), or 'market' for the vendor's own")
    parser.add_argument("--invalid", default=None, metavar="REQUIREMENT_ID|all",
                        help="break this requirement in every payload ('all' cycles through every ID)")
    parser.add_argument("--format", choices=("ndjson", "json"), default="ndjson", help="output format (default ndjson)")
    parser.add_argument("--annotate", action="store_true",
                        help="wrap each payload as {operation, seed, requirement, payload}")
    parser.add_argument("--send", metavar="URL", default=None, help="send to this base URL instead of printing")
    parser.add_argument("--cred", action="append", default=[], metavar="KEY=VALUE",
                        help="a credential for --send (repeatable); which keys a vendor takes: see --list")
    parser.add_argument("--rate", type=float, default=None, help="--send: at most this many requests per second")
    parser.add_argument("--concurrency", type=int, default=8, help="--send: requests in flight at once (default 8)")
    parser.add_argument("--quiet", action="store_true", help="--send: no progress line")


def missing_gen_extra() -> list[str]:
    """The packages of the ``gen`` extra that are not installed."""
    return [name for name in GEN_EXTRA if importlib.util.find_spec(name) is None]


def run(args: argparse.Namespace) -> int:
    missing = missing_gen_extra()
    if missing:
        print(f"cdpkit gen: generating payloads needs cdpkit's gen extra ({', '.join(missing)} missing): "
              "python3 -m pip install 'cdpkit[gen]' (in a checkout: python3 -m pip install -e '.[gen]'; "
              "the check extra includes it)", file=sys.stderr)
        return EXIT_USAGE
    from cdpkit.generators.cli import execute

    return execute(args)
