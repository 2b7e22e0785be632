"""Deliberately broken (and deliberately different) variants of the mock, to prove the suites have teeth.

A :class:`Mutant` takes the mock's ``Vendor`` object and returns a modified copy with one defect (an
auth check skipped, a required field not enforced, …). :func:`run_check` serves it on a free port and
runs ``cdpkit check`` in-process against it. A defect must make the check exit 1 with a failing test
that names one of ``expected_ids``; an over-specification variant (``expected_ids == ()``: another
reasonable choice where the document is silent) must still exit 0.

Adding a vendor: ``tests/mutants/<vendor>.py`` exporting ``MUTANTS`` and ``VARIANTS`` lists.
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from multidict import CIMultiDict, CIMultiDictProxy

from cdpkit.mockserver.pytest_plugin import MockServer
from cdpkit.mockserver.runtime import MockConfig
from cdpkit.mockserver.vendor import Call, Handler, Rejection, Reply, Vendor


Patch = Callable[[Vendor], Vendor]


@dataclass(frozen=True)
class Mutant:
    name: str
    vendor: str
    expected_ids: tuple[str, ...]  # empty: an over-specification variant that must still pass
    patch: Patch
    description: str = ""
    fuzz_only: bool = False  # a defect only the schemathesis run is meant to find
    varies: tuple[str, ...] = ()  # a variant: the assumption entries it makes another reasonable choice for


def wrap_handler(vendor: Vendor, operation_id: str, wrap: Callable[[Handler], Handler]) -> Vendor:
    """A copy of ``vendor`` whose handler for ``operation_id`` is ``wrap(original)``."""
    handlers = dict(vendor.handlers)
    handlers[operation_id] = wrap(handlers[operation_id])
    return dataclasses.replace(vendor, handlers=handlers)


def map_reply(vendor: Vendor, operation_id: str, change: Callable[[Call, Reply], Reply]) -> Vendor:
    """A copy whose successful replies for ``operation_id`` pass through ``change``."""
    return wrap_handler(vendor, operation_id, lambda original: lambda call: change(call, original(call)))


def map_error(vendor: Vendor, change: Callable[[Rejection, Reply], Reply]) -> Vendor:
    """A copy whose error envelope passes through ``change``."""
    original = vendor.render_error
    return dataclasses.replace(vendor, render_error=lambda rejection, call: change(rejection, original(rejection, call)))


def wrapping(ops: str | Iterable[str] | None, wrap: Callable[[Handler], Handler]) -> Patch:
    """A patch wrapping the handler of one operation, of several, or (``None``) of every one."""
    def patch(vendor: Vendor) -> Vendor:
        names = vendor.handlers if ops is None else (ops,) if isinstance(ops, str) else ops
        for op in tuple(names):
            vendor = wrap_handler(vendor, op, wrap)
        return vendor
    return patch


def replying(ops: str | Iterable[str] | None, change: Callable[[Call, Reply], Reply]) -> Patch:
    """A patch passing the replies of the named operations through ``change``."""
    return wrapping(ops, lambda original: lambda call: change(call, original(call)))


def erroring(change: Callable[[Rejection, Reply], Reply]) -> Patch:
    """A patch passing every error envelope through ``change``."""
    return lambda vendor: map_error(vendor, change)


def on_refusal(requirement_id: str, answer: Callable[[Rejection], Reply]) -> Callable[[Handler], Handler]:
    """A handler wrap: where the handler refuses for ``requirement_id``, ``answer`` decides instead
    (return a reply to accept what should be refused, or raise another Rejection)."""
    def wrap(original: Handler) -> Handler:
        def handler(call: Call) -> Reply:
            try:
                return original(call)
            except Rejection as rejection:
                if requirement_id in rejection.requirement_ids:
                    return answer(rejection)
                raise
        return handler
    return wrap


def without_field(name: str) -> Callable[[Call, Reply], Reply]:
    """A reply change: successful bodies lack the top-level field ``name``."""
    def change(call: Call, reply: Reply) -> Reply:
        if reply.status == 200:
            reply.body.pop(name, None)
        return reply
    return change


def with_body(call: Call, body: Any) -> Call:
    return dataclasses.replace(call, body=body)


def with_headers(call: Call, **headers: str) -> Call:
    merged = CIMultiDict(call.headers)
    for name, value in headers.items():
        merged[name] = value
    return dataclasses.replace(call, headers=CIMultiDictProxy(merged))


def with_query(call: Call, query: dict[str, str]) -> Call:
    return dataclasses.replace(call, query=query)


def load(vendor: str) -> Any:
    """The vendor's mutants module (``tests/mutants/<vendor>.py``)."""
    return importlib.import_module(f"tests.mutants.{vendor}")


@dataclass
class CheckRun:
    exit_code: int
    failed: list[dict[str, str]]  # {name, requirements, caught_by, kind, message} per failing JUnit test case
    skipped: list[dict[str, str]] = dataclasses.field(default_factory=list)  # {name, message} per skipped case

    def caught_by(self, requirement_id: str) -> bool:
        """Whether a check *failed* (not errored) with a CheckFailure naming exactly ``requirement_id``."""
        return any(f["kind"] == "failure" and requirement_id in f["caught_by"].split() for f in self.failed)

    def server_error(self) -> bool:
        """Whether the schemathesis run failed on a 5xx answer (its server-error check)."""
        return any(f["kind"] == "failure" and f["name"].startswith("test_schemathesis") and "Server error" in f["message"]
                   for f in self.failed)


def _failures(junit: Path) -> list[dict[str, str]]:
    if not junit.exists():
        return []
    out = []
    for case in ET.parse(junit).iter("testcase"):
        failure, kind = case.find("failure"), "failure"
        if failure is None:
            failure, kind = case.find("error"), "error"
        if failure is None:
            continue
        def prop(name: str) -> str:
            return " ".join(p.get("value", "") for p in case.iter("property") if p.get("name") == name)
        message = (failure.get("message") or "") + "\n" + (failure.text or "")
        out.append({"name": case.get("name", ""), "requirements": prop("requirement"), "caught_by": prop("check_failure"),
                    "kind": kind, "message": message.strip()})
    return out


def _skips(junit: Path) -> list[dict[str, str]]:
    if not junit.exists():
        return []
    return [{"name": case.get("name", ""), "message": skipped.get("message", "")}
            for case in ET.parse(junit).iter("testcase") for skipped in case.findall("skipped")]


def run_check_at(url: str, vendor: str, junit: Path, *, creds: dict[str, str] | None = None, fuzz: bool | None = None,
                 max_examples: int = 10, strict: bool = False, features: str | None = None) -> CheckRun:
    """Run ``cdpkit check`` in-process against ``url``; fuzz: None all, True only, False none."""
    from cdpkit.suites import cli

    select = {None: [], True: ["-m", "cdp_fuzz"], False: ["-m", "not cdp_fuzz"]}[fuzz]
    args = ["--vendor", vendor, "--target", url, "--junit-xml", str(junit), "--max-examples", str(max_examples)]
    args += [a for k, v in (creds or {}).items() for a in ("--cred", f"{k}={v}")]
    args += (["--strict"] if strict else []) + (["--features", features] if features else [])
    code = cli.main(args, extra_pytest_args=select, live=io.StringIO())
    return CheckRun(code, _failures(junit), _skips(junit))


def run_check(mutant: Mutant | None, vendor: str, workdir: Path, *, fuzz: bool | None = None, max_examples: int = 10,
              strict: bool = False) -> CheckRun:
    """Serve the (mutated) mock and run the whole of ``cdpkit check`` against it (fuzz: None all, True only,
    False none; ``strict`` adds the checks of assumption entries)."""
    server = MockServer(MockConfig(port=0, vendors=[vendor]))
    if mutant is not None:
        server.mock.vendors[vendor] = mutant.patch(server.mock.vendors[vendor])  # routes bind at start
    server.start()
    junit = workdir / f"{mutant.name if mutant else 'mock'}{'-strict' if strict else ''}.xml"
    try:
        return run_check_at(server.url, vendor, junit, fuzz=fuzz, max_examples=max_examples, strict=strict)
    finally:
        server.stop()


def assert_caught(run: CheckRun, mutant: Mutant) -> None:
    """The run failed, and a check failed with a CheckFailure naming exactly one of the expected IDs
    (a schemathesis-only mutant: the run's server-error check); a fixture error is not a kill."""
    assert run.exit_code == 1, f"{mutant.name} ({mutant.description}) was not caught"
    if mutant.fuzz_only:
        assert run.server_error(), f"{mutant.name}: the schemathesis run did not fail on a 5xx; failing: {run.failed}"
        return
    assert any(run.caught_by(rid) for rid in mutant.expected_ids), (
        f"{mutant.name}: no check failed on {mutant.expected_ids}; failing: "
        f"{[(f['name'], f['kind'], f['caught_by']) for f in run.failed]}"
    )
