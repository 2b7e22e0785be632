"""The Redis store's per-process view of the state, bounded in bytes.

Each process keeps the values it has seen, with the version Redis gave each, so a request reads them without a
round trip (:mod:`cdpkit.mockserver.redis_exact`). Left alone that view grows to the whole state in every
worker; :class:`ViewCache` keeps it to :data:`DEFAULT_CACHE_BYTES` (``?cache_bytes=N`` on the ``--state`` URL),
dropping the least recently used entries first. Redis holds the truth, so dropping an entry can cost a round
trip, never a wrong answer: a key the view no longer holds reads as absent (version ``0``), the commit's check
finds it is not, sends its value back and the handler runs again on it.

What an in-flight request depends on is *pinned*: between a stale check and the handler's next run the values
the check sent back must stay (the check pins every key its request read, until the request is done), or a request whose reads exceed the bound (or whose values other commits of the
same batch push out) would be sent back for ever. Pinned entries are skipped by eviction, so the view may exceed
the bound by what requests in flight pin, and comes back under it as they finish.

The size counted is an estimate of the memory an entry holds: the bytes of its key, version and value plus a
fixed :data:`ENTRY_OVERHEAD` for the Python objects around them (measured with ``tracemalloc``; see
``tests/test_redis_cache.py``), and for a collection's key list :data:`KEY_OVERHEAD` per key.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import Any

DEFAULT_CACHE_BYTES = 64 << 20
ENTRY_OVERHEAD = 400  # bytes of Python objects per cached entry besides its payload (tuples, str/bytes headers, node)
KEY_OVERHEAD = 120  # bytes per key of a cached collection listing (a str in a frozenset)

ViewKey = tuple  # ("k", ns, key) for a value, ("n", ns, "") for a collection's keys: a read set's keys


def entry_size(vkey: ViewKey, version: bytes, value: bytes | frozenset[str] | None) -> int:
    """The estimated bytes one cached entry holds (see the module's description)."""
    size = ENTRY_OVERHEAD + len(vkey[1]) + len(vkey[2]) + len(version)
    if isinstance(value, frozenset):
        return size + sum(len(key) + KEY_OVERHEAD for key in value)
    return size + (len(value) if value is not None else 0)


class ViewCache:
    """(ns, key) -> (version, value) in least-recently-used order, at most ``max_bytes`` besides pinned ones."""

    __slots__ = ("_entries", "_pins", "bytes", "evictions", "max_bytes")

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0  # estimated bytes held (entry_size summed)
        self.evictions = 0  # entries dropped to stay under the bound
        self._entries: collections.OrderedDict[ViewKey, tuple[bytes, Any, int]] = collections.OrderedDict()
        self._pins: dict[ViewKey, int] = {}  # entry -> requests in flight depending on it

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, vkey: ViewKey) -> bool:
        return vkey in self._entries

    def get(self, vkey: ViewKey) -> tuple[bytes, Any] | None:
        """(version, value), or None when the view does not hold it; a hit counts as a use."""
        entry = self._entries.get(vkey)
        if entry is None:
            return None
        self._entries.move_to_end(vkey)
        return entry[0], entry[1]

    def put(self, vkey: ViewKey, version: bytes, value: Any) -> None:
        """Hold ``value`` at ``version``, then drop unpinned entries, oldest use first, while over the bound."""
        size = entry_size(vkey, version, value)
        old = self._entries.pop(vkey, None)
        if old is not None:
            self.bytes -= old[2]
        self._entries[vkey] = (version, value, size)
        self.bytes += size
        if self.bytes > self.max_bytes:
            self.trim()

    def pop(self, vkey: ViewKey) -> tuple[bytes, Any] | None:
        old = self._entries.pop(vkey, None)
        if old is None:
            return None
        self.bytes -= old[2]
        return old[0], old[1]

    def clear(self) -> None:
        """Forget every entry (the pins stay: their requests still run, and unpin when they finish)."""
        self._entries.clear()
        self.bytes = 0

    def pin(self, vkeys: Iterable[ViewKey]) -> None:
        pins = self._pins
        for vkey in vkeys:
            pins[vkey] = pins.get(vkey, 0) + 1

    def unpin(self, vkeys: Iterable[ViewKey]) -> None:
        pins = self._pins
        for vkey in vkeys:
            left = pins.get(vkey, 0) - 1
            if left > 0:
                pins[vkey] = left
            else:
                pins.pop(vkey, None)
        if self.bytes > self.max_bytes:
            self.trim()

    def unpin_all(self) -> None:
        """Forget every pin (their requests belonged to an event loop that has ended and will never finish)."""
        self._pins.clear()
        self.trim()

    def pinned(self) -> int:
        """How many entries requests in flight depend on (0 when none is running)."""
        return len(self._pins)

    def trim(self) -> None:
        """Drop unpinned entries, least recently used first, until the bytes are within the bound."""
        excess = self.bytes - self.max_bytes
        if excess <= 0:
            return
        victims = []
        pins = self._pins
        for vkey, (_, _, size) in self._entries.items():
            if vkey in pins:
                continue
            victims.append(vkey)
            excess -= size
            if excess <= 0:
                break
        for vkey in victims:
            self.bytes -= self._entries.pop(vkey)[2]
        self.evictions += len(victims)
