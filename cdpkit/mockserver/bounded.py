"""Collections that keep only their newest N records, with O(1) work per record and no scan.

A ring is a state kind of its own (``<kind>-ring:<owner>``): key ``seq`` holds the last sequence
number used, key ``str(seq % N)`` the record that sequence number stored. Storing record ``seq``
reuses the slot of record ``seq - N``, and hands that older record back for its owner to delete.
Everything goes through ``call.state``, so a refused request moves no ring and evicts nothing, and
every store (memory, SQLite, Redis) keeps the same N.
"""

from __future__ import annotations

from typing import Any

from cdpkit.mockserver.store import Scope

SEQ = "seq"


def push(state: Scope, ring: str, record_id: str, limit: int) -> tuple[int, dict[str, Any] | None]:
    """Slot ``record_id`` as the ring's newest record: returns its sequence number and the slot's
    previous occupant ({id, seq}), which the caller evicts, or None while the ring is not yet full."""
    seq = (state.get(ring, SEQ) or 0) + 1
    state.put(ring, SEQ, seq)
    slot = str(seq % limit)
    previous = state.get(ring, slot)
    state.put(ring, slot, {"id": record_id, "seq": seq})
    return seq, previous
