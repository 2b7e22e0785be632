"""The work of ``cdpkit gen`` (:mod:`cdpkit.gen_command` is its front): print realistic payloads as NDJSON,
or send them to a mock or staging system. Importing this imports Faker."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import socket
import sys
import urllib.parse
from typing import Any, Iterator

import orjson

from cdpkit import generators
from cdpkit.generators import registry, transport
from cdpkit.gen_command import EXIT_OK, EXIT_UNDELIVERED, EXIT_UNREACHABLE, EXIT_USAGE
from cdpkit.generators.draw import faker_for
from cdpkit.generators.send import Item, Unreachable, send_all


def _short(text: str, width: int = 90) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def listing() -> str:
    """The --list text: every operation, its aliases, payload part, markets, credentials and IDs."""
    lines = []
    for name, reg in registry.table().items():
        aliases = ", ".join(f"{reg.vendor}.{a}" for a in reg.spec.aliases) or "-"
        lines.append(f"{name}  ({reg.part} payload; aliases: {aliases})")
        if reg.spec.summary:
            lines.append(f"    {reg.spec.summary}")
        lines.append(f"    markets (--locale market = first): {' '.join(reg.markets) or 'en_US'}")
        lines.append(f"    --send credentials: {', '.join(transport.CRED_KEYS.get(reg.vendor, ())) or 'none'}")
        for rid in reg.violations:
            lines.append(f"    --invalid {rid:<28} {_short(registry.requirement(reg.vendor, rid).english)}")
    return "\n".join(lines) if lines else "no generator modules installed"


def _creds(args: argparse.Namespace, vendor: str) -> tuple[dict[str, Any], bool]:
    """The credentials to send with, and whether they are a cdpkit mock's own (no --cred given)."""
    creds: dict[str, Any] = {}
    for item in args.cred:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--cred takes KEY=VALUE, not {item!r}")
        creds[key] = value
    if creds:
        return creds, False
    from cdpkit.mockserver.client import MockClient  # the control API over HTTP, not mock internals

    client = MockClient(args.send, timeout=5)
    if client.is_mock():
        served = client.credentials()
        if vendor not in served:
            raise ValueError(f"the mock at {args.send} does not serve {vendor}; it serves {', '.join(served)}")
        return dict(served[vendor].get("check", {})), True
    return creds, False


def _payloads(args: argparse.Namespace, reg: registry.Registered, seed: int) -> Iterator[tuple[str | None, str, Any]]:
    for rid, payload_seed, payload in generators.stream(reg.name, args.count, seed, args.locale, args.invalid):
        yield rid, str(payload_seed), payload


def _print(args: argparse.Namespace, reg: registry.Registered, seed: int) -> int:
    out = sys.stdout.buffer
    docs = (
        {"operation": reg.name, "seed": s, "requirement": rid, "payload": p} if args.annotate else p
        for rid, s, p in _payloads(args, reg, seed)
    )
    if args.format == "json":
        out.write(orjson.dumps(list(docs), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))
    else:
        for doc in docs:
            out.write(orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE))
    out.flush()
    return EXIT_OK


def _probe(url: str, timeout: float = 5.0) -> None:
    """Raise Unreachable unless something accepts TCP connections at ``url`` (before asking for credentials)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--send takes an http(s) base URL such as http://127.0.0.1:8080, not {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as exc:
        raise Unreachable(f"cannot reach {url}: {exc.strerror or exc}; is the server running?") from None


def _send(args: argparse.Namespace, reg: registry.Registered, seed: int) -> int:
    _probe(args.send)
    creds, from_mock = _creds(args, reg.vendor)
    # An operation that names stored state (a track ID, a channel's keys) has a fixture that creates it;
    # run it only against a cdpkit mock: on any other target it would create data the user did not ask for.
    fixture = reg.spec.fixture if from_mock else None

    def prepared(payload: Any) -> Any:
        extra = fixture(args.send, creds, payload) if fixture else {}
        return transport.request_for(reg.name, payload, {**creds, **extra})

    items: Iterator[Item] = ((rid is None, prepared(payload)) for rid, _, payload in _payloads(args, reg, seed))
    if fixture is None:
        transport.request_for(reg.name, generators.valid(reg.name, seed), creds)  # fail early on missing credentials
    tally = asyncio.run(send_all(args.send, items, args.count, args.concurrency, args.rate,
                                 None if args.quiet else sys.stderr))
    print(tally.table(), file=sys.stderr)
    return EXIT_UNDELIVERED if tally.undelivered else EXIT_OK


def execute(args: argparse.Namespace) -> int:
    """`cdpkit gen` with Faker at hand (:func:`cdpkit.gen_command.run` checks that first)."""
    if args.list:
        print(listing())
        return EXIT_OK
    if not args.operation:
        print("cdpkit gen: name an operation (VENDOR.OPERATION) or pass --list", file=sys.stderr)
        return EXIT_USAGE
    try:
        reg = registry.lookup(args.operation)
        if args.invalid not in (None, "all") and args.invalid not in reg.violations:
            raise KeyError(f"{reg.name} cannot break {args.invalid!r}; it can break: {', '.join(reg.violations) or 'nothing'}")
        if args.count < 0 or args.concurrency < 1 or (args.rate is not None and args.rate <= 0):
            raise ValueError("--count must be >= 0, --concurrency >= 1 and --rate > 0")
        seed = args.seed
        if seed is None:
            seed = secrets.randbits(32)
            print(f"cdpkit gen: using --seed {seed}", file=sys.stderr)
        faker_for(generators.resolve_locale(reg, args.locale))  # an unknown locale fails before any output
        return _send(args, reg, seed) if args.send else _print(args, reg, seed)
    except Unreachable as exc:
        print(f"cdpkit gen: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except (KeyError, ValueError) as exc:
        print(f"cdpkit gen: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return EXIT_USAGE
