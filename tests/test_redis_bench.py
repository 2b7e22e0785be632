"""benchmarks/bench_mock.py --against NAME=DIR runs the Redis servers of the other checkout too, when asked for.

A smoke test like tests/test_benchmarks.py (never a speed threshold): with ``--server redis`` and this very
checkout as the "other" one, the table has a row for ``redis`` and one for ``redis@here``, each answering 2xx to
every request of the benchmark.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_against_another_checkout_includes_its_redis_servers() -> None:
    if shutil.which("redis-server") is None:
        if os.environ.get("CDPKIT_REQUIRE_REDIS"):
            pytest.fail("CDPKIT_REQUIRE_REDIS is set but redis-server is not installed (apt-get install redis-server)")
        pytest.skip("redis-server is not installed (apt-get install redis-server); CI sets CDPKIT_REQUIRE_REDIS")
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_mock.py"), "--scenario", "zebline.users", "--seconds", "1",
         "--rounds", "1", "--warmup", "0", "--startup-runs", "0", "--driver", "python", "--server", "redis",
         "--against", f"here={ROOT}"],
        check=False, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    table = out.stdout.split("medians over", 1)[1]
    for server in ("redis", "redis@here"):
        rows = [line for line in table.splitlines() if re.match(rf"zebline\.users\s+{re.escape(server)}\s", line)]
        assert len(rows) == 1, out.stdout
        assert rows[0].split()[-2:] == ["200", "100%"], rows[0]
    assert not re.search(r"zebline\.users\s+(memory|sqlite|redis2)", table), "servers nobody asked for were run"
