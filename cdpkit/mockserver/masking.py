"""Which parts of an exchange are credentials, and masking them: for the journal (:mod:`journal_entry`) and logs.

* **Names.** A header, query parameter or JSON field holds a credential when its name, in any letter case, has a
  part that says so (``api-key``, ``token``, ``secret``, ``passw``…; :func:`secret_name`, :func:`secret_field`),
  not only when it is one of a list of names: ``X-Access-Token``, ``Api-Key`` or ``api_key[]`` were kept in the
  clear when only listed names were masked.
* **Values.** :func:`mask` keeps ``****`` and the last four characters; :func:`masked` masks everything under a
  secret-named field at any depth (``{"api_key": [KEY]}`` holds a credential as much as ``{"api_key": KEY}``).
* **Echoes.** A refusal may quote what was sent, a client may put its token in the path, a handler's exception
  may name it: :func:`scrub_text` masks the request's own credentials wherever else they are repeated.
* **Logs.** aiohttp logs an unparsable request with its bytes: :class:`MalformedRequestLog` drops them; a
  ``--state redis://:PASSWORD@…`` is printed as :func:`url_without_password` makes it.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Callable

SECRET_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "cookie", "set-cookie", "proxy-authorization",
                            "x-cdpkit-token"})
SECRET_FIELDS = frozenset({"api_key", "apikey", "accesskeysecret", "access_key_secret", "access_token", "token",
                           "secret", "password", "client_secret"})
# What in a name, in any letter case, says it holds a credential: a part of the name, not a list of names, so
# "api-key", "X-Access-Token", "api_key[]" or "Api-Key" are caught as surely as "api_key" (each was journaled in the
# clear when only the names above were masked). A body's field names use _FIELD_WORDS, which its bytes are scanned
# for on every request (so no longer a list than this: each word costs every request); header and query names,
# judged once per name, also "auth" (X-Auth-Token), "signature" (Quick Audience's, an HMAC keyed by the secret:
# enough to replay the call or guess the secret offline), "credential" and "cookie".
_FIELD_WORDS = r"api[-_.]?key|token|secret|passw"
_NAME_WORDS = _FIELD_WORDS + r"|auth|signature|credential|cookie"
# What a body must hold, in its lowered bytes, to name a secret field (masked() compares names in lower case, so
# the scan must too: "Token" or "ACCESS_KEY_SECRET" alone once kept a body in the clear).
_SECRET_SCAN = re.compile(_FIELD_WORDS.encode()).search
_field_word = re.compile(_FIELD_WORDS).search
_name_word = re.compile(_NAME_WORDS).search
assert all(_field_word(name) for name in SECRET_FIELDS) and all(_name_word(name) for name in SECRET_HEADERS)
# Verdicts on the names met so far (a dict read instead of a pattern search per name, per request); names are few,
# but a client chooses them: at most this many, of at most this many characters, are remembered.
_REMEMBERED_NAMES, _REMEMBERED_NAME_CHARS = 4096, 64
_field_verdicts: dict[str, bool] = {}
name_verdicts: dict[str, bool] = {}


def _judge(name: str, verdicts: dict[str, bool], word: Callable[[str], Any]) -> bool:
    text = str(name)  # a handler's answer may have int keys (it is written with OPT_NON_STR_KEYS)
    secret = word(text.lower()) is not None
    if len(verdicts) < _REMEMBERED_NAMES and len(text) <= _REMEMBERED_NAME_CHARS:
        verdicts[name] = secret
    return secret


def secret_field(name: str) -> bool:
    """Whether a JSON field of this name holds a credential (``api_key``, ``accessKeySecret``, ``Token``…)."""
    secret = _field_verdicts.get(name)
    return _judge(name, _field_verdicts, _field_word) if secret is None else secret


def secret_name(name: str) -> bool:
    """Whether a header or query parameter of this name carries a credential (``Authorization``, ``api-key``,
    ``X-Auth-Token``, ``API_KEY``, QA's ``signature``: an HMAC keyed by the secret, to replay or guess it from)."""
    secret = name_verdicts.get(name)
    return _judge(name, name_verdicts, _name_word) if secret is None else secret


def may_name_secret(raw: bytes) -> bool:
    """Whether ``raw`` may name a secret field: in any letter case, or behind a JSON ``\\u`` escape (which
    spells a name no byte scan can read), so only a body that surely names none is kept as sent."""
    lowered = raw.lower()
    return _SECRET_SCAN(lowered) is not None or lowered.find(b"\\u") >= 0


def text_may_name_secret(raw: bytes) -> bool:
    """:func:`may_name_secret` for a body that is not JSON: a form body spells its names percent-encoded
    (``api%5Fkey=``), so they are read decoded too."""
    if may_name_secret(raw):
        return True
    if b"%" not in raw:
        return False
    from urllib.parse import unquote_to_bytes  # a body that is not JSON and holds a %: rare

    return may_name_secret(unquote_to_bytes(raw))


def mask(value: str) -> str:
    """``****`` and the last four characters (nothing of a value shorter than eight)."""
    return "****" + value[-4:] if len(value) >= 8 else "****"


def masked(value: Any, found: "list[str] | None" = None) -> Any:
    """A copy of a JSON value with everything under a secret-named field masked (the original is untouched):
    a string, a number, and every string and number of an array or object it holds (``{"api_key": [KEY]}``
    is as much a credential). ``found`` collects the values masked, to look for elsewhere in the exchange.

    Only containers recurse: every TTO message names its api_key, so this runs once per request there."""
    if isinstance(value, dict):
        out = {}
        verdicts = _field_verdicts
        for k, v in value.items():
            if isinstance(v, (str, dict, list, int, float)):  # None and the like hold nothing to mask
                secret = verdicts.get(k)
                if secret is None:
                    secret = _judge(k, verdicts, _field_word)
                if secret:  # the usual one: TTO's api_key, on every message
                    v = _hidden(v, found)
                elif isinstance(v, (dict, list)):
                    v = masked(v, found)
            out[k] = v
        return out
    if isinstance(value, list):
        return [masked(v, found) if isinstance(v, (dict, list)) else v for v in value]
    return value


def _hidden(value: Any, found: "list[str] | None") -> Any:
    """``value`` held by a secret-named field: every string and number in it masked."""
    if isinstance(value, str):
        if found is not None:
            found.append(value)
        return mask(value)
    if isinstance(value, dict):
        return {k: _hidden(v, found) for k, v in value.items()}
    if isinstance(value, list):
        return [_hidden(v, found) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _hidden(str(value), found)
    return value


# -- the request's own credentials, wherever else the exchange repeats them ---------------------------------
# A refusal may quote what was sent ('headers/authorization: "Basic KEY" does not match', "unknown license code
# 'TOKEN'", Quick Audience's canonical string quoting every query parameter), and a client may put its token in
# the path too: each value a secret-named header, query parameter or body field carried is masked wherever else
# the record holds it, and in a "mock bug" traceback (:func:`scrub`).

ECHO_MIN = 8  # a shorter credential is not looked for elsewhere: it would mask ordinary words (mask() hides it whole)
_separated = re.compile(r"[\s;,=\"']").search
_parts = re.compile(r"[^\s;,=\"']{%d,}" % ECHO_MIN).findall


def credential_parts(value: str, into: list[str]) -> None:
    """The credential a secret header or parameter value carries: the value without its scheme word
    (``Bearer``), and, in a value of several parts (a cookie, ``Digest k=v, …``), each part."""
    value = value.strip()
    scheme, sep, rest = value.partition(" ")
    if sep and scheme.isalpha():
        value = rest.strip()
    if len(value) >= ECHO_MIN:
        into.append(value)
        if _separated(value):
            into.extend(p for p in _parts(value) if p != value)


def _spellings(value: str) -> set[str]:
    """``value`` as an answer may quote it: as is, as Python's repr escapes it (a validator's message), or
    percent-encoded as a URL holds it (a redirect's location: Sensors keys start with ``#``)."""
    from urllib.parse import quote, quote_plus  # loaded already (aiohttp); only a refusal or redirect asks

    # errors="replace": a header value may hold bytes that are not UTF-8 (kept by aiohttp as lone surrogates)
    return {value, repr(value)[1:-1], quote_plus(value, errors="replace"), quote(value, safe="", errors="replace")}


def scrub_text(text: str, known: "tuple[str, ...]") -> str:
    for value in known:
        if value in text:
            text = text.replace(value, mask(value))
    return text


def scrubbed(value: Any, known: "tuple[str, ...]") -> Any:
    """A JSON value with every string (keys too) scrubbed of ``known``."""
    if isinstance(value, str):
        return scrub_text(value, known)
    if isinstance(value, dict):
        return {scrub_text(k, known) if isinstance(k, str) else k: scrubbed(v, known) for k, v in value.items()}
    if isinstance(value, list):
        return [scrubbed(v, known) for v in value]
    return value


def spellings_of(values: "list[str]") -> "tuple[str, ...]":
    """Every spelling of each credential, longest first (a credential inside another is masked after it)."""
    spelled = set().union(*map(_spellings, values))
    return tuple(sorted(spelled, key=len, reverse=True))


def scrub(text: str, header_items: Any, query_items: Any, parsed: Any) -> str:
    """``text`` (a traceback, a log line about a request) with the request's credentials masked: those of its
    secret-named headers and query parameters and of its body's secret fields (``parsed``, its JSON or None)."""
    found: list[str] = []
    for name, value in header_items:
        if secret_name(name):
            credential_parts(value, found)
    for name, value in query_items:
        if secret_name(name):
            credential_parts(value, found)
    if isinstance(parsed, (dict, list)):
        masked(parsed, found)
    return scrub_text(text, spellings_of([v for v in found if len(v) >= ECHO_MIN])) if found else text


class MalformedRequestLog(logging.Filter):
    """aiohttp logs a request it cannot parse (a bad header byte, a header past its size limit, a bad request
    line) with a traceback whose message quotes the offending bytes: an ``Authorization`` line, in the clear, in
    the mock's stderr. This filter, on the ``aiohttp.server`` logger, keeps the line and drops the bytes."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and type(exc).__module__ == "aiohttp.http_exceptions":
            record.msg = f"{record.msg}: {type(exc).__name__} (status {getattr(exc, 'code', 400)}; the request's " \
                         "bytes are not logged: they may hold a credential)"
            record.exc_info, record.exc_text = None, None
        return True


def keep_credentials_out_of_server_logs() -> None:
    """Install :class:`MalformedRequestLog` on aiohttp's server logger, once."""
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequestLog) for f in server_log.filters):
        server_log.addFilter(MalformedRequestLog())


def url_without_password(url: str) -> str:
    """``url`` with the password of its user part masked (``redis://:****2pw9@host:6379/0``): what a banner or an
    error message may print of ``--state redis://:PASSWORD@…`` (a terminal's scroll-back and CI logs keep it)."""
    if "@" not in url:
        return url
    from urllib.parse import urlsplit, urlunsplit  # only for a URL with a user part

    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit((parts.scheme, f"{user}:{mask(parts.password)}@{host}", parts.path, parts.query, parts.fragment))
