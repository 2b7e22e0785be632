"""Property tests of the generators, generic over every registered operation.

A vendor module added under cdpkit/generators/ is covered here without edits: its valid payloads must pass
the request schema (and its convention schema) for thousands of seeds and be accepted by the mock;
each invalid builder must break exactly the requirement it names, in the schema or in the mock.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import jsonschema_rs
import orjson
import pytest
import requests

from cdpkit import generators
from cdpkit import schemas
from cdpkit.generators import OMIT, registry, transport
from cdpkit.generators.draw import Draw, pool
from cdpkit.generators.send import TokenBucket
from cdpkit.mockserver.pytest_plugin import MockServer
from cdpkit.mockserver.runtime import MockConfig
from cdpkit.schemas.validation import Validators

VALID_SEEDS = 2000
INVALID_SEEDS = 500
HTTP_SEEDS = 150
OPS = generators.operations()
BREAKS = [(op, rid) for op in OPS for rid in generators.violations(op)]
VENDORS = sorted({registry.lookup(op).vendor for op in OPS})
LOCALES = (None, "market", "zh_TW", "zh_CN", "fa_IR", "th_TH")  # valid output must hold in every market


@pytest.fixture(scope="module")
def validators() -> Validators:
    return Validators(VENDORS)


def _schema_violations(validators: Validators, op: str, payload: object) -> set[str]:
    reg = registry.lookup(op)
    found = validators.violations(reg.vendor, reg.spec.operation_id, reg.part, payload)
    return {v.requirement_id for v in found}


def test_some_operation_is_registered():
    assert "gptbots.get_user_cdp" in OPS
    assert generators.violations("gptbots.get_user_cdp") == ["GPT-QUERY-ONE-REQUIRED", "GPT-QUERY-EMPTY-VALUE"]


@pytest.mark.parametrize("op", OPS)
def test_valid_payloads_pass_request_and_convention_schemas(op, validators):
    reg = registry.lookup(op)
    conventions = [jsonschema_rs.validator_for(schemas.bundle(reg.vendor, ref)) for ref in reg.spec.conventions]
    for seed in range(VALID_SEEDS):
        payload = generators.valid(op, seed=seed, locale=LOCALES[seed % len(LOCALES)])
        assert _schema_violations(validators, op, payload) == set(), (seed, payload)
        for convention in conventions:
            assert convention.is_valid(payload), (seed, payload, [e.message for e in convention.iter_errors(payload)])


@pytest.mark.parametrize("op,rid", BREAKS)
def test_invalid_payloads_break_exactly_the_named_requirement(op, rid, validators):
    if rid in registry.lookup(op).spec.state_only:
        pytest.skip(f"{rid} is seen only by the server's state; the HTTP test checks it")
    for seed in range(INVALID_SEEDS):
        payload = generators.invalid(op, rid, seed=seed)
        assert _schema_violations(validators, op, payload) == {rid}, (seed, payload)


def _files_referenced(vendor: str, name: str) -> set[tuple[str, str]]:
    """Convention files a convention schema includes by ``$ref`` (TTO's messages include its traits)."""
    import re

    text = orjson.dumps(schemas.load(vendor, name)).decode()
    return {(vendor, ref) for ref in re.findall(r'"\$ref":"([^"#]+_convention\.json)', text)}


def test_every_convention_schema_is_followed_by_some_generator():
    claimed = {(registry.lookup(op).vendor, ref.partition("#")[0]) for op in OPS for ref in registry.lookup(op).spec.conventions}
    claimed |= {found for vendor, name in claimed for found in _files_referenced(vendor, name)}
    for vendor in VENDORS:
        for name in schemas.schema_files(vendor):
            if name.endswith("_convention.json"):
                assert (vendor, name) in claimed, f"no generator declares convention={name!r} for {vendor}"


@pytest.mark.parametrize("op", OPS)
def test_same_seed_same_bytes_other_seed_other_payload(op):
    first = [orjson.dumps(generators.valid(op, seed=s)) for s in range(200)]
    again = [orjson.dumps(generators.valid(op, seed=s)) for s in range(200)]
    assert first == again
    reg = registry.lookup(op)
    credentials = set(transport.CRED_KEYS.get(reg.vendor, ()))  # TTO settings' only field is its api_key
    if any(reg.meta.get(p) and set(schemas.bundle(reg.vendor, reg.meta[p]).get("properties", {})) - credentials
           for p in ("body", "query", "path_params")):
        assert len(set(first)) > 150  # seeds really vary the payload (an operation without fields sends {})
    for rid in generators.violations(op):
        assert generators.invalid(op, rid, seed=5) == generators.invalid(op, rid, seed=5)


def test_aliases_and_operation_ids_name_the_same_builder():
    assert generators.valid("gptbots.users", seed=3) == generators.valid("gptbots.get_user_cdp", seed=3)
    with pytest.raises(KeyError, match="known:"):
        generators.valid("gptbots.nothing")
    with pytest.raises(KeyError, match="GPT-QUERY-ONE-REQUIRED"):
        generators.invalid("gptbots.users", "GPT-AUTH-BEARER")


def test_overrides_replace_and_omit_keys():
    payload = generators.valid("gptbots.get_user_cdp", seed=1, user_id="BC123", anonymous_id=OMIT)
    assert payload == {"user_id": "BC123"}
    assert generators.invalid("gptbots.get_user_cdp", "GPT-QUERY-EMPTY-VALUE", seed=1, user_id="BC123", anonymous_id=OMIT) == {"user_id": ""}


def test_gptbots_queries_cover_each_documented_form():
    forms = {tuple(sorted(generators.valid("gptbots.get_user_cdp", seed=s))) for s in range(300)}
    assert forms == {("user_id",), ("anonymous_id",), ("anonymous_id", "user_id")}


def test_registration_refuses_a_sender_convention_as_a_rejection():
    spec = registry.Operation("get_user_cdp", valid=lambda d: {}, invalid={"GPT-ANON-ID-ORIGIN": lambda d, p: p})
    with pytest.raises(registry.RegistryError, match="not a server requirement"):
        registry._check("gptbots", spec, schemas.operation("gptbots", "get_user_cdp"))
    spec = registry.Operation("get_user_cdp", valid=lambda d: {}, invalid={"GPT-NO-SUCH": lambda d, p: p})
    with pytest.raises(registry.RegistryError, match="unknown requirement"):
        registry._check("gptbots", spec, schemas.operation("gptbots", "get_user_cdp"))


@pytest.mark.parametrize("locale,alphabet", [("zh_TW", "\u4e00-\u9fff"), ("th_TH", "\u0e00-\u0e7f"), ("fa_IR", "\u0600-\u06ff")])
def test_locale_pools_draw_from_the_market(locale, alphabet):
    import re

    names = pool(locale, "name")
    assert sum(bool(re.search(f"[{alphabet}]", n)) for n in names) > len(names) * 0.9


def test_phone_digits_carry_the_market_calling_code():
    import random

    for locale, code in [("th_TH", "66"), ("zh_CN", "86"), ("fa_IR", "98"), ("en_US", "1")]:
        draw = Draw(random.Random(1), locale)
        for _ in range(100):
            phone = draw.phone_digits()
            assert phone.isdigit() and phone.startswith(code) and 8 <= len(phone) <= 15, (locale, phone)


def test_market_locale_changes_output_and_unknown_locale_is_refused():
    reg = registry.lookup("gptbots.get_user_cdp")
    assert generators.resolve_locale(reg, "market") == "th_TH"
    en = [generators.valid(reg.name, seed=s) for s in range(100)]
    th = [generators.valid(reg.name, seed=s, locale="market") for s in range(100)]
    assert en != th
    with pytest.raises(ValueError, match="unknown locale"):
        pool("xx_YY", "name")


def test_transport_puts_the_bearer_token_in_the_header():
    req = transport.request_for("gptbots.users", {"user_id": "BC123"}, {"token": "t0k"})
    assert (req.method, req.path, req.query) == ("GET", "/v1/user/get-user-cdp", {"user_id": "BC123"})
    assert req.headers["Authorization"] == "Bearer t0k" and req.content() is None
    with pytest.raises(transport.MissingCredential, match="--cred token="):
        transport.request_for("gptbots.get_user_cdp", {"user_id": "BC123"}, {})


# --- through the mock -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server():
    with MockServer(MockConfig(port=0, vendors=VENDORS)) as srv:
        yield srv


def _send(server: MockServer, op: str, payloads: list) -> list[dict]:
    """Send each payload with the mock's own credentials (plus what the operation's fixture creates for
    it); the journal entries of ``op``, oldest first."""
    reg = registry.lookup(op)
    creds = server.credentials()[reg.vendor]["check"]
    with requests.Session() as http:
        for payload in payloads:
            extra = reg.spec.fixture(server.url, creds, payload) if reg.spec.fixture else {}
            req = transport.request_for(op, payload, {**creds, **extra})
            http.request(req.method, req.url(server.url), data=req.content(), headers=req.headers)
    return list(reversed(server.requests(limit=len(payloads), operation=reg.spec.operation_id)))


@pytest.mark.parametrize("op", OPS)
def test_mock_accepts_valid_payloads(op, server):
    server.reset()
    entries = _send(server, op, [generators.valid(op, seed=s, locale="market") for s in range(HTTP_SEEDS)])
    bad = [(e["request"], e["response"]) for e in entries if e["verdict"] != "good"]
    assert len(entries) == HTTP_SEEDS and not bad, bad[:3]


@pytest.mark.parametrize("op,rid", BREAKS)
def test_mock_rejects_invalid_payloads_naming_the_requirement(op, rid, server):
    server.reset()
    entries = _send(server, op, [generators.invalid(op, rid, seed=s) for s in range(HTTP_SEEDS)])
    wrong = [e for e in entries if not (400 <= e["response"]["status"] < 500 and rid in e["violations"])]
    assert len(entries) == HTTP_SEEDS and not wrong, [(e["request"]["query"], e["violations"]) for e in wrong[:3]]


# --- the command ------------------------------------------------------------------------------


def test_cli_output_is_reproducible_across_processes():
    def start(op: str, hash_seed: str) -> subprocess.Popen:
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}  # output must not depend on hash()
        args = [sys.executable, "-m", "cdpkit", "gen", op, "--count", "1000", "--seed", "1"]
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)

    runs = [start("gptbots.get_user_cdp", "1"), start("gptbots.users", "2")]  # in parallel
    (first, err), (second, _) = (p.communicate(timeout=60) for p in runs)
    assert [p.returncode for p in runs] == [0, 0], err
    assert first == second
    lines = first.splitlines()
    assert len(lines) == 1000
    assert [orjson.loads(line) for line in lines[:5]] == [generators.valid("gptbots.get_user_cdp", seed=f"1:{i}") for i in range(5)]
    other = [p for _, _, p in generators.stream("gptbots.get_user_cdp", 50, seed=2)]
    assert other != [orjson.loads(line) for line in lines[:50]]


def _main(capsys, *args: str) -> tuple[int, str, str]:
    """``cdpkit gen ARGS`` in this process (cheaper than a subprocess): exit code, stdout, stderr."""
    from cdpkit.cli import main

    try:
        code = main(["gen", *args])
    except SystemExit as exc:  # --help
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_invalid_all_cycles_through_every_requirement(capsys):
    code, out, _ = _main(capsys, "gptbots.get_user_cdp", "--invalid", "all", "--count", "4", "--seed", "9", "--annotate", "--format", "json")
    docs = orjson.loads(out)
    assert code == 0
    assert [d["requirement"] for d in docs] == generators.violations("gptbots.get_user_cdp") * 2
    assert docs[1]["payload"] == generators.invalid("gptbots.get_user_cdp", docs[1]["requirement"], seed="9:1")


def test_cli_list_and_usage_errors(capsys):
    code, listing, _ = _main(capsys, "--list")
    assert code == 0
    for op in OPS:
        assert op in listing
        for rid in generators.violations(op):
            assert rid in listing
    code, _, err = _main(capsys, "gptbots.nothing")
    assert code == 2 and "known:" in err
    code, _, err = _main(capsys, "gptbots.users", "--invalid", "GPT-AUTH-BEARER")
    assert code == 2 and "GPT-QUERY-ONE-REQUIRED" in err
    code, out, _ = _main(capsys, "gptbots.users", "--locale", "xx_YY", "--seed", "1")
    assert code == 2 and out == ""
    code, out, _ = _main(capsys, "--help")
    assert code == 0 and "examples:" in out and "--invalid" in out


def test_cli_send_fills_the_mock_and_tallies(server, capsys):
    server.reset()
    before = server.summary()["total"]["total"]
    code, _, err = _main(capsys, "gptbots.users", "--count", "120", "--seed", "4", "--send", server.url, "--concurrency", "4")
    assert code == 0, err
    assert server.summary()["total"]["good"] - before == 120
    assert "120/120" in err and "status" in err and "answered as the payload calls for: 120/120" in err


@pytest.mark.parametrize("op", [name for name in OPS if registry.lookup(name).spec.fixture])
def test_cli_send_to_a_mock_creates_the_state_an_operation_names(op, capsys):
    """An operation that names stored state (a track ID, a tag, a channel) runs its fixture against a mock."""
    vendor = registry.lookup(op).vendor
    with MockServer(MockConfig(port=0, vendors=[vendor])) as mock:
        code, _, err = _main(capsys, op, "--count", "12", "--seed", "2", "--send", mock.url, "--quiet")
    assert code == 0 and "answered as the payload calls for: 12/12" in err, err


def test_cli_send_to_nothing_says_so(capsys):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        code, _, err = _main(capsys, "gptbots.users", "--send", f"http://127.0.0.1:{port}", "--cred", "token=x")
    assert code == 3 and "cannot reach" in err


def test_token_bucket_spaces_requests():
    import asyncio

    async def take(n: int) -> float:
        bucket = TokenBucket(rate=100, burst=1)
        started = time.monotonic()
        for _ in range(n):
            await bucket.take()
        return time.monotonic() - started

    assert asyncio.run(take(21)) >= 0.19  # 1 token at once, then 20 at 100/s
