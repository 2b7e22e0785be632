"""Throughput, latency, CPU, memory and start-up time of `cdpkit mock`, side by side with a bare aiohttp
handler and with Stoplight Prism, in one run, on 127.0.0.1 only (issue 9).

What it compares (--server, repeatable; all by default). Each is a subprocess the run starts itself on
a port the kernel picks, and stops at the end:
  bare     an aiohttp handler that parses the JSON and answers a fixed body: the ceiling, what Python and
           aiohttp cost before the mock does any work
  raw      a plain asyncio protocol (no aiohttp) that reads a request, parses its JSON and answers a
           fixed body: the floor of Python and the event loop, what the mock's fast lane starts from
  memory   `python -m cdpkit mock` on the memory store (the default a user gets)
  nolane   the same with --no-fast-lane: every request through aiohttp's request handling, so the
           fast lane's share shows side by side (this checkout only)
  sqlite   the mock on a SQLite store in a fresh temporary file (every acknowledged write on disk)
  redis    the mock on a Redis store, one process, against a redis-server the run starts in its
  redis2   temporary folder (appendfsync always; --redis-fsync everysec to compare); redis2 is
           --workers 2. Their CPU per request counts redis-server too: the whole cost of a request
  prism    Prism 5 (npm @stoplight/prism-cli, pinned by benchmarks/package-lock.json) mocking cdpkit's own
           OpenAPI document of the scenario's vendor (`cdpkit openapi --vendor V`), -v silent. Installed
           with `npm ci` into ~/.cache/cdpkit/prism the first time; without npm it is skipped, saying why
A server whose tool is missing (npm for prism, redis-server for redis) is skipped with the reason; the
run goes on with the others.

Scenarios (benchmarks/bench_scenarios.py): zebline.users (upsert), tto.track, gptbots.get_user_cdp, and
sensors.online (the documented single-user online look-up, with the demo tenant's credentials, cycling
through 5,000 users each cdpkit mock is seeded with through /__mock/seed before the load; one answer per
server is checked for the documented success code first, as Sensors may signal a failure in a 200).

How: each round drives every scenario against every server in turn with the same requests (same
method, path, headers and body, with an id unique per request *and per run*, so each upsert creates a
new profile as a client's would), for --seconds with --concurrency connections. The load comes from wrk
(Debian's `wrk`, one thread) when installed, else from aiohttp clients in their own process, which
saturate near 9,000 req/s on a 2-core machine and then measure themselves.

What it prints: a line per round, then the medians over the rounds: requests/s; the ratios
"÷ bare" (this server's req/s over the bare handler's), "÷ memory" (a store over the memory store) and
"÷ prism" (over Prism's on the same scenario: issue 9 wants the mock >= 3x); p50 and p99 latency; the
server's CPU time per request (its own user + system time over the requests it answered: steadier than
req/s when other work shares the machine, so compare those on a busy machine); its largest RSS; and
the status mix of its answers. A comparison with a server that did not answer 2xx to the same work is
void and printed so. Before the load: start-up time, from spawning `cdpkit mock`, `python -m cdpkit
mock` (also each --against checkout's), the bare handler and Prism to their first 2xx answer to the
Zebline upsert, median of --startup-runs runs (a cold start), with the CPU time each had used by then. Then each server is warmed with the same load, unmeasured, until
its CPU per request is steady (Prism's JIT needs ~8,000 requests), so warm servers are compared. Last:
issue 9's goals, met or not, in this run's figures.

    python benchmarks/bench_mock.py                              # everything, 3 rounds of 5 s
    python benchmarks/bench_mock.py --seconds 3 --rounds 2 --scenario zebline.users --server bare --server memory --server prism
    python benchmarks/bench_mock.py --server memory --server sqlite --server redis --server redis2 --startup-runs 0
    python benchmarks/bench_mock.py --against before=../before --server memory   # an earlier checkout beside this one
    python benchmarks/bench_mock.py --against before=../before --server redis --server redis2   # same, on Redis

Figures from a shared machine move by 20% or more between runs; the ratios within one run, and the CPU
per request, much less. Report those.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import prism
from bench_mock_report import Result, print_goals, print_table
from bench_scenarios import SCENARIOS, check_answer, seed_mock
from load_drivers import Load, drive_python, drive_wrk, request_parts
from servers import (
    Probe,
    cpu_seconds,
    free_port,
    log_tail,
    median_ms,
    process_tree,
    rss_mb,
    spawn,
    start_redis,
    startup_time,
    stop,
    wait_until_answering,
)

SERVERS = ("bare", "raw", "memory", "nolane", "sqlite", "redis", "redis2", "prism")
WARM_CHUNK_SECONDS = 2  # wrk counts whole seconds
WARM_STEADY = 0.10  # CPU per request within 10% of the chunk before: the server is warm
START_TIMEOUT = 60  # seconds for a server to answer its first request

BARE_SERVER = textwrap.dedent(
    """
    import asyncio, sys, orjson
    from aiohttp import web
    if sys.argv[2] == "uvloop":  # the loop the mock it is compared with serves on (--loop)
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    async def handle(request):
        body = orjson.loads(await request.read() or b"{}")
        return web.Response(body=orjson.dumps({"ok": True, "n": len(body)}), content_type="application/json")
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
    """
)

# The floor: HTTP/1.1 read by hand (keep-alive, pipelining, Content-Length bodies: what the load sends).
RAW_SERVER = textwrap.dedent(
    """
    import asyncio, sys, orjson
    if sys.argv[2] == "uvloop":
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    class Raw(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport, self.buffer = transport, b""
        def data_received(self, data):
            buffer, out = self.buffer + data, []
            while True:
                end = buffer.find(b"\\r\\n\\r\\n")
                if end < 0:
                    break
                length = 0
                for line in buffer[:end].split(b"\\r\\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if len(buffer) < end + 4 + length:
                    break
                body = orjson.loads(buffer[end + 4:end + 4 + length] or b"{}")
                buffer = buffer[end + 4 + length:]
                answer = orjson.dumps({"ok": True, "n": len(body)})
                out.append(b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: %d\\r\\n\\r\\n"
                           % len(answer) + answer)
            self.buffer = buffer
            if out:
                self.transport.write(b"".join(out))
    async def main():
        server = await asyncio.get_running_loop().create_server(Raw, "127.0.0.1", int(sys.argv[1]))
        await server.serve_forever()
    asyncio.run(main())
    """
)


@dataclass
class Running:
    """One compared server as started: the process serving each vendor (one for all but Prism, which mocks
    one document per process) and the processes whose CPU a request also costs (redis-server)."""

    procs: dict[str, subprocess.Popen]
    ports: dict[str, int]
    also_costs: list[int]

    def pids(self, vendor: str) -> list[int]:
        return process_tree(self.procs[vendor].pid) + self.also_costs

    def rss(self, vendor: str) -> float:
        return sum(map(rss_mb, process_tree(self.procs[vendor].pid)))


def zebline_probe(nonce: str) -> Probe:
    """The Zebline upsert of the benchmark, as a start-up probe: the first answer a client would want."""
    scenario = SCENARIOS["zebline.users"]
    headers, body = request_parts(scenario)
    return Probe(scenario["method"], scenario["path"], headers, body.replace("@ID@", f"startup-{nonce}").encode())


def cdpkit_script() -> str | None:
    """The `cdpkit` console script of this interpreter's environment (what a user types)."""
    beside = Path(sys.executable).parent / "cdpkit"
    return str(beside) if beside.exists() else shutil.which("cdpkit")


@dataclass(frozen=True)
class StartCommand:
    """One command whose start-up is timed: its argv for a port, run in ``cwd`` with ``env`` (another checkout's)."""

    argv: Callable[[int], list[str]]
    cwd: str | None = None
    env: dict[str, str] | None = None


def startup_commands(workdir: str, prism_binary: Path | None, checkouts: dict[str, str | None],
                     failed: dict[str, str], loop: str) -> dict[str, StartCommand]:
    """The commands whose start-up is compared, by label; a command that cannot run goes in ``failed`` with why.
    Each --against checkout adds its `python -m cdpkit mock` (run from that checkout, as its load servers are):
    its `cdpkit` console script would be this environment's, i.e. this checkout's."""
    commands = {"bare aiohttp handler": StartCommand(lambda port: [sys.executable, "-c", BARE_SERVER, str(port), loop])}
    script = cdpkit_script()
    if script:
        commands["cdpkit mock"] = StartCommand(lambda port: [script, "mock", "--port", str(port)])
    else:
        failed["cdpkit mock"] = "no `cdpkit` console script found"
    module = lambda port: [sys.executable, "-m", "cdpkit", "mock", "--port", str(port)]
    commands["python -m cdpkit mock"] = StartCommand(module)
    for label, checkout in checkouts.items():
        if checkout is not None:
            commands[f"python -m cdpkit mock @{label}"] = StartCommand(module, checkout, dict(os.environ, PYTHONPATH=checkout))
    if prism_binary is not None:
        document = prism.write_document("zebline", workdir)
        commands["prism (Zebline document)"] = StartCommand(lambda port: prism.command(prism_binary, document, port))
    return commands


def measure_startup(args: argparse.Namespace, workdir: str, prism_binary: Path | None, nonce: str,
                    checkouts: dict[str, str | None]) -> dict[str, float]:
    """Median start-up of each command, printed as measured; the medians (seconds) by label."""
    probe = zebline_probe(nonce)
    failed: dict[str, str] = {}  # label -> why it has no figure
    commands = startup_commands(workdir, prism_binary, checkouts, failed, args.loop)
    print(f"\nstart-up: spawn to the first 2xx answer to the Zebline upsert, median of {args.startup_runs} run(s) "
          f"taken in turn (`cdpkit mock` with every vendor and the demo data, as a user starts it):", flush=True)
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("  (PYTHONDONTWRITEBYTECODE is set: each start compiles the sources no __pycache__ holds, as an "
              "installed wheel's start would not)", flush=True)
    times: dict[str, list[float]] = {label: [] for label in commands}
    cpu: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(args.startup_runs):  # in turn, as the load rounds: a burst of other work hits every command alike
        for label, command in commands.items():
            if label not in failed:
                port = free_port()
                took = startup_time(command.argv(port), port, probe, os.path.join(workdir, "startup.log"),
                                    cwd=command.cwd, env=command.env)
                if isinstance(took, str):
                    failed[label] = took
                else:
                    times[label].append(took[0])
                    cpu[label].append(took[1])
    medians = {label: statistics.median(found) for label, found in times.items() if found}
    bare = medians.get("bare aiohttp handler")
    bare_cpu = statistics.median(cpu["bare aiohttp handler"]) if cpu.get("bare aiohttp handler") else None
    width = max(26, *map(len, commands))
    for label in [*commands, *(label for label in failed if label not in commands)]:
        found = times.get(label, [])
        spread = f"({min(found) * 1000:.0f}–{max(found) * 1000:.0f})" if found else ""
        used = f"CPU {median_ms(cpu[label]):>4} ms" if found else ""
        beside = ""
        if found and bare and bare_cpu and label != "bare aiohttp handler":
            beside = f"  {medians[label] / bare:4.1f}× bare, by CPU {statistics.median(cpu[label]) / bare_cpu:4.1f}×"
        why = f"  FAILED: {failed[label]}" if label in failed else ""
        print(f"  {label:<{width}} {median_ms(found):>6} ms {spread:<12} {used:<12}{beside}{why}", flush=True)
    return medians


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="per scenario, server and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the table shows medians")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-requests", type=int, default=500_000, help="per run of the Python driver")
    parser.add_argument("--scenario", action="append", choices=list(SCENARIOS), help="only these scenarios")
    parser.add_argument("--server", action="append", choices=SERVERS, help="only these servers")
    parser.add_argument("--warmup", type=float, default=4.0, help="at least this many seconds of unmeasured load "
                        "per scenario and server before the rounds, until its CPU per request is steady (0: none)")
    parser.add_argument("--warmup-max", type=float, default=30.0, help="at most this many seconds of warm-up")
    parser.add_argument("--startup-runs", type=int, default=5, help="spawns per command for the start-up medians "
                        "(0: no start-up measurement)")
    parser.add_argument("--prism-cache", type=Path, default=prism.default_cache(),
                        help="where Prism is installed with npm ci (default %(default)s)")
    parser.add_argument("--redis-fsync", choices=("always", "everysec"), default="always",
                        help="appendfsync of the run's redis-server (always: nothing acknowledged is ever lost)")
    parser.add_argument("--loop", choices=("auto", "uvloop", "asyncio"), default="auto",
                        help="the event loop of the bare handler and of this checkout's mock (`cdpkit mock --loop`; "
                             "auto: uvloop when installed, as `cdpkit mock` chooses); --against checkouts run "
                             "their own default")
    parser.add_argument("--driver", choices=("auto", "wrk", "python"), default="auto",
                        help="load generator (auto: wrk when installed)")
    parser.add_argument("--against", metavar="NAME=DIR", action="append", default=[],
                        help="also run the mock from another checkout (a git worktree of an earlier commit, say), "
                             "as servers memory@NAME, sqlite@NAME, redis@NAME and redis2@NAME (each only where "
                             "--server asks for the server it mirrors): before and after in one run; the Redis "
                             "ones share the run's redis-server under a prefix of their own")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.loop == "auto":
        args.loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    if args.driver == "auto":
        args.driver = "wrk" if shutil.which("wrk") else "python"
    drive = drive_wrk if args.driver == "wrk" else drive_python
    chosen = args.scenario or list(SCENARIOS)
    servers = [s for s in SERVERS if s in (args.server or SERVERS)]
    checkouts: dict[str, str | None] = {"": None}
    for spec in args.against:
        label, _, directory = spec.partition("=")
        checkouts[label] = os.path.abspath(directory)
        servers += [f"{s}@{label}" for s in ("memory", "sqlite", "redis", "redis2") if s in servers]
    run_nonce = uuid.uuid4().hex[:10]
    print(f"load from {args.driver}, {args.concurrency} connections, {args.rounds} round(s) of {args.seconds:g} s "
          f"per scenario and server; the bare handler and the mock on the {args.loop} event loop; run {run_nonce}",
          flush=True)

    prism_binary = None
    if "prism" in servers:
        prism_binary, why = prism.ensure(args.prism_cache)
        if prism_binary is None:
            print(f"Prism skipped: {why}", flush=True)
            servers.remove("prism")
        else:
            print(f"Prism {prism.version(prism_binary)} from {args.prism_cache}, -v silent, on cdpkit's OpenAPI "
                  f"document of each scenario's vendor", flush=True)
    if any(s.startswith("redis") for s in servers) and shutil.which("redis-server") is None:
        print("Redis servers skipped: redis-server is not on PATH (Debian: apt-get install redis-server)", flush=True)
        servers = [s for s in servers if not s.startswith("redis")]

    workdir = tempfile.mkdtemp(prefix="cdpkit-bench-")
    running: dict[str, Running] = {}
    redis_proc = None
    startup: dict[str, float] = {}
    try:
        if args.startup_runs > 0:
            startup = measure_startup(args, workdir, prism_binary, run_nonce, checkouts)
        redis_port = free_port()
        if any(s.startswith("redis") for s in servers):
            redis_proc = start_redis(workdir, redis_port, args.redis_fsync)
        for server in list(servers):
            started = start_server(server, args, workdir, chosen, checkouts, redis_port, run_nonce, prism_binary)
            if isinstance(started, str):
                older_redis = "@" in server and server.startswith("redis")  # a checkout from before the Redis store
                if not (server.startswith("prism") or older_redis):
                    raise SystemExit(f"{server} did not start: {started}")
                print(f"{'Prism' if server.startswith('prism') else server} skipped: {started}", flush=True)
                servers.remove(server)
                continue
            running[server] = started
            if redis_proc is not None and server.startswith("redis"):
                started.also_costs.append(redis_proc.pid)
        results = run_rounds(args, chosen, servers, running, drive, run_nonce)
    finally:
        for server in running.values():
            for proc in set(server.procs.values()):
                stop(proc)
        if redis_proc is not None:
            stop(redis_proc)
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(args, chosen, servers, results)
    print_goals(chosen, servers, results, startup)


def start_server(server: str, args: argparse.Namespace, workdir: str, scenarios: list[str],
                 checkouts: dict[str, str | None], redis_port: int, run_nonce: str,
                 prism_binary: Path | None) -> Running | str:
    """Start one compared server, wait until it answers and seed what ``scenarios`` look up; the Running server,
    or why it did not start."""
    vendors = sorted({SCENARIOS[name]["vendor"] for name in scenarios})
    kind, _, label = server.partition("@")
    checkout = checkouts[label]
    env = dict(os.environ, PYTHONPATH=checkout) if checkout else None
    log_path = os.path.join(workdir, server.replace("@", "-") + ".log")
    groups: list[tuple[list[str], int, list[str]]] = []  # (vendors served, port, command)
    if kind == "prism":
        assert prism_binary is not None
        for vendor in vendors:
            port = free_port()
            groups.append(([vendor], port, prism.command(prism_binary, prism.write_document(vendor, workdir), port)))
    else:
        port = free_port()
        if kind in ("bare", "raw"):
            cmd = [sys.executable, "-c", BARE_SERVER if kind == "bare" else RAW_SERVER, str(port), args.loop]
        else:
            state = "memory" if kind in ("memory", "nolane") else f"sqlite:{os.path.join(workdir, server + '.sqlite')}"
            if kind.startswith("redis"):
                state = f"redis://127.0.0.1:{redis_port}/0?prefix=bench-{run_nonce}-{server.replace('@', '-')}"
            cmd = [sys.executable, "-m", "cdpkit", "mock", "--port", str(port), "--vendors", ",".join(vendors),
                   "--journal-limit", "10000", "--state", state] + (["--workers", "2"] if kind == "redis2" else [])
            if checkout is None:  # an earlier checkout may not know --loop: it runs its own default
                cmd += ["--loop", args.loop]
            if kind == "nolane":
                cmd.append("--no-fast-lane")
        groups.append((vendors, port, cmd))
    procs: dict[str, subprocess.Popen] = {}
    ports: dict[str, int] = {}
    for served, port, cmd in groups:
        proc = spawn(cmd, log_path, cwd=checkout, env=env)
        procs.update(dict.fromkeys(served, proc))
        ports.update(dict.fromkeys(served, port))
        why = None
        if wait_until_answering(proc, port, Probe("GET", "/", {}), timeout=START_TIMEOUT) is None:
            why = f"no answer on port {port} within {START_TIMEOUT} s (log: {log_tail(log_path)})"
        elif kind not in ("bare", "raw", "prism"):  # a cdpkit mock: the state the scenarios look up (bench_scenarios.py)
            why = next(filter(None, (seed_mock(port, SCENARIOS[name]) for name in scenarios)), None)
        if why is not None:
            for started in set(procs.values()):
                stop(started)
            return why
    return Running(procs, ports, [])


def warm_up(args: argparse.Namespace, name: str, server: Running, label: str,
            drive: Callable[[str, dict, argparse.Namespace, str], Load], nonce: str) -> None:
    """Unmeasured load until the server's CPU per request is steady: two chunks in a row within
    WARM_STEADY of each other, after at least --warmup seconds, at most --warmup-max. Prism needs it: V8
    compiles its hot paths as they run, and a cold Prism spends 4x the CPU per request of a warm one for
    its first ~8,000 requests; comparing the mock against a cold Prism would flatter the mock."""
    vendor = SCENARIOS[name]["vendor"]
    chunk = argparse.Namespace(**{**vars(args), "seconds": WARM_CHUNK_SECONDS})
    spent, trail = 0.0, []
    while spent < args.warmup_max:
        pids = server.pids(vendor)
        cpu = sum(map(cpu_seconds, pids))
        load = drive(f"http://127.0.0.1:{server.ports[vendor]}", SCENARIOS[name], chunk, f"{nonce}-{len(trail)}")
        trail.append((sum(map(cpu_seconds, pids)) - cpu) / max(load.total, 1) * 1e6)
        spent += WARM_CHUNK_SECONDS
        if spent >= args.warmup and len(trail) >= 2 and abs(trail[-1] - trail[-2]) <= WARM_STEADY * trail[-2]:
            break
    print(f"  warm-up {name:<22} {label:<10} {spent:4.0f} s, CPU µs/req by {WARM_CHUNK_SECONDS} s chunk: "
          + " → ".join(f"{cpu:.0f}" for cpu in trail), flush=True)


def run_rounds(args: argparse.Namespace, chosen: list[str], servers: list[str], running: dict[str, Running],
               drive: Callable[[str, dict, argparse.Namespace, str], Load], run_nonce: str) -> dict[tuple[str, str], list[Result]]:
    """Every scenario against every server, round after round, in the same order: the alternation spreads
    whatever else the machine is doing over all servers alike."""
    for name in chosen:  # the documented answer, not only a 2xx one (a Sensors failure can be a 200 with a code);
        for server in servers if "expect" in SCENARIOS[name] else []:  # the bare handler's is a fixed one
            if server in ("bare", "raw"):
                continue
            wrong = check_answer(running[server].ports[SCENARIOS[name]["vendor"]], SCENARIOS[name], run_nonce)
            if wrong is not None:
                print(f"  WARNING {name} on {server}: {wrong}", flush=True)
    for name in chosen:
        for server in servers if args.warmup > 0 else []:
            warm_up(args, name, running[server], server, drive, f"{run_nonce}-warm-{server}")
    results: dict[tuple[str, str], list[Result]] = {}
    for round_no in range(args.rounds):
        for name in chosen:
            vendor = SCENARIOS[name]["vendor"]
            for server in servers:
                nonce = f"{run_nonce}-{round_no}-{server}"
                pids = running[server].pids(vendor)
                cpu = sum(map(cpu_seconds, pids))
                load = drive(f"http://127.0.0.1:{running[server].ports[vendor]}", SCENARIOS[name], args, nonce)
                cpu_us = (sum(map(cpu_seconds, pids)) - cpu) / max(load.total, 1) * 1e6
                result = Result(load.rate, load.p50, load.p99, running[server].rss(vendor), cpu_us, load.statuses)
                results.setdefault((name, server), []).append(result)
                print(f"  round {round_no + 1} {name:<22} {server:<10} {load.rate:>9,.0f} req/s  p50 {load.p50:6.2f} ms  "
                      f"p99 {load.p99:6.2f} ms  CPU {cpu_us:5.0f} µs/req  RSS {result.rss_mb:6.1f} MB  "
                      f"{load.total} requests, non-2xx {load.non2xx}", flush=True)
    return results


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
