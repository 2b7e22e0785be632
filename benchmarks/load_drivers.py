"""The two load generators bench_mock.py drives its servers with: wrk when installed, else Python clients.

Both send the same request (method, path, headers, JSON body) with "@ID@" replaced by an id unique per
request *and per run* (a run nonce and a counter: wrk's ``math.random`` repeats its seed every run, so
its ids would collide across runs and an upsert would stop creating profiles) and "@N@" by the request's
number modulo the scenario's ``population`` (one of the records the run seeded, each in turn; see
bench_scenarios.py), and both report the
status of every answer: a comparison between servers is only worth something when they all answered
2xx to the same work, so the status mix is printed beside each rate. Connection errors and time-outs
are counted under the status ``"error"``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass


@dataclass
class Load:
    """What one bounded run of a load generator against one server measured."""

    rate: float  # answered requests per second
    total: int  # answered requests
    p50: float  # latency, ms
    p99: float  # latency, ms
    statuses: dict[str, int]  # "200" -> count; "error" for connection errors and time-outs

    @property
    def non2xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if not status.startswith("2"))


# The Python load generator, run in its own process: prints one JSON line {rate, n, p50, p99, statuses}.
PY_DRIVER = textwrap.dedent(
    """
    import asyncio, json, sys, time, aiohttp
    url, method, body, headers, seconds, concurrency, max_requests, nonce, population = json.loads(sys.argv[1])
    lat, statuses, n = [], {}, 0
    async def main():
        global n
        deadline = time.perf_counter() + seconds
        async def worker(session, w):
            global n
            i = 0
            while time.perf_counter() < deadline and n < max_requests:
                i += 1
                uid, nth = f"{nonce}-{w}-{i}", str(n % population)
                data = body.replace("@ID@", uid).replace("@N@", nth).encode() if body else None
                t = time.perf_counter()
                try:
                    async with session.request(method, url.replace("@ID@", uid).replace("@N@", nth), data=data, headers=headers) as r:
                        await r.read()
                    status = str(r.status)
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    status = "error"
                lat.append((time.perf_counter() - t) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
                n += 1
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
            await asyncio.gather(*(worker(s, w) for w in range(concurrency)))
    t0 = time.perf_counter(); asyncio.run(main()); elapsed = time.perf_counter() - t0
    lat.sort()
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else 0.0
    print(json.dumps({"rate": n / elapsed, "n": n, "p50": pick(0.5), "p99": pick(0.99), "statuses": statuses}))
    """
)

# wrk: each request gets "<nonce>-<counter>" in place of @ID@; `response` counts the statuses in each
# thread's Lua state and `done` (main state) prints them, one "status CODE COUNT" line each.
WRK_SCRIPT = """
local counter = 0
local nonce = {nonce}
local population = {population}
local path, body = {path}, {body}
wrk.method = {method}
{headers}
statuses = {{}}
local threads = {{}}
setup = function(thread) table.insert(threads, thread) end
request = function()
  counter = counter + 1
  local uid = nonce .. "-" .. counter
  local nth = tostring(counter % population)
  local b = nil
  if body ~= "" then b = body:gsub("@ID@", uid):gsub("@N@", nth) end
  return wrk.format(nil, (path:gsub("@ID@", uid):gsub("@N@", nth)), nil, b)
end
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
done = function(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      io.write(string.format("status %d %d\\n", status, count))
    end
  end
end
"""


def _lua(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal for these payloads


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def request_parts(scenario: dict) -> tuple[dict[str, str], str]:
    """The headers and body template of a scenario, as every driver (and every start-up probe) sends them."""
    headers = dict(scenario.get("headers", {}))
    body = json.dumps(scenario["json"]) if "json" in scenario else ""
    if body:
        headers["Content-Type"] = "application/json"
    return headers, body


def _search(pattern: str, text: str) -> str:
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no {pattern!r}:\n{text}")
    return match.group(1)


def drive_wrk(base: str, scenario: dict, args: argparse.Namespace, nonce: str) -> Load:
    """One wrk run (one thread, ``args.concurrency`` connections, ``args.seconds`` rounded to whole seconds)."""
    headers, body = request_parts(scenario)
    script = WRK_SCRIPT.format(
        nonce=_lua(nonce), population=int(scenario.get("population", 1)), path=_lua(scenario["path"]), body=_lua(body),
        method=_lua(scenario["method"]),
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
    statuses = {code: int(count) for code, count in re.findall(r"^status (\d+) (\d+)$", out, re.MULTILINE)}
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if errors and sum(map(int, errors.groups())):
        statuses["error"] = sum(map(int, errors.groups()))
    return Load(rate=float(_search(r"Requests/sec:\s+([\d.]+)", out)), total=int(_search(r"(\d+) requests in", out)),
                p50=_ms(_search(r"^\s+50%\s+(\S+)", out)), p99=_ms(_search(r"^\s+99%\s+(\S+)", out)), statuses=statuses)


def drive_python(base: str, scenario: dict, args: argparse.Namespace, nonce: str) -> Load:
    """One run of aiohttp clients in their own process (they saturate near 9,000 req/s on a 2-core machine)."""
    headers, body = request_parts(scenario)
    spec = [base + scenario["path"], scenario["method"], body, headers, args.seconds, args.concurrency,
            args.max_requests, nonce, int(scenario.get("population", 1))]
    out = subprocess.run([sys.executable, "-c", PY_DRIVER, json.dumps(spec)], capture_output=True, text=True,
                         check=True, timeout=args.seconds + 60).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return Load(rate=r["rate"], total=r["n"], p50=r["p50"], p99=r["p99"], statuses=r["statuses"])
