"""Bytes per stored profile: the mock's RSS as Zebline profiles accumulate, on 127.0.0.1 only.

Starts `cdpkit mock --vendors zebline` (memory store) in a subprocess, upserts small profiles with
distinct userIds (a few system attributes and three custom ones, the shape the generators send), and
prints the RSS and the bytes each profile added at every checkpoint, and for each stretch between
checkpoints the upserts per second and the mock's own CPU time per upsert (issue 9 wants it flat as state
grows). The journal is bounded separately (`--journal-limit`, default 2,000 here, so it fills early and the
slope is the state's).

    python benchmarks/bench_memory.py                          # checkpoints 10k and 100k profiles
    python benchmarks/bench_memory.py --counts 10000,100000,1000000 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used (its own, not the load generator's)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def upsert(url: str, first: int, last: int, concurrency: int) -> None:
    cursor = first

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal cursor
        while cursor < last:
            i, cursor = cursor, cursor + 1
            body = {"userId": f"bench-{i}", "firstname": "mary", "city": "tehran", "points": i % 500,
                    "attributes": {"plan": "pro", "visits": i % 97, "verified": i % 2 == 0}}
            async with session.post(f"{url}/v1/accounts/LICENSE_CODE/users", json=body,
                                    headers={"authorization": "ACCESS_TOKEN"}) as answer:
                await answer.read()
                if answer.status != 200:
                    raise SystemExit(f"upsert {i} answered {answer.status}")

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="10000,100000", help="checkpoints, comma-separated (at most 2,000,000)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--journal-limit", type=int, default=2000)
    args = parser.parse_args(argv)
    counts = sorted(int(c) for c in args.counts.split(","))
    if not counts or counts[0] < 1000 or counts[-1] > 2_000_000:
        parser.error("--counts: checkpoints from 1,000 to 2,000,000")
    proc = subprocess.Popen([sys.executable, "-m", "cdpkit", "mock", "--port", "0", "--quiet", "--vendors", "zebline",
                             "--journal-limit", str(args.journal_limit)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        url = proc.stdout.readline().strip() if proc.stdout else ""
        if not url.startswith("http://"):
            raise SystemExit(f"the mock did not start: {proc.stderr.read() if proc.stderr else ''}")
        asyncio.run(upsert(url, 0, args.journal_limit, args.concurrency))  # fill the journal first
        time.sleep(0.5)
        base, done, rows = rss_bytes(proc.pid), 0, []
        started = time.monotonic()
        for count in counts:
            cpu, wall = cpu_seconds(proc.pid), time.monotonic()
            asyncio.run(upsert(url, args.journal_limit + done, args.journal_limit + count, args.concurrency))
            cpu, wall = cpu_seconds(proc.pid) - cpu, time.monotonic() - wall
            segment, done = count - done, count
            time.sleep(0.5)
            rss = rss_bytes(proc.pid)
            # throughput as state grows: the mock's own CPU per upsert over this segment (the Python load
            # generator sets the req/s, so that figure says more about the client than about the mock)
            rows.append({"profiles": count, "rss_mib": round(rss / 2**20, 1),
                         "bytes_per_profile": round((rss - base) / count),
                         "segment_upserts_per_s": round(segment / wall),
                         "segment_mock_cpu_us_per_upsert": round(cpu / segment * 1e6, 1)})
        print(json.dumps({"baseline_rss_mib": round(base / 2**20, 1), "seconds": round(time.monotonic() - started, 1),
                          "checkpoints": rows}))
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
