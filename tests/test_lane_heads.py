"""cdpkit.mockserver.lane_http.HeadReader: a block of header fields met before is looked up, not read again
(issue 9), and that memory changes nothing a request is read as, shares nothing a handler may change, and stays
bounded whatever clients send. What the lane answers is held to aiohttp's by tests/test_fast_lane.py."""

from __future__ import annotations

import asyncio
import tracemalloc
from typing import Any

import pytest

from cdpkit.mockserver.app import VENDOR_ROUTES, build_app
from cdpkit.mockserver.journal_entry import keep_headers
from cdpkit.mockserver.lane_http import FIELDS_MEMORY_BYTES, HEAD_LIMIT, HeadReader, read_fields
from cdpkit.mockserver.runtime import Mock, MockConfig

ZEB = "/v1/accounts/LICENSE_CODE/users"
GPT = "/v1/user/get-user-cdp"


@pytest.fixture(scope="module")
def routes() -> Any:
    return build_app(mock=Mock(MockConfig(port=0)))[VENDOR_ROUTES]


def head(line: str, fields: list[tuple[str, str]]) -> tuple[bytes, int]:
    """A head's bytes (blank line included) and where its blank line starts."""
    text = line + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields)
    return text.encode() + b"\r\n", len(text) - 2


class Transport(asyncio.Transport):
    pass


def test_a_block_met_again_reads_as_it_did_the_first_time(routes: Any) -> None:
    reader = HeadReader(routes, 4096)
    fields = [("Host", "127.0.0.1"), ("authorization", "ACCESS_TOKEN"), ("Content-Length", "12")]
    first_transport, second_transport = Transport(), Transport()
    data, end = head(f"POST {ZEB} HTTP/1.1", fields)
    first = reader.read(data, end, first_transport)
    again = reader.read(data, end, second_transport)
    fresh = HeadReader(routes, 4096).read(data, end, second_transport)
    assert first is not None and again is not None and fresh is not None
    for read in (again, fresh):
        assert (read.route, read.params, read.start, read.stop, read.close) == \
               (first.route, first.params, first.start, first.stop, first.close)
        assert list(read.request.headers.items()) == list(first.request.headers.items())
        assert read.request.kept_headers == first.request.kept_headers
    # what is per request stays per request: its connection, and path parameters a handler may change
    assert again.request is not first.request
    assert (first.request.transport, again.request.transport) == (first_transport, second_transport)
    # what the journal keeps: the credential masked, the same as reading the fields afresh
    assert {k.lower(): v for k, v in again.request.kept_headers.pairs}["authorization"] == "****OKEN"
    assert again.request.kept_headers == keep_headers(list(fresh.request.headers.items()))


def test_the_same_fields_on_other_request_lines_keep_their_own_route_and_target(routes: Any) -> None:
    reader = HeadReader(routes, 4096)
    fields = [("Host", "127.0.0.1"), ("Authorization", "Bearer t")]
    reads = []
    for line in (f"GET {GPT}?user_id=a HTTP/1.1", f"GET {GPT}?user_id=b HTTP/1.1",
                 "GET /v1/accounts/ONE/tracks/t1 HTTP/1.1", "GET /v1/accounts/TWO/tracks/t2 HTTP/1.1"):
        reads.append(reader.read(*head(line, fields), Transport()))
    assert all(r is not None for r in reads)
    assert [r.request.query_string for r in reads[:2]] == ["user_id=a", "user_id=b"]
    assert reads[0].route is reads[1].route and reads[2].route is reads[3].route
    assert reads[0].route is not reads[2].route
    assert [r.params for r in reads[2:]] == [{"license_code": "ONE", "track_id": "t1"},
                                             {"license_code": "TWO", "track_id": "t2"}]
    reads[2].params["license_code"] = "changed by a handler"
    again = reader.read(*head("GET /v1/accounts/ONE/tracks/t1 HTTP/1.1", fields), Transport())
    assert again is not None and again.params == {"license_code": "ONE", "track_id": "t1"}


def test_fields_the_lane_must_not_read_are_remembered_as_such(routes: Any) -> None:
    reader = HeadReader(routes, 4096)
    for fields in ([("Host", "a"), ("Host", "b")], [("Host", "a"), ("Transfer-Encoding", "chunked")],
                   [("Host", "a"), ("Content-Length", "4097")], [("Content-Length", "1")]):
        data, end = head(f"POST {ZEB} HTTP/1.1", fields)
        assert reader.read(data, end, Transport()) is None
        assert reader.read(data, end, Transport()) is None  # again, from memory
        assert read_fields(data[data.index(b"\r\n") + 2:end], 4096) is None


SHAPES = {  # a block's fields by the request's number: each shape weighs differently against its bytes
    "long values": lambda n: [("Host", "h"), ("X-Trace", f"{n}-" + "x" * 4000)],
    "many tiny fields": lambda n: [("Host", "h"), ("X-N", str(n)), *((f"a{i}", "b") for i in range(97))],
    # a credential's name: the journal keeps a masked copy of each (found by an outside review: 1.5x the bound)
    "many tiny credential fields": lambda n: [("Host", "h"), ("X-N", str(n)), *(("AUTH", "12345678"),) * 98],
    "long upper-case names": lambda n: [("Host", "h"), ("X-N", str(n)),
                                       *((f"X{i:02d}" + "A" * 72, "") for i in range(97))],
    "a long bearer token": lambda n: [("Host", "h"), ("X-N", str(n)), ("Authorization", "Bearer " + "t" * 8000)],
}


@pytest.mark.parametrize("shape", SHAPES)
def test_the_memory_stays_bounded_in_bytes_whatever_clients_send(routes: Any, shape: str) -> None:
    """Measured, not estimated: what the reader holds (tracemalloc) stays within its bound, for blocks of a few
    long fields and for blocks of a hundred tiny ones (whose objects outweigh their bytes many times)."""
    reader = HeadReader(routes, 4096)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        emptied, n, held = 0, 0, 0
        while emptied < 2:
            data, end = head(f"GET {GPT}?user_id=a HTTP/1.1", SHAPES[shape](n))
            assert end < HEAD_LIMIT
            weight = reader._known_bytes
            read = reader.read(data, end, Transport())
            assert read is not None and read.request.headers["Host"] == "h"
            del read
            emptied += reader._known_bytes < weight
            assert reader._known_bytes <= FIELDS_MEMORY_BYTES
            held = max(held, tracemalloc.get_traced_memory()[0] - before)
            n += 1
    finally:
        tracemalloc.stop()
    assert held <= FIELDS_MEMORY_BYTES, f"{shape}: {held:,} bytes held, more than the bound"
    assert held >= FIELDS_MEMORY_BYTES * 0.5, f"{shape}: {held:,} bytes: the estimate overstates what a block costs"
