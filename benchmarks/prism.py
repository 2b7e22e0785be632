"""Stoplight Prism, the other mock server bench_mock.py compares cdpkit's mock against (issue 9: >= 3x Prism).

Prism mocks an API from its OpenAPI document: it validates the request (path, security, body schema)
and answers an example from the document, keeping no state. It is run on cdpkit's own document of
each scenario's vendor (``cdpkit openapi --vendor V``), so both servers check the same schemas and
the comparison is like for like as far as Prism goes (the mock does more: type locks, state, journal).

It is optional: it comes from npm, pinned by benchmarks/package.json and package-lock.json, installed
with ``npm ci`` into a cache folder outside the repository (``$XDG_CACHE_HOME/cdpkit/prism``, else
``~/.cache/cdpkit/prism``) the first time a run asks for it, and reused while the lock file is the
same. Without npm, or when the install fails, :func:`ensure` says why and the benchmark goes on without
Prism. It runs with ``-v silent``, its quietest log level, so logging costs it nothing the mock does
not pay either (the mock logs no access lines).
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
PINNED = ("package.json", "package-lock.json")
INSTALL_TIMEOUT = 600


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cdpkit" / "prism"


def executable(cache: Path) -> Path:
    return cache / "node_modules" / ".bin" / "prism"


def _installed(cache: Path) -> bool:
    """The cache holds an install of exactly the pinned lock file."""
    return executable(cache).exists() and all(
        (cache / name).exists() and filecmp.cmp(HERE / name, cache / name, shallow=False) for name in PINNED)


def ensure(cache: Path, log: Callable[[str], None] = print) -> tuple[Path | None, str]:
    """The Prism executable, installed into ``cache`` when it is not there yet; or None and why not."""
    if _installed(cache):
        return executable(cache), ""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return None, f"{tool} is not on PATH (Debian: apt-get install nodejs npm)"
    log(f"installing Prism (pinned by benchmarks/package-lock.json) into {cache} with npm ci ...")
    cache.mkdir(parents=True, exist_ok=True)
    for name in PINNED:
        shutil.copyfile(HERE / name, cache / name)
    try:
        done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], check=False, cwd=cache,
                              capture_output=True, text=True, timeout=INSTALL_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, f"npm ci did not finish within {INSTALL_TIMEOUT} s"
    if done.returncode != 0 or not executable(cache).exists():
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        (cache / "package-lock.json").unlink(missing_ok=True)  # not installed: the next run tries again
        return None, f"npm ci failed (exit {done.returncode}): {last}"
    return executable(cache), ""


def version(binary: Path) -> str:
    """The installed version, from its package.json (asking the CLI would cost a node start-up)."""
    package = binary.parent.parent / "@stoplight" / "prism-cli" / "package.json"
    try:
        return json.loads(package.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "?"


def write_document(vendor: str, directory: str, checkout: str | None = None) -> str:
    """cdpkit's OpenAPI document of ``vendor`` in a file Prism can read; its path."""
    path = os.path.join(directory, f"{vendor}.openapi.json")
    env = dict(os.environ, PYTHONPATH=checkout) if checkout else None
    with open(path, "w") as handle:
        subprocess.run([sys.executable, "-m", "cdpkit", "openapi", "--vendor", vendor], stdout=handle, check=True,
                       cwd=checkout, env=env, timeout=120)
    return path


def command(binary: Path, document: str, port: int) -> list[str]:
    """Prism serving ``document`` on 127.0.0.1:port, silent, in one process (its default: no --multiprocess)."""
    return [str(binary), "mock", "--host", "127.0.0.1", "--port", str(port), "--verboseLevel", "silent", document]
