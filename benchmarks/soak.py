"""A bounded mixed soak of `cdpkit mock`: every vendor, valid and invalid requests, on 127.0.0.1 only.

It starts the mock in a subprocess, prepares a pool of requests from the generators (a bounded set of
ids, so the state saturates and memory can settle; for operations that name stored state, their
fixtures create it first; an operation whose records get server-made ids is sent only refused
requests), then drives the pool with a bounded number of concurrent clients for a
bounded time. It samples the mock's RSS once a second and prints, at the end, one JSON object:
requests, requests/s, answers by status class, connection errors, 5xx answers, the RSS series and
its growth after warm-up (the first quarter of the run).

    python benchmarks/soak.py --seconds 600          # the documented long version (figures in the README)
    python benchmarks/soak.py --seconds 20           # the short form tests/test_soak.py runs in CI
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cdpkit import generators  # noqa: E402
from cdpkit.generators import registry, transport  # noqa: E402
from cdpkit.mockserver.client import MockClient  # noqa: E402

DISTINCT = 40  # payload seeds per operation: ids repeat, so the state stops growing
# Operations that create a record under an id the server makes (a Quick Audience channel): what a client
# creates the mock keeps, so only their refused (invalid) requests are cycled, or the state would grow with
# every request and the soak would measure the client, not the mock.
SERVER_MADE_IDS = frozenset({"quickaudience.create_api"})


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start_mock(journal_limit: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "cdpkit", "mock", "--port", "0", "--quiet",
                             "--journal-limit", str(journal_limit)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    url = proc.stdout.readline().strip() if proc.stdout else ""
    if not url.startswith("http://"):
        proc.kill()
        raise SystemExit(f"the mock did not start: {proc.stderr.read() if proc.stderr else ''}")
    return proc, url


def request_pool(url: str) -> list[transport.PreparedRequest]:
    """Valid and (one in five) invalid requests of every generated operation, credentials filled in."""
    creds_by_vendor = {v: c.get("check", {}) for v, c in MockClient(url).credentials().items()}
    pool = []
    for op in generators.operations():
        reg = registry.lookup(op)
        creds = dict(creds_by_vendor.get(reg.vendor, {}))
        for i in range(DISTINCT):
            payload = generators.valid(op, seed=f"soak:{i}")
            extra = reg.spec.fixture(url, creds, payload) if reg.spec.fixture and i < 8 else {}
            if reg.spec.fixture and i >= 8:
                continue  # a few fixtures per operation are enough; each one writes state
            broken = generators.violations(op)
            if op in SERVER_MADE_IDS and not broken:
                break
            if broken and (i % 5 == 4 or op in SERVER_MADE_IDS):
                payload = generators.invalid(op, broken[i % len(broken)], seed=f"soak:{i}")
            try:
                pool.append(transport.request_for(op, payload, {**creds, **extra}))
            except transport.MissingCredential:
                continue
    return pool


async def drive(url: str, pool: list[transport.PreparedRequest], seconds: float, concurrency: int,
                pid: int) -> dict[str, Any]:
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    server_errors: list[str] = []
    samples: list[tuple[float, int]] = []
    deadline = time.monotonic() + seconds
    started = time.monotonic()
    cursor = 0

    async def sample() -> None:
        while time.monotonic() < deadline:
            samples.append((round(time.monotonic() - started, 1), rss_kib(pid)))
            await asyncio.sleep(1.0)

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal cursor
        while time.monotonic() < deadline:
            request = pool[cursor % len(pool)]
            cursor += 1
            try:
                async with session.request(request.method, request.url(url), headers=request.headers,
                                           data=request.content()) as answer:
                    await answer.read()
                    statuses[f"{answer.status // 100}xx"] += 1
                    if answer.status >= 500:
                        server_errors.append(f"{answer.status} {request.method} {request.path}")
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                errors[type(exc).__name__] += 1

    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        await asyncio.gather(sample(), *(worker(session) for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    warm = [kib for t, kib in samples if t >= seconds / 4]
    total = sum(statuses.values())
    return {
        "seconds": round(elapsed, 1), "requests": total, "requests_per_second": round(total / elapsed),
        "answers": dict(statuses), "connection_errors": dict(errors), "server_errors": server_errors[:20],
        "rss_mib": [round(kib / 1024, 1) for _, kib in samples],
        "rss_growth_after_warmup_mib": round((max(warm) - warm[0]) / 1024, 1) if warm else 0.0,
        "pool": len(pool),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to drive the mock (bounded)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent connections")
    parser.add_argument("--journal-limit", type=int, default=2000, help="the mock's --journal-limit")
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 3600 or not 1 <= args.concurrency <= 256:
        parser.error("--seconds must be 1..3600 and --concurrency 1..256")
    proc, url = start_mock(args.journal_limit)
    try:
        pool = request_pool(url)
        result = asyncio.run(drive(url, pool, args.seconds, args.concurrency, proc.pid))
        result["rss_mib_at_end"] = round(rss_kib(proc.pid) / 1024, 1)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
