"""Starting the servers bench_mock.py compares, knowing when they answer, and what they cost.

A server counts as started when it *answers* on its port, not when it prints a banner: that is what a
client waits for, it works the same for the mock, the bare handler and Prism (which prints nothing
with ``-v silent``), and it is what start-up time means here: from spawning the process to the first
accepted answer to a real request. The CPU and RSS helpers read /proc, so they see each process's own
user + system time whatever else shares the machine.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

POLL_SECONDS = 0.005  # between connection attempts: the resolution of a start-up time


@dataclass(frozen=True)
class Probe:
    """One HTTP request a server is asked until it answers with an accepted status."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None = None


def answer_status(port: int, probe: Probe, timeout: float = 2.0) -> int | None:
    """The status of one answer to ``probe`` on 127.0.0.1:port, or None when nothing answers (yet)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(probe.method, probe.path, body=probe.body, headers=probe.headers)
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def free_port() -> int:
    """A port nothing listens on now, chosen by the kernel: other runs share this machine, so fixed ports collide."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn(cmd: list[str], log_path: str, cwd: str | None = None, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a server with its output in a log file (read back only to say why it did not start)."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd, env=env)


def log_tail(log_path: str, lines: int = 5) -> str:
    try:
        with open(log_path, errors="replace") as handle:
            return " | ".join(line.strip() for line in handle.read().strip().splitlines()[-lines:])
    except OSError:
        return ""


def wait_until_answering(proc: subprocess.Popen, port: int, probe: Probe, timeout: float,
                         accept: Callable[[int], bool] = lambda status: True) -> float | None:
    """Poll until ``probe`` gets an accepted answer; the seconds that took, or None when the process exited
    or the time-out passed first (the caller says why, with the log)."""
    started = time.perf_counter()
    deadline = started + timeout
    while time.perf_counter() < deadline:
        status = answer_status(port, probe)
        if status is not None and accept(status):
            return time.perf_counter() - started
        if proc.poll() is not None:
            return None
        time.sleep(POLL_SECONDS)
    return None


def stop(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds: a benchmark never leaves a server behind."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def startup_time(cmd: list[str], port: int, probe: Probe, log_path: str, timeout: float = 60.0,
                 cwd: str | None = None, env: dict[str, str] | None = None) -> tuple[float, float] | str:
    """Spawn ``cmd`` (in ``cwd`` with ``env``: another checkout's) and time it from the spawn to the first
    2xx answer to ``probe``: (wall seconds, CPU seconds the server's processes had used by then), or why there
    was none. The CPU time moves far less than the wall time when other work shares the machine. The process
    is stopped either way."""
    if answer_status(port, probe) is not None:
        return f"port {port} already answers: another server holds it"
    started = time.perf_counter()
    proc = spawn(cmd, log_path, cwd=cwd, env=env)
    try:
        if wait_until_answering(proc, port, probe, timeout, accept=lambda status: 200 <= status < 300) is None:
            status = answer_status(port, probe)
            return f"no 2xx answer within {timeout:g} s (last status {status}; log: {log_tail(log_path)})"
        wall = time.perf_counter() - started
        return wall, sum(map(cpu_ns, process_tree(proc.pid))) / 1e9
    finally:
        stop(proc)


def median_ms(times: list[float]) -> str:
    return f"{statistics.median(times) * 1000:.0f}" if times else "-"


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_ns(pid: int) -> int:
    """CPU time of all threads of a process so far, in nanoseconds (the scheduler's own count: /proc/PID/stat's
    clock ticks are 10 ms, too coarse for a start-up); 0 once it is gone."""
    total = 0
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as handle:
                total += int(handle.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as handle:
            match = re.search(r"VmRSS:\s+(\d+)", handle.read())
    except OSError:
        return 0.0
    return int(match.group(1)) / 1024 if match else 0.0


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (a mock's ``--workers`` children, say)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            with open(f"/proc/{current}/task/{current}/children") as handle:
                todo.extend(int(p) for p in handle.read().split())
        except OSError:
            pass
    return found


def start_redis(workdir: str, port: int, fsync: str) -> subprocess.Popen:
    """A redis-server of the run's own, in its temporary folder; persistence as the README states it."""
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir,
                             "--appendonly", "yes", "--appendfsync", fsync, "--save", ""],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if subprocess.run(["redis-cli", "-p", str(port), "ping"], check=False, capture_output=True, text=True).stdout.strip() == "PONG":
            return proc
        time.sleep(0.05)
    stop(proc)
    raise SystemExit("redis-server did not start")
