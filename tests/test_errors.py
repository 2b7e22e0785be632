"""Errors a person can act on: one line that names the option or file and what to do, never a traceback;
usage errors exit 2 in every command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

MOCK_USAGE_ERRORS = [
    # (arguments, what the one line must say)
    (["--state", "sqlite:/nonexistent/dir/x.db"], "--state sqlite:/nonexistent/dir/x.db: the directory '/nonexistent/dir' does not exist"),
    (["--port", "70000"], "--port must be from 0 to 65535, not 70000"),
    (["--port", "-1"], "--port must be from 0 to 65535, not -1"),
    (["--journal-limit", "-5"], "--journal-limit must be at least 0"),
    (["--vendors", "nosuch"], "--vendors: unknown vendor(s) nosuch"),
    (["--seed", "{tmp}/missing.yaml"], "--seed {tmp}/missing.yaml: no such file"),
    (["--config", "{tmp}/missing.toml"], "--config {tmp}/missing.toml: no such file"),
    (["--seed", "{tmp}/broken.yaml"], "--seed {tmp}/broken.yaml is not valid YAML: "),
    (["--seed", "{tmp}/broken.json"], "--seed {tmp}/broken.json is not valid JSON: "),
    (["--seed", "{tmp}/list.yaml"], "a seed file is a mapping of vendor name to its data"),
    (["--seed", "{tmp}/other.yaml"], "--seed {tmp}/other.yaml: seed names vendors not served"),
    (["--config", "{tmp}/broken.toml"], "--config {tmp}/broken.toml is not valid TOML: "),
    (["--config", "{tmp}/broken-config.yaml"], "--config {tmp}/broken-config.yaml is not valid YAML or JSON: "),
    (["--config", "{tmp}/port.toml"], "--port takes a whole number, not 'x'"),
    (["--config", "{tmp}/colour.toml"], "unknown option(s) in --config"),
    (["--state", "sqlite:{tmp}/not-a-database.sqlite", "--port", "0"], "cannot use the database: file is not a database"),
]

BROKEN_FILES = {
    "broken.yaml": "gptbots: [unclosed\n  - x: : :\n",
    "broken.json": '{"gptbots": [1, 2',
    "list.yaml": "- gptbots\n",
    "other.yaml": "nosuch: {}\n",
    "broken.toml": "port = [\n",
    "broken-config.yaml": "port: 8080\n foo: [\n",
    "port.toml": 'port = "x"\n',
    "colour.toml": "colour = 'red'\n",
    "not-a-database.sqlite": "this is not a database\n",
}


def test_mock_usage_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    """Each bad option or file: exit 2 and one line naming it, no traceback, before anything listens."""
    for name, text in BROKEN_FILES.items():
        (tmp_path / name).write_text(text)
    runs = []
    for argv, _ in MOCK_USAGE_ERRORS:  # all at once: each is a fresh interpreter
        args = [a.replace("{tmp}", str(tmp_path)) for a in argv]
        runs.append(subprocess.Popen([sys.executable, "-m", "cdpkit", "mock", "--quiet", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for (argv, expected), proc in zip(MOCK_USAGE_ERRORS, runs):
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"cdpkit mock {' '.join(argv)} started instead of refusing")
        expected = expected.replace("{tmp}", str(tmp_path))
        assert proc.returncode == 2, (argv, proc.returncode, err)
        assert "Traceback" not in err and out == "", (argv, err)
        assert err.startswith("cdpkit mock: ") and err.count("\n") == 1, (argv, err)
        assert expected in err, (argv, err)


def test_a_port_in_use_is_named_and_exits_1() -> None:
    """Not a usage error: the options are right, the machine is busy."""
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "cdpkit", "mock", "--quiet", "--port", str(port)],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"cdpkit mock: cannot listen on 127.0.0.1:{port}: ")
