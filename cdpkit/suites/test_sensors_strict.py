"""Sensors Focus: checks of the mock's assumption entries (run only with ``--strict``).

Split from :mod:`cdpkit.suites.test_sensors` (the documented checks, the profile and the request helpers) to
keep each module readable; the fixtures follow the same rules: fresh seeded tags and users on a
cdpkit mock, ``tag_name`` started/stopped and restored elsewhere.
"""

from __future__ import annotations

import json
import re
from typing import Any

from cdpkit import generators
from cdpkit import schemas
from cdpkit.generators import OMIT
from cdpkit.generators import sensors as gen
from cdpkit.suites.checks import Exchange
from cdpkit.suites.registry import requirement
from cdpkit.suites.target import Target
from cdpkit.suites.test_sensors import (
    HEADER_NAMES, LAYER, a_user, act, batch, batch_entities, computed_entry, entity_of, entries, fresh_tag, fresh_user, get_tag, has_value,
    known_value, lookup, page, page_served, quota, seed, send, success, tag_of, toggled_tag, unique_distinct_id, unique_tag,
)
from cdpkit.suites.test_sensors_tenants import other_tenant

# SF-VALUE-DATA-TYPES: the value types the schema lists (VENDOR-NOTES), read from it rather than copied.
DATA_TYPES: tuple[str, ...] = tuple(schemas.load("sensors", "common.json")["$defs"]["attribute_value"]["properties"]["data_type"]["enum"])


# Assumptions (run only with --strict) ------------------------------------------------------------
def failures(cdp: Target) -> list[Exchange]:
    """Calls every implementation must refuse: no api-key, no tag name, an unknown tag, an unknown user."""
    return [send(cdp, "query_realtime_tag_quota", drop=("api-key",)),
            send(cdp, "get_realtime_tag", generators.invalid("sensors.get", "SF-GET-NAME-REQUIRED", seed=0)),
            get_tag(cdp, unique_tag(cdp)),
            lookup(cdp, unique_distinct_id(cdp), [unique_tag(cdp)])]


@requirement("SF-HEADERS-ENFORCED")
def test_each_header_is_required(cdp: Target) -> None:
    """VENDOR-NOTES: every call needs the three headers (the document only shows them on every call)."""
    for header in HEADER_NAMES:
        cdp.expect.rejected(send(cdp, "query_realtime_tag_quota", drop=(header,)), f"a refusal: the call lacks {header}")
    for key, value in (("api_key", "#K-unknown"), ("organization_id", "org-unknown"), ("project", "unknown")):
        cdp.expect.rejected(send(cdp, "query_realtime_tag_quota", creds={key: cdp.unique(value)}),
                            f"a refusal: the {key} names no tenant the keys belong to")
    for op in ("start_realtime_tag", "stop_realtime_tag", "delete_realtime_tag", "get_realtime_tag"):
        cdp.expect.rejected(send(cdp, op, generators.valid(f"sensors.{op}", name=unique_tag(cdp)), drop=("api-key",)),
                            "a refusal: the call lacks api-key")
    for op in ("get_online_attributes", "batch_get_online_attributes"):
        cdp.expect.rejected(send(cdp, op, generators.valid(f"sensors.{op}", seed=3), drop=("api-key",)), "a refusal: no api-key")


@requirement("SF-REQUEST-FORMS")
def test_other_json_forms_are_refused(cdp: Target) -> None:
    """The mock binds strictly: a bare string for attribute_names, a number for an identity, an empty
    entity_name, a single object for the batch's list are refused, not coerced."""
    distinct = a_user(cdp)
    ident = {"identity_id_map": {"distinct_id": distinct}}
    name = unique_tag(cdp)
    for op, body in (
        ("get_online_attributes", {"audience_entity_id": ident, "attribute_names": name}),
        ("get_online_attributes", {"audience_entity_id": {"identity_id_map": {"distinct_id": 12345}}, "attribute_names": [name]}),
        ("get_online_attributes", {"audience_entity_id": ident, "attribute_names": [name], "entity_name": ""}),
        ("batch_get_online_attributes", {"audience_entity_ids": ident, "attribute_names": [name]}),
    ):
        cdp.expect.rejected(send(cdp, op, body), f"a refusal of {json.dumps(body, ensure_ascii=False)}")


@requirement("SF-BATCH-UNKNOWN-TAG")
def test_batch_lists_an_unknown_tag_without_value(cdp: Target) -> None:
    distinct = a_user(cdp)
    absent = unique_tag(cdp)
    exchange = batch(cdp, [distinct], [absent])
    entry = entries(batch_entities(cdp, exchange)[0]).get(absent)
    cdp.expect.that(entry is not None and not has_value(entry), exchange, exchange.describe_response(),
                    f"success, and the entry {absent!r} is listed without value, as in the single look-up")


@requirement("SF-ERROR-HTTP-STATUS")
def test_errors_carry_a_4xx_and_a_code(cdp: Target) -> None:
    for exchange in failures(cdp):
        body = exchange.body if isinstance(exchange.body, dict) else {}
        cdp.expect.that(400 <= exchange.status < 500 and body.get("code") not in (None, "SUCCESS"), exchange,
                        exchange.describe_response(), "a 4xx and an envelope whose code is not SUCCESS")


@requirement("SF-ERROR-INFO")
def test_errors_carry_error_info(cdp: Target) -> None:
    for exchange in failures(cdp):
        cdp.expect.conforms(exchange, "error_response.json")
        info = exchange.body.get("error_info")
        cdp.expect.that(isinstance(info, dict) and bool(info.get("error_causes")), exchange, exchange.describe_response(),
                        "error_info {code, description, system_response, error_causes: [{error_cause, action_suggestion}], context}")


@requirement("SF-ERROR-CODES")
def test_error_codes(cdp: Target) -> None:
    expected = ("UNAUTHENTICATED", "INVALID_ARGUMENT", "NOT_FOUND", "USER_NOT_FOUND")
    for exchange, code in zip(failures(cdp), expected):
        cdp.expect.that((exchange.body or {}).get("code") == code, exchange, exchange.describe_response(), f"code {code}")


@requirement("SF-REQUEST-ID")
def test_request_ids_are_32_hex(cdp: Target) -> None:
    for exchange in [send(cdp, "query_realtime_tag_quota"), send(cdp, "query_realtime_tag_quota")] + failures(cdp):
        rid = (exchange.body or {}).get("request_id")
        cdp.expect.that(isinstance(rid, str) and re.fullmatch(r"[0-9a-f]{32}", rid) is not None, exchange,
                        exchange.describe_response(), "request_id: 32 lowercase hex digits")
    ids = [e.body["request_id"] for e in cdp.exchanges if isinstance(e.body, dict) and "request_id" in e.body]
    cdp.expect.that(len(set(ids)) == len(ids), None, f"{ids}", "a fresh request_id per answer")


@requirement("SF-AUTH-ERRORS")
def test_auth_statuses(cdp: Target) -> None:
    for header in HEADER_NAMES[:1]:
        cdp.expect.status(send(cdp, "query_realtime_tag_quota", drop=(header,)), 401, f"401 without {header}")
    cdp.expect.status(send(cdp, "query_realtime_tag_quota", creds={"api_key": cdp.unique("#K-x")}), 401, "401 for an unknown api-key")
    cdp.expect.status(send(cdp, "query_realtime_tag_quota", creds={"project": cdp.unique("noproject")}), 403,
                      "403 for a project the organization does not have")
    other = other_tenant(cdp)  # last: it skips when no other organization is named
    cdp.expect.status(send(cdp, "query_realtime_tag_quota", creds={"api_key": other.creds["api_key"]}), 403,
                      "403 for an api-key of another organization")


@requirement("SF-TAG-STATUS-VALUES")
def test_status_values(cdp: Target) -> None:
    name = fresh_tag(cdp, "CREATED")
    for op, status in ((None, "CREATED"), ("start_realtime_tag", "RUNNING"), ("stop_realtime_tag", "STOPPED")):
        if op:
            success(cdp, act(cdp, op, name), f"{op} succeeds")
        seen = tag_of(cdp, name).get("status")
        cdp.expect.that(seen == status, cdp.exchanges[-1], f"status {seen!r}", f"status {status}")


@requirement("SF-COMPUTE-MODEL")
def test_first_matching_layer_is_the_value(cdp: Target) -> None:
    users = {"teen": {"age": 11, "city": "上海"}, "adult": {"age": 30, "city": None}, "none": {"age": 15, "city": "北京"}}
    distincts = {k: fresh_user(cdp, profile)[0] for k, profile in users.items()}
    layers = ({"eql": "user.age == 11", "tag": "L1"}, {"eql": "user.city.is_null() or user.age >= 18", "tag": "L2"})
    name = fresh_tag(cdp, "STOPPED", layers)
    success(cdp, act(cdp, "start_realtime_tag", name), "the tag starts")
    for key, expected in (("teen", "L1"), ("adult", "L2"), ("none", None)):
        exchange = lookup(cdp, distincts[key], [name])
        entry = entries(entity_of(cdp, exchange)).get(name, {})
        got = (entry.get("value") or {}).get("string_value") if has_value(entry) else None
        cdp.expect.that(got == expected, exchange, exchange.describe_response(), f"value {expected!r} for a {key} user")
    project = cdp.unique("delayed")
    seed(cdp, project=project, compute_delay_seconds=3600, users=(gen.user_fixture({"identity_id_map": {"distinct_id": "d"}}, {"age": 11}),),
         tags=(gen.tag_fixture(name, "STOPPED", (LAYER,)),))
    success(cdp, send(cdp, "start_realtime_tag", {"name": name}, creds={"project": project}), "the tag starts")
    exchange = send(cdp, "get_online_attributes", {"audience_entity_id": {"identity_id_map": {"distinct_id": "d"}},
                                                   "attribute_names": [name]}, creds={"project": project})
    entry = entries(entity_of(cdp, exchange)).get(name, {})
    cdp.expect.that(entry.get("error_msg") == "NOT_READY" and not has_value(entry), exchange, exchange.describe_response(),
                    "error_msg NOT_READY and no value while the tag is being computed")


@requirement("SF-QUOTA-MODEL")
def test_quota_follows_running_tags(cdp: Target) -> None:
    with toggled_tag(cdp) as name:
        act(cdp, "stop_realtime_tag", name)
        before = quota(cdp)
        success(cdp, act(cdp, "start_realtime_tag", name), "the tag starts")
        running = quota(cdp)
        success(cdp, act(cdp, "stop_realtime_tag", name), "the tag stops")
        after = quota(cdp)
        for exchange in [e for e in cdp.exchanges if "/quota" in e.url]:  # never negative (the schema's SF-QUOTA-MODEL part)
            cdp.expect.conforms(exchange, "quota_response.json", "remain and use: integers, never negative")
        moved = running == {"remain": before["remain"] - 1, "use": before["use"] + 1} and after == before
        cdp.expect.that(moved, cdp.exchanges[-1], f"before {before}, running {running}, stopped {after}",
                        "start uses one unit (use +1, remain -1); stop frees it")
    if cdp.is_mock:
        project = cdp.unique("full")
        seed(cdp, project=project, quota={"total": 5, "other_use": 5}, tags=(gen.tag_fixture(name, "STOPPED"),))
        exchange = send(cdp, "start_realtime_tag", {"name": name}, creds={"project": project})
        cdp.expect.status(exchange, 409, "409 RESOURCE_EXHAUSTED: no quota remains")


@requirement("SF-QUOTA-BODY")
def test_quota_body_forms(cdp: Target) -> None:
    success(cdp, send(cdp, "query_realtime_tag_quota"), "no body (the document's curl)")
    success(cdp, send(cdp, "query_realtime_tag_quota", {}), "an empty JSON object")
    for seed_ in range(3):
        cdp.expect.status(send(cdp, "query_realtime_tag_quota", generators.invalid("sensors.quota", "SF-QUOTA-BODY", seed=seed_)),
                          400, "400 for a JSON body that is not an object")


@requirement("SF-TAG-NOT-FOUND")
def test_unknown_tag_is_404(cdp: Target) -> None:
    for op in ("start_realtime_tag", "stop_realtime_tag", "get_realtime_tag", "delete_realtime_tag"):
        cdp.expect.status(act(cdp, op, unique_tag(cdp)), 404, f"404 NOT_FOUND: {op} of a tag that does not exist")


@requirement("SF-IDEMPOTENT")
def test_start_and_stop_repeat_harmlessly(cdp: Target) -> None:
    with toggled_tag(cdp) as name:
        act(cdp, "stop_realtime_tag", name)
        success(cdp, act(cdp, "stop_realtime_tag", name), "stopping a stopped tag succeeds")
        success(cdp, act(cdp, "start_realtime_tag", name), "the tag starts")
        once = quota(cdp)
        success(cdp, act(cdp, "start_realtime_tag", name), "starting a running tag succeeds")
        cdp.expect.that(quota(cdp) == once, cdp.exchanges[-1], json.dumps(cdp.exchanges[-1].body), f"the same quota {once}")
        act(cdp, "stop_realtime_tag", name)


@requirement("SF-DELETE-RUNNING")
def test_deleting_a_running_tag(cdp: Target) -> None:
    name = fresh_tag(cdp, "RUNNING")
    exchange = act(cdp, "delete_realtime_tag", name)
    still = get_tag(cdp, name)
    if cdp.profile.is_rejection(exchange):
        status = ((still.body or {}).get("data") or {}).get("realtime_tag", {}).get("status")
        cdp.expect.that(still.ok and status not in (None, "STOPPED"), still, still.describe_response(),
                        "a refused delete leaves the tag running")
    else:
        cdp.expect.rejected(still, "a delete that succeeded removed the tag")


@requirement("SF-ONLINE-STALE-TAG")
def test_stopped_tag_has_no_value(cdp: Target) -> None:
    if not cdp.is_mock:  # tag_name, started until distinct_id has its value, then stopped (its status put back after)
        with known_value(cdp) as (distinct, name, _):
            computed_entry(cdp, distinct, name)  # positive control: while it runs, the user has a value
            success(cdp, act(cdp, "stop_realtime_tag", name), "the tag stops")
            entry = entries(entity_of(cdp, exchange := lookup(cdp, distinct, [name]))).get(name)
            cdp.expect.that(entry is not None and not has_value(entry), exchange, exchange.describe_response(),
                            "success; a tag stopped after it ran has no value any more")
        return
    distinct, _ = fresh_user(cdp)
    for status in ("STOPPED", "CREATED"):
        name = fresh_tag(cdp, status)
        entry = entries(entity_of(cdp, exchange := lookup(cdp, distinct, [name]))).get(name)
        cdp.expect.that(entry is not None and not has_value(entry), exchange, exchange.describe_response(),
                        f"success; a {status} tag's entry has no value")
    # A tag stopped after it ran: the values of its run are no longer served either.
    name = fresh_tag(cdp, "RUNNING")
    exchange = lookup(cdp, distinct, [name])
    cdp.expect.that(has_value(entries(entity_of(cdp, exchange)).get(name, {})), exchange, exchange.describe_response(),
                    "positive control: while it runs, the tag has a value for the user")
    success(cdp, act(cdp, "stop_realtime_tag", name), "the tag stops")
    entry = entries(entity_of(cdp, exchange := lookup(cdp, distinct, [name]))).get(name)
    cdp.expect.that(entry is not None and not has_value(entry), exchange, exchange.describe_response(),
                    "success; a tag stopped after it ran has no value any more")


@requirement("SF-ONLINE-ENTITY-ID")
def test_lookup_by_entity_id(cdp: Target) -> None:
    distinct, entity_id = fresh_user(cdp)
    name = fresh_tag(cdp, "RUNNING")
    by_distinct = entity_of(cdp, lookup(cdp, distinct, [name]))
    for form in ({"data_type": "INT", "int_value": entity_id}, {"data_type": "STRING", "string_value": entity_id}):
        exchange = send(cdp, "get_online_attributes", generators.valid("sensors.online", seed=1, audience_entity_id={"entity_id": form},
                                                                         attribute_names=[name], entity_name=OMIT))
        entity = entity_of(cdp, exchange)
        cdp.expect.that(entity == by_distinct and entity["entity_id"] == {"data_type": "INT", "int_value": entity_id}, exchange,
                        exchange.describe_response(), f"the same user as distinct_id {distinct}, entity_id {{INT, {entity_id}}}")
    cdp.expect.status(lookup(cdp, distinct, [name], entity_name="item"), 404, "404 for an entity other than user")


@requirement("SF-VALUE-DATA-TYPES")
def test_value_enums(cdp: Target) -> None:
    with known_value(cdp) as (distinct, name, _):
        exchange = lookup(cdp, distinct, [name, unique_tag(cdp)])
        cdp.expect.conforms(exchange, "online_get_response.json")
        bad = [e for e in entries(entity_of(cdp, exchange)).values() if has_value(e) and e["value"].get("data_type") not in DATA_TYPES]
        cdp.expect.that(not bad, exchange, json.dumps(bad, ensure_ascii=False), f"data_type one of {DATA_TYPES}")
        cdp.expect.conforms(batch(cdp, [distinct], [name, unique_tag(cdp)]), "batch_get_response.json",
                            f"the batch's values and entries too: data_type one of {DATA_TYPES}, error_msg of VENDOR-NOTES")


@requirement("SF-BATCH-UNKNOWN-USER")
def test_batch_with_an_unknown_user(cdp: Target) -> None:
    with known_value(cdp) as (distinct, name, _):
        nobody = unique_distinct_id(cdp)
        exchange = batch(cdp, [distinct, nobody], [name])
        if cdp.profile.is_rejection(exchange):
            return
        found = batch_entities(cdp, exchange)
        cdp.expect.that(len(found) == 1, exchange, exchange.describe_response(), "a refusal, or an answer that leaves the unknown user out")


@requirement("SF-ONLINE-ATTR-ORDER")
def test_entries_in_request_order(cdp: Target) -> None:
    with known_value(cdp) as (distinct, name, _):
        names = sorted([unique_tag(cdp), name, unique_tag(cdp)], reverse=True)  # not in name order, whichever names come out
        exchange = lookup(cdp, distinct, names)
        got = [e.get("name") for e in entity_of(cdp, exchange).get("audience_entity_attributes", [])]
        cdp.expect.that(got == names, exchange, f"{got}", f"one entry per requested name, in request order: {names}")


@requirement("SF-DEMO-RECONCILE")
def test_demo_reproduces_the_examples(cdp: Target) -> None:
    cdp.mock()
    demo = {"api_key": "#K-7IGwJpE2M9CpID4101qj2hWg9t59hoF3", "organization_id": "org-sep-3164dp4", "project": "default"}
    exchange = send(cdp, "get_realtime_tag", {"name": "user_rt_tag_if1"}, creds=demo)
    if not cdp.profile.is_rejection(exchange):  # the schemathesis run may have deleted it (its delete example)
        tag = success(cdp, exchange, "the document's tag").get("data", {}).get("realtime_tag", {})
        cdp.expect.that(tag.get("id") == 73 and tag.get("cname") == "iframe 创建11121", exchange, exchange.describe_response(),
                        "user_rt_tag_if1 is the get example (id 73, cname iframe 创建11121)")
    name = "user_rt_tag_fencengshuzhiyunsuanfuyanzheng"
    exchange = send(cdp, "get_online_attributes", {"entity_name": "user", "audience_entity_id": {"identity_id_map": {"distinct_id": "sddd"}},
                                                   "attribute_names": [name]}, creds=demo)
    entity = entity_of(cdp, exchange)
    value = (entries(entity).get(name, {}).get("value") or {}).get("string_value")
    cdp.expect.that(value == "分层1" and entity.get("entity_id", {}).get("int_value") == "-2443016794336717482", exchange,
                    exchange.describe_response(), "sddd: 分层1, entity_id -2443016794336717482 (the single look-up example)")


@requirement("SF-BAD-INPUT")
def test_unreadable_bodies(cdp: Target) -> None:
    headers = {"api-key": cdp.creds["api_key"], "X-Organization-Id": cdp.creds["organization_id"], "sensorsdata-project": cdp.creds["project"]}
    path = "/api/v3/focus/v1/real-time-tag/start"
    for content_type, data, status in (("application/json", "{not json", 400), ("text/plain", '{"name": "x"}', 415)):
        exchange = cdp.request("POST", path, headers={**headers, "Content-Type": content_type}, data=data)
        cdp.expect.status(exchange, status, f"{status} in the error envelope")
        cdp.expect.conforms(exchange, "error_response.json")


@requirement("SF-H5-SAVE")
def test_modeled_save_creates_and_edits(cdp: Target) -> None:
    cdp.mock()
    name = unique_tag(cdp)
    body = generators.valid("sensors.h5_save", seed=name, project=cdp.creds["project"], mode="create", tag_name=name)
    exchange = send(cdp, "h5_save_realtime_tag", body)
    cdp.expect.conforms(exchange, "h5_save_response.json", "code SUCCESS, data {tag_name, tag_cname}")
    cdp.expect.that(tag_of(cdp, name).get("name") == name, cdp.exchanges[-1], cdp.exchanges[-1].describe_response(),
                    "the saved tag exists")
    # The model's 409 and 404 are its statuses; how a refusal is signalled is SF-ERROR-HTTP-STATUS's, so any refusal counts.
    cdp.expect.rejected(send(cdp, "h5_save_realtime_tag", body), "a refusal (409 in the model): a create of an existing name")
    cdp.expect.rejected(send(cdp, "h5_save_realtime_tag", {**body, "mode": "edit", "tag_name": unique_tag(cdp)}),
                        "a refusal (404 in the model): an edit of a tag that does not exist")
    success(cdp, send(cdp, "h5_save_realtime_tag", {**body, "mode": "edit", "tag_cname": "改名"}), "an edit succeeds")
    cdp.expect.that(tag_of(cdp, name).get("cname") == "改名", cdp.exchanges[-1], cdp.exchanges[-1].describe_response(), "cname 改名")


@requirement("SF-H5-ERRORS")
def test_page_refuses_bad_parameters(cdp: Target) -> None:
    project = cdp.creds["project"]
    for rid, query in (("SF-H5-PROJECT-REQUIRED", {"mode": "create"}), ("SF-H5-PROJECT-REQUIRED", {"project": ""}),
                       ("SF-H5-MODE", {"project": project, "mode": "delete"}),
                       ("SF-H5-TAG-NAME", {"project": project, "mode": "edit"}),
                       ("SF-H5-LANGUAGE", {"project": project, "language": "fr-fr"})):
        cdp.expect.status(send(cdp, "h5_realtime_tag_page", query), 400, f"400 for {query} (the parameters of {rid})")
    cdp.expect.status(page(cdp, project=cdp.unique("noproject")), 404, "404 for an unknown project")
    cdp.expect.status(page(cdp, mode="view", tag_name=unique_tag(cdp)), 404, "404 for an unknown tag")


@requirement("SF-H5-PROJECT-RESOLVE", relies_on=("SF-H5-SAVE",))
def test_page_acts_for_its_session_organization_only(cdp: Target) -> None:
    """Another organization holds a project and a tag of the same names: the page and the save of this
    session never read or write them, and without a session both are refused."""
    cdp.mock()
    project, name = cdp.creds["project"], unique_tag(cdp)
    other = {"api_key": cdp.unique("#K-other"), "organization_id": cdp.unique("org-other"), "project": project}
    seed_tag = {**gen.tag_fixture(name), "cname": "another organization's tag"}
    cdp.mock().seed({"sensors": {"organizations": {other["organization_id"]: {
        "api_keys": [other["api_key"]], "projects": {project: {"tags": [seed_tag]}}}}}})
    view = {"project": project, "mode": "view", "tag_name": name}

    def theirs() -> Any:
        exchange = send(cdp, "get_realtime_tag", generators.valid("sensors.get", name=name), creds=other)
        return success(cdp, exchange, "the other organization reads its own tag").get("data", {}).get("realtime_tag")
    before = theirs()
    page_served(cdp, send(cdp, "h5_realtime_tag_page", view, creds=other), "positive control: their session's page shows their tag")
    cdp.expect.status(send(cdp, "h5_realtime_tag_page", view), 404,
                      "404: this session's organization has no such tag (another organization's tag of that name is not shown)")
    body = generators.valid("sensors.h5_save", seed=name, project=project, mode="edit", tag_name=name)
    cdp.expect.rejected(send(cdp, "h5_save_realtime_tag", body), "a refusal: an edit of a tag only another organization has")
    cdp.expect.status(send(cdp, "h5_save_realtime_tag", body, creds={"organization_id": other["organization_id"]}), 403,
                      "403: this api-key with another organization's X-Organization-Id")
    success(cdp, send(cdp, "h5_save_realtime_tag", {**body, "mode": "create"}), "a create of that name in this organization")
    cdp.expect.that(tag_of(cdp, name).get("cname") == body["tag_cname"], cdp.exchanges[-1], cdp.exchanges[-1].describe_response(),
                    "the created tag is in this organization's project")
    cdp.expect.that(theirs() == before, cdp.exchanges[-1], cdp.exchanges[-1].describe_response(),
                    "the other organization's tag is unchanged")
    cdp.expect.status(send(cdp, "h5_realtime_tag_page", {"project": project}, drop=HEADER_NAMES), 401,
                      "401 (a sign-in form) for the page without a session")
    cdp.expect.status(send(cdp, "h5_save_realtime_tag", {**body, "mode": "edit"}, drop=HEADER_NAMES), 401,
                      "401 for the save without a session")
