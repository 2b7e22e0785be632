"""The mock's event loop (cdpkit/mockserver/event_loop.py): uvloop when installed, asyncio's on request, and
the same verdicts on both.

The rest of the test suite runs the in-process mock on the default loop (uvloop where installed, as users
get it); here the standard loop is proven to serve the same: `cdpkit check --strict` for every vendor.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cdpkit.mockserver import event_loop
from cdpkit.mockserver.runtime import MockConfig
from cdpkit.mockserver.server import MockServer
from cdpkit.schemas import VENDORS
from tests.mutants import run_check_at


def test_auto_is_uvloop_where_it_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert event_loop.resolve("auto") == ("uvloop" if event_loop.uvloop_installed() else "asyncio")
    monkeypatch.setattr(event_loop, "uvloop_installed", lambda: False)
    assert event_loop.resolve("auto") == "asyncio"
    with pytest.raises(ValueError, match="uvloop is not installed"):
        event_loop.resolve("uvloop")
    with pytest.raises(ValueError, match="--loop must be one of"):
        event_loop.resolve("trio")


def test_the_loop_asked_for_is_the_loop_that_runs() -> None:
    async def running() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert event_loop.run(running(), "asyncio").startswith("asyncio")
    if event_loop.uvloop_installed():
        assert event_loop.run(running(), "uvloop").startswith("uvloop")


def test_the_banner_and_a_config_file_name_the_loop(tmp_path: Path) -> None:
    config = tmp_path / "mock.json"
    config.write_text(json.dumps({"loop": "asyncio", "vendors": "gptbots"}))
    proc = subprocess.Popen([sys.executable, "-m", "cdpkit", "mock", "--port", "0", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        assert "loop: asyncio" in proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    refused = subprocess.run([sys.executable, "-m", "cdpkit", "mock", "--loop", "trio"], capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 2 and "--loop" in refused.stderr


@pytest.fixture(scope="module")
def asyncio_mock() -> MockServer:
    with MockServer(MockConfig(port=0, loop="asyncio")) as server:
        yield server


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_vendor_passes_check_on_the_standard_loop(vendor: str, asyncio_mock: MockServer, tmp_path: Path) -> None:
    asyncio_mock.reset()
    assert type(asyncio_mock._loop).__module__.startswith("asyncio")
    run = run_check_at(asyncio_mock.url, vendor, tmp_path / "junit.xml", strict=True)
    assert run.exit_code == 0 and run.failed == [], run.failed
    assert run.skipped == [], f"a check skipped against the mock: {run.skipped}"
