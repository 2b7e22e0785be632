"""Quick Audience collection signature (QA-SIGNATURE, an assumption): a pure function, no mock state.

The seed only says the AccessKey and APPKEY are used "for authentication in your data collection
program". cdpkit models the check on Alibaba's published Quick Tracking OpenAPI signing
(VENDOR-NOTES): HMAC-SHA1, hex, keyed by the secret, over three lines joined by ``\\n``::

    <service name>
    <query parameters sorted by name, as k=v joined by &, without the signature parameter>
    <the request body, byte for byte>

Query values go in as they are (not percent-encoded), so a client signs what the server decodes.
The mock verifies with it; suites and generators sign with it too (they may import this module:
it depends on nothing but the standard library).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Mapping

# The service name of the event-collection endpoint (POST /quickaudience/v1/collect).
COLLECT_SERVICE = "quickaudience.collect"
# Query parameter names of the collection call.
ACCESS_KEY_ID_PARAM = "accessKeyId"
SIGNATURE_PARAM = "signature"


def canonical_string(service: str, query: Mapping[str, str], body: bytes) -> bytes:
    """The exact bytes that are signed; exposed so a failing signature can be explained."""
    pairs = "&".join(f"{name}={query[name]}" for name in sorted(query) if name != SIGNATURE_PARAM)
    return b"\n".join((service.encode("utf-8"), pairs.encode("utf-8"), body))


def sign(secret: str, service: str, query: Mapping[str, str], body: bytes) -> str:
    """Lowercase hex HMAC-SHA1 of :func:`canonical_string`, keyed by the AccessKeySecret."""
    return hmac.new(secret.encode("utf-8"), canonical_string(service, query, body), hashlib.sha1).hexdigest()


def verify(secret: str, service: str, query: Mapping[str, str], body: bytes, signature: str) -> bool:
    """Constant-time check; hex case does not matter."""
    return hmac.compare_digest(sign(secret, service, query, body), signature.strip().lower())


def signed_query(
    access_key_id: str, secret: str, body: bytes, extra: Mapping[str, str] | None = None, service: str = COLLECT_SERVICE
) -> dict[str, str]:
    """The query a client sends to the collection endpoint: its extra parameters, the key id and the signature."""
    query = {**(extra or {}), ACCESS_KEY_ID_PARAM: access_key_id}
    return {**query, SIGNATURE_PARAM: sign(secret, service, query, body)}
