"""Fresh ids and UTC timestamps for answers and stored records, at a fraction of their stdlib cost.

Issue 9: ``str(uuid.uuid4())`` costs ~2.6 µs (a ``UUID`` object, an ``os.urandom`` call each) and
``datetime.fromtimestamp(...).isoformat()`` ~1.8 µs, once or more per request. The ids here are the
same random version-4 UUIDs, from the same source (``os.urandom``), only drawn 256 at a time; the
timestamps are the same text, with the date and time of day formatted once per second.
"""

from __future__ import annotations

import math
import os
import time

_BATCH = 256
_hex_pool: list[str] = []


def _refill() -> None:
    """Draw a batch of version-4 UUIDs (RFC 4122: version nibble 4, variant bits 10) as 32 hex digits."""
    raw = os.urandom(16 * _BATCH).hex()
    variant = "89ab"
    _hex_pool.extend(
        raw[i:i + 12] + "4" + raw[i + 13:i + 16] + variant[int(raw[i + 16], 16) & 3] + raw[i + 17:i + 32]
        for i in range(0, 32 * _BATCH, 32)
    )


# A forked worker (--workers N) must never hand out ids its parent drew: it starts with an empty pool.
os.register_at_fork(after_in_child=_hex_pool.clear)


def uuid4_hex() -> str:
    """A random UUID as ``uuid.uuid4().hex`` writes it (32 lowercase hex digits)."""
    try:
        return _hex_pool.pop()
    except IndexError:
        _refill()
        return _hex_pool.pop()


def uuid4_text() -> str:
    """A random UUID as ``str(uuid.uuid4())`` writes it (8-4-4-4-12 hex digits)."""
    h = uuid4_hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_second_cache: list = [None, ""]  # [whole second, its "YYYY-MM-DDTHH:MM:SS"]


def iso_utc_ms(epoch: float, suffix: str = "Z") -> str:
    """``datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds")`` with ``+00:00``
    written as ``suffix``: the same rounding (to the microsecond, half to even, then cut to the millisecond)."""
    frac, whole = math.modf(epoch)
    second = int(whole)
    micros = round(frac * 1e6)
    if micros >= 1_000_000:
        second, micros = second + 1, micros - 1_000_000
    elif micros < 0:
        second, micros = second - 1, micros + 1_000_000
    cache = _second_cache
    if cache[0] != second:
        cache[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        cache[0] = second
    return f"{cache[1]}.{micros // 1000:03d}{suffix}"
