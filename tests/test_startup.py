"""The mock's start path does only what serving needs (issue 9: start-up under 300 ms).

Deterministic proofs, never a timed assertion (on a shared machine one is flaky or so loose it proves
nothing; benchmarks/bench_mock.py prints the start-up figures): a started mock that has answered its first
request has imported none of the heavy modules it does not need; the work the start skips gives the same
answers as the work it replaced (the demo passes the seed checks it no longer runs at start, a Quick
Audience seed record is judged and worded as before, validators compiled on first use answer as before).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from cdpkit.mockserver import quickaudience_demo
from cdpkit.mockserver.runtime import Mock, MockConfig, _seed_problems, load_vendor
from cdpkit.schemas import VENDORS, bundle, operations
from cdpkit.schemas.validation import PARTS, Validators

# module (or package) -> why `cdpkit mock` must not import it before it serves
NOT_ON_THE_START_PATH = {
    "jsonschema": "the Python validator: the mock validates with jsonschema_rs (it only words a refused QA seed)",
    "referencing": "jsonschema's resolver",
    "yaml": "needed only for a YAML --seed or --config file",
    "tomllib": "needed only for a TOML --config file",
    "sqlite3": "needed only for --state sqlite:",
    "cdpkit.mockserver.sqlite_store": "needed only for --state sqlite:",
    "importlib.metadata": "cdpkit.__version__ is looked up only by --version and the suites' reports",
    "importlib.resources": "the schemas are read from their folder (a zipped install falls back to it)",
    "faker": "the generators' dependency, not the mock's",
    "requests": "a client library; the mock is a server",
    "redis": "needed only for --state redis://",
    "pytest": "the suites' runner",
    "schemathesis": "the suites' fuzzer",
    "hypothesis": "the suites' fuzzer",
    "cdpkit.generators": "another layer",
    "cdpkit.suites": "another layer",
    "cdpkit.schemas.openapi": "`cdpkit openapi` builds it, not the mock",
    "cdpkit.schemas.catalog": "read by the dashboard's catalog page when it is asked for",
    "cdpkit.mockserver.sensors_h5": "the Sensors iframe page, imported when an H5 operation is first called",
}
# Runs `cdpkit mock` in a child process (the command's own main, as the console script calls it). A thread of
# that process, which imports nothing itself (a raw socket), waits for the port, sends the benchmark's start-up
# probe (the Zebline upsert), and once it is answered prints the status and every module in sys.modules, then
# stops the mock as Ctrl-C would. sys.modules is exact, where -X importtime misses what importlib imports.
PROBE_SCRIPT = """
import json, os, signal, socket, sys, threading, time
port = int(sys.argv[1])
body = json.dumps({"userId": "startup-probe", "firstName": "sample", "attributes": {"age": 30}}).encode()
request = (b"POST /v1/accounts/LICENSE_CODE/users HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nAuthorization: ACCESS_TOKEN\\r\\n"
           b"Content-Type: application/json\\r\\nConnection: close\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(body) + body)
def probe():
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(request)
                status = sock.recv(64).split(b" ")[1].decode()
            break
        except OSError:
            time.sleep(0.01)
    else:
        status = "none"
    print(json.dumps({"status": status, "modules": sorted(sys.modules)}), flush=True)
    os.kill(os.getpid(), signal.SIGTERM)
threading.Thread(target=probe, daemon=True).start()
from cdpkit.cli import main
sys.exit(main(["mock", "--port", str(port), "--quiet"]))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _modules_of_a_started_mock() -> set[str]:
    """Every module `cdpkit mock` had imported once it answered its first request (2xx, or the test fails)."""
    run = subprocess.run([sys.executable, "-c", PROBE_SCRIPT, str(_free_port())], check=False, capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    found = json.loads(next(line for line in run.stdout.splitlines() if line.startswith("{")))
    assert found["status"].startswith("2"), (found["status"], run.stderr[-2000:])
    return set(found["modules"])


def test_a_started_mock_has_imported_nothing_it_does_not_need() -> None:
    imported = _modules_of_a_started_mock()
    assert {"aiohttp.web", "jsonschema_rs", "cdpkit.mockserver.zebline", "cdpkit.mockserver.sensors"} <= imported
    found = {name: why for name, why in NOT_ON_THE_START_PATH.items()
             if any(module == name or module.startswith(name + ".") for module in imported)}
    assert found == {}, f"the mock's start path imported modules it does not need: {found}"


@pytest.mark.parametrize("vendor", VENDORS)
def test_the_demo_passes_the_seed_checks_the_start_no_longer_runs(vendor: str) -> None:
    """Mock.start loads the demo with ``known_valid=True``: this is what makes that true (schema and extra check)."""
    demo = json.loads(json.dumps(load_vendor(vendor).demo()))  # as apply_seed sees it: JSON data
    assert _seed_problems(vendor, demo) == []


def test_a_bad_demo_would_be_refused_by_those_checks() -> None:
    """The check above has teeth: the same function refuses a demo with one field broken."""
    demo = json.loads(json.dumps(load_vendor("gptbots").demo()))
    token = next(iter(demo["tokens"]))
    demo["tokens"][token]["agent"] = 5
    assert _seed_problems("gptbots", demo) != []


def _qa_record(**changes: Any) -> dict[str, Any]:
    record = {"apiId": "x", "channelName": "Web", "collectedByQuickTracking": True, "applicationType": "WEB",
              "networkDomains": ["https://www.example.com"], "accessKeyId": "K", "accessKeySecret": "S", "appKey": "A",
              "createdAt": 0, "updatedAt": 0}
    record.update(changes)
    return {k: v for k, v in record.items() if v is not None}


QA_RECORDS = {
    "good": _qa_record(),
    "a domain with no scheme": _qa_record(networkDomains=["www.example.com"]),
    "a domain with a path": _qa_record(networkDomains=["https://www.example.com/shop"]),
    "a domain listed twice": _qa_record(networkDomains=["https://a.example.com", "https://a.example.com"]),
    "no domains on WEB": _qa_record(networkDomains=None),
    "platforms on WEB": _qa_record(platformTypes=["IOS"]),
    "an APP without platforms": _qa_record(applicationType="APP", networkDomains=None),
    "a mini program on iOS": _qa_record(applicationType="MINI_PROGRAM", networkDomains=None, platformTypes=["IOS"]),
    "a blank name": _qa_record(channelName="   "),
    "no AccessKeyId": _qa_record(accessKeyId=None),
    "a numeric secret": _qa_record(accessKeySecret=5),
    "an unknown type": _qa_record(applicationType="DESKTOP"),
}


@pytest.mark.parametrize("name", QA_RECORDS)
def test_a_quick_audience_seed_record_is_judged_and_worded_as_before(name: str) -> None:
    """record_problems asks the compiled validators and words a refusal with the Python package: the same list
    the Python package alone gave before (it is no longer imported at start)."""
    record = QA_RECORDS[name]
    config = {k: record[k] for k in quickaudience_demo.CONFIG_FIELDS if k in record}
    before = [e.message for ref, instance in zip(quickaudience_demo.RECORD_SCHEMAS, (config, record))
              for e in Draft202012Validator(bundle("quickaudience", ref)).iter_errors(instance)]
    assert quickaudience_demo.record_problems(record) == before
    assert (before == []) == (name == "good")


def test_validators_are_compiled_on_first_use_and_answer_as_eager_ones() -> None:
    mock = Mock(MockConfig(vendors=["zebline"], demo=False))
    assert mock.validators._compiled == {}  # nothing compiled at start
    bad = {"userId": "", "attributes": {"age": {"nested": 1}}}
    lazy = mock.validators.violations("zebline", "upsert_user", "body", bad)
    assert list(mock.validators._compiled) == [("zebline", "upsert_user", "body")]
    eager = Validators(["zebline"])
    for op in operations("zebline"):  # every validator compiled before any is used, as the start used to
        for part in PARTS:
            if op.get(part):
                eager.violations("zebline", op["operationId"], part, None)
    assert lazy and lazy == eager.violations("zebline", "upsert_user", "body", bad)
    assert mock.validators.violations("zebline", "upsert_user", "no-such-part", bad) == []
