"""Sensors tenants (``--strict``): what one organization's project sees of another's (SF-TENANT-ISOLATION).

The document shows the three headers on every call and says nothing of tenants, so isolation is an
assumption, the usual multi-tenant rule. It is judged where a leak would show: another tenant's tag read,
stopped or looked up through this tenant's headers, and this tenant's tag read through theirs.

The other tenant is ``--cred other_api_key/other_organization_id/other_project/other_tag_name`` (a
*running* tag of theirs, so that a leaking look-up has a value to show), or, on a cdpkit mock, a fresh
organization seeded with a running tag whose rule holds for a user of the same ``distinct_id`` in both
tenants: whichever project a leaking server evaluates it in, the value shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from cdpkit import generators
from cdpkit.generators import sensors as gen
from cdpkit.suites.checks import Exchange
from cdpkit.suites.registry import requirement
from cdpkit.suites.target import Target
from cdpkit.suites.test_sensors import (act, batch, entries, fresh_tag, fresh_user, has_value, lookup, send, success,
                                        unique_tag)

OTHER_KEYS = ("other_api_key", "other_organization_id", "other_project", "other_tag_name")
ADULT = {"eql": "user.age >= 18", "tag": "theirs"}  # the seeded tag's rule: holds for both seeded users (age 30)


@dataclass(frozen=True)
class OtherTenant:
    """Another organization: its headers (as ``send``'s ``creds``) and a running tag of its project."""

    creds: dict[str, str]
    tag: str


def other_tenant(cdp: Target, distinct: str | None = None) -> OtherTenant:
    """The ``other_*`` credentials, or on a mock a fresh organization (with a user ``distinct`` when given)."""
    if all(cdp.creds.get(k) for k in OTHER_KEYS) or not cdp.is_mock:
        key, organization, project, tag = cdp.require(*OTHER_KEYS)
        return OtherTenant({"api_key": key, "organization_id": organization, "project": project}, tag)
    other = OtherTenant({"api_key": cdp.unique("#K-other"), "organization_id": cdp.unique("org-other"),
                         "project": cdp.unique("other")}, unique_tag(cdp))
    users = [gen.user_fixture({"identity_id_map": {"distinct_id": distinct}}, {"age": 30})] if distinct else []
    cdp.mock().seed({"sensors": {"organizations": {other.creds["organization_id"]: {
        "api_keys": [other.creds["api_key"]],
        "projects": {other.creds["project"]: {"tags": [gen.tag_fixture(other.tag, "RUNNING", (ADULT,))], "users": users}}}}}})
    return other


def read(cdp: Target, name: str, creds: dict[str, str] | None = None) -> Exchange:
    return send(cdp, "get_realtime_tag", generators.valid("sensors.get", name=name), creds=creds)


def tag_in(exchange: Exchange) -> dict[str, Any]:
    data = exchange.body.get("data") if isinstance(exchange.body, dict) else None
    tag = data.get("realtime_tag") if isinstance(data, dict) else None
    return tag if isinstance(tag, dict) else {}


SAME_TAG = ("id", "project_id", "name", "cname", "rule", "create_time")  # what one tag, read twice, keeps


def same_tag(seen: dict[str, Any], owned: dict[str, Any]) -> bool:
    """Whether a read answered ``owned`` itself, rather than a tag of the same name the reader owns."""
    return bool(seen) and all(seen.get(k) == owned.get(k) for k in SAME_TAG)


def judged_read(cdp: Target, exchange: Exchange, owned: dict[str, Any], documented: str) -> bool:
    """Fail if ``exchange``, a read of ``owned``'s name through the other tenant's headers, answered ``owned``
    itself. False when it answered the reader's own tag of that name: then the name cannot show a leak."""
    if not cdp.accepted(exchange):
        return True
    if same_tag(tag_in(exchange), owned):
        cdp.expect.fail(exchange.describe_response(), documented, exchange)
    return False


@requirement("SF-TENANT-ISOLATION")
def test_another_tenants_tag_is_not_read_or_stopped_here(cdp: Target) -> None:
    other = other_tenant(cdp)
    theirs = read(cdp, other.tag, other.creds)  # positive control: their headers reach their tag
    if not cdp.accepted(theirs) or not tag_in(theirs):
        pytest.skip(f"the other tenant's credentials do not read its tag {other.tag!r} "
                    f"({theirs.describe_response()}): isolation would prove nothing")
    owned = tag_in(theirs)
    judged = judged_read(cdp, read(cdp, other.tag), owned, "another organization's tag does not exist here")
    if judged:  # no tag of that name here, so a stop through these headers may only be refused
        stop = act(cdp, "stop_realtime_tag", other.tag)
        after = tag_in(read(cdp, other.tag, other.creds))
        if after.get("status") != owned.get("status"):
            send(cdp, "start_realtime_tag", {"name": other.tag}, creds=other.creds)  # put their tag back
            cdp.expect.fail(f"{stop.describe_response()}\n            and their tag went from {owned.get('status')} to "
                            f"{after.get('status')}", "a stop through these headers leaves another organization's tag alone", stop)
        if cdp.accepted(stop):
            cdp.expect.fail(stop.describe_response(), "stopping another organization's tag is refused, as a missing tag's", stop)
    ours = fresh_tag(cdp) if cdp.is_mock else cdp.require("tag_name")
    mine = read(cdp, ours)
    if not cdp.accepted(mine) or not tag_in(mine):
        pytest.skip(f"this tenant's credentials do not read its own tag {ours!r}: the other direction proves nothing")
    judged = judged_read(cdp, read(cdp, ours, other.creds), tag_in(mine), "this organization's tag does not exist for another") or judged
    if not judged:
        pytest.skip(f"each tenant has a tag of the other's tag's name ({other.tag!r}, {ours!r}): no read can show a leak; "
                    "name tags only their owner has (--cred other_tag_name=…, tag_name=…)")


@requirement("SF-TENANT-ISOLATION")
def test_another_tenants_tag_has_no_value_here(cdp: Target) -> None:
    seeded = cdp.is_mock and not all(cdp.creds.get(k) for k in OTHER_KEYS)
    distinct = fresh_user(cdp, {"age": 30})[0] if seeded else cdp.require("distinct_id")
    other = other_tenant(cdp, distinct)
    here = read(cdp, other.tag)
    mine = tag_in(here) if cdp.accepted(here) else {}
    if mine and not same_tag(mine, tag_in(read(cdp, other.tag, other.creds))):
        pytest.skip(f"this project has a tag named {other.tag!r} too, so a value could be its own: name a tag only the "
                    "other organization has (--cred other_tag_name=…)")
    single = lookup(cdp, distinct, [other.tag])
    if not cdp.accepted(single):
        pytest.skip(f"the look-up of {distinct!r} was refused ({single.describe_response()}); "
                    "SF-ONLINE-UNKNOWN-TAG judges that, and a refusal shows no value to judge")
    entity = (success(cdp, single, "the look-up succeeds").get("data") or {}).get("audience_entity")
    entry = entries(entity).get(other.tag, {})
    cdp.expect.that(not has_value(entry), single, single.describe_response(),
                    "another organization's tag has no value here, like a tag that does not exist")
    many = batch(cdp, [distinct], [other.tag])
    found = ((many.body or {}).get("data") or {}).get("audience_entities") if isinstance(many.body, dict) else None
    leaked = [e for each in found or [] for e in entries(each).values() if e.get("name") == other.tag and has_value(e)]
    cdp.expect.that(not leaked, many, many.describe_response(),
                    "a batch look-up shows no value of another organization's tag")
