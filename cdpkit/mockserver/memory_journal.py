"""The journal's newest entries in memory, bounded in entries and in bytes, each kept as one ``bytes``.

Why bytes (issue 9, the p99 of the Sensors look-ups): CPython counts an allocation of a tracked
container towards the next young collection and the freeing of *any* tracked container against it.
A full journal frees an old entry for every new one, so its churn cancels out in that count while the
new entries pile up, untouched, in the young generation; when other allocations finally trigger a
collection it walks ~100,000 of them at once (a lazy record is ~14 tuples): 25-60 ms with the event loop
stopped, measured with a loop-lag probe at the p99 of ``bench_mock.py``'s Sensors scenario. A record
marshalled to bytes is no container, so the journal adds nothing for the collector to walk. Who wrote
an entry, with what verdict, is kept beside it (interned, shared by every entry alike) so a filtered
read unmarshals only what it returns.
"""

from __future__ import annotations

import collections
import marshal
from typing import Any, Iterator

Fields = tuple[str, str, str]  # (vendor, verdict, operation): what the journal is filtered by


class MemoryJournal:
    """Entries newest last; the oldest dropped while there are more than ``limit`` or their weights
    (an estimate of the bytes each holds, the caller's) add up to more than ``max_bytes``."""

    def __init__(self, limit: int, max_bytes: int) -> None:
        self.limit = limit
        self.max_bytes = max_bytes
        # four parallel queues of objects the collector does not track: ints, interned tuples, bytes
        self._ids: collections.deque[int] = collections.deque()
        self._fields: collections.deque[Fields] = collections.deque()
        self._entries: collections.deque[Any] = collections.deque()
        self._weights: collections.deque[int] = collections.deque()
        self._interned: dict[Fields, Fields] = {}
        self.weight = 0

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, entry_id: int, fields: Fields, entry: Any, weight: int) -> None:
        """Keep ``entry`` (a lazy record or an entry dict), dropping the oldest while over a bound."""
        try:
            kept = marshal.dumps(entry)
        except ValueError:  # a value marshal cannot write (a str subclass): kept as it is, still correct
            kept = entry
        self._ids.append(entry_id)
        self._fields.append(self._interned.setdefault(fields, fields))
        self._entries.append(kept)
        self._weights.append(weight)
        self.weight += weight
        while len(self._ids) > 1 and (len(self._ids) > self.limit or self.weight > self.max_bytes):
            self._ids.popleft()
            self._fields.popleft()
            self._entries.popleft()
            self.weight -= self._weights.popleft()

    def newest_first(self) -> Iterator[tuple[int, Fields, Any]]:
        """(id, fields, kept) from the newest; :func:`read` makes ``kept`` the entry again (a filtered read
        reads only the entries it returns)."""
        return zip(reversed(self._ids), reversed(self._fields), reversed(self._entries))

    def clear(self) -> None:
        for queue in (self._ids, self._fields, self._entries, self._weights):
            queue.clear()
        self.weight = 0


def read(kept: Any) -> Any:
    """The entry :meth:`MemoryJournal.add` kept as ``kept``."""
    return marshal.loads(kept) if type(kept) is bytes else kept
