"""The Sensors suite has teeth: it passes the mock (normal and --strict), fails every one-defect mutant
on the right requirement, and passes variants that choose differently where the document is silent
(errors at HTTP 200 signalled by ``code`` alone, extra fields, another 4xx and error body).

Mutants run only the checks of their expected IDs (``-k``): the whole suite is long, and the point
is that the named check catches the defect; variants run the whole suite, schemathesis included.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

import generators
from generators import transport
from mockserver.pytest_plugin import MockServer
from mockserver.runtime import MockConfig
from tests.mutants import Mutant, assert_caught, run_check
from tests.mutants.sensors import MUTANTS, VARIANTS


def test_mock_passes_everything_strict(tmp_path: Path) -> None:
    run = run_check(None, "sensors", tmp_path, fuzz=False, strict=True)
    assert run.exit_code == 0, run.failed


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_is_caught_by_its_requirement(mutant: Mutant, tmp_path: Path) -> None:
    run = run_check(mutant, "sensors", tmp_path, fuzz=False, keyword=" or ".join(mutant.expected_ids))
    assert_caught(run, mutant)


@pytest.mark.parametrize("variant", VARIANTS, ids=[m.name for m in VARIANTS])
def test_over_specification_variant_passes(variant: Mutant, tmp_path: Path) -> None:
    run = run_check(variant, "sensors", tmp_path, max_examples=5)
    assert run.exit_code == 0, f"{variant.name} ({variant.description}) failed: {run.failed}"


def test_at_least_six_mutants_and_two_variants() -> None:
    assert len(MUTANTS) >= 6 and len(VARIANTS) >= 2


def test_generated_requests_reach_the_mock_with_its_credentials() -> None:
    """`cdpkit gen sensors.* --send` builds the three headers from the check keys; the mock accepts them."""
    with MockServer(MockConfig(port=0, vendors=["sensors"])) as server:
        creds = server.credentials()["sensors"]["check"]
        request = transport.request_for("sensors.quota", generators.valid("sensors.quota", seed=1), creds)
        assert {request.headers[h] for h in ("api-key", "X-Organization-Id", "sensorsdata-project")} == \
            {creds["api_key"], creds["organization_id"], creds["project"]}
        answer = requests.post(request.url(server.url), data=request.content(), headers=request.headers, timeout=10)
        assert answer.status_code == 200 and answer.json()["code"] == "SUCCESS"
        name = creds["tag_name"]
        for op in ("sensors.get", "sensors.start", "sensors.stop"):
            request = transport.request_for(op, generators.valid(op, seed=1, name=name), creds)
            answer = requests.request(request.method, request.url(server.url), data=request.content(), headers=request.headers, timeout=10)
            assert answer.json()["code"] == "SUCCESS", (op, answer.text)
        with pytest.raises(transport.MissingCredential, match="--cred project="):
            transport.request_for("sensors.quota", {}, {"api_key": "k", "organization_id": "o"})
