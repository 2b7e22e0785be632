"""How long `cdpkit check` takes for the five vendors against `cdpkit mock` (issue 9's goal: < 30 s in total).

Starts its own `cdpkit mock` (all vendors, memory store) on 127.0.0.1 and a free port, then times, in
each round:

* one after another: `cdpkit check --vendor V --target URL`, one process per vendor, as CI ran them;
* together: `cdpkit check --vendor all --target URL` (each vendor in its own process, --jobs at a time).

For every run it prints the wall time, the CPU time of the check (its processes) and of the mock, the
requests the mock answered and CPU µs per request (check and mock together), and the run's closing line,
so the verdicts of the two forms can be compared. CPU figures move much less than wall times on a shared
machine; compare side by side in one run.

With --before DIR it also times the one-after-another form with DIR first on PYTHONPATH (a checkout of an earlier
commit: `git worktree add /tmp/before <commit>`), alternating with this checkout round by round, so a
before/after comparison shares the machine's load. The mock is always this checkout's.

    python benchmarks/bench_check.py                               # one round, this checkout
    python benchmarks/bench_check.py --rounds 3 --jobs 2
    python benchmarks/bench_check.py --before /tmp/before --rounds 2 --vendors tto,zebline
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDORS = ("tto", "quickaudience", "sensors", "gptbots", "zebline")
GOAL_SECONDS = 30.0


@dataclass
class Timing:
    label: str
    wall: float
    cpu: float  # the check's processes (user + system)
    mock_cpu: float | None  # the mock's, when /proc says
    requests: int
    exit_code: int
    result: str
    verdicts: dict[str, str] = field(default_factory=dict)  # vendor -> its closing line (requirement counts)

    @property
    def us_per_request(self) -> float | None:
        if not self.requests or self.mock_cpu is None:
            return None
        return (self.cpu + self.mock_cpu) / self.requests * 1e6


@dataclass
class Series:
    """The timings of one form (one after another, or together) of one checkout, over the rounds."""

    name: str
    rounds: list[list[Timing]] = field(default_factory=list)

    def totals(self) -> list[tuple[float, float, float | None]]:
        out = []
        for timings in self.rounds:
            mock = [t.mock_cpu for t in timings]
            out.append((sum(t.wall for t in timings), sum(t.cpu for t in timings),
                        None if None in mock else sum(m for m in mock if m is not None)))
        return out


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process, from /proc (None where there is no /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def answered(url: str) -> int:
    with urllib.request.urlopen(f"{url}/__mock/summary", timeout=10) as response:
        return int(json.load(response)["total"]["total"])


def start_mock() -> tuple[subprocess.Popen[str], str]:
    mock = subprocess.Popen([sys.executable, "-m", "cdpkit", "mock", "--port", "0", "--quiet"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert mock.stdout is not None
    line = mock.stdout.readline().strip()
    if not line.startswith("http://"):
        mock.kill()
        raise SystemExit(f"cdpkit mock did not start: {line!r} {mock.stderr.read() if mock.stderr else ''}")
    return mock, line


def timed_check(label: str, argv: list[str], url: str, mock_pid: int, pythonpath: str | None) -> Timing:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    mock_before, requests_before = process_cpu(mock_pid), answered(url)
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cdpkit", "check", *argv, "--target", url], env=env,
                          capture_output=True, text=True, cwd="/")  # not this checkout: PYTHONPATH decides
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    mock_after = process_cpu(mock_pid)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    mock_cpu = None if mock_before is None or mock_after is None else mock_after - mock_before
    lines = [ln for ln in done.stdout.splitlines() if ln.strip()] or [ln for ln in done.stderr.splitlines() if ln.strip()] or [""]
    verdicts = {label: lines[-1]} if label in VENDORS else {}
    for line in done.stdout.splitlines():  # --vendor all's closing table: VENDOR  EXIT  TIME  RESULT
        match = re.match(r"^(\w+)\s+\d+\s+[\d.]+ s  (.*)$", line)
        if match and match.group(1) in VENDORS:
            verdicts[match.group(1)] = match.group(2)
    return Timing(label, wall, cpu, mock_cpu, answered(url) - requests_before, done.returncode, lines[-1], verdicts)


def one_round(name: str, vendors: list[str], jobs: int | None, url: str, mock_pid: int, pythonpath: str | None,
              together: bool) -> list[Timing]:
    if together:
        argv = [a for v in vendors for a in ("--vendor", v)] + (["--jobs", str(jobs)] if jobs else [])
        timings = [timed_check("together", argv, url, mock_pid, pythonpath)]
    else:
        timings = [timed_check(v, ["--vendor", v], url, mock_pid, pythonpath) for v in vendors]
    for t in timings:
        mock = f"{t.mock_cpu:5.2f}" if t.mock_cpu is not None else "  n/a"
        per = f"{t.us_per_request:6.0f}" if t.us_per_request is not None else "   n/a"
        print(f"  {name:<28} {t.label:<14} {t.wall:6.2f} s wall  {t.cpu:6.2f} s CPU  mock {mock} s  "
              f"{t.requests:5d} req  {per} µs/req  exit {t.exit_code}  {t.result[:80]}", flush=True)
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1, help="rounds of every form (medians are printed)")
    parser.add_argument("--vendors", default=",".join(VENDORS), help="comma list (default: all five)")
    parser.add_argument("--jobs", type=int, default=None, help="--jobs of the together form (default: cdpkit's)")
    parser.add_argument("--before", metavar="DIR", default=None,
                        help="a checkout of an earlier commit, timed the same way, alternating with this one")
    parser.add_argument("--no-together", action="store_true", help="time only the one-after-another form")
    args = parser.parse_args(argv)
    vendors = [v for v in args.vendors.split(",") if v]
    if not vendors or any(v not in VENDORS for v in vendors):
        parser.error(f"--vendors: a comma list of {', '.join(VENDORS)}")
    checkouts = [("this checkout", str(ROOT))] + ([("before", str(Path(args.before).resolve()))] if args.before else [])
    # an earlier checkout may not know --vendor all: it is timed one vendor after another only
    forms = {name: [False] + ([] if args.no_together or name == "before" else [True]) for name, _ in checkouts}
    series = {(name, together): Series(f"{name}, {'together' if together else 'one after another'}")
              for name, _ in checkouts for together in forms[name]}
    mock, url = start_mock()
    print(f"cdpkit mock at {url} (pid {mock.pid}); {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}", flush=True)
    try:
        for number in range(args.rounds):
            print(f"round {number + 1}", flush=True)
            order = checkouts if number % 2 == 0 else checkouts[::-1]  # alternate: neither always runs first
            for name, path in order:
                for together in (forms[name] if number % 2 == 0 else forms[name][::-1]):
                    timings = one_round(name, vendors, args.jobs, url, mock.pid, path, together)
                    series[(name, together)].rounds.append(timings)
    finally:
        mock.terminate()
        mock.wait(10)
    failed = False
    print(f"\nmedians over {args.rounds} round(s); the goal: {len(vendors)} vendors in < {GOAL_SECONDS:.0f} s")
    for one in series.values():
        totals = one.totals()
        wall = statistics.median(t[0] for t in totals)
        cpu = statistics.median(t[1] for t in totals)
        mocks = [t[2] for t in totals if t[2] is not None]
        mock_text = f", mock {statistics.median(mocks):.1f} s CPU" if mocks else ""
        verdict = "meets the goal" if wall < GOAL_SECONDS else "MISSES the goal"
        print(f"  {one.name:<42} {wall:6.1f} s wall, {cpu:6.1f} s CPU{mock_text}, {cpu / wall:.2f} cores busy: {verdict}")
        failed |= any(t.exit_code != 0 for timings in one.rounds for t in timings)
    verdicts = {one.name: {v: text for timings in one.rounds for t in timings for v, text in t.verdicts.items()}
                for one in series.values()}
    first = next(iter(verdicts.values()))
    same = all(found == first for found in verdicts.values())
    print(f"  the same verdicts (requirement and check counts of every vendor) in every form: {'yes' if same else 'NO'}")
    failed |= not same
    if failed:
        print("a check run did not pass (exit status above): its time is not a conforming run's", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
