"""Seeds on the Redis store (``POST /__mock/seed``, ``--seed``) checked like requests: atomic against other processes.

A vendor's ``load_seed`` reads state as well as writing it (a seeded Zebline user goes through the upsert: its
profile, its type locks, the account's trackID ring). Applied blindly, a seed could overwrite what another
process's request committed between the seed's read and its write, and that update would be lost. So a seed
records what it reads with the version Redis holds (:meth:`SeedTransactions._seen`), and its writes go through
the same check-and-commit script as a request's: if anything it read has changed meanwhile, nothing is applied,
and every vendor section of the seed is loaded again on the current state, then checked again. All or nothing
still holds for the whole seed (one script applies every section's writes), and a section that no longer loads
on the current state is refused as a bad seed is, with nothing applied.

While :meth:`~cdpkit.mockserver.redis_store.RedisStore.reset_to` computes the start-up data against an empty
state, nothing is read from Redis, so nothing is recorded: the reset's one script replaces the state.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from cdpkit.mockserver.vendor import Vendor

log = logging.getLogger("cdpkit.mock")

SEED_ATTEMPTS = 50  # loads of one seed before it is refused as unable to settle (each conflict is another's commit)


class SeedConflict(ValueError):
    """The seed is fine but the state kept changing under it (:data:`SEED_ATTEMPTS` loads, each thrown away for
    another process's commit): nothing applied, and sending it again later may well succeed. The control API
    answers 409 Conflict for it, not the 400 of a bad seed; ``cdpkit mock --seed`` refuses it as any seed it
    cannot load (a ValueError)."""


class SeedTransactions:
    """The part of :class:`~cdpkit.mockserver.redis_store.RedisStore` that checks a seed's reads at its commit.
    The store provides ``_pending``, ``_staged`` and ``_settle_request`` and calls :meth:`_setup_seed`."""

    _pending: dict[tuple[str, str], Any]
    _staged: dict[tuple[str, str], bytes] | None

    def _settle_request(self, reads: dict, writes: dict | None) -> bool:
        raise NotImplementedError

    def _setup_seed(self) -> None:
        # the seed being loaded: what its sections read, with versions (None: no seed is being loaded), and
        # the loads themselves, to run again on a conflict
        self._seed_reads: dict[tuple[str, str, str], bytes] | None = None
        self._seed_loads: list[tuple[Callable[[Any, Any], None], Any, Any]] = []
        self.seed_conflicts = 0  # seed loads thrown away because something they read had changed

    def _seed_read(self, vkey: tuple[str, str, str], version: bytes) -> None:
        """A seed being loaded read ``vkey`` at ``version``: its commit checks that version still holds (the
        first read counts: what the seed's logic rests on)."""
        if self._seed_reads is not None:
            self._seed_reads.setdefault(vkey, version)

    def serve_seed(self, vendor: Vendor) -> Vendor:
        """The vendor with ``load_seed`` recorded, so a conflict at the seed's commit can load it again."""
        load = vendor.load_seed
        store = self

        def load_seed(scope: Any, section: Any) -> None:
            if store._staged is None:  # a reset's start-up data reads nothing from Redis
                if store._seed_reads is None:
                    store._seed_reads = {}
                store._seed_loads.append((load, scope, section))
            load(scope, section)

        load_seed.__doc__ = load.__doc__
        return dataclasses.replace(vendor, load_seed=load_seed)

    def _end_seed(self) -> None:
        self._seed_reads = None
        self._seed_loads = []

    def _commit_seed(self, pending: dict[tuple[str, str], Any]) -> None:
        """Check the seed's reads and apply its writes in one script; on a conflict, load every section again on
        the current state and try again. Refused (ValueError, nothing applied) if a section no longer loads,
        or if the state kept changing under it :data:`SEED_ATTEMPTS` times (:class:`SeedConflict`)."""
        try:
            for attempt in range(1, SEED_ATTEMPTS + 1):
                if self._settle_request(self._seed_reads or {}, pending):
                    return
                self.seed_conflicts += 1
                if attempt == SEED_ATTEMPTS:
                    break  # a load now would never be tried
                if attempt > 3:
                    time.sleep(random.uniform(0, 0.001 * attempt))  # a control API call, rare: step aside
                loads, self._seed_reads, self._pending = self._seed_loads, {}, {}
                try:
                    for load, scope, section in loads:
                        load(scope, section)
                except (KeyError, TypeError, AttributeError) as exc:  # as Mock.apply_seed words a bad seed
                    raise ValueError(f"on the current state: {exc}") from exc
                pending, self._pending = self._pending, {}
            raise SeedConflict(f"the state kept changing under the seed ({SEED_ATTEMPTS} loads); nothing applied, "
                               "send it again")
        finally:
            self._pending = {}
            self._end_seed()
