"""The requests bench_mock.py loads its servers with, and the state some of them need first.

A scenario is one request, sent again and again: ``vendor``, ``method``, ``path``, ``headers``, ``json``
(the body) and two placeholders the load drivers fill in per request:

* ``@ID@``: an id unique per request *and per run* (an upsert creates a new profile, as a client's would);
* ``@N@``: the request's number modulo the scenario's ``population``, to look up one of that many records
  the run seeded before the load (a look-up of an id that exists is the documented, 2xx path; a look-up of
  an unknown one is a 404, a different and cheaper piece of work).

``expect``, when present, holds top-level fields of the JSON answer a server must give (checked once per
server before the load, :func:`check_answer`): an API that signals a failure by a code in a 200 answer
would otherwise pass the 2xx count. ``seed``, when present, is the ``{vendor: section}`` data a cdpkit mock gets through ``POST /__mock/seed``
before any load (in chunks: the control API takes at most --max-body bytes per request). The bare handler
and Prism need none: they answer any well-formed request.
"""

from __future__ import annotations

import http.client
import json
from typing import Any

# The demo's Sensors tenant (cdpkit/mockserver/sensors_model.py, the document's own example values).
SENSORS_HEADERS = {"api-key": "#K-7IGwJpE2M9CpID4101qj2hWg9t59hoF3", "X-Organization-Id": "org-sep-3164dp4",
                   "sensorsdata-project": "default"}
SENSORS_POPULATION = 5_000  # users seeded into the demo project; sensors.online looks each up in turn
SEED_CHUNK = 1_000  # users per POST /__mock/seed (~150 KB: well under the default 1 MiB body limit)


def sensors_users(first: int, count: int) -> dict[str, Any]:
    """Users ``first`` .. ``first + count - 1`` of the sensors.online population, as a Sensors seed section:
    distinct ids shaped like a login id (``user-<n>``), numeric entity ids as the document's, and ages spread so
    the running layered tag answers each of its layers (age 11: 分层1, 18 and over: 分层2) and no value."""
    users = [{"entity_id": str(900_000_000 + n), "identities": {"distinct_id": f"user-{n}"},
              "profile": {"age": 5 + n % 60, "city": ("上海", "北京", None)[n % 3]}}
             for n in range(first, first + count)]
    return {"organizations": {SENSORS_HEADERS["X-Organization-Id"]: {"projects": {"default": {"users": users}}}}}


SCENARIOS: dict[str, dict[str, Any]] = {
    "zebline.users": {
        "vendor": "zebline",
        "method": "POST",
        "path": "/v1/accounts/LICENSE_CODE/users",
        "headers": {"authorization": "ACCESS_TOKEN"},
        "json": {"userId": "@ID@", "firstName": "sample", "attributes": {"age": 30}},
    },
    "tto.track": {
        "vendor": "tto",
        "method": "POST",
        "path": "/v1/track",
        "json": {"type": "track", "api_key": "your_api_key_here", "user_id": "user_12345", "event": "Purchase",
                 "msg_id": "@ID@", "properties": {"revenue": 299.99, "currency": "USD"}, "timestamp": "1767174918"},
    },
    "gptbots.get_user_cdp": {
        "vendor": "gptbots",
        "method": "GET",
        "path": "/v1/user/get-user-cdp?user_id=BC123",
        "headers": {"Authorization": "Bearer ${token}"},
    },
    # The documented single-user online look-up (seed 002, 单用户的实时标签在线查询), with the document's own
    # attribute names: a running layered tag (a value per user) and a stopped one (listed without a value).
    "sensors.online": {
        "vendor": "sensors",
        "method": "POST",
        "path": "/api/v3/focus/v1/express-attribute-online/get",
        "headers": SENSORS_HEADERS,
        "json": {"entity_name": "user", "audience_entity_id": {"identity_id_map": {"distinct_id": "user-@N@"}},
                 "attribute_names": ["user_rt_tag_fencengshuzhiyunsuanfuyanzheng", "user_rt_tag_if1"]},
        "population": SENSORS_POPULATION,
        "expect": {"code": "SUCCESS"},  # Sensors can answer a failure with 200 and a code: check one answer's body
        "seed": lambda: [{"sensors": sensors_users(first, min(SEED_CHUNK, SENSORS_POPULATION - first))}
                         for first in range(0, SENSORS_POPULATION, SEED_CHUNK)],
    },
}


def seed_mock(port: int, scenario: dict[str, Any], timeout: float = 60.0) -> str | None:
    """Load a scenario's ``seed`` into the cdpkit mock on ``port`` through its control API; None when done
    (or when the scenario needs none), else why not (the status and the start of the mock's answer)."""
    for data in scenario["seed"]() if "seed" in scenario else []:
        answered = _one_request(port, "POST", "/__mock/seed", json.dumps(data).encode(),
                                {"Content-Type": "application/json"}, timeout)
        if isinstance(answered, str):
            return f"POST /__mock/seed failed: {answered}"
        status, answer = answered
        if status != 200:
            return f"POST /__mock/seed answered {status}: {answer[:300]!r}"
    return None


def _one_request(port: int, method: str, path: str, body: bytes | None, headers: dict[str, str],
                 timeout: float) -> tuple[int, bytes] | str:
    """One request to 127.0.0.1:``port`` on a connection of its own: (status, body), or why there was no answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException) as exc:
        return repr(exc)
    finally:
        conn.close()


def check_answer(port: int, scenario: dict[str, Any], nonce: str, timeout: float = 30.0) -> str | None:
    """Send the scenario's request once (``@ID@`` and ``@N@`` filled in as a driver would); None when the answer
    is 2xx with the ``expect``-ed fields, else what was wrong."""
    body = json.dumps(scenario["json"]).replace("@ID@", f"{nonce}-check").replace("@N@", "0") if "json" in scenario else None
    headers = dict(scenario.get("headers", {}), **({"Content-Type": "application/json"} if body else {}))
    path = scenario["path"].replace("@ID@", f"{nonce}-check").replace("@N@", "0")
    answered = _one_request(port, scenario["method"], path, body.encode() if body else None, headers, timeout)
    if isinstance(answered, str):
        return f"no answer: {answered}"
    status, answer = answered
    if not 200 <= status < 300:
        return f"answered {status}: {answer[:200]!r}"
    try:
        found = json.loads(answer) if scenario.get("expect") else {}
    except ValueError:
        return f"answered {status} with a body that is not JSON: {answer[:200]!r}"
    wrong = {k: found.get(k) for k, v in scenario.get("expect", {}).items() if not isinstance(found, dict) or found.get(k) != v}
    return f"answered {status} but {wrong} where {scenario['expect']} was expected" if wrong else None
