"""The `cdpkit` command: help that teaches, a version, the catalog listing, clear usage errors."""

from __future__ import annotations

import json
import subprocess
import sys

from cdpkit import __version__
from cdpkit.cli import COMMANDS, main
from cdpkit.schemas.catalog import requirements


def cdpkit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cdpkit", *args], capture_output=True, text=True, timeout=60)


def test_help_lists_every_command_with_examples():
    out = cdpkit("--help").stdout
    for name in COMMANDS:
        assert f"    {name} " in out
    assert "examples:" in out


def test_every_command_help_has_examples():
    for name in COMMANDS:
        result = cdpkit(name, "--help")
        assert result.returncode == 0, name
        assert "examples:" in result.stdout, name


def test_version():
    assert cdpkit("--version").stdout.strip() == f"cdpkit {__version__}"


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_catalog_filters_and_formats():
    rows = json.loads(cdpkit("catalog", "--vendor", "zebline", "--kind", "assumption", "--format", "json").stdout)
    assert rows and all(r["vendor"] == "zebline" and r["kind"] == "assumption" for r in rows)
    assert len(rows) == len([r for r in requirements("zebline") if r.kind == "assumption"])
    text = cdpkit("catalog", "--id", rows[0]["id"]).stdout
    assert text.startswith(rows[0]["id"])


def test_catalog_names_an_unknown_id():
    result = cdpkit("catalog", "--id", "ZEB-NOPE")
    assert result.returncode == 2 and "ZEB-NOPE" in result.stderr


def test_a_closed_pipe_ends_quietly():
    proc = subprocess.Popen([sys.executable, "-m", "cdpkit", "gen", "zebline.users", "--count", "200000", "--seed", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()
    assert proc.wait(timeout=60) == 141
    assert first.startswith(b"{") and b"Traceback" not in proc.stderr.read()
