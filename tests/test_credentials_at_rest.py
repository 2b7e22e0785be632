"""No credential in the clear in what the mock keeps of traffic: the journal, its SQLite file, its Redis keys, its logs.

An attacker's audit of that promise (ARCHITECTURE: journal_entry.py). Every test sends real requests to a real
mock, with credentials spelled as a careless or hostile client would (header names of any case or form, repeated
headers, every Authorization scheme, query names of any case, percent-encoded or PHP-style, JSON fields of any
case, \\u-escaped, nested, holding arrays, bodies past the 8 KiB cut, form bodies, a token in the URL path), and
then looks for the credential where it could be kept: ``GET /__mock/requests``, the SQLite database and its
WAL as raw bytes, every Redis key and value, the stderr and stdout of ``python -m cdpkit mock``, the "mock bug"
log. A credential may be kept only masked (``****`` and its last four characters).

Every credential here is a *stranger* (no tenant has it), so the mock's state never holds it either: any copy
found on disk or in Redis is one the journal or a log made. Each contains ``zz-hidden-4f9c`` (and no secret
field name, so nothing is masked merely because the value itself looks like one), and its masked form,
``****alue``, never does. What the state legitimately holds (the credentials the mock accepts, served to
``cdpkit check`` by ``/__mock/credentials``) is a separate matter, not tested here.
"""

from __future__ import annotations

import http.client
import json
import logging
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any, Iterable, Iterator

import pytest

from cdpkit.mockserver.journal_entry import BODY_LIMIT
from cdpkit.mockserver.runtime import MockConfig
from cdpkit.mockserver.server import MockServer
from cdpkit.schemas import qa_signing
from tests.test_redis_workers import redis_server  # noqa: F401  (the session's redis-server fixture)

CORE = b"zz-hidden-4f9c"
MASKED = "****alue"
JSON = ("Content-Type", "application/json")
SENSORS_QUOTA = "/api/v3/focus/v1/real-time-tag/quota/query"
SENSORS_HEADERS = [("x-organization-id", "org-sep-3164dp4"), ("sensorsdata-project", "default"), JSON]
QA_WEB_KEY_ID, QA_WEB_SECRET = "LTAIqaDemoWeb00000001", "qaDemoWebSecret0000000000000001"  # the demo's WEB channel
TTO_TRACK = {"type": "track", "msg_id": "m-at-rest", "anonymous_id": "a-at-rest", "event": "PageView",
             "timestamp": "1749411458", "properties": {"title": "t"}}


def secret(tag: str) -> str:
    """A stranger credential: no tenant has it; ``****alue`` once masked."""
    return f"zz-hidden-4f9c-{tag}-value"


Request = tuple[str, str, list[tuple[str, str]], bytes]  # method, target (path and query), headers, body


def send(url: str, method: str, target: str, headers: Iterable[tuple[str, str]],
         body: bytes = b"") -> tuple[int, bytes]:
    """One request exactly as given (repeated headers, odd spellings), on its own connection."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    try:
        conn.putrequest(method, target, skip_host=False, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def clear_copies(blob: bytes) -> list[bytes]:
    """Where a stranger credential is in ``blob`` in the clear, with some context to say where."""
    found, at = [], blob.find(CORE)
    while at >= 0:
        found.append(blob[max(0, at - 120): at + 40])
        at = blob.find(CORE, at + 1)
    return found


def journal_of(server: MockServer) -> bytes:
    status, body = send(server.url, "GET", "/__mock/requests?limit=1000", [])
    assert status == 200
    return body


def sqlite_bytes(db: Path) -> bytes:
    """The database and its WAL and shared-memory files, byte for byte, as anyone reading the disk sees them."""
    return b"".join(p.read_bytes() for p in sorted(db.parent.glob(db.name + "*")))


@pytest.fixture(params=["memory", "sqlite"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MockServer]:
    state = "memory" if request.param == "memory" else f"sqlite:{tmp_path / 'at-rest.sqlite'}"
    with MockServer(MockConfig(port=0, state=state)) as mock:
        yield mock


def assert_kept_only_masked(server: MockServer, requests: list[Request], masked_at_least: int) -> None:
    """Send ``requests``; the journal (and a SQLite file) must hold no stranger in the clear, and at least
    ``masked_at_least`` masked copies (the entries were journaled, masked, not merely left out)."""
    for method, target, headers, body in requests:
        status, _ = send(server.url, method, target, headers, body)
        assert status < 500, (method, target, headers)
    journal = journal_of(server)
    assert json.loads(journal)["count"] >= len(requests)
    assert not clear_copies(journal), clear_copies(journal)
    assert journal.count(MASKED.encode()) >= masked_at_least, journal.decode()[:3000]
    if server.config.state.startswith("sqlite:"):
        db = Path(server.config.state.removeprefix("sqlite:"))
        on_disk = sqlite_bytes(db)
        assert not clear_copies(on_disk), clear_copies(on_disk)


# -- where a credential enters ---------------------------------------------------------------------------

def header_requests() -> list[Request]:
    """Credential headers of every name a client may use, any case, repeated, in every Authorization scheme."""
    out: list[Request] = []
    for name in ("api-key", "API-KEY", "Api-Key", "apikey", "api_key", "x-api-key", "X-Auth-Token",
                 "X-Access-Token", "token", "Proxy-Authorization", "Cookie", "X-Cdpkit-Token", "X-Secret"):
        out.append(("POST", SENSORS_QUOTA, [(name, secret("h-" + name.lower())), *SENSORS_HEADERS], b"{}"))
    out.append(("POST", SENSORS_QUOTA, [("api-key", "first-key-0001"), ("API-Key", secret("h-repeat")),
                                        *SENSORS_HEADERS], b"{}"))
    for value in ("Bearer {}", "bearer {}", "BEARER  {}", "Basic {}", "Token {}", "Digest username={}", "{}",
                  "Bearer {} extra"):
        out.append(("GET", "/v1/user/get-user-cdp?user_id=u1", [("Authorization", value.format(secret("h-gpt")))], b""))
    out.append(("GET", "/v1/user/get-user-cdp?user_id=u1", [("Authorization", "Bearer ${token}"),
                                                            ("authorization", "Bearer " + secret("h-gpt2"))], b""))
    out.append(("GET", "/quickaudience/v1/apis", [("AUTHORIZATION", "Bearer " + secret("h-qa"))], b""))
    out.append(("POST", "/v1/accounts/LICENSE_CODE/users", [("Authorization", secret("h-zeb")), JSON],
                b'{"userId": "u-at-rest"}'))
    return out


def test_secret_headers_are_masked_whatever_their_name_case_repetition_or_scheme(server: MockServer) -> None:
    requests = header_requests()
    assert_kept_only_masked(server, requests, masked_at_least=len(requests))


def echo_requests() -> list[Request]:
    """Refusals whose message quotes what was sent: a header that fails its schema's pattern, a query that
    fails the signature (the canonical string quotes every parameter), a token sent as the license code."""
    gpt = "/v1/user/get-user-cdp?user_id=u1"
    collect_query = urllib.parse.urlencode({"accessKeyId": QA_WEB_KEY_ID, "signature": "0" * 40,
                                            "api_key": secret("e-qaq")})
    zeb_token = secret("e-zeb")
    return [
        ("GET", gpt, [("Authorization", secret("e-gpt-bare"))], b""),
        ("GET", gpt, [("Authorization", "Token " + secret("e-gpt-token"))], b""),
        ("GET", "/quickaudience/v1/apis", [("Authorization", "Basic " + secret("e-qa-basic"))], b""),
        ("GET", "/quickaudience/v1/apis", [("Authorization", secret("e-qa-bare"))], b""),
        # longer than the journal keeps of a header value (1,024 characters): the message quotes all of it
        ("GET", "/quickaudience/v1/apis", [("Authorization", "Basic " + secret("e-qa-long") + "L" * 1500)], b""),
        ("POST", "/quickaudience/v1/collect?" + collect_query, [JSON, ("Origin", "https://www.example.com")],
         b'{"appkey": "qademowebappkey00000001", "id": "click", "puid": "u", "ts": "1", "sdk_type": "httpapi"}'),
        ("POST", f"/v1/accounts/{zeb_token}/users", [("authorization", zeb_token), JSON], b'{"userId": "u-at-rest"}'),
        # a field's refusal quotes its value: '[KEY] is not of types "boolean", "number", "string"'
        ("POST", "/v1/accounts/LICENSE_CODE/users", [("authorization", "ACCESS_TOKEN"), JSON],
         json.dumps({"userId": "u-at-rest", "attributes": {"Token": [secret("e-zeb-attr")]}}).encode()),
    ]


def test_an_answer_or_path_that_repeats_the_requests_credential_is_masked(server: MockServer) -> None:
    """The journal keeps answers: an error message quoting the credential is a copy of it."""
    requests = echo_requests()
    assert_kept_only_masked(server, requests, masked_at_least=2 * len(requests))


def query_requests() -> list[Request]:
    out: list[Request] = []
    for query in ("API_KEY={}", "api%5Fkey={}", "Api-Key={}", "api_key%5B%5D={}", "api_key[]={}",
                  "api_key=short&api_key={}", "token={}", "access_token={}", "apikey={}", "password={}"):
        out.append(("POST", "/v1/settings?" + query.format(secret("q")), [], b""))
    body = b'{"appkey": "qademowebappkey00000001", "id": "click", "puid": "u", "ts": "1", "sdk_type": "httpapi"}'
    query = qa_signing.signed_query(QA_WEB_KEY_ID, QA_WEB_SECRET, body)
    out.append(("POST", "/quickaudience/v1/collect?" + urllib.parse.urlencode(query),
                [JSON, ("Origin", "https://www.example.com")], body))
    out.append(("GET", "/sf/h5/iframe-app/sf/realtime-tag?project=default&API_KEY=" + secret("q-h5"), [], b""))
    # the H5 sign-in's redirect (303) keeps every other parameter in its location, which the journal keeps
    sensors_key = urllib.parse.quote("#K-7IGwJpE2M9CpID4101qj2hWg9t59hoF3")  # the demo tenant's
    for extra in ("API_KEY=" + secret("q-h5-redirect"), "token=" + urllib.parse.quote("#K-" + secret("q-h5-#"))):
        out.append(("GET", f"/sf/h5/iframe-app/sf/realtime-tag?api_key={sensors_key}&project=default&{extra}",
                    [], b""))
    return out


def test_secret_query_parameters_are_masked_whatever_their_spelling(server: MockServer) -> None:
    requests = query_requests()
    assert_kept_only_masked(server, requests, masked_at_least=len(requests) - 1)
    # Quick Audience's signature is an HMAC keyed by the AccessKeySecret: a journal keeping it lets anyone
    # replay the call and guess the secret offline, so it is masked like the secret itself
    signature = qa_signing.signed_query(QA_WEB_KEY_ID, QA_WEB_SECRET, requests[-4][3])["signature"]
    assert signature.encode() not in journal_of(server)


def body_requests() -> list[Request]:
    """TTO's api_key (and other secret fields) in JSON bodies of every shape."""
    def track(**fields: object) -> bytes:
        return json.dumps({**TTO_TRACK, **fields}).encode()

    s = secret("b")
    out: list[Request] = [("POST", "/v1/track", [JSON], body) for body in (
        track(api_key=s), track(API_KEY=s, api_key="x"), track(Api_Key=s, api_key="x"),
        track(api_key=s).replace(b'"api_key"', b'"\\u0061pi_key"'),
        track(api_key=[s]), track(api_key={"value": s}), track(api_key="x", properties={"list": [{"Token": s}]}),
        track(api_key="x", properties={"password": {"nested": [s]}}), track(api_key="x", properties={"api-key": s}),
        track(api_key=s, properties={"pad": "p" * (BODY_LIMIT + 100)}),
        track(properties={"pad": "p" * (BODY_LIMIT + 100)}, api_key=s),
        ("[" * 3 + json.dumps({"api_key": s})).encode(),  # malformed JSON naming its secret
    )]
    return out


def test_secret_fields_of_json_bodies_are_masked_whatever_their_shape(server: MockServer) -> None:
    requests = body_requests()
    # a number is a credential too under a secret name (a PIN): it has no "zz-hidden", so it is looked for itself
    pin = json.dumps({**TTO_TRACK, "api_key": "x", "properties": {"PIN_Password": 98765432109}}).encode()
    requests.append(("POST", "/v1/track", [JSON], pin))
    # the two bodies past the 8 KiB cut and the malformed one are not kept at all: no masked copy of them
    assert_kept_only_masked(server, requests, masked_at_least=len(requests) - 4)
    journal = journal_of(server)
    assert b"98765432109" not in journal and b"****2109" in journal


def test_a_non_json_body_naming_a_credential_is_not_kept_in_the_clear(server: MockServer) -> None:
    """Operations that take no JSON body keep the body as text: a form body's credential, percent-encoded
    or not, must not be kept with it."""
    form = ("Content-Type", "application/x-www-form-urlencoded")
    requests: list[Request] = [
        ("POST", "/v1/settings?api_key=your_api_key_here", [form], f"api_key={secret('f')}".encode()),
        ("POST", "/v1/settings?api_key=your_api_key_here", [form], f"event=x&api%5Fkey={secret('f')}".encode()),
        ("POST", "/v1/settings?api_key=your_api_key_here", [form], f"%74oken={secret('f')}".encode()),
        ("POST", "/v1/settings?api_key=your_api_key_here", [("Content-Type", "text/plain")],
         f"Password: {secret('f')}".encode()),
    ]
    assert_kept_only_masked(server, requests, masked_at_least=0)


# -- where it could be kept ----------------------------------------------------------------------------

def every_request() -> list[Request]:
    return header_requests() + echo_requests() + query_requests() + body_requests()


def test_no_redis_key_or_value_holds_a_credential_in_the_clear(redis_server) -> None:  # noqa: F811
    """Every key under the mock's prefix, and every value of every type, after every kind of request."""
    import redis

    url = redis_server.url()
    prefix = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["prefix"][0]
    with MockServer(MockConfig(port=0, state=url)) as server:
        for method, target, headers, body in every_request():
            assert send(server.url, method, target, headers, body)[0] < 500
        assert json.loads(journal_of(server))["count"] >= len(every_request())
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    held: list[bytes] = []
    for key in client.scan_iter(match=prefix + "*", count=1000):
        kind = client.type(key)
        if kind == b"string":
            held.append(client.get(key) or b"")
        elif kind == b"list":
            held.extend(client.lrange(key, 0, -1))
        elif kind == b"hash":
            held.extend(b"%s=%s" % pair for pair in client.hgetall(key).items())
        elif kind == b"set":
            held.extend(client.smembers(key))
        elif kind == b"zset":
            held.extend(client.zrange(key, 0, -1))
        elif kind == b"stream":
            held.extend(repr(client.xrange(key)).encode())
        held.append(key)
    everything = b"\n".join(held)
    assert MASKED.encode() in everything, "the journal's entries are not in Redis: this test saw nothing"
    assert not clear_copies(everything), clear_copies(everything)


def test_the_mock_process_logs_no_credential(tmp_path: Path) -> None:
    """``python -m cdpkit mock``'s stdout and stderr (WARNING and up are logged) after every kind of request,
    and requests aiohttp itself refuses (a bad header byte, a header over the size limit, a bad request line)."""
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    db = tmp_path / "logged.sqlite"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "cdpkit", "mock", "--port", "0", "--quiet",
                                 "--state", f"sqlite:{db}"], stdout=stdout, stderr=stderr)
        try:
            deadline = time.monotonic() + 60
            while not out.read_text().strip() and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            url = out.read_text().strip().splitlines()[0]
            for method, target, headers, body in every_request():
                assert send(url, method, target, headers, body)[0] < 500
            parts = urllib.parse.urlsplit(url)
            for raw in (b"GET /v1/user/get-user-cdp HTTP/1.1\r\nAuthorization: Bearer " + secret("l-nul").encode()
                        + b"\x00\r\n\r\n",
                        b"GET /v1/user/get-user-cdp HTTP/1.1\r\nAuthorization: Bearer " + secret("l-long").encode()
                        + b"x" * 9000 + b"\r\n\r\n",
                        b"GET /v1/" + secret("l-line").encode() + b" HTTP/9.9 junk\r\n\r\n"):
                import socket

                with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
                    sock.sendall(raw)
                    sock.recv(65536)
            assert send(url, "GET", "/__mock/requests?limit=1", [])[0] == 200
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    logged = out.read_bytes() + err.read_bytes()
    assert not clear_copies(logged), clear_copies(logged)
    assert not clear_copies(sqlite_bytes(db)), clear_copies(sqlite_bytes(db))


def test_a_mock_bug_log_does_not_repeat_the_requests_credential(caplog: pytest.LogCaptureFixture,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A handler that fails with the credential in its exception (``tokens[token]``: a KeyError names the
    key) is logged with its traceback: the request's credential is masked there too."""
    caplog.set_level(logging.ERROR, logger="cdpkit.mock")
    server = MockServer(MockConfig(port=0, vendors=["gptbots", "tto"]))
    vendor = server.mock.vendors["gptbots"]

    def failing(call):  # what a bug looks like: a lookup that raises with the token in its message
        return {}[call.headers["Authorization"].split(" ", 1)[1]]

    monkeypatch.setitem(vendor.handlers, "get_user_cdp", failing)  # the vendor table is shared: put back after
    monkeypatch.setitem(server.mock.vendors["tto"].handlers, "track", lambda call: {}[call.body["api_key"]])
    with server:
        token = secret("bug-header")
        status, answer = send(server.url, "GET", "/v1/user/get-user-cdp?user_id=u1",
                              [("Authorization", "Bearer " + token)])
        assert status == 500 and CORE not in answer
        # a header that is not UTF-8 (aiohttp keeps it with lone surrogates): scrubbing it must not fail in turn
        latin: Any = b"Bearer " + secret("bug-latin").encode() + b"\xff"  # http.client sends bytes as they are
        status, answer = send(server.url, "GET", "/v1/user/get-user-cdp?user_id=u1", [("Authorization", latin)])
        assert status == 500 and b"cdpkit mock internal error" in answer
        sent = json.dumps({**TTO_TRACK, "api_key": secret("bug-body")}).encode()
        status, _ = send(server.url, "POST", "/v1/track", [JSON], sent)
        assert status == 500
        journal = journal_of(server)
    logged = "\n".join(r.getMessage() for r in caplog.records).encode()
    assert b"mock bug in gptbots.get_user_cdp" in logged and b"mock bug in tto.track" in logged
    assert b"KeyError" in logged
    assert MASKED.encode() in logged
    assert not clear_copies(logged), clear_copies(logged)
    assert not clear_copies(journal), clear_copies(journal)


def test_a_redis_password_is_not_printed_by_the_banner_or_a_refusal(tmp_path: Path) -> None:
    """``--state redis://:PASSWORD@…``: the banner (stdout, kept by CI logs) and the "cannot use Redis" and
    bad-URL refusals (stderr) name the store with its password masked."""
    import shutil
    import socket

    from tests.test_store import free_port

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    password = secret("redis")
    port = free_port()
    redis_proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no", "--dir", str(tmp_path), "--requirepass", password],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    printed = b""
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        url = f"redis://:{password}@127.0.0.1:{port}/0?prefix=pw"
        mock = subprocess.Popen([sys.executable, "-m", "cdpkit", "mock", "--port", "0", "--state", url],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert mock.stdout is not None
            first = mock.stdout.readline()  # "cdpkit mock listening on URL"
            printed += first + mock.stdout.readline()  # "vendors: …  state: …"
            answered = send(first.decode().split()[-1], "GET", "/v1/user/get-user-cdp?user_id=u1",
                            [("Authorization", "Bearer ${token}")])
            assert answered[0] == 200, answered  # the mock works on that Redis: the password was right
        finally:
            mock.terminate()
            out, err = mock.communicate(timeout=30)
            printed += out + err
        assert b"state: redis://:" + MASKED.encode() + b"@127.0.0.1" in printed, printed
        for state in (f"redis://:{password}@127.0.0.1:{free_port()}/0", f"redis://:{password}@127.0.0.1:{port}/x"):
            refused = subprocess.run([sys.executable, "-m", "cdpkit", "mock", "--port", "0", "--state", state],
                                     capture_output=True, timeout=60)
            assert refused.returncode == 2 and MASKED.encode() in refused.stderr, refused.stderr
            printed += refused.stdout + refused.stderr
    finally:
        redis_proc.terminate()
        redis_proc.wait(timeout=10)
    assert not clear_copies(printed), clear_copies(printed)


def test_the_dashboards_state_view_masks_a_secret_field_of_any_spelling(server: MockServer) -> None:
    """``/__mock/ui/state/<vendor>`` promises every credential masked; state holds what clients sent (TTO traits,
    Zebline attributes), so a secret field there is masked by the same names as the journal's."""
    track = {**TTO_TRACK, "api_key": "your_api_key_here", "traits": {"Access-Token": secret("d-tto"),
                                                                      "api-key": secret("d-tto2")}}
    assert send(server.url, "POST", "/v1/track", [JSON], json.dumps(track).encode())[0] == 200
    upsert = {"userId": "u-dash", "attributes": {"X-Api-Key": secret("d-zeb"), "client_secret_2": secret("d-zeb2")}}
    assert send(server.url, "POST", "/v1/accounts/LICENSE_CODE/users", [("authorization", "ACCESS_TOKEN"), JSON],
                json.dumps(upsert).encode())[0] == 200
    for vendor in ("tto", "zebline"):
        status, view = send(server.url, "GET", f"/__mock/ui/state/{vendor}", [])
        assert status == 200 and MASKED.encode() in view, view[:2000]
        assert not clear_copies(view), clear_copies(view)

