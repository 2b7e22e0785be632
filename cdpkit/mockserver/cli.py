"""``cdpkit mock``: start the stateful mock of all five vendor APIs on one port."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import secrets
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson

from cdpkit.mockserver import event_loop
from cdpkit.mockserver.control_guard import is_loopback
from cdpkit.mockserver.event_loop import LOOPS
from cdpkit.mockserver.masking import url_without_password
from cdpkit.mockserver.runtime import Mock, MockConfig, available_vendors, read_seed_file
from cdpkit.mockserver.store import STATE_FORMS
from cdpkit.mockserver.workers import serve_until_stopped, supervise, url_of
from cdpkit.schemas import operations

HELP = "start the stateful mock of the five vendor APIs"
DESCRIPTION = """\
Start a faithful, stateful mock of the vendor APIs on one port. Every operation is served at the
vendor's documented path and again under /<vendor>/ (e.g. /zebline/v1/accounts/LICENSE_CODE/users).
Out of the box it holds demo data that reproduces every example of the vendor documents and accepts
the documents' own placeholder credentials, so a curl example pasted with only the host changed gets
the documented answer. GET /__mock/ lists the control API (journal, reset, seed, faults, state).

examples:
  cdpkit mock                                   all vendors on http://127.0.0.1:8080
  cdpkit mock --vendors zebline,gptbots --port 9000
  cdpkit mock --state sqlite:mock.sqlite        keep state and journal across restarts
  cdpkit mock --state redis://127.0.0.1:6379/0   share state with every mock on that Redis
  cdpkit mock --workers 2 --state redis://127.0.0.1:6379/0   two processes on one port, one state
  cdpkit mock --seed tenants.yaml --no-demo     only your own tenants and data
  cdpkit mock --host 0.0.0.0 --admin-token T    reachable from other machines; /__mock needs the token

The control API (/__mock/) answers only requests whose Host is this mock (loopback, --host or an
--allow-host name), refuses requests from web pages (an Origin header of another site) and takes writes
only as Content-Type: application/json. Beyond loopback it also needs an admin token (X-Cdpkit-Token or
Authorization: Bearer); MockClient and `cdpkit check` read it from CDPKIT_ADMIN_TOKEN.

With --workers N every answer names the process that served it in an X-Cdpkit-Worker header (its pid);
the journal, state, faults and counts are the store's, so every worker serves and shows the same.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default 8080; 0 picks a free one)")
    parser.add_argument("--vendors", default=None, help="'all' or a comma list, e.g. tto,sensors (default all)")
    parser.add_argument("--state", default=None,
                        help="'memory' (default), 'sqlite:PATH' to persist, or 'redis://HOST:PORT/DB[?prefix=NAME][&cache_bytes=N]' "
                             "to share state with other processes and machines (each keeps a cache of N bytes, 64 MiB by default)")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="serve the port from N processes (needs --state redis://…: one state for all; default 1)")
    parser.add_argument("--seed", action="append", default=None, metavar="FILE",
                        help="JSON or YAML {vendor: data} loaded after the demo data; repeatable")
    parser.add_argument("--no-demo", action="store_true", default=None, help="start without the demo data")
    parser.add_argument("--journal-limit", type=int, default=None, help="journal entries kept (default 10000)")
    parser.add_argument("--max-body", type=int, default=None, help="largest request body in bytes (default 1 MiB)")
    parser.add_argument("--allow-host", action="append", default=None, metavar="NAME",
                        help="a Host name (besides loopback and --host) that may use the control API; repeatable")
    parser.add_argument("--admin-token", default=None, metavar="TOKEN",
                        help="require this token on the control API (generated and printed when --host is not loopback)")
    parser.add_argument("--loop", default=None, choices=LOOPS,
                        help="event loop: uvloop (C, a few %% less CPU per request) when installed, else asyncio's "
                             "(default auto)")
    parser.add_argument("--no-fast-lane", action="store_true", default=None,
                        help="serve every request through aiohttp's full request handling; by default a vendor "
                             "request in its everyday shape is read and answered ahead of it, with the same answer "
                             "and journal entry at about two thirds of the CPU")
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="TOML, JSON or YAML file with the same keys as these options (flags win)")
    parser.add_argument("--quiet", action="store_true", help="print only the URL line")


class UsageProblem(SystemExit):
    """A mistake in the options or the files they name: ``run`` prints the one line and exits 2 (a
    caller of ``config_from_args`` that does not catch it still stops with the message)."""

    def __str__(self) -> str:
        return str(self.code)


def _read_file(option: str, path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageProblem(f"{option} {path}: no such file") from None
    except IsADirectoryError:
        raise UsageProblem(f"{option} {path}: a directory, not a file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageProblem(f"{option} {path}: cannot read it: {getattr(exc, 'strerror', None) or exc}") from None


def _syntax_error(option: str, path: str, fmt: str, exc: Exception) -> UsageProblem:
    """``exc`` (a YAML, TOML or JSON parser's error) as one line that names the file and the line."""
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:  # yaml.MarkedYAMLError
        where = f" (line {mark.line + 1}, column {mark.column + 1})"
        what = getattr(exc, "problem", None) or str(exc)
    else:
        where, what = "", " ".join(str(exc).split())
    return UsageProblem(f"{option} {path} is not valid {fmt}: {what}{where}")


def _yaml() -> ModuleType:
    """PyYAML, imported only where a file is YAML: the package costs every start of the mock ~10 ms (issue 9)."""
    import yaml

    return yaml


def _read_config(path: str) -> dict[str, Any]:
    text = _read_file("--config", path)
    if path.endswith(".toml"):
        import tomllib

        parse, errors, fmt = tomllib.loads, tomllib.TOMLDecodeError, "TOML"
    else:
        yaml = _yaml()
        parse, errors, fmt = yaml.safe_load, yaml.YAMLError, "YAML or JSON"  # YAML is a superset of JSON
    try:
        data = parse(text)
    except errors as exc:
        raise _syntax_error("--config", path, fmt, exc) from None
    if not isinstance(data, dict):
        raise UsageProblem(f"--config {path} must hold a mapping of option names to values")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def _check_seed(path: str) -> None:
    """Read a --seed file now, so a missing or malformed one is a usage error before anything starts."""
    _read_file("--seed", path)
    fmt = "JSON" if path.endswith(".json") else "YAML"
    yaml_errors: type[Exception] | tuple[()] = () if fmt == "JSON" else _yaml().YAMLError  # () catches nothing
    try:
        read_seed_file(path)
    except yaml_errors as exc:
        raise _syntax_error("--seed", path, fmt, exc) from None
    except orjson.JSONDecodeError as exc:
        raise UsageProblem(f"--seed {path} is not valid {fmt}: {exc}") from None
    except ValueError as exc:  # not a mapping, or whatever else read_seed_file refuses
        message = str(exc).removeprefix(f"{path}:").strip()
        raise UsageProblem(f"--seed {path}: {message}") from None


def _check_state(state: Any) -> str:
    state = str(state)
    if state == "memory":
        return state
    if state.startswith(("redis://", "rediss://")):
        from cdpkit.mockserver.redis_store import parse_url

        try:
            parse_url(state)
        except ValueError as exc:
            raise UsageProblem(str(exc).replace(state, url_without_password(state))) from None
        if importlib.util.find_spec("redis") is None:
            raise UsageProblem(f"--state {url_without_password(state)}: the redis package is not installed "
                               "(pip install redis)")
        return state
    if not state.startswith("sqlite:") or state == "sqlite:":
        raise UsageProblem(f"--state must be {STATE_FORMS}, not {state!r}")
    path = Path(state.removeprefix("sqlite:"))
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageProblem(f"--state {state}: the directory {str(folder)!r} does not exist (create it, or name another path)")
    if path.is_dir():
        raise UsageProblem(f"--state {state}: {str(path)!r} is a directory; name a database file in it")
    return state


def _integer(raw: dict[str, Any], key: str, default: int, low: int, high: int | None = None) -> int:
    value = raw.get(key, default)
    option = "--" + key.replace("_", "-")
    try:
        number = int(value)
        if isinstance(value, float) and number != value:
            raise ValueError
    except (TypeError, ValueError):
        raise UsageProblem(f"{option} takes a whole number, not {value!r}") from None
    if number < low or (high is not None and number > high):
        span = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise UsageProblem(f"{option} must be {span}, not {number}")
    return number


# The options a --config file may set as well, by their names there (flags win); "no_demo" and "no_fast_lane"
# besides, switches.
_VALUE_OPTIONS = ("host", "port", "vendors", "state", "seed", "journal_limit", "max_body", "allow_host", "admin_token",
                  "loop")


def config_from_args(args: argparse.Namespace) -> MockConfig:
    """Merge the --config file and the flags (flags win) into a validated MockConfig; every problem is a
    UsageProblem that names the option."""
    raw: dict[str, Any] = _read_config(args.config) if args.config else {}
    for key in _VALUE_OPTIONS:
        value = getattr(args, key)
        if value is not None:
            raw[key] = value
    if args.no_demo:
        raw["no_demo"] = True
    if args.no_fast_lane:
        raw["no_fast_lane"] = True
    known = {*_VALUE_OPTIONS, "no_demo", "no_fast_lane"}
    unknown = set(raw) - known
    if unknown:
        raise UsageProblem(f"unknown option(s) in --config {args.config}: {sorted(unknown)}; known: {sorted(known)}")
    served = available_vendors()
    vendors = raw.get("vendors", "all")
    names = served if vendors in ("all", None) else [v.strip() for v in str(vendors).split(",") if v.strip()]
    bad = [v for v in names if v not in served]
    if bad or not names:
        what = f"unknown vendor(s) {', '.join(bad)}" if bad else "no vendor named"
        raise UsageProblem(f"--vendors: {what}; choose from {', '.join(served)} or 'all'")
    seeds = raw.get("seed") or []
    seeds = [seeds] if isinstance(seeds, str) else [str(s) for s in seeds]
    for seed in seeds:
        _check_seed(seed)
    allowed = raw.get("allow_host") or []
    host = str(raw.get("host", "127.0.0.1"))
    token = raw.get("admin_token")
    if token is None and not is_loopback(host):  # reachable from other machines: never an open control API
        token = secrets.token_urlsafe(18)
    try:
        loop = event_loop.resolve(str(raw.get("loop", "auto")))
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    return MockConfig(
        host=host,
        loop=loop,
        allowed_hosts=tuple([allowed] if isinstance(allowed, str) else allowed),
        admin_token=str(token) if token is not None else None,
        port=_integer(raw, "port", 8080, 0, 65535),
        vendors=names,
        state=_check_state(raw.get("state", "memory")),
        seeds=seeds,
        demo=not raw.get("no_demo", False),
        fast_lane=not raw.get("no_fast_lane", False),
        journal_limit=_integer(raw, "journal_limit", 10_000, 0),
        max_body_bytes=_integer(raw, "max_body", 1 << 20, 0),
    )


def _workers(args: argparse.Namespace, config: MockConfig) -> int:
    """--workers N: more than one needs a store every process shares (N memory stores would disagree)."""
    workers = getattr(args, "workers", None)
    if workers is None:
        return 1
    workers = _integer({"workers": workers}, "workers", 1, 1, 64)
    if workers > 1 and not config.state.startswith(("redis://", "rediss://")):
        raise UsageProblem(f"--workers {workers} needs a shared store, --state redis://HOST:PORT/DB "
                           f"({workers} {config.state.partition(':')[0]} stores would each hold their own state)")
    return workers


def banner(mock: Mock, url: str) -> str:
    """The start-up text: where and what. Credentials are shown in one place only, the control API's
    ``/__mock/credentials`` (a terminal's scroll-back and CI logs keep what a banner prints)."""
    state = url_without_password(mock.config.state)  # a Redis password is a credential too
    lines = [f"cdpkit mock listening on {url}",
             f"vendors: {', '.join(mock.vendors)}  state: {state}  loop: {mock.config.loop}"]
    for name, vendor in mock.vendors.items():
        tenants = len(vendor.credentials(mock.scopes[name]).get("tenants", []))
        count = len(operations(name))
        lines.append(f"  {name:<14} {count} operation{'s' * (count != 1)}, {tenants} tenant{'s' * (tenants != 1)}")
    lines.append(f"credentials that work: {url}/__mock/credentials   control API: {url}/__mock/   stop with Ctrl-C")
    if not is_loopback(mock.config.host):
        lines.append(f"WARNING: listening on {mock.config.host}, reachable from other machines. The control API "
                     f"needs the admin token: X-Cdpkit-Token: {mock.config.admin_token}")
    elif mock.config.admin_token:
        lines.append("the control API needs the admin token given with --admin-token (header X-Cdpkit-Token)")
    return "\n".join(lines)


async def serve(config: MockConfig, quiet: bool = False) -> None:
    """Run until SIGINT/SIGTERM, then shut down cleanly (the store is closed by cleanup_ctx)."""

    def listening(mock: Mock, port: int) -> None:
        url = url_of(config.host, port)
        print(url if quiet else banner(mock, url), flush=True)

    await serve_until_stopped(config, listening)


def run(args: argparse.Namespace) -> int:
    """Exit status: 0 stopped cleanly, 1 cannot listen (the port is taken, the host is not this machine's),
    2 a usage error (an option, a --config, --seed or --state file that is wrong or missing)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = config_from_args(args)
        workers = _workers(args, config)
    except UsageProblem as exc:
        print(f"cdpkit mock: {exc}", file=sys.stderr)
        return 2
    try:
        if workers > 1:
            return supervise(config, workers, banner, quiet=args.quiet)
        event_loop.run(serve(config, quiet=args.quiet), config.loop)
    except Exception as exc:
        # sqlite3 is imported only by a SQLite store (issue 9: not on every start): where it was never
        # imported, no error can be one of its.
        sqlite3 = sys.modules.get("sqlite3")
        if sqlite3 is not None and isinstance(exc, sqlite3.Error):
            print(f"cdpkit mock: --state {config.state}: cannot use the database: {exc}", file=sys.stderr)
            return 2
        # The Redis client's errors first (some subclass OSError or ValueError; the package is imported only
        # for redis://): a raise inside one except clause would skip the clauses after it.
        if type(exc).__module__.split(".")[0] == "redis":
            print(f"cdpkit mock: --state {url_without_password(config.state)}: cannot use Redis: "
                  f"{' '.join(str(exc).split())}", file=sys.stderr)
            return 2
        if isinstance(exc, OSError):
            print(f"cdpkit mock: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        if isinstance(exc, ValueError):  # seed data the vendor refuses (a vendor not served, a section of the wrong shape)
            source = f"--seed {', '.join(config.seeds)}: " if config.seeds else ""
            print(f"cdpkit mock: {source}{exc}", file=sys.stderr)
            return 2
        raise
    return 0
