"""The running mock: configuration, the served vendors, the store, validators and faults."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable

import jsonschema_rs
import orjson
from aiohttp import web

from cdpkit.mockserver import journal_entry
from cdpkit.mockserver.faults import Faults
from cdpkit.mockserver.store import Scope, Store, open_store
from cdpkit.schemas.validation import Validators
from cdpkit.mockserver.vendor import Reply, Vendor
from cdpkit.schemas import VENDORS, bundle

# vendor name -> module exporting VENDOR; a vendor is served once its module is listed here.
VENDOR_MODULES: dict[str, str] = {vendor: f"cdpkit.mockserver.{vendor}" for vendor in VENDORS}
# vendor -> "module:function" judging seed values its cdpkit/schemas/<vendor>/seed.json cannot (Sensors' EQL):
# ``function(section) -> [(path inside the section, what was expected)]``, run after the schema passed.
SEED_CHECKS: dict[str, str] = {"sensors": "cdpkit.mockserver.sensors_seed:seed_problems"}
SEED_PROBLEMS_SHOWN = 5  # a refusal names this many bad fields, on one line



@dataclass
class MockConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    vendors: list[str] = field(default_factory=lambda: available_vendors())
    state: str = "memory"
    seeds: list[str] = field(default_factory=list)
    demo: bool = True
    journal_limit: int = 10_000
    journal_bytes: int = 64 << 20
    max_body_bytes: int = 1 << 20
    max_depth: int = 64
    fault_seed: int | None = None
    allowed_hosts: tuple[str, ...] = ()  # Host names besides loopback and --host that may use /__mock
    admin_token: str | None = None  # when set, every /__mock request must carry it
    idle_timeout: float = 15.0  # seconds an idle or half-sent connection is kept
    shutdown_timeout: float = 3.0  # seconds a shutdown waits for requests in flight
    loop: str = "auto"  # the event loop `cdpkit mock` serves on (event_loop.py): auto, uvloop or asyncio
    fast_lane: bool = True  # plain vendor requests served ahead of aiohttp's request machinery (fast_lane.py)


def available_vendors() -> list[str]:
    """Vendors whose module is present, in the canonical order."""
    return [v for v in VENDORS if importlib.util.find_spec(VENDOR_MODULES[v]) is not None]


def load_vendor(name: str) -> Vendor:
    if name not in VENDOR_MODULES:
        raise ValueError(f"unknown vendor {name!r}; served: {', '.join(available_vendors())}")
    return importlib.import_module(VENDOR_MODULES[name]).VENDOR


def read_seed_file(path: str) -> dict[str, Any]:
    """A seed file (JSON or YAML): ``{vendor: section}``, each section as the vendor's load_seed takes it."""
    text = Path(path).read_text(encoding="utf-8")
    if path.endswith(".json"):
        data = orjson.loads(text)
    else:
        import yaml  # only for a YAML seed: the package costs every start ~10 ms (issue 9)

        data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a seed file is a mapping of vendor name to its data")
    return data


@functools.lru_cache(maxsize=None)
def _seed_validator(vendor: str) -> Any:
    """The compiled validator of ``cdpkit/schemas/<vendor>/seed.json``, built once."""
    return jsonschema_rs.validator_for(bundle(vendor, "seed.json"))


def _one_line(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _seed_problems(vendor: str, section: Any) -> list[tuple[str, str]]:
    """(path inside the section, what was expected) for each bad field of one vendor's seed section."""
    found = [
        ("/".join(_one_line(str(step)) for step in error.instance_path), _one_line(error.message))
        for error in _seed_validator(vendor).iter_errors(section)
    ]
    if not found and vendor in SEED_CHECKS:
        module, _, function = SEED_CHECKS[vendor].partition(":")
        found = [(path, _one_line(what)) for path, what in getattr(importlib.import_module(module), function)(section)]
    return found


class Mock:
    """Everything a request handler or the control API needs, built once at start-up."""

    def __init__(self, config: MockConfig, store: Store | None = None) -> None:
        self.config = config
        self.store = store or open_store(config.state, config.journal_limit, config.journal_bytes)
        # a shared store (Redis) runs each handler its own way (checked, committed, re-run on a conflict)
        self.vendors: dict[str, Vendor] = {name: self.store.serve(load_vendor(name)) for name in config.vendors}
        self.scopes: dict[str, Scope] = {name: self.store.scope(name) for name in self.vendors}
        self.validators = Validators(list(self.vendors))
        self.faults: Faults = self.store.faults(config.fault_seed)  # shared with the other processes on Redis
        self.seed_data = [read_seed_file(p) for p in config.seeds]
        self.started = time.time()

    def apply_seed(self, data: dict[str, Any], *, known_valid: bool = False) -> list[str]:
        """Load a ``{vendor: section}`` mapping; returns the vendors it touched.

        Every section is checked first against its vendor's ``cdpkit/schemas/<vendor>/seed.json`` and the
        vendor's seed check (:data:`SEED_CHECKS`): a refusal is a ValueError naming the vendor, the path
        of each bad field and what was expected, and nothing is applied. Loading is all or nothing too:
        a seed that fails part-way leaves no pending write behind (the next request would otherwise
        commit it). Data of the wrong shape is a ValueError like any other bad seed, never a crash.

        ``known_valid``: the data is cdpkit's own demo, which passes those checks in every run (a pure result,
        proved by tests/test_startup.py), so they are not run again: compiling five seed schemas to check it
        was half of the start's own work after the imports (issue 9). Loading stays all or nothing.
        """
        unknown = set(data) - set(self.vendors)
        if unknown:
            raise ValueError(f"seed names vendors not served: {sorted(unknown)}; served: {sorted(self.vendors)}")
        try:  # YAML dates, numeric keys...: the seed is JSON data, as POST /__mock/seed receives it
            data = orjson.loads(orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS))
        except (TypeError, orjson.JSONEncodeError) as exc:
            raise ValueError(f"seed data must be JSON data (mappings, lists, text, numbers, booleans, null): {exc}") from None
        for name, section in data.items() if not known_valid else ():
            problems = _seed_problems(name, section if section is not None else {})
            if problems:
                shown = "; at ".join(f"{name}/{path}: {what}" if path else f"{name}: {what}"
                                  for path, what in problems[:SEED_PROBLEMS_SHOWN])
                more = f" (and {len(problems) - SEED_PROBLEMS_SHOWN} more)" if len(problems) > SEED_PROBLEMS_SHOWN else ""
                raise ValueError(f"bad {name} seed data at {shown}{more}")
        try:
            for name, section in data.items():
                self.vendors[name].load_seed(self.scopes[name], section or {})
        except BaseException as exc:
            self.store.finish(None, keep_writes=False)
            if isinstance(exc, (KeyError, TypeError, AttributeError)):
                raise ValueError(str(exc)) from exc
            raise
        self.store.commit()
        return list(data)

    def start(self) -> None:
        """Load the start-up data, unless a persistent store already holds state from an earlier run."""
        if not self.store.namespaces():
            self._load_startup_data()

    def reset(self) -> None:
        """Back to the start-up state: demo data (unless disabled) and the --seed files. Forgetting and
        loading are one step for the store (a shared one never shows other processes a half-reset state)."""
        self.faults.clear()
        self.store.reset_to(self._load_startup_data)

    async def reset_async(self) -> None:
        """:meth:`reset` for the control API on the serving loop: a fault list shared with other processes
        waits for their acknowledgements of the clear in a thread, not on the loop (up to 2 s for a process
        that does not answer)."""
        await self.faults.clear_async()
        self.store.reset_to(self._load_startup_data)

    def _load_startup_data(self) -> None:
        if self.config.demo:
            self.apply_seed({name: vendor.demo() for name, vendor in self.vendors.items()}, known_valid=True)
        for data in self.seed_data:
            self.apply_seed(data)

    def journal(
        self,
        vendor: str,
        operation: str,
        request: Any,
        raw: bytes,
        parsed: Any,
        status: int,
        violations: tuple[str, ...],
        started: float,
        reply: Reply | None = None,
        keep: bool = False,
        answer: bytes = b"",
        writes: dict | None = None,
    ) -> Awaitable[None] | None:
        """Commit (or drop) the handler's writes (its request's write set) and record the exchange, in one
        step; returns what to await before answering (SQLite: the batch holding the writes is on disk).

        The record is masked, printable and bounded, and built into the journal's entry only when read
        (:mod:`cdpkit.mockserver.journal_entry`); ``answer`` is the response body as sent. ``request`` is
        aiohttp's or the fast lane's (:class:`~cdpkit.mockserver.lane_http.LaneRequest`)."""
        answer_json = reply.body if reply is not None and reply.content_type == "application/json" else None
        query_string = request.query_string
        # the fast lane's request carries what the journal keeps of its fields, made once for those fields
        headers = getattr(request, "kept_headers", None) or request.headers.items()
        entry = journal_entry.record(
            time.time(), vendor, operation, request.method, request.path, query_string,
            request.query.items() if query_string else (), headers, raw, parsed,
            status, answer, answer_json, violations, round((time.perf_counter() - started) * 1000, 3),
        )
        return self.store.finish_request(entry, keep, writes or {})


MOCK_KEY = web.AppKey("cdp_mock", Mock)
