"""Throughput and start-up time of `cdpkit mock`, measured on 127.0.0.1 only.

Starts the mock in a subprocess (one core for the server) and drives it for a bounded time with a
bounded number of connections, printing requests per second per scenario. The load comes from wrk
(Debian's `wrk`, one thread on the other core) when it is installed, else from aiohttp clients in this
process, which saturate near 9,000 req/s on this machine and then measure themselves, not the server.
A bare aiohttp JSON handler is measured the same way, so the figures can be read side by side.

    python benchmarks/bench_mock.py                 # every scenario, 5 s each
    python benchmarks/bench_mock.py --seconds 2 --scenario gptbots.get_user_cdp --driver aiohttp
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

import aiohttp

SCENARIOS: dict[str, dict] = {
    "gptbots.get_user_cdp": {
        "vendor": "gptbots",
        "method": "GET",
        "path": "/v1/user/get-user-cdp?user_id=BC123",
        "headers": {"Authorization": "Bearer ${token}"},
    },
    "tto.track": {
        "vendor": "tto",
        "method": "POST",
        "path": "/v1/track",
        "json": {"type": "track", "api_key": "your_api_key_here", "user_id": "user_12345", "event": "Purchase",
                 "properties": {"revenue": 299.99, "currency": "USD"}, "timestamp": "1767174918"},
    },
    "zebline.users": {
        "vendor": "zebline",
        "method": "POST",
        "path": "/v1/accounts/LICENSE_CODE/users",
        "headers": {"authorization": "ACCESS_TOKEN"},
        "json": {"userId": "TX61", "firstName": "sample", "attributes": {"age": 30}},
    },
}

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


def start(cmd: list[str]) -> tuple[subprocess.Popen, float]:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"server did not start: {' '.join(cmd)}")
    return proc, time.perf_counter() - started


async def drive(base: str, scenario: dict, seconds: float, concurrency: int, max_requests: int) -> tuple[int, dict]:
    statuses: dict[int, int] = {}
    done = 0
    deadline = time.perf_counter() + seconds
    body = json.dumps(scenario["json"]).encode() if "json" in scenario else None
    headers = dict(scenario.get("headers", {}))
    if body is not None:
        headers["Content-Type"] = "application/json"

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.perf_counter() < deadline and done < max_requests:
            async with session.request(scenario["method"], base + scenario["path"], data=body, headers=headers) as r:
                await r.read()
                statuses[r.status] = statuses.get(r.status, 0) + 1
            done += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return done, statuses


WRK_SCRIPT = """
wrk.method = {method}
wrk.body = {body}
{headers}
"""


def _lua(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal for these payloads


def measure_wrk(name: str, base: str, scenario: dict, args: argparse.Namespace) -> None:
    headers = dict(scenario.get("headers", {}))
    body = json.dumps(scenario["json"]) if "json" in scenario else ""
    if body:
        headers["Content-Type"] = "application/json"
    script = WRK_SCRIPT.format(
        method=_lua(scenario["method"]),
        body=_lua(body),
        headers="\n".join(f"wrk.headers[{_lua(k)}] = {_lua(v)}" for k, v in headers.items()),
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{args.concurrency}", f"-d{max(1, int(args.seconds))}s", "-s", handle.name,
         base + scenario["path"]],
        capture_output=True, text=True, check=True,
    ).stdout
    os.unlink(handle.name)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)
    total = re.search(r"(\d+) requests in", out).group(1)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    print(f"{name:<28} {float(rate):>10,.0f} req/s   {total:>8} requests (wrk)   non-2xx {non2xx.group(1) if non2xx else 0}")


def measure(name: str, base: str, scenario: dict, args: argparse.Namespace) -> None:
    if args.driver == "wrk":
        return measure_wrk(name, base, scenario, args)
    started = time.perf_counter()
    done, statuses = asyncio.run(drive(base, scenario, args.seconds, args.concurrency, args.max_requests))
    elapsed = time.perf_counter() - started
    print(f"{name:<28} {done / elapsed:>10,.0f} req/s   {done:>8} requests in {elapsed:5.2f} s   statuses {statuses}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-requests", type=int, default=500_000)
    parser.add_argument("--scenario", action="append", help="only these scenarios")
    parser.add_argument("--port", type=int, default=18990)
    parser.add_argument("--driver", choices=("auto", "wrk", "aiohttp"), default="auto",
                        help="load generator (auto: wrk when installed)")
    args = parser.parse_args()
    if args.driver == "auto":
        args.driver = "wrk" if shutil.which("wrk") else "aiohttp"
    print(f"load from {args.driver}, {args.concurrency} connections, {args.seconds:g} s per scenario")
    chosen = args.scenario or list(SCENARIOS)

    bare, _ = start([sys.executable, "-c", BARE_SERVER, str(args.port + 1)])
    try:
        measure("bare aiohttp JSON handler", f"http://127.0.0.1:{args.port + 1}", SCENARIOS[chosen[0]], args)
    finally:
        bare.terminate()
        bare.wait()

    vendors = sorted({SCENARIOS[name]["vendor"] for name in chosen})
    mock, startup = start([sys.executable, "-m", "cdpkit", "mock", "--port", str(args.port),
                           "--vendors", ",".join(vendors), "--journal-limit", "10000"])
    print(f"cdpkit mock start-up (process spawn to listening): {startup * 1000:.0f} ms")
    try:
        for name in chosen:
            measure(f"cdpkit mock {name}", f"http://127.0.0.1:{args.port}", SCENARIOS[name], args)
    finally:
        mock.terminate()
        mock.wait()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
