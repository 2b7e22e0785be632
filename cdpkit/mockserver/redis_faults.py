"""The fault list of the Redis store: set on any process, applied by all, without a Redis round trip per request.

Every vendor request asks the fault list first (:meth:`RedisFaults.take`, synchronously, in the pipeline), so the
list is kept in each process and Redis *pushes* changes: a change bumps the list's version (``P:fv``) and is
published on ``P:fchan``; each process listens there (a task on its event loop, on a connection of its own),
reloads the list and acknowledges (``P:fack:<version>``). The control API that made the change answers only
when every listening process has acknowledged (at most :data:`ACK_TIMEOUT` seconds, waited for in a thread, not
on the serving loop), so a fault set through one process applies to the very next request any process serves.
Until its listener is subscribed and has loaded the list (at start, or after losing its connection), a process
checks the version with a round trip per request, through a client that waits at most ``QUICK_TIMEOUT`` (0.1 s)
on the loop; a Redis that does not answer in that time pauses these checks for :data:`CHECK_PAUSE`, the request
going on with the list loaded last. A fault with a count is taken atomically in Redis (N uses are N across all
processes).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import orjson

from cdpkit.mockserver.faults import Fault, Faults
from cdpkit.mockserver.redis_outage import unreachable

if TYPE_CHECKING:
    from cdpkit.mockserver.redis_store import RedisStore

log = logging.getLogger("cdpkit.mock")

ACK_TIMEOUT = 2.0  # seconds a fault change waits for the other processes to load it
ACK_TTL = 30  # seconds an acknowledgement set is kept (the waiting side deletes it sooner)
CHECK_PAUSE = 1.0  # seconds a process not listening skips its per-request check after one Redis did not answer
RECANCEL_EVERY = 0.25  # seconds a stopping listener has to end before it is cancelled again (see astop)
STOP_WAIT = 5.0  # seconds a shut-down waits for the listener at most


def task_cancelling() -> bool:
    """Whether the running task was asked to stop, even if the CancelledError never reached its code."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class RedisFaults(Faults):
    """The fault list in Redis, kept in this process and refreshed by push; see the module's description."""

    def __init__(self, store: RedisStore, seed: int | None = None) -> None:
        super().__init__(seed)
        self.store = store
        self._r = store._redis
        self._version: bytes | None = None
        self._token = uuid.uuid4().hex[:12]  # this process's name in the channel's messages and the acks
        self._listener: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop the listener runs on
        self._subscribed = False  # PUBLISH counts this process among the receivers
        self._live = False  # subscribed and loaded since: take() needs no round trip
        self._loading = threading.Lock()  # a change made in a thread (add_async) loads beside the listener
        self._unchecked_until = 0.0  # monotonic time before which take() skips its check (see _check)

    # -- keeping the list ---------------------------------------------------------------------------
    def _load(self, stored: dict[bytes, bytes], version: bytes | None, fresh: bool = False) -> None:
        """Keep the list read with ``version``, unless a newer one is kept already: a change made from a thread
        (:meth:`add_async`) loads its own list while the listener may be loading an older one read before it.
        ``fresh``: read just now by a listener that was not listening before, so it replaces whatever is kept (a
        Redis that lost its data starts the versions again)."""
        version = version or b"0"
        faults = sorted((Fault(**orjson.loads(raw)) for raw in stored.values()), key=lambda f: f.id)
        with self._loading:
            if fresh or self._version is None or int(version) >= int(self._version):
                self._faults, self._version = faults, version

    def _refresh(self, client: Any | None = None) -> None:
        """Reload the list if its version moved: the round trip a process makes per request while it is not
        listening (on the loop, through ``client``: the store's quick one), and a change's own load."""
        client = self._r if client is None else client
        version = client.get(self.store._k("fv")) or b"0"
        if version != self._version:
            pipe = client.pipeline(transaction=True)
            pipe.hgetall(self.store._k("f"))
            pipe.get(self.store._k("fv"))
            self._load(*pipe.execute())

    async def _aload(self, fresh: bool = False) -> None:
        client = self.store.async_client()
        async with client.pipeline(transaction=True) as pipe:
            pipe.hgetall(self.store._k("f"))
            pipe.get(self.store._k("fv"))
            stored, version = await pipe.execute()
        self._load(stored, version, fresh)

    def _start_listening(self) -> None:
        loop = asyncio._get_running_loop()
        if loop is None:
            return  # no event loop (seeding, a direct caller): the per-request check serves
        if self._listener is not None and not self._listener.done() and self._loop is loop:
            return
        self._live = self._subscribed = False  # a listener of an ended loop tells nothing
        self._loop = loop
        self._listener = loop.create_task(self._listen())

    async def _listen(self) -> None:
        """Follow the channel for this process's life; on a lost connection, fall back and subscribe again."""
        delay = 0.05
        while True:
            pubsub = self.store.async_client().pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.store._k("fchan"))
                self._subscribed = True
                await self._aload(fresh=True)  # what changed before the subscription took
                self._live = True
                self.store.outage.over()
                delay = 0.05
                async for message in pubsub.listen():
                    version, _, origin = message["data"].decode().partition(" ")
                    await self._aload()  # this process's own change too: its load may have lost to an older one
                    if origin == self._token:
                        continue  # nobody waits for this process to acknowledge its own change
                    if origin != "-":  # a control API change waits for this
                        ack = self.store._k("fack", version)
                        async with self.store.async_client().pipeline(transaction=True) as pipe:
                            await pipe.sadd(ack, self._token).expire(ack, ACK_TTL).execute()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis went away: requests check per round trip until this is back
                if task_cancelling():  # a stop whose cancellation redis-py swallowed (see astop): stop now
                    raise asyncio.CancelledError from exc
                # said once per loss, not at every attempt to subscribe again while Redis stays away
                (log.warning if self._live else log.debug)(
                    "fault channel lost (%r); checking faults per request until it is back", exc)
            finally:
                self._live = self._subscribed = False
                try:
                    await asyncio.shield(pubsub.aclose())
                except Exception as exc:  # the connection is gone already: nothing left to close
                    log.debug("closing the fault channel: %r", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    def stop(self) -> None:
        """Stop listening (the store is closing outside the loop: the listener ends when its loop runs next)."""
        if self._listener is not None:
            self._listener.cancel()
            self._listener = None

    async def astop(self) -> None:
        """Stop listening and wait until the listener has closed its pub/sub connection (the app's shut-down:
        a listener only cancelled would still be pending, its connection open, when the loop stops).

        A cancellation can be lost inside redis-py's read of the channel (redis/redis-py#2028: about one
        shut-down in 300 after a Redis restart, the listener went on reading, "cancelling" for ever, and the
        shut-down with it), so it is repeated every :data:`RECANCEL_EVERY` seconds, and the wait ends after
        :data:`STOP_WAIT` seconds whatever happens: a shut-down never hangs on the fault channel."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        listener.cancel()
        if listener.get_loop() is not asyncio.get_running_loop():
            return
        deadline = time.monotonic() + STOP_WAIT
        while not (await asyncio.wait([listener], timeout=RECANCEL_EVERY))[0]:
            if time.monotonic() >= deadline:
                log.warning("the fault channel's listener did not stop within %ss; shutting down without it",
                            STOP_WAIT)
                return
            log.debug("the fault channel's listener lost its cancellation; cancelling it again")
            listener.cancel()

    def _announce(self, version: int) -> None:
        """Tell the other processes the list changed; return once each listening one has loaded it (bounded:
        a process that does not answer in time is logged, never waited on for ever). Synchronous, so never on
        the serving loop: the control API runs it in a thread (:meth:`add_async`, :meth:`clear_async`)."""
        receivers = int(self._r.publish(self.store._k("fchan"), f"{version} {self._token}"))
        others = receivers - (1 if self._subscribed else 0)
        if others <= 0:
            return
        ack = self.store._k("fack", str(version))
        deadline = time.monotonic() + ACK_TIMEOUT
        while int(self._r.scard(ack)) < others:
            if time.monotonic() > deadline:
                log.warning("fault change %s: %d of %d processes loaded it within %ss", version,
                            int(self._r.scard(ack)), others, ACK_TIMEOUT)
                break
            time.sleep(0.001)
        self._r.delete(ack)

    # -- the Faults interface ------------------------------------------------------------------------
    def add(self, fault: Fault) -> Fault:
        fault.id = int(self._r.incr(self.store._k("fid")))
        spec = asdict(fault)
        spec.pop("hits")
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(self.store._k("f"), fault.id, orjson.dumps(spec))
        if fault.count is not None:
            pipe.hset(self.store._k("fc"), fault.id, fault.count)
        pipe.incr(self.store._k("fv"))
        version = pipe.execute()[-1]
        self._refresh()
        self._announce(version)
        return fault

    def clear(self) -> None:
        pipe = self._r.pipeline(transaction=True)
        pipe.delete(self.store._k("f"), self.store._k("fc"), self.store._k("fh"))
        pipe.incr(self.store._k("fv"))
        version = pipe.execute()[-1]
        self._load({}, str(version).encode())
        self._announce(version)

    async def add_async(self, fault: Fault) -> Fault:
        """:meth:`add` for the control API on the serving loop, run in a thread: the wait for every other process
        to acknowledge (a few ms; :data:`ACK_TIMEOUT` for one that does not answer) holds that thread, not the
        loop, which serves on meanwhile. It still returns only once every listening process has the fault."""
        return await asyncio.to_thread(self.add, fault)

    async def clear_async(self) -> None:
        """:meth:`clear` in a thread, for the same reason as :meth:`add_async`."""
        await asyncio.to_thread(self.clear)

    def list(self) -> list[dict[str, Any]]:
        pipe = self._r.pipeline(transaction=True)
        pipe.hgetall(self.store._k("f"))
        pipe.hgetall(self.store._k("fc"))
        pipe.hgetall(self.store._k("fh"))
        stored, counts, hits = pipe.execute()
        out = []
        for fid, raw in sorted(stored.items(), key=lambda item: int(item[0])):
            fault = Fault(**orjson.loads(raw))
            if fid in counts:
                fault.count = int(counts[fid])
            fault.hits = int(hits.get(fid, 0))
            out.append(asdict(fault))
        return out

    def take(self, method: str, path: str) -> Fault | None:
        """The fault that applies to this request, if any. While Redis is known to be unreachable none does:
        each use of a fault is recorded in Redis, and trying would hold the loop for the timeout of a Redis that
        does not answer. A request that needs the state then gets the store's 503
        (:mod:`cdpkit.mockserver.redis_outage`), not an error raised here, before the pipeline's handling."""
        if not self._live or self._loop is not asyncio._get_running_loop():
            self._start_listening()
            # in an outage the listener reloads once Redis is back; after a check that found no answer, the
            # next waits a while (CHECK_PAUSE), so a Redis that answers nothing holds the loop rarely and briefly
            if self.store.outage.cause is None and time.monotonic() >= self._unchecked_until:
                self._check()
        if not self._faults or self.store.outage.cause is not None:
            return None  # in a known outage, taking a use would wait for Redis's timeout on the loop: passed over
        try:
            return self._take_matching(method, path)
        except Exception as exc:
            if not unreachable(exc):
                raise
            self.store.outage.seen(exc)
            return None

    def _check(self) -> None:
        """The per-request check of a process not listening, synchronous on the loop: through the store's quick
        client, which waits :data:`~cdpkit.mockserver.redis_outage.QUICK_TIMEOUT` at most. A refusal is an
        outage; no answer in that time (a Redis whose packets are dropped, or one too busy to answer a GET in
        100 ms) only pauses the checks: the request goes on with the list loaded last, and its own round trips,
        asyncio's, find out whether Redis is away without holding the loop."""
        import redis.exceptions

        try:
            self._refresh(self.store._quick)
        except (redis.exceptions.TimeoutError, TimeoutError) as exc:
            self._unchecked_until = time.monotonic() + CHECK_PAUSE
            log.debug("fault list check: no answer within the quick timeout (%r); not checked for %ss", exc,
                      CHECK_PAUSE)
        except Exception as exc:
            if not unreachable(exc):
                raise
            self.store.outage.seen(exc)

    def _take_matching(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:  # a fault that matches costs a round trip: rare, and counted exactly
            if not fault.matches(method, path):
                continue
            if fault.percent < 100 and self._rng.uniform(0, 100) >= fault.percent:
                continue
            if fault.count is not None:
                if not self.store.take_fault(fault.id):
                    continue  # its last use went to another call meanwhile
            else:
                self._r.hincrby(self.store._k("fh"), fault.id, 1)
            return fault
        return None
