"""Payloads per second of every registered generator operation, valid and invalid, on one core.

What it measures: for each operation (and each requirement its invalid builders break), how many
payloads one Python thread builds per second, seeded per payload exactly as ``cdpkit gen`` seeds
them (``seed=f"{N}:{i}"``), once building only and once building plus ``orjson`` serialisation (what
``cdpkit gen`` writes). Faker pools are warmed first; the cold start (pool building for the locale)
is reported on its own, because it is paid once per process, not per payload.

    python benchmarks/bench_generators.py                     # every op, en_US, 1 s per row
    python benchmarks/bench_generators.py --locale market --seconds 2 --ops zebline
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Callable

import random

import orjson

from cdpkit import generators
from cdpkit.generators import registry
from cdpkit.generators.draw import Draw

TARGET = 10_000  # payloads per second the issue asks of Zebline users on one core


def _rate(make: Callable[[str], object], seconds: float, serialise: bool) -> float:
    """Payloads per second over about ``seconds``, in batches so the clock is read rarely."""
    done, i, started = 0, 0, time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(200):
            payload = make(f"1:{i}")
            if serialise:
                orjson.dumps(payload)
            i += 1
        done += 200
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - started)


def reference_user(d: Draw) -> dict[str, object]:
    """Not a vendor operation: a 12-field user built from Draw primitives, to show the framework's own
    cost per payload (seeding, pools, JSON) before or beside the vendors' real builders."""
    return {
        "user_id": d.alnum(16),
        "attributes": {
            "first_name": d.fake("first_name"), "last_name": d.fake("last_name"), "email": d.fake("free_email"),
            "phone": d.phone_digits(), "city": d.fake("city"), "signup_at": d.iso_datetime(),
            "loyalty_points": d.integer(0, 50_000), "is_vip": d.chance(0.1),
            "birth_date": d.birth_date().strftime("%Y-%m-%d"), "favourite_color": d.fake("color_name"),
            "last_order_total": round(d.rng.uniform(1, 500), 2), "tags": [d.fake("word") for _ in range(d.integer(0, 3))],
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measured row (default 1)")
    parser.add_argument("--locale", default=None, help="Faker locale or 'market' (default en_US)")
    parser.add_argument("--ops", default="", help="only operations whose name contains this text")
    args = parser.parse_args(argv)

    print(f"python {sys.version.split()[0]}, one thread, {args.seconds:g} s per row, locale {args.locale or 'en_US'}")
    print(f"{'operation':<40}{'kind':<32}{'build/s':>12}{'+json/s':>12}{'cold ms':>10}")
    for op in generators.operations():
        if args.ops not in op:
            continue
        cold = time.perf_counter()
        generators.valid(op, seed="warm", locale=args.locale)
        for s in range(200):  # touch every pool the builders use
            generators.valid(op, seed=s, locale=args.locale)
        cold_ms = (time.perf_counter() - cold) * 1000
        rows: list[tuple[str, Callable[[str], object]]] = [
            ("valid", lambda seed, op=op: generators.valid(op, seed, args.locale))
        ]
        for rid in registry.lookup(op).violations:
            rows.append((f"invalid {rid}", lambda seed, op=op, rid=rid: generators.invalid(op, rid, seed, args.locale)))
        for kind, make in rows:
            build = _rate(make, args.seconds, serialise=False)
            dumped = _rate(make, args.seconds, serialise=True)
            print(f"{op:<40}{kind:<32}{build:>12,.0f}{dumped:>12,.0f}{cold_ms if kind == 'valid' else 0:>10.0f}")
            cold_ms = 0
    locale = args.locale if args.locale not in (None, "market") else "en_US"
    make_reference = lambda seed: reference_user(Draw(random.Random(f"reference|{seed}"), locale))  # noqa: E731
    for s in range(200):
        make_reference(s)
    build, dumped = _rate(make_reference, args.seconds, False), _rate(make_reference, args.seconds, True)
    print(f"{'(reference: Draw primitives, 12 fields)':<40}{'valid':<32}{build:>12,.0f}{dumped:>12,.0f}{0:>10.0f}")
    print(f"target: {TARGET:,} zebline users payloads per second (issue); other rows are for reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
