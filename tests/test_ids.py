"""cdpkit.mockserver.ids: the cheap ids and timestamps say exactly what the stdlib ones would."""

from __future__ import annotations

import os
import random
import uuid
from datetime import UTC, datetime

from cdpkit.mockserver import ids


def _reference(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_iso_utc_ms_is_datetimes_text_including_rounding_at_the_edges() -> None:
    rng = random.Random(9)
    epochs = [0.0, 1.0, 1_767_174_918.0, 1_767_174_918.9995, 1_767_174_918.9999995, 1_767_174_918.0000005,
              1_767_174_919.999999499, 4_102_444_799.9999996]
    epochs += [rng.uniform(0, 4.1e9) for _ in range(20_000)]
    epochs += [int(rng.uniform(1.6e9, 1.9e9)) + rng.choice((0.9999995, 0.0000005, 0.0015, 0.9994999)) for _ in range(5_000)]
    assert [ids.iso_utc_ms(e) for e in epochs] == [_reference(e) for e in epochs]


def test_uuids_are_random_version_4_in_both_spellings() -> None:
    seen = set()
    for _ in range(2_000):
        text, hexed = ids.uuid4_text(), ids.uuid4_hex()
        for value in (uuid.UUID(text), uuid.UUID(hex=hexed)):
            assert value.version == 4 and value.variant == uuid.RFC_4122
        assert str(uuid.UUID(text)) == text and uuid.UUID(hex=hexed).hex == hexed
        seen.update((text.replace("-", ""), hexed))
    assert len(seen) == 4_000


def test_a_forked_child_draws_ids_of_its_own() -> None:
    ids.uuid4_hex()  # the parent holds a drawn batch
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first id must not be the parent's next one
        os.write(write, ids.uuid4_hex().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child_id = os.read(read, 64).decode()
    os.close(read)
    assert len(child_id) == 32 and child_id != ids.uuid4_hex()
