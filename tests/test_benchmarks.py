"""Smoke tests of benchmarks/bench_mock.py: it runs, compares what it says it compares and prints its table.

Never a speed threshold (a timed assertion on a shared machine is flaky or proves nothing): these check
that each server answered 2xx to the benchmark's requests (a ratio against a server that refused them
would be void), that start-up is measured, and that a missing optional tool (npm for Prism) is a
skip the output explains, not a failure. Each run is bounded: one round of one second per server.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks" / "bench_mock.py"
QUICK = ["--scenario", "zebline.users", "--seconds", "1", "--rounds", "1", "--warmup", "0"]



def _load_report_module() -> ModuleType:
    """benchmarks/bench_mock_report.py by its path: the benchmarks folder is not a package, and putting it on
    sys.path would let its generic module names (servers, prism) shadow others in this test session."""
    spec = importlib.util.spec_from_file_location("bench_mock_report", ROOT / "benchmarks" / "bench_mock_report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


report = _load_report_module()


def _load_scenarios_module() -> ModuleType:
    """benchmarks/bench_scenarios.py by its path, as the report module above."""
    spec = importlib.util.spec_from_file_location("bench_scenarios", ROOT / "benchmarks" / "bench_scenarios.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


scenarios = _load_scenarios_module()


def run_bench(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    out = subprocess.run([sys.executable, str(BENCH), *args], check=False, capture_output=True, text=True, timeout=timeout,
                         cwd=ROOT, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


def table_row(output: str, server: str, scenario: str = "zebline.users") -> list[str]:
    """The medians row of ``server`` for ``scenario`` (the Zebline upsert unless named), split on runs of spaces."""
    rows = [line for line in output.split("medians over", 1)[1].splitlines()
            if re.match(rf"{re.escape(scenario)}\s+{re.escape(server)}\s", line)]
    assert len(rows) == 1, output
    return rows[0].split()


def test_bare_and_memory_side_by_side_with_start_up_times() -> None:
    """The bare handler, the raw protocol and the mock with and without its fast lane all load and answer 2xx."""
    output = run_bench(*QUICK, "--server", "bare", "--server", "raw", "--server", "memory", "--server", "nolane",
                       "--startup-runs", "1")
    for label in ("bare aiohttp handler", "cdpkit mock", "python -m cdpkit mock"):
        assert re.search(rf"^  {re.escape(label)}\s+\d+ ms", output, re.MULTILINE), output
    assert "FAILED" not in output
    for server in ("bare", "raw", "memory", "nolane"):
        assert table_row(output, server)[-2:] == ["200", "100%"], output
    assert re.search(r"zebline\.users: memory ÷ bare\s+\d+\.\d\d", output), output
    assert re.search(r"start-up: cdpkit mock\s+\d+ ms", output), output


def test_prism_without_npm_is_skipped_with_the_reason(tmp_path: Path) -> None:
    env = dict(os.environ, PATH=str(Path(sys.executable).parent))  # no node, no npm, no wrk
    output = run_bench(*QUICK, "--server", "bare", "--server", "prism", "--startup-runs", "0", "--prism-cache",
                       str(tmp_path / "prism"), env=env)
    assert re.search(r"^Prism skipped: (node|npm) is not on PATH", output, re.MULTILINE), output
    assert "load from python" in output
    assert table_row(output, "bare")[-2:] == ["200", "100%"]
    assert not re.search(r"^zebline\.users\s+prism", output, re.MULTILINE)


def test_a_failed_prism_install_is_skipped_with_npm_s_last_words(tmp_path: Path) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    for name, script in (("node", "exit 0"), ("npm", "echo 'npm error network: registry unreachable' >&2; exit 1")):
        (tools / name).write_text(f"#!/bin/sh\n{script}\n")
        (tools / name).chmod(0o755)
    env = dict(os.environ, PATH=f"{tools}:{Path(sys.executable).parent}")
    cache = tmp_path / "prism"
    output = run_bench(*QUICK, "--server", "bare", "--server", "prism", "--startup-runs", "0", "--prism-cache",
                       str(cache), env=env)
    assert "Prism skipped: npm ci failed (exit 1): npm error network: registry unreachable" in output, output
    assert table_row(output, "bare")[-2:] == ["200", "100%"]
    assert not (cache / "package-lock.json").exists()  # so the next run tries the install again


def test_sensors_online_look_ups_of_seeded_users_answer_the_documented_success() -> None:
    """sensors.online: each cdpkit mock is seeded with the users it looks up, and answers every look-up 2xx
    with code SUCCESS (checked once per server before the load: no WARNING line)."""
    quick = ["--scenario", "sensors.online", "--seconds", "1", "--rounds", "1", "--warmup", "0", "--startup-runs", "0"]
    output = run_bench(*quick, "--server", "bare", "--server", "memory", "--server", "sqlite")
    assert "WARNING" not in output, output
    for server in ("bare", "memory", "sqlite"):
        assert table_row(output, server, "sensors.online")[-2:] == ["200", "100%"], output
    assert re.search(r"sensors\.online: memory ÷ bare\s+\d+\.\d\d", output), output


def test_an_answer_with_a_failure_code_in_a_200_is_caught() -> None:
    """The answer check has teeth: a 200 whose code is not the documented success is named, as is a 404."""
    import http.server
    import threading

    class Answer(http.server.BaseHTTPRequestHandler):
        """200 with a failure code while ``failing_code`` is set, else 404."""

        failing_code = True

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200 if Answer.failing_code else 404)
            self.end_headers()
            self.wfile.write(b'{"code": "INTERNAL_ERROR"}' if Answer.failing_code else b"{}")

        def log_message(self, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
        online = scenarios.SCENARIOS["sensors.online"]
        assert "{'code': 'INTERNAL_ERROR'} where {'code': 'SUCCESS'} was expected" in scenarios.check_answer(port, online, "t")
        Answer.failing_code = False
        assert scenarios.check_answer(port, online, "t").startswith("answered 404")
        server.shutdown()


def test_prism_answers_the_same_requests_2xx_beside_the_mock() -> None:
    if shutil.which("npm") is None:
        if os.environ.get("CDPKIT_REQUIRE_NPM") == "1":  # set by .ci/run: CI must compare with Prism
            pytest.fail("npm is not installed, and CDPKIT_REQUIRE_NPM=1 says this run must compare with Prism", pytrace=False)
        pytest.skip("npm not installed: Prism cannot be installed here")
    output = run_bench(*QUICK, "--scenario", "sensors.online", "--server", "memory", "--server", "prism",
                       "--startup-runs", "0", timeout=900)
    assert "Prism skipped" not in output and "WARNING" not in output, output
    for scenario in ("zebline.users", "sensors.online"):  # Prism serves the documented example of each
        assert table_row(output, "prism", scenario)[-2:] == ["200", "100%"], output
        assert re.search(rf"{re.escape(scenario)}: memory ÷ prism\s+\d+\.\d\d", output), output


def _result(statuses: dict[str, int], rate: float = 100.0) -> object:
    return report.Result(rate=rate, p50=1.0, p99=2.0, rss_mb=10.0, cpu_us=100.0, statuses=statuses)


def test_a_ratio_with_a_server_that_refused_the_requests_is_void() -> None:
    results = {("s", "memory"): [_result({"200": 1000}, rate=300.0)], ("s", "prism"): [_result({"200": 1000})],
               ("s", "refusing"): [_result({"200": 900, "422": 100})]}
    assert report.ratio(results, "s", "memory", "prism") == (3.0, 1.0)
    assert report.ratio(results, "s", "memory", "refusing") is None
    assert report.status_mix(results[("s", "refusing")]) == "200 90% 422 10%"
    assert report.status_mix(results[("s", "prism")]) == "200 100%"


def test_bench_memory_prints_bytes_and_cpu_per_profile_as_state_grows() -> None:
    import json

    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_memory.py"), "--counts", "1000,2000",
                          "--journal-limit", "200", "--concurrency", "8"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert [row["profiles"] for row in found["checkpoints"]] == [1000, 2000]
    for row in found["checkpoints"]:
        assert row["bytes_per_profile"] > 0 and row["segment_upserts_per_s"] > 0
        assert row["segment_mock_cpu_us_per_upsert"] > 0
