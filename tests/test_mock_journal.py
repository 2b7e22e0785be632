"""The journal as a record that outlives the request: always readable, no secret in the clear, bounded in bytes.

Each test here stood for a defect a reliability review found (issue 10): one non-UTF-8 header byte made
``/__mock/requests`` answer 500 (and, with SQLite, the vendor call itself); credentials were kept in the
clear in the journal and its SQLite file; the journal was bounded in entries but kept whole parsed
bodies, so refused 68 KB bodies grew memory by half a gigabyte.
"""

from __future__ import annotations

import gc
import socket
import tracemalloc
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest
import requests
from multidict import CIMultiDict, CIMultiDictProxy, istr

from cdpkit.mockserver.journal_entry import BODY_LIMIT, mask, record
from cdpkit.mockserver.pytest_plugin import MockServer
from cdpkit.mockserver.runtime import MockConfig
from cdpkit.mockserver.store import Store

PATH = "/v1/user/get-user-cdp?user_id=BC123"


def raw_request(url: str, head: bytes) -> bytes:
    """Send ``head`` (request line and headers, CRLF-separated, no body) as bytes and return the answer."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head + b"\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("state", ["memory", "sqlite"])
def test_a_header_that_is_not_utf8_is_journaled_readably(state: str, tmp_path: Path) -> None:
    spec = "memory" if state == "memory" else f"sqlite:{tmp_path / 'j.sqlite'}"
    with MockServer(MockConfig(port=0, vendors=["gptbots"], state=spec)) as server:
        answer = raw_request(server.url, b"GET " + PATH.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             b"Authorization: Bearer ${token}\r\nX-Note: caf\xe9\r\nConnection: close")
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        journal = requests.get(server.url + "/__mock/requests", timeout=10)
        assert journal.status_code == 200
        assert journal.json()["requests"][0]["request"]["headers"]["X-Note"] == "caf\ufffd"


def test_credentials_are_masked_in_the_journal_and_its_sqlite_file(tmp_path: Path) -> None:
    db = tmp_path / "secrets.sqlite"
    with MockServer(MockConfig(port=0, vendors=["gptbots", "tto", "quickaudience"], state=f"sqlite:{db}")) as server:
        creds = server.credentials()
        token, api_key = creds["gptbots"]["check"]["token"], creds["tto"]["check"]["api_key"]
        console = creds["quickaudience"]["check"]["console_token"]
        stranger = "sk-live-real-token-sent-by-mistake-0042"
        requests.get(server.url + PATH, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        requests.get(server.url + PATH, headers={"Authorization": f"Bearer {stranger}"}, timeout=10)  # refused
        requests.post(server.url + "/v1/track", json={"api_key": api_key, "event": "e", "user_id": "u"}, timeout=10)
        requests.post(server.url + "/v1/settings", params={"api_key": api_key}, timeout=10)
        created = requests.post(server.url + "/quickaudience/v1/apis", headers={"Authorization": f"Bearer {console}"},
                                json={"channelName": "c", "applicationType": "WEB", "collectedByQuickTracking": True,
                                      "networkDomains": ["https://shop.example"]}, timeout=10)
        assert created.status_code < 300, created.text
        secret = created.json()["data"]["accessKeySecret"]
        journal = requests.get(server.url + "/__mock/requests", timeout=10).text
        assert mask(stranger) in journal and "Bearer " + mask(token) in journal
    for value in (token, api_key, console, stranger, secret):
        assert value not in journal, f"{mask(value)} is in the journal in the clear"
    on_disk = db.read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("secrets.sqlite-*"))
    assert stranger.encode() not in on_disk, "a refused token is kept in the SQLite file"
    # what the mock needs to work (a channel's secret to verify signatures, the demo tokens) stays in the
    # state table; the journal table holds no credential
    import sqlite3

    rows = b"".join(bytes(r[0]) for r in sqlite3.connect(db).execute("SELECT entry FROM journal"))
    assert not any(v.encode() in rows for v in (token, api_key, console, stranger, secret))


def test_the_journal_is_bounded_in_bytes() -> None:
    config = MockConfig(port=0, vendors=["zebline"], journal_limit=10_000, journal_bytes=512 * 1024)
    with MockServer(config) as server:
        creds = server.credentials()["zebline"]["check"]
        url = f"{server.url}/v1/accounts/{creds['license_code']}/users"
        refused = {"attributes": {f"k{i}": "v" * 8 for i in range(4_700)}}  # ~68 KB, no user id: refused
        for _ in range(40):
            answer = requests.post(url, json=refused, headers={"authorization": creds["access_token"]}, timeout=10)
            assert answer.status_code == 400
        entries, held = server.mock.store.journal_size()
        assert held <= 512 * 1024 and entries < 40
        body = requests.get(server.url + "/__mock/requests?limit=1", timeout=10).json()["requests"][0]["request"]["body"]
        assert body["truncated"] is True and body["bytes"] > BODY_LIMIT and len(body["start"]) <= BODY_LIMIT


def test_a_stored_small_value_costs_its_size_not_a_4_kib_buffer() -> None:
    store = Store()
    value = {"userId": "u", "attributes": {"plan": "pro", "points": 3}, "firstname": "mary"}
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(2_000):
        store.put("profiles", f"u{i}", value)
    store.commit()
    per_value = (tracemalloc.get_traced_memory()[0] - before) / 2_000
    tracemalloc.stop()
    assert per_value < 600, f"{per_value:.0f} bytes per small stored value"


def test_long_control_reads_are_paged() -> None:
    with MockServer(MockConfig(port=0, vendors=["gptbots"])) as server:
        for i in range(25):
            requests.get(server.url + f"/v1/user/get-user-cdp?user_id=u{i}", timeout=10,
                         headers={"Authorization": "Bearer ${token}"})
        first = requests.get(server.url + "/__mock/requests?limit=10", timeout=10).json()
        second = requests.get(server.url + f"/__mock/requests?limit=10&before={first['next']}", timeout=10).json()
        assert first["count"] == second["count"] == 10
        assert first["requests"][-1]["id"] > second["requests"][0]["id"]
        assert len(server.requests()) == 25, "the client follows the pages"
        assert requests.get(server.url + "/__mock/requests?before=x", timeout=10).status_code == 400
        cut = requests.get(server.url + "/__mock/state/gptbots?limit=1", timeout=10).json()
        assert any(k == "…" for v in cut.values() if isinstance(v, dict) for k in v)


def _kept_entries(store: Store) -> list:
    return [kept for _, _, kept in store._journal.newest_first()]


def test_a_full_journal_gives_the_garbage_collector_nothing_to_walk() -> None:
    """Issue 9, the Sensors look-ups' p99 of 21-40 ms: a full journal frees an old entry for each new one, and
    CPython counts each freed container against the next young collection, so the new entries (a dozen tuples
    each, as aiohttp's header pairs came) piled up uncounted in the young generation until one collection
    walked ~100,000 of them with the event loop stopped. Kept as bytes, they give it nothing to walk."""
    store = Store(journal_limit=1_000)
    headers = CIMultiDictProxy(CIMultiDict([(istr("Host"), "127.0.0.1"), (istr("Content-Type"), "application/json"),
                                            ("api-key", "secret-key-0123456789"), ("X-Request-Id", "r")]))

    def one(i: int) -> None:
        raw = b'{"user_id": "u%d", "tags": ["a", "b"]}' % i
        store.finish_request(record(0.0, "sensors", "get", "POST", "/p", "q=1", (("q", "1"),), headers.items(), raw,
                                    orjson.loads(raw), 200, b'{"code": "SUCCESS"}', {"code": "SUCCESS"}, (), 0.1),
                             True, {})

    for i in range(1_000):
        one(i)
    gc.collect()
    gc.disable()
    try:
        young = len(gc.get_objects(0))
        for i in range(2_000):
            one(i)
        grown = len(gc.get_objects(0)) - young
    finally:
        gc.enable()
    assert grown < 500, f"2,000 journaled requests left {grown} objects in the collector's young generation"
    assert len(store.journal()) == 1_000 and store.journal(limit=1)[0]["request"]["headers"]["api-key"] == mask("secret-key-0123456789")


def test_what_aiohttp_hands_the_journal_is_kept_as_bytes() -> None:
    """The header names aiohttp parses are ``istr``, a str subclass marshal refuses; the journal keeps a record
    it cannot marshal as it is (still correct), so this holds the ordinary path to bytes, for every vendor."""
    with MockServer(MockConfig(port=0)) as server:
        creds = server.credentials()["gptbots"]["check"]
        requests.get(server.url + PATH, headers={"Authorization": f"Bearer {creds['token']}"}, timeout=10)
        requests.post(server.url + "/v1/track", json={"api_key": "k", "msg_id": "m"}, timeout=10)
        requests.post(server.url + "/api/v3/focus/v1/express-attribute-online/get", data=b"{", timeout=10)
        requests.get(server.url + "/nowhere", timeout=10)
        kept = _kept_entries(server.mock.store)
        assert len(kept) >= 3 and all(type(k) is bytes for k in kept), [type(k) for k in kept]


def test_a_record_marshal_cannot_write_is_kept_as_it_is_and_read_back() -> None:
    """The fallback of the memory journal: a str subclass anywhere in a record (marshal refuses it) costs the
    record its compact form, never the request or the journal read."""
    store = Store()
    rec = record(0.0, "tto", "track", "POST", "/v1/track", "q=1", ((istr("Odd"), "v"),), (), b"", None, 200, b"{}", {},
                 (), 0.1)
    store.finish_request(rec, True, {})
    assert type(_kept_entries(store)[0]) is tuple
    assert store.journal()[0]["request"]["query"] == {"Odd": "v"}
