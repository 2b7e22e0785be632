"""The short form of the soak (benchmarks/soak.py): mixed valid and invalid traffic to every vendor for
15 s; no 5xx, no connection error, and memory that settles once the journal and the state are warm."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GROWTH_BOUND_MIB = 25


def test_a_mixed_soak_answers_everything_and_memory_settles() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "soak.py"), "--seconds", "15"],
                         capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["requests"] > 1_000, result
    assert result["server_errors"] == [] and "5xx" not in result["answers"], result
    assert result["connection_errors"] == {}, result
    assert result["answers"].get("4xx", 0) > 0 and result["answers"].get("2xx", 0) > 0, result
    assert result["rss_growth_after_warmup_mib"] < GROWTH_BOUND_MIB, result["rss_mib"]
