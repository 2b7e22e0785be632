"""The Sensors mock under hostile or large input: nested EQL, many users (issue 10).

* An EQL condition nested as deep as the save call's 1,000 characters allow is refused in words (400
  naming SF-H5-SAVE), never a 500 from recursion.
* Look-ups by identity and starting a tag read a bounded number of stored values however many users a
  project has (an identity index kept in the store), and a seed does not re-evaluate every user.

``python -m tests.test_mock_sensors_limits`` measures the same with 20,000 users through HTTP.
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

import pytest
import requests

from cdpkit.mockserver.pytest_plugin import MockServer
from cdpkit.mockserver.runtime import MockConfig
from tests.mock_fixtures import one_vendor_mock


server, fresh = one_vendor_mock("sensors")

KEY, ORG, PROJECT = "#K-7IGwJpE2M9CpID4101qj2hWg9t59hoF3", "org-sep-3164dp4", "default"
HEADERS = {"api-key": KEY, "X-Organization-Id": ORG, "sensorsdata-project": PROJECT}
TAG = "/api/v3/focus/v1/real-time-tag"
ONLINE = "/api/v3/focus/v1/express-attribute-online"
SAVE = "/sf/h5/iframe-app/sf/realtime-tag/save"
FENCENG = "user_rt_tag_fencengshuzhiyunsuanfuyanzheng"


def post(server: MockServer, path: str, body: Any) -> requests.Response:
    return requests.post(server.url + path, json=body, headers=HEADERS, timeout=30)


def users(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"entity_id": str(10_000_000 + i), "identities": {"distinct_id": f"bench-{i}"},
             "profile": {"age": i % 90, "city": None if i % 3 else "上海"}} for i in range(start, start + n)]


def seed(url: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(url + "/__mock/seed", json={"sensors": {"organizations": {ORG: {"projects": {PROJECT: body}}}}}, timeout=600)


def lookup(server: MockServer, distinct_id: str, names: list[str]) -> requests.Response:
    return post(server, ONLINE + "/get", {"audience_entity_id": {"identity_id_map": {"distinct_id": distinct_id}},
                                          "attribute_names": names})


# -- EQL nesting (SF-H5-SAVE) ----------------------------------------------------------------------

def _save(server: MockServer, eql: str, name: str = "user_rt_tag_deep") -> requests.Response:
    assert len(eql) <= 1000, len(eql)  # within the schema: the answer is the mock's, not the validator's
    return post(server, SAVE, {"project": PROJECT, "mode": "create", "tag_name": name, "tag_cname": "deep", "eql": eql,
                               "layer": "深"})


@pytest.mark.parametrize("depth", [245, 400, 493])
def test_deeply_nested_eql_is_refused_in_words_not_a_500(server, depth):
    resp = _save(server, "(" * depth + "user.age == 1" + ")" * depth if depth < 490 else "(" * depth + "true" + ")" * depth)
    assert resp.status_code == 400, resp.text[:300]
    body = resp.json()
    assert "SF-H5-SAVE" in body["error_info"]["context"]["requirements"] and "nest" in body["message"], body["message"]
    assert "user_rt_tag_deep" not in str(server.state("sensors")), "a refused save stores nothing"


def test_unbalanced_deep_parentheses_are_refused_too(server):
    resp = _save(server, "(" * 990)
    assert resp.status_code == 400 and "SF-H5-SAVE" in resp.json()["error_info"]["context"]["requirements"], resp.text[:300]


def test_long_not_chains_and_flat_chains_are_read(server):
    """Only parentheses nest: a chain of 240 `not`, or of 50 `and`, is an ordinary condition."""
    assert _save(server, "not " * 240 + "user.age == 11", "user_rt_tag_nots").status_code == 200
    assert _save(server, " and ".join(["user.age == 11"] * 50), "user_rt_tag_ands").status_code == 200


def test_nesting_up_to_the_bound_is_accepted_and_evaluated(server):
    from cdpkit.mockserver.sensors_model import MAX_EQL_DEPTH

    depth = MAX_EQL_DEPTH - 1  # the rule keeps the condition in parentheses of its own
    assert _save(server, "(" * (depth + 1) + "user.age == 11" + ")" * (depth + 1), "user_rt_tag_over").status_code == 400
    assert _save(server, "(" * depth + "user.age == 11" + ")" * depth, "user_rt_tag_nested").status_code == 200
    assert post(server, TAG + "/start", {"name": "user_rt_tag_nested"}).status_code == 200
    attributes = lookup(server, "sddd", ["user_rt_tag_nested"]).json()["data"]["audience_entity"]["audience_entity_attributes"]
    assert attributes == [{"name": "user_rt_tag_nested", "value": {"data_type": "STRING", "string_value": "深", "list_value": []}}]


# -- look-ups by identity and computation are bounded --------------------------------------------

class Reads:
    """Counts stored values the store decodes (every read, items() included, goes through get)."""

    def __init__(self, server: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
        self.n = 0
        store = server.mock.store
        original = store.get

        def counting(ns: str, key: str) -> Any:
            self.n += 1
            return original(ns, key)
        monkeypatch.setattr(store, "get", counting)

    def during(self, action: Any) -> tuple[int, Any]:
        before = self.n
        result = action()
        return self.n - before, result


MANY = 3000


def test_identity_lookup_start_and_seed_read_a_bounded_number_of_values(server, monkeypatch):
    assert seed(server.url, {"users": users(MANY)}).status_code == 200
    reads = Reads(server, monkeypatch)
    n, resp = reads.during(lambda: lookup(server, f"bench-{MANY - 1}", [FENCENG]))
    assert resp.status_code == 200 and n < 30, n
    assert resp.json()["data"]["audience_entity"]["entity_id"] == {"data_type": "INT", "int_value": str(10_000_000 + MANY - 1)}
    batch = {"audience_entity_ids": [{"identity_id_map": {"distinct_id": f"bench-{i}"}} for i in range(0, MANY, 300)],
             "attribute_names": [FENCENG]}
    n, resp = reads.during(lambda: post(server, ONLINE + "/batch-get", batch))
    assert resp.status_code == 200 and n < 100, n
    n, resp = reads.during(lambda: post(server, TAG + "/start", {"name": "user_rt_tag_if1"}))
    assert resp.status_code == 200 and n < 50, n
    n, resp = reads.during(lambda: seed(server.url, {"users": users(1, MANY)}))
    assert resp.status_code == 200 and n < 50, n
    # the values are the rule evaluated on each user's profile, as before
    found = lookup(server, "bench-11", [FENCENG, "user_rt_tag_if1"]).json()["data"]["audience_entity"]["audience_entity_attributes"]
    assert [a.get("value", {}).get("string_value") for a in found] == ["分层1", "分层 1"]
    adult = lookup(server, "bench-30", [FENCENG, "user_rt_tag_if1"]).json()["data"]["audience_entity"]["audience_entity_attributes"]
    assert [a.get("value", {}).get("string_value") for a in adult] == ["分层2", None]


def test_identity_index_follows_reseeds_and_a_refused_seed_changes_nothing(server):
    assert seed(server.url, {"users": [{"entity_id": "501", "identities": {"distinct_id": "old-id"}, "profile": {"age": 11}}]}).ok
    assert lookup(server, "old-id", []).status_code == 200
    refused = seed(server.url, {"users": [{"entity_id": "501", "identities": {"distinct_id": "new-id"}, "profile": {}},
                                          {"identities": {"distinct_id": "no entity id"}}]})
    assert refused.status_code == 400
    assert lookup(server, "old-id", []).status_code == 200 and lookup(server, "new-id", []).status_code == 404
    assert seed(server.url, {"users": [{"entity_id": "501", "identities": {"distinct_id": "new-id"}, "profile": {}}]}).ok
    assert lookup(server, "old-id", []).status_code == 404 and lookup(server, "new-id", []).status_code == 200


def test_users_sharing_an_identity_answer_the_first_by_entity_id(server):
    same = [{"entity_id": e, "identities": {"distinct_id": "twin", "phone": p}, "profile": {}} for e, p in (("902", "b"), ("901", "a"))]
    assert seed(server.url, {"users": same}).ok
    entity = lookup(server, "twin", []).json()["data"]["audience_entity"]["entity_id"]
    assert entity == {"data_type": "INT", "int_value": "901"}
    both = post(server, ONLINE + "/get", {"audience_entity_id": {"identity_id_map": {"distinct_id": "twin", "phone": "b"}},
                                          "attribute_names": []})
    assert both.json()["data"]["audience_entity"]["entity_id"] == {"data_type": "INT", "int_value": "902"}


# -- the measurement ------------------------------------------------------------------------------

def measure(n: int = 20_000) -> dict[str, float]:
    """Seconds: seeding n users (in seeds of 4,000: the body limit is 1 MB), one more user, a start, look-ups,
    and the worst latency a concurrent caller of the control API saw meanwhile."""
    out: dict[str, float] = {}
    with MockServer(MockConfig(port=0, vendors=["sensors", "gptbots"])) as mock:
        stalls: list[float] = []
        stop = threading.Event()

        def ping() -> None:
            with requests.Session() as s:
                while not stop.is_set():
                    t = time.perf_counter()
                    s.get(mock.url + "/__mock/requests?limit=1", timeout=600)
                    stalls.append(time.perf_counter() - t)
                    time.sleep(0.005)
        pinger = threading.Thread(target=ping)
        pinger.start()
        try:
            chunks = []
            for i in range(0, n, 4000):
                t = time.perf_counter()
                assert seed(mock.url, {"users": users(min(4000, n - i), i)}).ok
                chunks.append(time.perf_counter() - t)
            out[f"seed {n} users in seeds of 4,000 (total)"] = sum(chunks)
            out["  the last of those seeds"] = chunks[-1]
            t = time.perf_counter()
            assert seed(mock.url, {"users": users(1, n)}).ok
            out["seed 1 more user"] = time.perf_counter() - t
            names = [FENCENG, "user_rt_tag_if1"]
            with requests.Session() as s:
                t = time.perf_counter()
                assert s.post(mock.url + TAG + "/start", json={"name": "user_rt_tag_if1"}, headers=HEADERS, timeout=600).ok
                out["start a tag"] = time.perf_counter() - t
                latencies = []
                for i in range(0, n, n // 50):
                    t = time.perf_counter()
                    body = {"audience_entity_id": {"identity_id_map": {"distinct_id": f"bench-{i}"}}, "attribute_names": names}
                    assert s.post(mock.url + ONLINE + "/get", json=body, headers=HEADERS, timeout=600).ok
                    latencies.append(time.perf_counter() - t)
                out["look-up by distinct_id (median of 50)"] = statistics.median(latencies)
                batch = {"audience_entity_ids": [{"identity_id_map": {"distinct_id": f"bench-{i}"}} for i in range(0, n, n // 100)],
                         "attribute_names": names}
                t = time.perf_counter()
                assert s.post(mock.url + ONLINE + "/batch-get", json=batch, headers=HEADERS, timeout=600).ok
                out["batch look-up of 100 users"] = time.perf_counter() - t
        finally:
            stop.set()
            pinger.join()
        out["worst latency a concurrent caller saw"] = max(stalls)
    return out


if __name__ == "__main__":
    for what, seconds in measure().items():
        print(f"{what:45s} {seconds * 1000:9.1f} ms")
