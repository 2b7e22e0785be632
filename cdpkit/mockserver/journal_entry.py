"""What the journal keeps of an exchange: masked, printable, bounded in bytes.

Three rules, because the journal outlives the request (it is served by ``/__mock/requests``, kept in
the SQLite file and shown by the dashboard):

* **No credential in the clear.** Header values that carry credentials (``Authorization``, ``api-key``,
  cookies) and fields that hold them (TTO's ``api_key`` in a body or query, Quick Audience's
  ``accessKeySecret`` in an answer) keep only their last four characters (``****7f3c``): enough to
  tell which credential was used, never enough to use it. Refused tokens are masked the same way.
* **Always printable.** A header or query value with bytes that are not UTF-8 is kept with U+FFFD in
  their place, so reading the journal never fails on what a client sent.
* **Bounded.** A body is kept whole up to :data:`BODY_LIMIT` bytes; past that, its first bytes as text
  and its size. Header and query values are cut at :data:`VALUE_LIMIT`. :func:`weight` estimates an
  entry's size so the store can bound the journal in bytes, not only in entries.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from itertools import chain
from typing import Any, Callable, Iterable, Mapping

import orjson

BODY_LIMIT = 8 * 1024
VALUE_LIMIT = 1024
SECRET_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "cookie", "set-cookie", "proxy-authorization",
                            "x-cdpkit-token"})
SECRET_FIELDS = frozenset({"api_key", "apikey", "accesskeysecret", "access_key_secret", "access_token", "token",
                           "secret", "password", "client_secret"})
# What a body must hold, in any letter case, to name one of SECRET_FIELDS (masked() compares names in lower
# case, so the scan must too: "Token" or "ACCESS_KEY_SECRET" alone once kept a body in the clear).
_SECRET_SCAN = re.compile(b"api_?key|token|secret|password").search
assert all(_SECRET_SCAN(name.encode()) for name in SECRET_FIELDS)


def _may_name_secret(raw: bytes) -> bool:
    """Whether ``raw`` may name a secret field: in any letter case, or behind a JSON ``\\u`` escape (which
    spells a name no byte scan can read), so only a body that surely names none is kept as sent."""
    lowered = raw.lower()
    return _SECRET_SCAN(lowered) is not None or lowered.find(b"\\u") >= 0


def mask(value: str) -> str:
    """``****`` and the last four characters (nothing of a value shorter than eight)."""
    return "****" + value[-4:] if len(value) >= 8 else "****"


def _printable(value: str) -> str:
    """``value`` as valid UTF-8 text: aiohttp keeps undecodable header bytes as lone surrogates."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value if len(value) <= VALUE_LIMIT else value[:VALUE_LIMIT] + f"… ({len(value)} chars)"


def _header(name: str, value: str) -> str:
    value = _printable(value)
    if name.lower() not in SECRET_HEADERS:
        return value
    scheme, sep, rest = value.partition(" ")
    return f"{scheme} {mask(rest)}" if sep and scheme.lower() in ("bearer", "basic", "token") else mask(value)


def headers(raw: Mapping[str, str]) -> dict[str, str]:
    return {_printable(k): _header(k, v) for k, v in raw.items()}


def query(raw: Mapping[str, str]) -> dict[str, str]:
    return {_printable(k): mask(_printable(v)) if k.lower() in SECRET_FIELDS else _printable(v) for k, v in raw.items()}


def masked(value: Any) -> Any:
    """A copy of a JSON value with every secret-named field's string masked (the original is untouched).

    Only containers recurse: every TTO message names its api_key, so this runs once per request there."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(v, str):
                out[k] = mask(v) if k.lower() in SECRET_FIELDS else v
            else:
                out[k] = masked(v) if isinstance(v, (dict, list)) else v
        return out
    if isinstance(value, list):
        return [masked(v) if isinstance(v, (dict, list)) else v for v in value]
    return value


def body(raw: bytes, parsed: Any) -> Any:
    """What the journal keeps of a request or answer body (``parsed`` is its JSON, or None)."""
    if not raw:
        return None
    if len(raw) > BODY_LIMIT or parsed is None:
        text = raw[:BODY_LIMIT].decode("utf-8", "replace")
        if _may_name_secret(raw):
            text = "(not kept: it may name a credential field and is not readable JSON)" if parsed is None else (
                f"(not kept whole: {len(raw)} bytes, more than {BODY_LIMIT}, that may name a credential field)")
        return text if len(raw) <= BODY_LIMIT else {"truncated": True, "bytes": len(raw), "start": text}
    return masked(parsed) if _may_name_secret(raw) else parsed


def weight(entry: "dict[str, Any] | tuple") -> int:
    """An estimate of the bytes an entry (or a :func:`record`) holds: its JSON size plus per-object overhead."""
    if type(entry) is tuple:
        return entry[_WEIGHT]
    return len(orjson.dumps(entry, option=orjson.OPT_NON_STR_KEYS)) * 2 + 512


# -- lazy records ---------------------------------------------------------------------------------------

# Positions in a record; vendor, operation and verdict are where the store filters them.
_TIME, VENDOR, OPERATION, VERDICT, _METHOD, _PATH, _QUERY, _HEADERS, _BODY, _STATUS, _ANSWER, _VIOLATIONS, \
    _DURATION, _WEIGHT = range(14)
_LAZY, _BUILT = 0, 1  # a kept body: (_LAZY, bytes kept, size, is JSON) or (_BUILT, what the journal shows)


def _kept_body(raw: bytes, parsed: Any) -> tuple | None:
    """What a record keeps of a body: its bounded bytes, or at once the masked form if it names a secret."""
    if not raw:
        return None
    if _may_name_secret(raw):
        return (_BUILT, body(raw, parsed))
    # a copy of exactly the bytes kept: orjson's answers hold a buffer of at least 4 KiB, and a reference
    # would keep it for as long as the entry lives (measured: +28 MB RSS over 10,000 entries)
    return (_LAZY, bytes(memoryview(raw)[:BODY_LIMIT]), len(raw), parsed is not None)


def _shown_body(kept: tuple | None) -> Any:
    """:func:`body` of what :func:`_kept_body` kept."""
    if kept is None:
        return None
    if kept[0] == _BUILT:
        return kept[1]
    _, raw, size, is_json = kept
    if size > BODY_LIMIT:
        return {"truncated": True, "bytes": size, "start": raw.decode("utf-8", "replace")}
    return orjson.loads(raw) if is_json else raw.decode("utf-8", "replace")


def record(
    now: float,
    vendor: str,
    operation: str,
    method: str,
    path: str,
    query_string: str,
    query_items: Any,
    header_items: Any,
    raw: bytes,
    parsed: Any,
    status: int,
    answer: bytes,
    answer_json: Any,
    violations: tuple[str, ...],
    duration_ms: float,
) -> tuple:
    """A journal record of one exchange (see the module's docstring); :func:`materialize` makes the entry.

    ``query_items``/``header_items`` are the request's ``(name, value)`` pairs (``query_items`` is only
    read when ``query_string`` is not empty); ``parsed`` is the body's JSON (None if it was not parsed),
    ``answer_json`` the JSON the handler replied (None when the answer is not JSON), as :func:`body` takes them."""
    headers_kept = tuple(header_items)
    size = len(path) + len(query_string) + sum(map(len, chain.from_iterable(headers_kept)))
    if not SECRET_HEADERS.isdisjoint([name.lower() for name, _ in headers_kept]):
        headers_kept = tuple([pair if pair[0].lower() not in SECRET_HEADERS else (pair[0], _header(*pair))
                              for pair in headers_kept])
    if query_string:
        query_kept = tuple((k, mask(_printable(v)) if k.lower() in SECRET_FIELDS else v) for k, v in query_items)
    else:
        query_kept = ()
    body_kept = _kept_body(raw, parsed)
    answer_kept = _kept_body(answer, answer_json) if answer_json is not None else None
    size += min(len(raw), BODY_LIMIT) + (min(len(answer), BODY_LIMIT) if answer_json is not None else 0)
    verdict = "good" if status < 400 and not violations else "bad"
    # the estimate weight() makes of the entry this record becomes: its JSON size, twice, plus overhead
    estimate = (size + 64 * len(violations) + 300) * 2 + 512
    return (now, vendor, operation, verdict, method, path, query_kept, headers_kept, body_kept, status,
            answer_kept, violations, duration_ms, estimate)


def fields(entry: "dict[str, Any] | tuple") -> tuple[str, str, str]:
    """(vendor, verdict, operation) of a record or of an entry: what the journal is filtered by."""
    if type(entry) is tuple:
        return entry[VENDOR], entry[VERDICT], entry[OPERATION]
    return entry["vendor"], entry["verdict"], entry["operation"]


def page(items: Iterable[tuple[int, Any]], show: Callable[[int, Any], dict[str, Any]], vendor: str | None,
         verdict: str | None, operation: str | None, limit: int | None, before: int | None) -> list[dict[str, Any]]:
    """A page of the journal, newest first: of ``items`` ((id, record), newest first) those with an id below
    ``before`` that pass every filter given (an empty one passes all), at most ``limit``, each made an entry
    by ``show(id, record)``. Every store pages with this, so they cannot disagree."""
    out: list[dict[str, Any]] = []
    wanted = (vendor, verdict, operation)
    for entry_id, rec in items:
        if before is not None and entry_id >= before:
            continue
        if all(not want or have == want for have, want in zip(fields(rec), wanted)):
            out.append(show(entry_id, rec))
            if limit and len(out) >= limit:
                break
    return out


def materialize(rec: tuple) -> dict[str, Any]:
    """The journal entry a :func:`record` stands for (without its id, which the store gives)."""
    return {
        "time": datetime.fromtimestamp(rec[_TIME], timezone.utc).isoformat(timespec="milliseconds"),
        "vendor": rec[VENDOR],
        "operation": rec[OPERATION],
        "request": {
            "method": rec[_METHOD],
            "path": _printable(rec[_PATH]),
            "query": {_printable(k): _printable(v) for k, v in rec[_QUERY]},
            "headers": {_printable(k): _printable(v) for k, v in rec[_HEADERS]},
            "body": _shown_body(rec[_BODY]),
        },
        "response": {"status": rec[_STATUS], "body": _shown_body(rec[_ANSWER])},
        "verdict": rec[VERDICT],
        "violations": list(rec[_VIOLATIONS]),
        "duration_ms": rec[_DURATION],
    }
