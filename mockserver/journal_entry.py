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

from typing import Any, Mapping

import orjson

BODY_LIMIT = 8 * 1024
VALUE_LIMIT = 1024
SECRET_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "cookie", "set-cookie", "proxy-authorization",
                            "x-cdpkit-token"})
SECRET_FIELDS = frozenset({"api_key", "apikey", "accesskeysecret", "access_key_secret", "access_token", "token",
                           "secret", "password", "client_secret"})
_SECRET_BYTES = tuple(name.encode() for name in ("api_key", "apiKey", "ccessKeySecret", "ccess_key_secret",
                                                 "access_token", "token", "secret", "password"))


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
    """A copy of a JSON value with every secret-named field's string masked (the original is untouched)."""
    if isinstance(value, dict):
        return {k: mask(v) if isinstance(v, str) and k.lower() in SECRET_FIELDS else masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def body(raw: bytes, parsed: Any) -> Any:
    """What the journal keeps of a request or answer body (``parsed`` is its JSON, or None)."""
    if not raw:
        return None
    if len(raw) > BODY_LIMIT or parsed is None:
        text = raw[:BODY_LIMIT].decode("utf-8", "replace")
        if any(name in raw for name in _SECRET_BYTES):
            text = "(not kept: it names a credential field and is not readable JSON)" if parsed is None else (
                f"(not kept whole: {len(raw)} bytes, more than {BODY_LIMIT}, naming a credential field)")
        return text if len(raw) <= BODY_LIMIT else {"truncated": True, "bytes": len(raw), "start": text}
    return masked(parsed) if any(name in raw for name in _SECRET_BYTES) else parsed


def weight(entry: dict[str, Any]) -> int:
    """An estimate of the bytes an entry holds (its JSON size plus per-object overhead)."""
    return len(orjson.dumps(entry, option=orjson.OPT_NON_STR_KEYS)) * 2 + 512
