"""Zebline custom-attribute types and the per-account type lock (ZEB-TYPE-LOCK, seed 004's warning).

Kept apart from :mod:`cdpkit.mockserver.zebline` because the classification is a policy of its own that
generators and tests want to ask directly: which of the document's four types a JSON value is.
The lock itself is plain data, ``{attribute: {"type": ..., "since": ..., "trackID": ...}}`` per account.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Iterable, Mapping

from cdpkit.mockserver.ids import iso_utc_ms

NUMBER, STRING, BOOLEAN, DATETIME = "number", "string", "boolean", "datetime"

# ZEB-DATETIME-DETECTION: ISO-8601 *date-time* (date, 'T', time; offset optional). Date-only
# strings and other date-looking text stay strings so a code like "2024-02-10" cannot lock a field.
_ISO_DATETIME = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})T(?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.\d+)?)?"
    r"(?:Z|z|[+-](?P<oh>\d{2}):?(?P<om>\d{2}))?$"
)
# ZEB-TIMESTAMPTZ-FORMAT: what a TIMESTAMPTZ system column takes (the schema's pattern, plus a real day).
_ISO_DATE_PREFIX = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def is_iso_datetime(text: str) -> bool:
    """Whether ``text`` is a valid ISO-8601 date-time: a real calendar day and a real time of day."""
    match = _ISO_DATETIME.match(text)
    if match is None or not is_real_date(match["date"]):
        return False
    hour, minute, second = int(match["h"]), int(match["m"]), int(match["s"] or 0)
    offset_ok = match["oh"] is None or (int(match["oh"]) <= 23 and int(match["om"]) <= 59)
    return hour <= 23 and minute <= 59 and second <= 60 and offset_ok


def is_real_date(text: str) -> bool:
    """Whether a string starting ``YYYY-MM-DD`` names a day that exists (2024-02-30 does not)."""
    match = _ISO_DATE_PREFIX.match(text)
    if match is None:
        return False
    try:
        date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return False
    return True


def type_of(value: Any) -> str | None:
    """The document's type of a custom attribute value, or None when it is none of the four.

    ZEB-NUMBER-KINDS: ``True`` is a boolean even though Python's bool is an int; ints and floats
    are both numbers.
    """
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, (int, float)):
        return NUMBER
    if isinstance(value, str):
        return DATETIME if is_iso_datetime(value) else STRING
    return None


def conflicts(locks: Mapping[str, Mapping[str, Any]], attributes: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """``(attribute, locked type, sent type)`` for every attribute sent with a type other than its lock."""
    found = []
    for name, value in attributes.items():
        lock = locks.get(name)
        sent = type_of(value)
        if lock is not None and sent is not None and sent != lock["type"]:
            found.append((name, lock["type"], sent))
    return found


def conflict_requirement(locked: str, sent: str) -> str:
    """The catalog entry a refusal of this type change names.

    Number, string and boolean are told apart by the JSON value itself: a change between them is the
    documented ZEB-TYPE-LOCK. A change between a plain string and a datetime exists only through
    cdpkit's classification of strings (ZEB-DATETIME-DETECTION, an assumption): the document asks
    senders to write datetimes in ISO form (ZEB-DATETIME-ISO, a convention), which is no rejection.
    """
    return "ZEB-DATETIME-DETECTION" if {locked, sent} == {STRING, DATETIME} else "ZEB-TYPE-LOCK"


def new_locks(
    locks: Mapping[str, Any], attributes: Mapping[str, Any], since: str, track_id: str
) -> Iterable[tuple[str, dict[str, str]]]:
    """The locks an accepted request sets: one for each attribute the account has never seen."""
    for name, value in attributes.items():
        if name not in locks:
            yield name, {"type": type_of(value) or STRING, "since": since, "trackID": track_id}


def now_iso(epoch: float) -> str:
    """An epoch as the ISO-8601 UTC text the mock stores (TIMESTAMPTZ defaults, lock times): the text of
    ``datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds")`` with ``Z``, made
    at a third of its cost (once per request on the upsert path, issue 9)."""
    return iso_utc_ms(epoch)
