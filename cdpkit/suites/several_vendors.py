"""``cdpkit check`` with several vendors (``--vendor tto --vendor zebline``, ``--vendor all``): each
vendor's run in a process of its own, ``--jobs`` of them at once.

Why processes: a run is CPU-bound Python (hypothesis drawing cases, schemathesis, pytest), so threads
would share one core; five vendors one after another leave the other cores idle.

Why one process per vendor, not one per job running several vendors in turn: a vendor's run must be the
run ``--vendor V`` alone would make. hypothesis draws some strings and numbers from the constants of the
local (not installed) source modules loaded in the process, so a process that had already imported
another vendor's modules would send slightly different cases for the same ``--seed``. A process forked
from one that has imported only what every vendor's run imports at collection (pytest, schemathesis,
hypothesis, Faker, the generic suites' modules) loads exactly what the run alone loads, and skips the
import time (on Linux and other systems with ``fork``; elsewhere, or when the caller runs threads,
each process starts afresh: slower, same cases).

Each process writes its summary and messages to files of its own; this one prints every vendor's
summary in the order given (as soon as it and those before it are done), one line on stderr as each
vendor finishes, and a table of all of them. The exit status is the worst of the vendors' (0 < 1 < 2).
"""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.connection
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from cdpkit.suites.registry import PREFIXES
from cdpkit.suites.report_command import RunProblem, read_baseline

# CPU seconds of each vendor's default run against `cdpkit mock` (benchmarks/bench_check.py): the longest
# start first, so the last one to finish is a short one and the cores stay busy to the end.
RELATIVE_COST = {"sensors": 5.0, "quickaudience": 4.0, "tto": 3.3, "zebline": 2.4, "gptbots": 1.7}


@dataclass
class Finished:
    vendor: str
    status: int
    seconds: float
    out: str
    err: str

    def result_line(self) -> str:
        """The run's closing line (requirement counts), or its last message when it stopped before checks."""
        lines = [ln for ln in self.out.splitlines() if ln.strip()] or [ln for ln in self.err.splitlines() if ln.strip()]
        return lines[-1] if lines else f"no output (exit {self.status})"


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def vendor_baselines(opts: dict[str, Any]) -> dict[str, list[str] | None]:
    """Each vendor's known failures, read before any check runs: a --baseline with ``{vendor}`` in its
    path is a file per vendor; one without it is one list for all, each vendor taking its own IDs."""
    path = opts.get("baseline")
    if not path:
        return {v: None for v in opts["vendors"]}
    if "{vendor}" in str(path):
        return {v: read_baseline(str(path).replace("{vendor}", v), v) for v in opts["vendors"]}
    ids = read_baseline(str(path))
    return {v: [i for i in ids if any(i.startswith(p) and PREFIXES[p] == v for p in PREFIXES)] for v in opts["vendors"]}


def _preload() -> None:
    """Import, once and before forking, what every vendor's run imports at collection anyway (so the
    constants hypothesis draws from are the same as in a run of one vendor alone)."""
    import cdpkit.generators.transport  # noqa: F401  (Faker)
    import cdpkit.generators.tto  # noqa: F401  (test_bad_input's)
    import cdpkit.suites.fuzz  # noqa: F401  (schemathesis, hypothesis)


def _context() -> Any:
    """fork where the system has it and no other thread runs (a fork copies one thread only, so a lock
    another thread holds would stay held); a fresh interpreter otherwise."""
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        _preload()
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _child(opts: dict[str, Any], extra_pytest_args: list[str], out_path: str, err_path: str) -> None:
    """One vendor's run in this process, its stdout and stderr (also the file descriptors: pytest's
    capture and anything below Python) into files; exits with the run's status."""
    import io

    from cdpkit.suites.cli import run_one

    out = open(out_path, "w", encoding="utf-8")
    err = open(err_path, "w", encoding="utf-8")
    os.dup2(out.fileno(), 1)
    os.dup2(err.fileno(), 2)
    sys.stdout, sys.stderr = out, err
    status = run_one(opts, extra_pytest_args, live=io.StringIO())  # progress lines of two runs would interleave
    out.flush()
    err.flush()
    raise SystemExit(status)


def run_several(opts: dict[str, Any], extra_pytest_args: Sequence[str] = ()) -> int:
    """Check every vendor of ``opts["vendors"]`` (options from :func:`cdpkit.suites.cli.settings`); the exit status."""
    from cdpkit.suites.cli import with_vendor_paths
    from cdpkit.suites.target import unreachable

    vendors: list[str] = opts["vendors"]
    try:
        baselines = vendor_baselines(opts)
    except RunProblem as exc:
        print(f"cdpkit check: {exc}", file=sys.stderr)
        return 2
    down = unreachable(opts["target"])
    if down:  # once, before any process starts
        print(f"cdpkit check: {down}", file=sys.stderr)
        return 2
    jobs = min(int(opts.get("jobs") or default_jobs()), len(vendors))
    per_vendor = {v: {**with_vendor_paths(opts, v, several=True), "baseline_ids": baselines[v]} for v in vendors}
    context = _context()
    started = time.monotonic()
    print(f"cdpkit check: {len(vendors)} vendors ({', '.join(vendors)}), {jobs} at a time, each in its own process",
          file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="cdpkit-check-") as scratch:
        finished = _run_processes(context, per_vendor, list(extra_pytest_args), jobs, Path(scratch))
    print(table(vendors, finished, time.monotonic() - started, jobs), end="")
    return max(f.status for f in finished.values())


def _run_processes(context: Any, per_vendor: dict[str, dict[str, Any]], extra: list[str], jobs: int,
                   scratch: Path) -> dict[str, Finished]:
    vendors = list(per_vendor)
    waiting = sorted(vendors, key=lambda v: -RELATIVE_COST.get(v, 0.0))
    running: dict[Any, tuple[str, Any, float]] = {}
    finished: dict[str, Finished] = {}
    shown = 0
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                vendor = waiting.pop(0)
                sys.stdout.flush()
                sys.stderr.flush()  # a fork copies unwritten buffers: they would be printed twice
                process = context.Process(target=_child, name=f"cdpkit-check-{vendor}",
                                          args=(per_vendor[vendor], extra, str(scratch / f"{vendor}.out"), str(scratch / f"{vendor}.err")))
                if context.get_start_method() == "fork":
                    # What is loaded now lives as long as the child: out of its cyclic collector's sight, a
                    # full collection no longer walks every module object (~10% of a run's CPU was the GC).
                    gc.freeze()
                try:
                    process.start()
                finally:
                    gc.unfreeze()  # here, the collector keeps its usual view
                running[process.sentinel] = (vendor, process, time.monotonic())
            for sentinel in multiprocessing.connection.wait(list(running)):
                vendor, process, began = running.pop(sentinel)
                process.join()
                done = finished[vendor] = _collect(vendor, process.exitcode, time.monotonic() - began, scratch)
                print(f"cdpkit check: {vendor} done in {done.seconds:.1f} s, exit {done.status}: {done.result_line()}",
                      file=sys.stderr, flush=True)
            while shown < len(vendors) and vendors[shown] in finished:  # the summaries in the order given
                _show(finished[vendors[shown]], per_vendor[vendors[shown]]["target"])
                shown += 1
    except BaseException:
        for _, process, _ in running.values():
            process.terminate()
        for _, process, _ in running.values():
            process.join(5)
        raise
    return finished


def _collect(vendor: str, exitcode: int | None, seconds: float, scratch: Path) -> Finished:
    def read(suffix: str) -> str:
        try:
            return (scratch / f"{vendor}.{suffix}").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    err = read("err")
    if exitcode is None or exitcode < 0 or exitcode > 2:  # killed by a signal, or a crash: no verdict
        err += f"\ncdpkit check: the run of {vendor} stopped early (process exit code {exitcode})\n"
        status = 1
    else:
        status = exitcode
    return Finished(vendor, status, seconds, read("out"), err)


def _show(done: Finished, target: str) -> None:
    sys.stdout.write(f"\n=== {done.vendor} at {target}: exit {done.status} ===\n\n{done.out}")
    sys.stdout.flush()
    for line in done.err.splitlines():
        if line.strip():
            print(f"[{done.vendor}] {line}", file=sys.stderr)
    sys.stderr.flush()


def table(vendors: list[str], finished: dict[str, Finished], seconds: float, jobs: int) -> str:
    """The closing table: one line per vendor (exit status, time, the run's closing line), then the total."""
    width = max(len(v) for v in vendors)
    lines = ["", f"{'VENDOR':<{width}}  EXIT  TIME     RESULT"]
    for vendor in vendors:
        done = finished[vendor]
        lines.append(f"{vendor:<{width}}  {done.status:<4}  {done.seconds:5.1f} s  {done.result_line()}")
    worst = max(f.status for f in finished.values())
    lines.append(f"{len(vendors)} vendors in {seconds:.1f} s ({jobs} at a time): exit {worst}")
    return "\n".join(lines) + "\n"
