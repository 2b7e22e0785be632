"""How a payload plus credentials becomes an HTTP request, per vendor, in one table.

A payload carries only what a sender controls; credentials come separately (``--cred KEY=VALUE``
or the mock's ``GET /__mock/credentials`` "check" dict), and each vendor puts them somewhere else:
a bearer header, a path segment, a body field, signed headers. :func:`request_for` does the common
part (method, path template, payload into body or query) and then calls the vendor's entry of
:data:`AUTH`, so ``cdpkit gen --send`` and the suites build requests the same way.

Adding a vendor: write ``def _<vendor>(op, request, creds) -> PreparedRequest`` and add one line to
:data:`AUTH` (and its credential keys to :data:`CRED_KEYS`).
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

import orjson

from cdpkit import schemas
from cdpkit.generators import registry

_PARAM = re.compile(r"\{([^}/]+)\}")


@dataclass(frozen=True)
class PreparedRequest:
    """One request, ready for any HTTP client: ``url(base)``, ``content()`` gives the exact body bytes."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    json: Any = None
    data: bytes | None = None  # set when the body bytes matter (signatures); wins over json

    def content(self) -> bytes | None:
        if self.data is not None:
            return self.data
        return None if self.json is None else orjson.dumps(self.json)

    def url(self, base: str) -> str:
        url = base.rstrip("/") + self.path
        return url + ("?" + urllib.parse.urlencode(self.query) if self.query else "")


class MissingCredential(KeyError):
    """A credential the vendor needs was not given; the message says which ``--cred`` to pass."""

    def __str__(self) -> str:
        return str(self.args[0])


def need(creds: Mapping[str, Any], vendor: str, key: str) -> str:
    """``creds[key]`` as a string, or a MissingCredential naming the flag to pass."""
    value = creds.get(key)
    if value in (None, ""):
        raise MissingCredential(f"{vendor} needs a credential {key!r}: pass --cred {key}=VALUE")
    return str(value)


Auth = Callable[[dict[str, Any], PreparedRequest, Mapping[str, Any]], PreparedRequest]


def _gptbots(op: dict[str, Any], request: PreparedRequest, creds: Mapping[str, Any]) -> PreparedRequest:
    """GPT-AUTH-BEARER: ``Authorization: Bearer ${token}``."""
    return replace(request, headers={**request.headers, "Authorization": f"Bearer {need(creds, 'gptbots', 'token')}"})


def _zebline(op: dict[str, Any], request: PreparedRequest, creds: Mapping[str, Any]) -> PreparedRequest:
    """ZEB-AUTH-TOKEN, ZEB-AUTH-RAW-TOKEN: ``authorization: ACCESS_TOKEN`` (raw, no scheme); the license is in the path."""
    return replace(request, headers={**request.headers, "authorization": need(creds, "zebline", "access_token")})


def _tto(op: dict[str, Any], request: PreparedRequest, creds: Mapping[str, Any]) -> PreparedRequest:
    """TTO-API-KEY-BODY / TTO-SETTINGS-QUERY-KEY: ``api_key`` in the JSON body, or ``?api_key=`` for settings.

    Payloads hold the document's placeholder (``your_api_key_here``) where the key goes and only that
    value is replaced, so a payload built without a key, with an empty or an unknown one is sent as built.
    """
    from cdpkit.generators.tto import API_KEY_PLACEHOLDER

    if isinstance(request.json, dict) and request.json.get("api_key") == API_KEY_PLACEHOLDER:
        return replace(request, json={**request.json, "api_key": need(creds, "tto", "api_key")})
    if request.query.get("api_key") == API_KEY_PLACEHOLDER:
        return replace(request, query={**request.query, "api_key": need(creds, "tto", "api_key")})
    return request


def _quickaudience(op: dict[str, Any], request: PreparedRequest, creds: Mapping[str, Any]) -> PreparedRequest:
    """QA-MGMT-AUTH: ``Authorization: Bearer <console_token>`` for the management API. QA-SIGNATURE for
    collection: the body's ``${app_key}`` stand-in becomes ``app_key``, the exact body bytes are signed with
    ``access_key_secret`` into ``?accessKeyId=&signature=``, and ``origin`` (a WEB channel's domain) is sent."""
    from cdpkit.generators.quickaudience import APPKEY_PLACEHOLDER
    from cdpkit.schemas import qa_signing

    if op["operationId"] != "collect_event":
        return replace(request, headers={**request.headers, "Authorization": f"Bearer {need(creds, 'quickaudience', 'console_token')}"})
    body = request.json
    if isinstance(body, dict) and body.get("appkey") == APPKEY_PLACEHOLDER:
        body = {**body, "appkey": need(creds, "quickaudience", "app_key")}
    data = orjson.dumps(body)
    query = qa_signing.signed_query(need(creds, "quickaudience", "access_key_id"),
                                    need(creds, "quickaudience", "access_key_secret"), data, request.query)
    headers = {**request.headers, **({"Origin": str(creds["origin"])} if creds.get("origin") else {})}
    return replace(request, headers=headers, query=query, json=body, data=data)


def _sensors(op: dict[str, Any], request: PreparedRequest, creds: Mapping[str, Any]) -> PreparedRequest:
    """SF-HEADERS-REQUIRED: ``api-key``, ``X-Organization-Id``, ``sensorsdata-project`` on every API call.
    The H5 page and its modeled save declare the tenant headers too: the mock's stand-in for the real
    page's login session (SF-H5-PROJECT-RESOLVE), so a plain HTTP client acts for that organization."""
    if not op.get("headers"):
        return request
    return replace(request, headers={**request.headers, "api-key": need(creds, "sensors", "api_key"),
                                     "X-Organization-Id": need(creds, "sensors", "organization_id"),
                                     "sensorsdata-project": need(creds, "sensors", "project")})


# vendor -> how its credentials enter a request. Vendors not listed get the payload only.
AUTH: dict[str, Auth] = {
    "tto": _tto,
    "gptbots": _gptbots,
    "quickaudience": _quickaudience,
    "zebline": _zebline,
    "sensors": _sensors,
}
# vendor -> the credential keys its AUTH entry reads (documentation for --help and error messages).
CRED_KEYS: dict[str, tuple[str, ...]] = {
    "tto": ("api_key",),
    "gptbots": ("token",),
    "quickaudience": ("console_token", "apiId", "access_key_id", "access_key_secret", "app_key", "origin"),
    "zebline": ("license_code", "access_token"),
    "sensors": ("api_key", "organization_id", "project"),
}


def _split(vendor_op: str) -> tuple[str, dict[str, Any]]:
    vendor, _, name = vendor_op.partition(".")
    try:
        return vendor, schemas.operation(vendor, name)
    except (KeyError, FileNotFoundError):
        reg = registry.lookup(vendor_op)  # a generator alias such as gptbots.users
        return reg.vendor, reg.meta


def _query_value(value: Any) -> str:
    """Query strings carry text: JSON spelling for booleans, arrays and objects, str() for numbers."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, dict, list)):
        return orjson.dumps(value).decode()
    return str(value)


def request_for(
    vendor_op: str,
    payload: Any,
    creds: Mapping[str, Any] | None = None,
    path_params: Mapping[str, Any] | None = None,
) -> PreparedRequest:
    """The request that sends ``payload`` to ``vendor.operation`` (operationId or generator alias).

    Path parameters are filled from ``path_params``, then ``creds``, then the payload's top-level
    keys; the payload becomes the JSON body of a body operation and the query of any other.
    """
    creds = creds or {}
    vendor, op = _split(vendor_op)
    sources = [path_params or {}, creds, payload if isinstance(payload, Mapping) else {}]

    def fill(match: re.Match[str]) -> str:
        for source in sources:
            if match.group(1) in source:
                return urllib.parse.quote(str(source[match.group(1)]), safe="")
        raise MissingCredential(f"{vendor}.{op['operationId']} needs path parameter {match.group(1)!r}: pass --cred {match.group(1)}=VALUE")

    path = _PARAM.sub(fill, op["path"])
    if op.get("body"):
        request = PreparedRequest(op["method"].upper(), path, {"Content-Type": op.get("content_type", "application/json")}, json=payload)
    elif op.get("query"):
        query = {k: _query_value(v) for k, v in (payload or {}).items() if v is not None}
        request = PreparedRequest(op["method"].upper(), path, query=query)
    else:
        request = PreparedRequest(op["method"].upper(), path)
    auth = AUTH.get(vendor)
    return auth(op, request, creds) if auth else request
