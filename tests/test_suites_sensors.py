"""Sensors beyond the shared mutant table (tests/test_mutants.py): generated requests carry the three
headers the document requires and reach the mock; each over-specification variant (another choice the
document leaves open, which the default run passes) is caught with --strict on the assumption it varies,
and on no documented ID."""

from __future__ import annotations

import pytest
import requests

from cdpkit import generators
from cdpkit.generators import transport
from cdpkit.mockserver.pytest_plugin import MockServer
from cdpkit.mockserver.runtime import MockConfig
from cdpkit.mockserver.vendor import Call, Handler, Rejection, Reply
from cdpkit.schemas import catalog
from tests.mutants import Mutant, replying, run_check, run_check_at, wrapping
from tests.mutants import sensors as sensors_mutants

H5_CHECKS = ("SF-H5-URL", "SF-H5-PROJECT-REQUIRED", "SF-H5-MODE", "SF-H5-TAG-NAME", "SF-H5-LANGUAGE", "SF-H5-POSTMESSAGE")


ONLINE_CHECKS = ("SF-ONLINE-GET", "SF-BATCH-GET", "SF-ONLINE-UNKNOWN-TAG")
APART = ("h5_realtime_tag_page", "h5_save_realtime_tag", "get_online_attributes", "batch_get_online_attributes")


def _served_only_under_prefix(original: Handler) -> Handler:
    """This host serves the tags and the quota; the H5 page and the look-ups live elsewhere (here: under the
    /sensors prefix), as the document's {online-domain} may for the look-ups."""
    def handler(call: Call) -> Reply:
        if not call.request.path.startswith("/sensors/"):
            raise Rejection(404, "this host serves the tag API only; the page and the look-ups live on other hosts", ("SF-ONLINE-HOST",))
        return original(call)
    return handler


def test_the_page_and_the_look_ups_go_to_their_own_hosts_in_every_suite(tmp_path) -> None:
    """--cred h5_url / online_url: those operations are asked there (the vendor checks, the bad-input cases and
    the schemathesis run alike), the rest at the target. Without them, the same checks fail."""
    server = MockServer(MockConfig(port=0, vendors=["sensors"]))
    server.mock.vendors["sensors"] = wrapping(APART, _served_only_under_prefix)(server.mock.vendors["sensors"])
    server.start()
    try:
        creds = server.credentials()["sensors"]["check"]
        here = run_check_at(server.url, "sensors", tmp_path / "here.xml", creds=creds, fuzz=False)
        assert here.exit_code == 1 and all(here.caught_by(rid) for rid in H5_CHECKS + ONLINE_CHECKS), here.failed
        server.reset()  # the first run deleted disposable_tag_name
        apart = {**creds, "h5_url": server.url + "/sensors", "online_url": server.url + "/sensors/"}
        run = run_check_at(server.url, "sensors", tmp_path / "apart.xml", creds=apart, max_examples=5)
        assert run.exit_code == 0 and run.failed == [], run.failed
        misplaced = [(e["operation"], e["request"]["path"]) for e in server.requests()
                     if e["operation"] in APART and not e["request"]["path"].startswith("/sensors/")]
        assert not misplaced, f"operations of another host sent to the target: {misplaced[:5]}"
    finally:
        server.stop()


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


# Variants whose assumption's strict check accepts both choices (the entry says so): --strict passes them too.
STRICT_ACCEPTS_EITHER = {"batch-skips-unknown-users": "SF-BATCH-UNKNOWN-USER: a refusal or an answer that leaves the user out",
                         "delete-running-stops-first": "SF-DELETE-RUNNING: a refusal, or a delete that removes the tag"}
JUDGED = [v for v in sensors_mutants.VARIANTS if v.varies and v.name not in STRICT_ACCEPTS_EITHER]


@pytest.mark.parametrize("variant", JUDGED, ids=[v.name for v in JUDGED])
def test_strict_catches_each_variant_on_the_assumption_it_varies(variant: Mutant, tmp_path) -> None:
    """The default run passes a variant (tests/test_mutants.py); --strict, which judges the mock's own choices,
    fails it on one of the assumptions it varies, and never on a documented ID (an assumed constraint of a
    response schema once failed SF-ONLINE-RESPONSE; a stopped tag's last values and entries in name order
    once passed)."""
    run = run_check(variant, "sensors", tmp_path, fuzz=False, strict=True)
    assert run.exit_code == 1 and any(run.caught_by(rid) for rid in variant.varies), (variant.name, run.failed)
    documented = {rid for f in run.failed for rid in f["caught_by"].split() if catalog.get(rid).kind == "documented"}
    assert not documented, (variant.name, documented, run.failed)


def _message_in_a_cdn_script(call: Call, reply: Reply) -> Reply:
    """A page whose message is written in a script it loads from another origin (a CDN): here, nowhere cdpkit reads."""
    if reply.status == 200 and isinstance(reply.body, str):
        body = reply.body.replace("SENSORS_SF_REALTIME_TAG_SEND", "MESSAGE_KEY_FROM_BUNDLE")
        return Reply(200, body.replace("</head>", '<script src="https://cdn.example.invalid/h5.js"></script></head>', 1),
                     content_type=reply.content_type)
    return reply


def test_a_message_written_in_a_script_cdpkit_does_not_read_is_not_judged(tmp_path) -> None:
    """SF-H5-POSTMESSAGE reads the page and its first same-origin scripts: what those lack may be in one it did
    not read (a CDN's), so the check says so and skips; the same page without that script fails it
    (tests/mutants: postmessage-key-changed)."""
    variant = Mutant("message-in-cdn-script", "sensors", (), replying("h5_realtime_tag_page", _message_in_a_cdn_script), "")
    run = run_check(variant, "sensors", tmp_path, fuzz=False)
    assert not any(f["caught_by"] == "SF-H5-POSTMESSAGE" for f in run.failed), run.failed
    assert any("SF-H5-POSTMESSAGE" in s["name"] and "does not read" in s["message"] for s in run.skipped), run.skipped
