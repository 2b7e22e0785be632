"""What the journal keeps of an exchange: masked, printable, bounded in bytes.

Three rules, because the journal outlives the request (it is served by ``/__mock/requests``, kept in
the SQLite file and shown by the dashboard):

* **No credential in the clear.** Header values that carry credentials (``Authorization``, ``api-key``,
  cookies) and fields that hold them (TTO's ``api_key`` in a body or query, Quick Audience's
  ``accessKeySecret`` in an answer) keep only their last four characters (``****7f3c``): enough to
  tell which credential was used, never enough to use it. Refused tokens are masked the same way. Which
  names hold credentials, in any spelling, and the masking itself are :mod:`cdpkit.mockserver.masking`'s; a
  refusal that repeats the request's credential elsewhere (its message, its path) is masked there too.
* **Always printable.** A header or query value with bytes that are not UTF-8 is kept with U+FFFD in
  their place, so reading the journal never fails on what a client sent.
* **Bounded.** A body is kept whole up to :data:`BODY_LIMIT` bytes; past that, its first bytes as text
  and its size. Header and query values are cut at :data:`VALUE_LIMIT`. :func:`weight` estimates an
  entry's size so the store can bound the journal in bytes, not only in entries.
"""

from __future__ import annotations

from datetime import datetime, timezone
from itertools import chain
from typing import Any, Callable, Iterable, NamedTuple

import orjson

from cdpkit.mockserver.masking import (  # noqa: F401  (SECRET_*, masked, secret_field, scrub: this module's API)
    ECHO_MIN,
    SECRET_FIELDS,
    SECRET_HEADERS,
    credential_parts,
    keep_credentials_out_of_server_logs,
    mask,
    masked,
    may_name_secret,
    name_verdicts,
    scrub,
    scrub_text,
    scrubbed,
    secret_field,
    secret_name,
    spellings_of,
    text_may_name_secret,
)

BODY_LIMIT = 8 * 1024
VALUE_LIMIT = 1024


def _printable(value: str) -> str:
    """``value`` as valid UTF-8 text (:func:`_utf8`), cut at :data:`VALUE_LIMIT` characters."""
    value = _utf8(value)
    return value if len(value) <= VALUE_LIMIT else value[:VALUE_LIMIT] + f"… ({len(value)} chars)"


def _utf8(value: str) -> str:
    """``value`` as valid UTF-8 text: aiohttp keeps undecodable header bytes as lone surrogates."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


def _secret_header(value: str) -> str:
    """A credential header's value masked, its scheme word kept (``Bearer ****7f3c``)."""
    value = _printable(value)
    scheme, sep, rest = value.partition(" ")
    return f"{scheme} {mask(rest)}" if sep and scheme.lower() in ("bearer", "basic", "token") else mask(value)


def _masked_body(raw: bytes, parsed: Any, found: "list[str] | None") -> Any:
    """What the journal keeps of a body that may name a credential (``parsed`` is its JSON, or None): the JSON
    masked, or, for one that cannot be masked field by field (not JSON, or over :data:`BODY_LIMIT`), a note."""
    if len(raw) > BODY_LIMIT or parsed is None:
        if parsed is None:
            text = "(not kept: it may name a credential field and is not readable JSON)"
        else:
            text = f"(not kept whole: {len(raw)} bytes, more than {BODY_LIMIT}, that may name a credential field)"
            if found is not None:
                masked(parsed, found)  # what it holds is looked for in the rest of the exchange all the same
        return text if len(raw) <= BODY_LIMIT else {"truncated": True, "bytes": len(raw), "start": text}
    return masked(parsed, found)


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


def _kept_body(raw: bytes, parsed: Any, found: "list[str] | None" = None) -> tuple | None:
    """What a record keeps of a body: its bounded bytes, or at once the masked form if it names a secret
    (whose masked values go to ``found``)."""
    if not raw:
        return None
    if may_name_secret(raw) if parsed is not None else text_may_name_secret(raw):  # judged once, here
        return (_BUILT, _masked_body(raw, parsed, found))
    # a copy of exactly the bytes kept: orjson's answers hold a buffer of at least 4 KiB, and a reference
    # would keep it for as long as the entry lives (measured: +28 MB RSS over 10,000 entries)
    return (_LAZY, bytes(memoryview(raw)[:BODY_LIMIT]), len(raw), parsed is not None)


def _shown_body(kept: tuple | None) -> Any:
    """What the journal shows of what :func:`_kept_body` kept."""
    if kept is None:
        return None
    if kept[0] == _BUILT:
        return kept[1]
    _, raw, size, is_json = kept
    if size > BODY_LIMIT:
        return {"truncated": True, "bytes": size, "start": raw.decode("utf-8", "replace")}
    return orjson.loads(raw) if is_json else raw.decode("utf-8", "replace")


def _without_echoes(sent: "list[str]", body_values: int, path: str, headers_kept: tuple, query_kept: tuple,
                    raw: bytes, body_kept: tuple | None, answer: bytes, answer_kept: tuple | None) -> tuple:
    """The parts of a refused or redirected exchange's record with the request's credentials (``sent``: the
    secret header and query values, then the ``body_values`` its body's secret fields held) masked wherever else
    they are."""
    values: list[str] = []
    for value in sent[:len(sent) - body_values]:
        credential_parts(_utf8(value), values)  # whole: a refusal may quote more than the journal keeps of it
    values += [v for v in sent[len(sent) - body_values:] if len(v) >= ECHO_MIN]
    if not values:
        return path, headers_kept, query_kept, body_kept, answer_kept
    known = spellings_of(values)
    needles = tuple({n for v in known for n in (v.encode("utf-8", "surrogatepass"), orjson.dumps(v)[1:-1])})
    path = scrub_text(path, known)
    headers_kept = tuple([(k, scrub_text(_printable(v), known)) for k, v in headers_kept])
    query_kept = tuple([(k, scrub_text(_printable(v), known)) for k, v in query_kept])
    # a body's own secret fields hold some of the occurrences (already masked); any more is an echo, and a
    # body with escapes may spell one no byte search finds
    if body_kept is not None and (b"\\" in raw or sum(map(raw.count, needles)) > body_values):
        body_kept = (_BUILT, scrubbed(_shown_body(body_kept), known))
    if answer_kept is not None and any(n in answer for n in needles):
        answer_kept = (_BUILT, scrubbed(_shown_body(answer_kept), known))
    return path, headers_kept, query_kept, body_kept, answer_kept


class KeptHeaders(NamedTuple):
    """What a record keeps of a request's header fields: the pairs, credentials masked; the characters they
    hold; and the credential values they carried, looked for elsewhere in a refusal. A function of the fields
    alone, so the fast lane makes it once per distinct head it meets (lane_http.HeadReader), not per request."""

    pairs: tuple[tuple[str, str], ...]
    size: int
    secrets: tuple[str, ...]


def keep_headers(header_items: Iterable[tuple[str, str]]) -> KeptHeaders:
    """:class:`KeptHeaders` of a request's ``(name, value)`` header pairs."""
    # names as plain str: aiohttp's are multidict.istr, which the memory journal's marshal cannot write
    pairs = tuple([(str(name), value) for name, value in header_items])
    size = sum(map(len, chain.from_iterable(pairs)))
    flags = [name_verdicts.get(name) for name, _ in pairs]
    if None in flags:
        flags = [secret_name(name) for name, _ in pairs]
    if True not in flags:
        return KeptHeaders(pairs, size, ())
    secrets = tuple([pair[1] for pair, secret in zip(pairs, flags) if secret])
    pairs = tuple([pair if not secret else (pair[0], _secret_header(pair[1])) for pair, secret in zip(pairs, flags)])
    return KeptHeaders(pairs, size, secrets)


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
    read when ``query_string`` is not empty; ``header_items`` may be their :class:`KeptHeaders` already);
    ``parsed`` is the body's JSON (None if it was not parsed),
    ``answer_json`` the JSON the handler replied (None when the answer is not JSON), as :func:`_kept_body` takes them.

    An answer that is not a success (status 300 and up) is also searched for the request's credentials repeated
    elsewhere (a refusal's message, its path, a redirect's location that keeps the other query parameters): the
    mock's answers quote what was sent only when they refuse or redirect it, so a success, the ordinary case,
    pays nothing for that search."""
    kept_headers = header_items if type(header_items) is KeptHeaders else keep_headers(header_items)
    headers_kept = kept_headers.pairs
    size = len(path) + len(query_string) + kept_headers.size
    sent = list(kept_headers.secrets)  # the credential values this request carried, for the search above
    verdicts = name_verdicts
    query_kept: tuple = ()
    if query_string:
        kept = []
        for k, v in query_items:
            secret = verdicts.get(k)
            if secret or (secret is None and secret_name(k)):
                sent.append(v)
                v = mask(_printable(v))
            kept.append((k, v))
        query_kept = tuple(kept)
    secret_sent = len(sent)
    body_kept = _kept_body(raw, parsed, sent)
    answer_kept = _kept_body(answer, answer_json) if answer_json is not None else None
    if status >= 300 and sent:
        path, headers_kept, query_kept, body_kept, answer_kept = _without_echoes(
            sent, len(sent) - secret_sent, path, headers_kept, query_kept, raw, body_kept, answer, answer_kept)
    size += min(len(raw), BODY_LIMIT) + (min(len(answer), BODY_LIMIT) if answer_json is not None else 0)
    verdict = "good" if status < 400 and not violations else "bad"
    # the estimate weight() makes of the entry this record becomes: its JSON size, twice, plus overhead
    estimate = (size + 64 * len(violations) + 300) * 2 + 512
    return (now, vendor, operation, verdict, method, path, query_kept, headers_kept, body_kept, status,
            answer_kept, violations, duration_ms, estimate)


def _bytes_as_text(value: Any) -> str:
    if type(value) is bytes:
        return value.decode("latin-1")  # every byte one character: read back exactly (record_from_json)
    raise TypeError(f"{type(value).__name__} in a journal record")


def record_json(rec: tuple) -> bytes:
    """A :func:`record` as JSON, for a store that keeps the journal on disk (SQLite): written as it is, not
    made an entry first, which cost the writer thread ~10 µs of the lock it shares with the event loop per
    request (issue 9). :func:`record_from_json` reads it back."""
    return orjson.dumps(rec, default=_bytes_as_text)


def record_from_json(raw: bytes) -> tuple:
    """The record :func:`record_json` wrote: its kept bodies' bytes restored, its parts tuples again."""
    rec = orjson.loads(raw)
    for at in (_BODY, _ANSWER):
        kept = rec[at]
        if kept is not None and kept[0] == _LAZY:
            kept[1] = kept[1].encode("latin-1")
        rec[at] = tuple(kept) if kept is not None else None
    for at in (_QUERY, _HEADERS):
        rec[at] = tuple(tuple(pair) for pair in rec[at])
    rec[_VIOLATIONS] = tuple(rec[_VIOLATIONS])
    return tuple(rec)


def fields(entry: "dict[str, Any] | tuple") -> tuple[str, str, str]:
    """(vendor, verdict, operation) of a record or of an entry: what the journal is filtered by."""
    if type(entry) is tuple:
        return entry[VENDOR], entry[VERDICT], entry[OPERATION]
    return entry["vendor"], entry["verdict"], entry["operation"]


def page(items: Iterable[tuple[int, tuple[str, str, str], Any]], show: Callable[[int, Any], dict[str, Any]],
         vendor: str | None, verdict: str | None, operation: str | None, limit: int | None,
         before: int | None) -> list[dict[str, Any]]:
    """A page of the journal, newest first: of ``items`` ((id, :func:`fields`, record), newest first) those with
    an id below ``before`` that pass every filter given (an empty one passes all), at most ``limit``, each made
    an entry by ``show(id, record)``. Every store pages with this, so they cannot disagree."""
    out: list[dict[str, Any]] = []
    wanted = (vendor, verdict, operation)
    for entry_id, have_fields, rec in items:
        if before is not None and entry_id >= before:
            continue
        if all(not want or have == want for have, want in zip(have_fields, wanted)):
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
