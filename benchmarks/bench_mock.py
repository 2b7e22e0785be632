"""Throughput, latency and memory of `cdpkit mock` against a bare aiohttp handler, side by side, on 127.0.0.1 only.

Starts the servers it compares itself, each a subprocess on one core: a bare aiohttp handler (json.loads
and a fixed answer: the ceiling), the mock on the memory store, the mock on a SQLite store in a fresh
temporary file, and the mock on the Redis store with one worker (``redis``) and with two (``redis2``,
``--workers 2``) against a ``redis-server`` the run starts in its temporary folder (append-only file,
``appendfsync always``: every acknowledged write is on disk; ``--redis-fsync everysec`` to compare). For
the Redis servers the CPU per request counts the mock's processes *and* redis-server, the whole cost. Each round drives every scenario against every server in turn, for a bounded time with a
bounded number of connections, and the table shows the medians over the rounds: requests/s, p50 and p99
latency, the server's CPU time per request (steadier than requests/s when other work shares the machine),
its RSS after the scenario (the largest), and the ratios against the bare handler (and, for SQLite,
against the memory store). Writes carry an id that is unique per request *and per run* (a run nonce and a
counter), so each upsert creates a new profile as a client's would.

The load comes from wrk (Debian's `wrk`, one thread) when it is installed, else from aiohttp clients
in a separate process, which saturate near 9,000 req/s on this machine and then measure themselves.

    python benchmarks/bench_mock.py                              # every scenario, 3 rounds of 5 s
    python benchmarks/bench_mock.py --seconds 2 --rounds 1 --scenario zebline.users --server memory
    python benchmarks/bench_mock.py --server memory --server sqlite --server redis --server redis2
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from dataclasses import dataclass

# "@ID@" in a path or body is replaced by an id unique per request and per run.
SCENARIOS: dict[str, dict] = {
    "zebline.users": {
        "vendor": "zebline",
        "method": "POST",
        "path": "/v1/accounts/LICENSE_CODE/users",
        "headers": {"authorization": "ACCESS_TOKEN"},
        "json": {"userId": "@ID@", "firstName": "sample", "attributes": {"age": 30}},
    },
    "tto.track": {
        "vendor": "tto",
        "method": "POST",
        "path": "/v1/track",
        "json": {"type": "track", "api_key": "your_api_key_here", "user_id": "user_12345", "event": "Purchase",
                 "msg_id": "@ID@", "properties": {"revenue": 299.99, "currency": "USD"}, "timestamp": "1767174918"},
    },
    "gptbots.get_user_cdp": {
        "vendor": "gptbots",
        "method": "GET",
        "path": "/v1/user/get-user-cdp?user_id=BC123",
        "headers": {"Authorization": "Bearer ${token}"},
    },
}
SERVERS = ("bare", "memory", "sqlite", "redis", "redis2")

BARE_SERVER = textwrap.dedent(
    """
    import sys, orjson
    from aiohttp import web
    async def handle(request):
        body = orjson.loads(await request.read() or b"{}")
        return web.Response(body=orjson.dumps({"ok": True, "n": len(body)}), content_type="application/json")
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=lambda *a: print("ready", flush=True),
                access_log=None)
    """
)

# The Python load generator, run in its own process: prints one JSON line {n, statuses, latencies_ms}.
PY_DRIVER = textwrap.dedent(
    """
    import asyncio, json, sys, time, aiohttp
    url, method, body, headers, seconds, concurrency, max_requests, nonce = json.loads(sys.argv[1])
    lat, statuses, n = [], {}, 0
    async def main():
        global n
        deadline = time.perf_counter() + seconds
        async def worker(session, w):
            global n
            i = 0
            while time.perf_counter() < deadline and n < max_requests:
                i += 1
                uid = f"{nonce}-{w}-{i}"
                data = body.replace("@ID@", uid).encode() if body else None
                t = time.perf_counter()
                async with session.request(method, url.replace("@ID@", uid), data=data, headers=headers) as r:
                    await r.read()
                lat.append((time.perf_counter() - t) * 1000)
                statuses[r.status] = statuses.get(r.status, 0) + 1
                n += 1
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
            await asyncio.gather(*(worker(s, w) for w in range(concurrency)))
    t0 = time.perf_counter(); asyncio.run(main()); elapsed = time.perf_counter() - t0
    lat.sort()
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else 0.0
    print(json.dumps({"rate": n / elapsed, "n": n, "p50": pick(0.5), "p99": pick(0.99),
                      "non2xx": sum(v for k, v in statuses.items() if not 200 <= int(k) < 400)}))
    """
)

# wrk: each request gets "<nonce>-<counter>" in place of @ID@ (wrk's math.random repeats every run).
WRK_SCRIPT = """
local counter = 0
local nonce = {nonce}
local path, body = {path}, {body}
wrk.method = {method}
{headers}
request = function()
  counter = counter + 1
  local uid = nonce .. "-" .. counter
  local b = nil
  if body ~= "" then b = body:gsub("@ID@", uid) end
  return wrk.format(nil, (path:gsub("@ID@", uid)), nil, b)
end
"""


@dataclass
class Result:
    rate: float
    p50: float
    p99: float
    rss_mb: float
    non2xx: int
    cpu_us: float  # the server's CPU time per request: steadier than req/s on a machine shared with other work


def _lua(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal for these payloads


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _request_parts(scenario: dict) -> tuple[dict, str]:
    headers = dict(scenario.get("headers", {}))
    body = json.dumps(scenario["json"]) if "json" in scenario else ""
    if body:
        headers["Content-Type"] = "application/json"
    return headers, body


def drive_wrk(base: str, scenario: dict, args: argparse.Namespace, nonce: str) -> tuple[float, int, float, float, int]:
    headers, body = _request_parts(scenario)
    script = WRK_SCRIPT.format(
        nonce=_lua(nonce), path=_lua(scenario["path"]), body=_lua(body), method=_lua(scenario["method"]),
        headers="\n".join(f"wrk.headers[{_lua(k)}] = {_lua(v)}" for k, v in headers.items()),
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{args.concurrency}", f"-d{max(1, round(args.seconds))}s", "--latency", "-s", handle.name,
             base + "/"], capture_output=True, text=True, check=True, timeout=args.seconds + 30,
        ).stdout
    finally:
        os.unlink(handle.name)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rate, total, p50, p99, int(non2xx.group(1)) if non2xx else 0


def drive_python(base: str, scenario: dict, args: argparse.Namespace, nonce: str) -> tuple[float, int, float, float, int]:
    headers, body = _request_parts(scenario)
    spec = [base + scenario["path"], scenario["method"], body, headers, args.seconds, args.concurrency,
            args.max_requests, nonce]
    out = subprocess.run([sys.executable, "-c", PY_DRIVER, json.dumps(spec)], capture_output=True, text=True,
                         check=True, timeout=args.seconds + 60).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return r["rate"], r["n"], r["p50"], r["p99"], r["non2xx"]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        return int(re.search(r"VmRSS:\s+(\d+)", handle.read()).group(1)) / 1024


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as handle:
        return [int(p) for p in handle.read().split()]


def start_redis(workdir: str, port: int, fsync: str) -> subprocess.Popen:
    """A redis-server of the run's own, in its temporary folder; persistence as the README states it."""
    if shutil.which("redis-server") is None:
        raise SystemExit("the redis servers need redis-server (Debian: apt-get install redis-server)")
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir,
                             "--appendonly", "yes", "--appendfsync", fsync, "--save", ""],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True).stdout.strip() == "PONG":
            return proc
        time.sleep(0.05)
    raise SystemExit("redis-server did not start")


def start(cmd: list[str], checkout: str | None = None) -> tuple[subprocess.Popen, float]:
    started = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=checkout) if checkout else None
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=checkout, env=env)
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"server did not start: {' '.join(cmd)}")
    return proc, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="per scenario, server and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the table shows medians")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-requests", type=int, default=500_000, help="per run of the Python driver")
    parser.add_argument("--scenario", action="append", choices=list(SCENARIOS), help="only these scenarios")
    parser.add_argument("--server", action="append", choices=SERVERS, help="only these servers")
    parser.add_argument("--port", type=int, default=18990)
    parser.add_argument("--redis-fsync", choices=("always", "everysec"), default="always",
                        help="appendfsync of the run's redis-server (always: nothing acknowledged is ever lost)")
    parser.add_argument("--driver", choices=("auto", "wrk", "python"), default="auto",
                        help="load generator (auto: wrk when installed)")
    parser.add_argument("--against", metavar="NAME=DIR", action="append", default=[],
                        help="also run the mock from another checkout (a git worktree of an earlier commit, say), "
                             "as servers memory@NAME and sqlite@NAME: before and after in one run")
    args = parser.parse_args()
    if args.driver == "auto":
        args.driver = "wrk" if shutil.which("wrk") else "python"
    drive = drive_wrk if args.driver == "wrk" else drive_python
    chosen = args.scenario or list(SCENARIOS)
    servers = [s for s in SERVERS if s in (args.server or SERVERS)]
    checkouts = {"": None}
    for spec in args.against:
        label, _, directory = spec.partition("=")
        checkouts[label] = os.path.abspath(directory)
        servers += [f"{s}@{label}" for s in ("memory", "sqlite") if s in servers]
    vendors = ",".join(sorted({SCENARIOS[name]["vendor"] for name in chosen}))
    run_nonce = uuid.uuid4().hex[:10]
    print(f"load from {args.driver}, {args.concurrency} connections, {args.rounds} round(s) of {args.seconds:g} s "
          f"per scenario and server; run {run_nonce}", flush=True)

    workdir = tempfile.mkdtemp(prefix="cdpkit-bench-")
    procs: dict[str, subprocess.Popen] = {}
    ports = {server: args.port + i for i, server in enumerate(servers)}
    startup: dict[str, float] = {}
    redis_proc = None
    try:
        redis_port = args.port + len(servers)
        if any(s.startswith("redis") for s in servers):
            redis_proc = start_redis(workdir, redis_port, args.redis_fsync)
        for server in servers:
            kind, _, label = server.partition("@")
            if kind == "bare":
                cmd = [sys.executable, "-c", BARE_SERVER, str(ports[server])]
            else:
                state = "memory" if kind == "memory" else f"sqlite:{os.path.join(workdir, server + '.sqlite')}"
                if kind.startswith("redis"):
                    state = f"redis://127.0.0.1:{redis_port}/0?prefix=bench-{run_nonce}-{server.replace('@', '-')}"
                cmd = [sys.executable, "-m", "cdpkit", "mock", "--port", str(ports[server]), "--vendors", vendors,
                       "--journal-limit", "10000", "--state", state] + (["--workers", "2"] if kind == "redis2" else [])
            procs[server], startup[server] = start(cmd, checkouts[label])
        def serving(server: str) -> list[int]:
            """The processes whose CPU a request costs: the mock's (its workers) and redis-server's."""
            pid = procs[server].pid
            own = children(pid) if server.startswith("redis2") else [pid]
            return own + ([redis_proc.pid] if server.startswith("redis") else [])

        def memory_of(server: str) -> float:
            pid = procs[server].pid
            return sum(rss_mb(p) for p in (children(pid) if server.startswith("redis2") else [pid]))

        results: dict[tuple[str, str], list[Result]] = {}
        for round_no in range(args.rounds):
            for name in chosen:
                for server in servers:
                    nonce = f"{run_nonce}-{round_no}-{server}"
                    pids = serving(server)
                    cpu = sum(map(cpu_seconds, pids))
                    rate, total, p50, p99, non2xx = drive(f"http://127.0.0.1:{ports[server]}", SCENARIOS[name], args, nonce)
                    cpu_us = (sum(map(cpu_seconds, pids)) - cpu) / max(total, 1) * 1e6
                    result = Result(rate, p50, p99, memory_of(server), non2xx, cpu_us)
                    results.setdefault((name, server), []).append(result)
                    print(f"  round {round_no + 1} {name:<22} {server:<10} {rate:>9,.0f} req/s  p50 {p50:6.2f} ms  "
                          f"p99 {p99:6.2f} ms  CPU {cpu_us:5.0f} µs/req  RSS {result.rss_mb:6.1f} MB  {total} requests, non-2xx {non2xx}",
                          flush=True)
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait()
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)

    width = max(map(len, servers))
    med = lambda rs, f: statistics.median(getattr(r, f) for r in rs)  # noqa: E731
    print(f"\nmedians over {args.rounds} round(s):")
    print(f"{'scenario':<22} {'server':<{width}} {'req/s':>9} {'× bare':>7} {'× memory':>9} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'CPU µs/req':>10} {'RSS MB':>7} {'non-2xx':>8}")
    for name in chosen:
        for server in servers:
            rs = results[(name, server)]
            rate = med(rs, "rate")
            bare = f"{rate / med(results[(name, 'bare')], 'rate'):.2f}" if "bare" in servers else "-"
            kind, at, label = server.partition("@")
            memory = "memory" + at + label
            mem = f"{rate / med(results[(name, memory)], 'rate'):.2f}" if kind != "memory" and kind != "bare" and memory in servers else ""
            print(f"{name:<22} {server:<{width}} {rate:>9,.0f} {bare:>7} {mem:>9} {med(rs, 'p50'):>7.2f} {med(rs, 'p99'):>7.2f} "
                  f"{med(rs, 'cpu_us'):>10.0f} {max(r.rss_mb for r in rs):>7.1f} {sum(r.non2xx for r in rs):>8}")
    for server in servers:
        if not server.startswith("bare"):
            print(f"cdpkit mock start-up on {server} (process spawn to listening): {startup[server] * 1000:.0f} ms")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
