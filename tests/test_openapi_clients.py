"""The OpenAPI documents as a user consumes them: a real code generator builds a client per vendor
from ``cdpkit openapi``, keeps every operation (no warning about a part it dropped), and the
generated clients talk to a running mock.

openapi-python-client is the generator (the ``test`` extra installs it). The clients are generated
once per session into a temporary folder, the five vendors in parallel, and imported from there.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import pytest

from cdpkit.mockserver.pytest_plugin import MockServer
from cdpkit.schemas import VENDORS, operations
from cdpkit.schemas.openapi import build

pytest.importorskip("openapi_python_client", reason="the test extra installs openapi-python-client")

GENERATOR = [sys.executable, "-m", "openapi_python_client"]
# What openapi-python-client prints when it leaves part of a document out of the client.
DROPPED = ("WARNING", "Unable to", "will not be generated", "will be omitted", "removal of", "Error")


def _package(vendor: str) -> str:
    return f"cdpkit_client_{vendor}"


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, subprocess.CompletedProcess[str]]]:
    """``{vendor: the generator's run}``; the packages ``cdpkit_client_<vendor>`` importable meanwhile."""
    root = tmp_path_factory.mktemp("openapi_clients")
    # The generator tidies its output with ruff, installed beside it: find it without an activated venv.
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    runs: dict[str, subprocess.Popen[str]] = {}
    for vendor in VENDORS:
        document = root / f"{vendor}.json"
        document.write_text(json.dumps(build(vendor), ensure_ascii=False), encoding="utf-8")
        runs[vendor] = subprocess.Popen(
            [*GENERATOR, "generate", "--path", str(document), "--meta", "none",
             "--output-path", str(root / _package(vendor)), "--fail-on-warning"],
            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
    results = {}
    for vendor, proc in runs.items():
        out, _ = proc.communicate(timeout=300)
        results[vendor] = subprocess.CompletedProcess(proc.args, proc.returncode, out, "")
    sys.path.insert(0, str(root))
    try:
        yield results
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m.startswith("cdpkit_client_")]:
            del sys.modules[name]


def _client_module(generated: dict[str, Any], vendor: str, module: str = "") -> ModuleType:
    run = generated[vendor]
    assert run.returncode == 0, f"openapi-python-client failed on {vendor}:\n{run.stdout}"
    return importlib.import_module(_package(vendor) + (f".{module}" if module else ""))


def _operation(generated: dict[str, Any], vendor: str, operation_id: str) -> ModuleType:
    return _client_module(generated, vendor, f"api.default.{operation_id}")


def _body_model(op: ModuleType) -> Any:
    """The generated model class of an operation's request body (named after the schema's title)."""
    annotation = inspect.signature(op.sync_detailed).parameters["body"].annotation
    return getattr(op, annotation) if isinstance(annotation, str) else annotation


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server


@pytest.fixture(scope="module")
def creds(mock: MockServer) -> dict[str, dict[str, Any]]:
    return {vendor: entry["check"] for vendor, entry in mock.credentials().items()}


@pytest.mark.parametrize("vendor", VENDORS)
def test_the_generator_keeps_every_operation(generated, vendor):
    run = generated[vendor]
    assert run.returncode == 0, run.stdout
    dropped = [line for line in run.stdout.splitlines() if any(word in line for word in DROPPED)]
    assert not dropped, f"openapi-python-client cut parts of the {vendor} document:\n{run.stdout}"
    for op in operations(vendor):
        module = _operation(generated, vendor, op["operationId"])
        assert callable(module.sync_detailed), op["operationId"]


def test_a_zebline_client_upserts_a_user(generated, mock, creds):
    pkg = _client_module(generated, "zebline")
    upsert = _operation(generated, "zebline", "upsert_user")
    get_user = _operation(generated, "zebline", "modeled_get_user")
    zeb = creds["zebline"]
    # ZEB-AUTH-RAW-TOKEN: the access token is the whole authorization header, no scheme.
    client = pkg.AuthenticatedClient(base_url=mock.url, token=zeb["access_token"], prefix="", auth_header_name="authorization")
    user_id = f"client-{uuid.uuid4().hex[:12]}"
    body = _body_model(upsert).from_dict({"userId": user_id, "attributes": {"plan": "gold", "visits": 3}})
    answer = upsert.sync_detailed(zeb["license_code"], client=client, body=body)
    assert 200 <= answer.status_code < 300, answer.content
    assert answer.parsed is not None and answer.parsed.to_dict() == json.loads(answer.content)
    profile = get_user.sync_detailed(zeb["license_code"], client=client, user_id=user_id)
    assert profile.status_code == 200, profile.content
    assert profile.parsed is not None
    stored = profile.parsed.to_dict()["response"]["user"]
    assert (stored["userId"], stored["attributes"]) == (user_id, {"plan": "gold", "visits": 3})


def test_a_gptbots_client_queries_a_user(generated, mock, creds):
    pkg = _client_module(generated, "gptbots")
    query = _operation(generated, "gptbots", "get_user_cdp")
    gpt = creds["gptbots"]
    client = pkg.AuthenticatedClient(base_url=mock.url, token=gpt["token"])
    answer = query.sync_detailed(client=client, user_id=gpt["user_id"])
    assert answer.status_code == 200, answer.content
    assert answer.parsed is not None and answer.parsed.to_dict() == json.loads(answer.content)


def test_a_sensors_client_starts_a_tag(generated, mock, creds):
    pkg = _client_module(generated, "sensors")
    start = _operation(generated, "sensors", "start_realtime_tag")
    get_tag = _operation(generated, "sensors", "get_realtime_tag")
    sf = creds["sensors"]
    client = pkg.Client(base_url=mock.url)
    headers = {"api_key": sf["api_key"], "x_organization_id": sf["organization_id"], "sensorsdata_project": sf["project"]}
    answer = start.sync_detailed(client=client, body=_body_model(start).from_dict({"name": sf["tag_name"]}), **headers)
    assert answer.status_code == 200, answer.content
    assert json.loads(answer.content)["code"] == "SUCCESS"
    tag = get_tag.sync_detailed(client=client, name=sf["tag_name"], **headers)
    assert tag.status_code == 200, tag.content
    assert json.loads(tag.content)["data"]["realtime_tag"]["status"] in ("RUNNING", "STARTING", "STARTED")


def test_a_tto_client_tracks_an_event(generated, mock, creds):
    pkg = _client_module(generated, "tto")
    track = _operation(generated, "tto", "track")
    body = _body_model(track).from_dict({"api_key": creds["tto"]["api_key"], "type": "track", "event": "Client Generated",
                                         "user_id": f"client-{uuid.uuid4().hex[:12]}", "properties": {"via": "openapi"}})
    answer = track.sync_detailed(client=pkg.Client(base_url=mock.url), body=body)
    assert answer.status_code == 200, answer.content


def test_a_quickaudience_client_lists_the_apis(generated, mock, creds):
    pkg = _client_module(generated, "quickaudience")
    list_apis = _operation(generated, "quickaudience", "list_apis")
    client = pkg.AuthenticatedClient(base_url=mock.url, token=creds["quickaudience"]["console_token"])
    answer = list_apis.sync_detailed(client=client)
    assert answer.status_code == 200, answer.content
    assert answer.parsed is not None
    assert {api["apiId"] for api in json.loads(answer.content)["data"]["items"]} >= {"qa-api-web", "qa-api-app"}


def test_generation_leaves_nothing_in_the_repository(generated):
    repo = Path(__file__).resolve().parents[1]
    assert not [p for p in repo.iterdir() if p.name.startswith("cdpkit_client_") or p.name.endswith("-client")]
