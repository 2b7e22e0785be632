"""The Redis store (``--state redis://HOST:PORT/DB[?prefix=NAME]``): one state, journal, counts and fault
list shared by every process and machine that names the same Redis, every stateful rule exact across them.

**Optimistic transactions.** Handlers are synchronous and read state while they run. A request's reads
come from this process's cache of values, each kept with the version Redis gave it (a key the process has
not seen yet is taken as absent, which the check below corrects in the same round trip); the request records
what it read (key and version, or a collection's version for ``keys``/``items``). When the handler has
answered, one Lua script checks every recorded version and, only if none changed, applies the request's
writes under a new version (``EVAL`` is atomic in Redis). If another process wrote something the request
read, nothing is applied: the script sends the current values back, the cache takes them, and the handler
runs again on fresh state. A second conflict means another request committed meanwhile, so the system
always makes progress; a request that keeps losing backs off a little and tries again, never answers 5xx
for it. A refusal (>= 400) applies
nothing but is still checked, so a request is never refused on a value another process has already changed.

**Layout** (``P`` is the prefix, ``cdpkit`` unless ``?prefix=`` says otherwise, so several mocks can share
one Redis): ``P:d:<ns>`` hash key -> ``<version>:<JSON>``; ``P:nsver`` hash ns -> version of its last
write; ``P:nss`` the namespaces holding keys; ``P:seq`` the version counter (never reset: a version is
never reused, so a value deleted and written again never looks unchanged); ``P:j`` the journal (newest
first, ids from ``P:jid``), ``P:jb`` its size in bytes, trimmed by entries and by bytes in the same script
that appends; ``P:c`` counts per vendor and verdict; ``P:f*`` the faults.

**Durability.** A write is answered after Redis applied it. Whether it also survives a Redis restart is
Redis's persistence setting: with ``appendonly yes`` and ``appendfsync always`` Redis syncs the append-only
file before it answers, so nothing acknowledged is lost; with ``everysec`` (Redis's default) up to a second.
A worker killed with ``kill -9`` loses nothing acknowledged either way: its writes are already in Redis.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any, Awaitable, Callable, Iterator

import orjson

from cdpkit.mockserver import journal_entry
from cdpkit.mockserver.faults import Fault, Faults
from cdpkit.mockserver.journal_entry import materialize
from cdpkit.mockserver.store import DEFAULT_JOURNAL_BYTES, _DELETED, Scope, Store, Writes, _dumps, _overlay, _settle
from cdpkit.mockserver.vendor import Rejection, Reply, Vendor

# ARGV: prefix, n reads, (kind k|n, ns, key, version)*, n writes, (ns, key, JSON or "" to delete)*.
# Returns, when a read is stale, {index, current value or nil}* (1-based; nothing applied; a collection's
# value is not sent), else the version the writes were given (0: none).
_COMMIT = """
local P = ARGV[1]
local i = 3
local stale = {}
for r = 1, tonumber(ARGV[2]) do
  local cur
  local v = false
  if ARGV[i] == 'k' then
    v = redis.call('HGET', P .. ':d:' .. ARGV[i + 1], ARGV[i + 2])
    if v then cur = string.sub(v, 1, string.find(v, ':', 1, true) - 1) else cur = '0' end
  else
    cur = redis.call('HGET', P .. ':nsver', ARGV[i + 1]) or '0'
  end
  if cur ~= ARGV[i + 3] then
    stale[#stale + 1] = r
    stale[#stale + 1] = v
  end
  i = i + 4
end
if #stale > 0 then return stale end
local nw = tonumber(ARGV[i])
i = i + 1
if nw == 0 then return 0 end
local seq = redis.call('INCR', P .. ':seq')
for w = 1, nw do
  local ns, key, raw = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local h = P .. ':d:' .. ns
  if raw == '' then
    redis.call('HDEL', h, key)
    if redis.call('HLEN', h) == 0 then redis.call('SREM', P .. ':nss', ns) end
  else
    redis.call('HSET', h, key, seq .. ':' .. raw)
    redis.call('SADD', P .. ':nss', ns)
  end
  redis.call('HSET', P .. ':nsver', ns, seq)
  i = i + 3
end
return seq
"""

# ARGV: prefix, entry limit, byte budget, (counts field, entry JSON without its id)*.
_JOURNAL = """
local P = ARGV[1]
local limit, budget = tonumber(ARGV[2]), tonumber(ARGV[3])
local j = P .. ':j'
for i = 4, #ARGV, 2 do
  local id = redis.call('INCR', P .. ':jid')
  local e = '{"id":' .. id .. ',' .. string.sub(ARGV[i + 1], 2)
  redis.call('LPUSH', j, e)
  redis.call('INCRBY', P .. ':jb', #e)
  redis.call('HINCRBY', P .. ':c', ARGV[i], 1)
end
while redis.call('LLEN', j) > 1 and (redis.call('LLEN', j) > limit or tonumber(redis.call('GET', P .. ':jb')) > budget) do
  local old = redis.call('RPOP', j)
  redis.call('DECRBY', P .. ':jb', #old)
end
return redis.call('LLEN', j)
"""

# ARGV: prefix, fault id. 1 when this call took one of the fault's remaining uses, 0 when none was left.
_TAKE_FAULT = """
local P, id = ARGV[1], ARGV[2]
if redis.call('HEXISTS', P .. ':f', id) == 0 then return 0 end
local left = redis.call('HINCRBY', P .. ':fc', id, -1)
if left < 0 then return 0 end
redis.call('HINCRBY', P .. ':fh', id, 1)
if left == 0 then
  redis.call('HDEL', P .. ':f', id)
  redis.call('HDEL', P .. ':fc', id)
  redis.call('HDEL', P .. ':fh', id)
  redis.call('INCR', P .. ':fv')
end
return 1
"""

_RESET = """
local P = ARGV[1]
for _, ns in ipairs(redis.call('SMEMBERS', P .. ':nss')) do redis.call('DEL', P .. ':d:' .. ns) end
redis.call('DEL', P .. ':nss', P .. ':nsver', P .. ':j', P .. ':jb', P .. ':c')
return 1
"""

SEP = "\x1f"  # between vendor and verdict in a counts field


def parse_url(url: str) -> tuple[str, str]:
    """``redis://HOST:PORT/DB[?prefix=NAME]`` -> (the URL Redis is reached at, the key prefix)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ValueError(f"--state redis://HOST:PORT/DB[?prefix=NAME], not {url!r}")
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    unknown = set(query) - {"prefix"}
    if unknown:
        raise ValueError(f"--state {url}: unknown parameter(s) {sorted(unknown)}; only prefix=NAME is taken")
    prefix = query.get("prefix", ["cdpkit"])[-1]
    if not prefix or not all(c.isalnum() or c in "-_.:" for c in prefix):
        raise ValueError(f"--state {url}: prefix must be letters, digits, '-', '_', '.' or ':'")
    db = parts.path.strip("/") or "0"
    if not db.isdigit():
        raise ValueError(f"--state {url}: the database after the port is a number, not {db!r}")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/" + db, "", "")), prefix


def _split(raw: bytes | None) -> tuple[bytes, bytes | None]:
    """A stored ``<version>:<JSON>`` as (version, JSON); an absent key is version ``0``."""
    if raw is None:
        return b"0", None
    version, _, value = raw.partition(b":")
    return version, value


class RedisStore(Store):
    """State, journal, counts and faults in Redis; see the module's description."""

    shared = True  # other processes see the same state: --workers may run on it

    def __init__(self, url: str, journal_limit: int = 10_000, journal_bytes: int = DEFAULT_JOURNAL_BYTES) -> None:
        import redis  # only this store needs the client

        super().__init__(journal_limit, journal_bytes)
        self.url = url
        address, self.prefix = parse_url(url)
        self._redis = redis.Redis.from_url(address, socket_timeout=30, socket_connect_timeout=5)
        self._redis.ping()  # a wrong address is a start-up error, not the first request's
        self._commit = self._redis.register_script(_COMMIT)
        self._journal_script = self._redis.register_script(_JOURNAL)
        self._reset_script = self._redis.register_script(_RESET)
        self._take_fault = self._redis.register_script(_TAKE_FAULT)
        # this process's cache: (ns, key) -> (version, JSON or None); ns -> (version, keys)
        self._cache: dict[tuple[str, str], tuple[bytes, bytes | None]] = {}
        self._kcache: dict[str, tuple[bytes, frozenset[str]]] = {}
        self.conflicts = 0  # handler runs thrown away because another process changed what they read
        # the journal's group commit: entries of concurrent requests go to Redis in one script call
        self._jlock = threading.Lock()
        self._jqueue: list[tuple[bytes, bytes]] = []
        self._jwaiters: list[asyncio.Future[None]] = []
        self._jflushing = False
        self._writer: ThreadPoolExecutor | None = None

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # -- reads outside a request (seeds, the control API): straight from Redis --------------------------
    def get(self, ns: str, key: str) -> Any | None:
        raw = self._pending.get((ns, key))
        if raw is _DELETED:
            return None
        if raw is None:
            raw = _split(self._redis.hget(self._k("d", ns), key))[1]
        return None if raw is None else orjson.loads(raw)

    def keys(self, ns: str) -> list[str]:
        found = {k.decode() for k in self._redis.hkeys(self._k("d", ns))}
        return sorted(_overlay(found, ns, self._pending))

    def items(self, ns: str) -> Iterator[tuple[str, Any]]:
        stored = {k.decode(): _split(v)[1] for k, v in self._redis.hgetall(self._k("d", ns)).items()}
        for (pns, key), raw in self._pending.items():
            if pns == ns:
                stored[key] = None if raw is _DELETED else raw
        for key in sorted(stored):
            if stored[key] is not None:
                yield key, orjson.loads(stored[key])

    def namespaces(self, prefix: str = "") -> list[str]:
        names = {n.decode() for n in self._redis.smembers(self._k("nss"))} | {ns for ns, _ in self._pending}
        return sorted(n for n in names if n.startswith(prefix))

    def scope(self, vendor: str) -> "RedisScope":
        return RedisScope(self, vendor)

    # -- reads inside a request: cached, recorded with their versions ---------------------------------
    def _read(self, ns: str, key: str, reads: dict) -> bytes | None:
        """A key this process has not seen yet is taken to be absent, without asking Redis: the commit's
        check says otherwise if it is not, and sends its value, so a new key (an upsert of a new id) costs
        no round trip and a key written elsewhere costs one run of the handler more, not more round trips."""
        cached = self._cache.get((ns, key))
        if cached is None:
            reads[("k", ns, key)] = b"0"
            return None
        reads[("k", ns, key)] = cached[0]
        return cached[1]

    def _read_keys(self, ns: str, reads: dict) -> frozenset[str]:
        cached = self._kcache.get(ns)
        if cached is None:
            pipe = self._redis.pipeline(transaction=True)  # the keys and their version, atomically
            pipe.hkeys(self._k("d", ns))
            pipe.hget(self._k("nsver"), ns)
            keys, version = pipe.execute()
            cached = self._kcache[ns] = (version or b"0", frozenset(k.decode() for k in keys))
        reads[("n", ns, "")] = cached[0]
        return cached[1]

    def _settle_request(self, reads: dict, writes: Writes | None) -> bool:
        """Check the reads and apply ``writes`` (None: check only), atomically. False: something read has
        changed, nothing was applied and the stale cache entries are gone."""
        if not reads and not writes:
            return True
        args: list[Any] = [self.prefix, len(reads)]
        order = list(reads.items())
        for (kind, ns, key), version in order:
            args += (kind, ns, key, version)
        items = list(writes.items()) if writes else []
        args.append(len(items))
        for (ns, key), raw in items:
            args += (ns, key, b"" if raw is _DELETED else raw)
        result = self._commit(args=args)
        if isinstance(result, list):
            for index, current in zip(result[::2], result[1::2]):
                kind, ns, key = order[index - 1][0]
                if kind == "k":
                    self._cache[(ns, key)] = _split(current)
                else:
                    self._kcache.pop(ns, None)
            self.conflicts += 1
            return False
        for (kind, ns, key), version in order:  # every read was current: what was assumed absent is known now
            if kind == "k" and version == b"0":
                self._cache.setdefault((ns, key), (b"0", None))
        if items:
            version = str(result).encode()
            for (ns, key), raw in items:
                self._cache[(ns, key)] = (b"0", None) if raw is _DELETED else (version, raw)
                self._kcache.pop(ns, None)
        return True

    def serve(self, vendor: Vendor) -> Vendor:
        """The vendor with each handler made exact across processes: run, check and commit, again on a conflict."""
        return dataclasses.replace(vendor, handlers={op: self._exact(fn) for op, fn in vendor.handlers.items()})

    def _exact(self, handler: Callable[[Any], Reply]) -> Callable[[Any], Reply]:
        store = self

        def exact(call: Any) -> Reply:
            scope = call.state
            if not isinstance(scope, RedisScope) or scope.reads is None:
                return handler(call)
            body, query = call.body, dict(call.query)
            attempt = 0
            while True:
                try:
                    reply = handler(call)
                except Exception:  # a refusal, or a handler that tripped on a view mixing old and new values
                    if store._settle_request(scope.reads, None):
                        raise  # on current state: the refusal (or the bug) is real
                else:
                    keep = reply.status < 400
                    if store._settle_request(scope.reads, scope.writes if keep else None):
                        if keep:
                            scope.writes.clear()  # applied: the pipeline's commit has nothing left to do
                        return reply
                # another process changed what this run read: run again on fresh state
                attempt += 1
                scope.reads.clear()
                scope.writes.clear()
                call.body = orjson.loads(call.raw_body) if body is not None and call.raw_body else body
                call.query = dict(query)
                if attempt >= 3:  # heavy contention on one key: step aside a little, growing, jittered
                    time.sleep(random.uniform(0, min(0.02, 0.0005 * attempt)))

        exact.__name__ = getattr(handler, "__name__", "handler")
        exact.__doc__ = handler.__doc__
        return exact

    # -- commits -----------------------------------------------------------------------------------
    def finish(self, entry: dict[str, Any] | None, keep_writes: bool) -> None:
        """Seeds and direct callers: apply the store's pending writes (no reads to check), journal ``entry``."""
        pending, self._pending = self._pending, {}
        if keep_writes and pending:
            self._settle_request({}, pending)
        if entry is not None:
            with self._jlock:
                queued, waiters = self._take()
                queued.append(self._journal_item(entry))
                try:
                    self._write_journal(queued)
                finally:
                    _settle(waiters, None)

    def finish_request(self, entry: Any, keep_writes: bool, writes: Writes) -> Awaitable[None] | None:
        """The handler has applied its writes already (:meth:`serve`); what is left (a caller that did not
        go through it) is applied now. The journal entry joins the next batch; the request waits for it, so
        a journal read on any process after the answer shows it."""
        if keep_writes and writes:
            self._settle_request({}, writes)
        if entry is None:
            return None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.finish(entry, False)
            return None
        waiter = loop.create_future()
        with self._jlock:
            self._jqueue.append(self._journal_item(entry))
            self._jwaiters.append(waiter)
            start = not self._jflushing
            self._jflushing = True
        if start:
            self._flusher = loop.create_task(self._flush())
        return waiter

    def _journal_item(self, entry: Any) -> tuple[bytes, bytes]:
        full = materialize(entry) if type(entry) is tuple else dict(entry)
        full.pop("id", None)
        return f"{full['vendor']}{SEP}{full['verdict']}".encode(), _dumps(full)

    def _take(self) -> tuple[list, list]:
        queued, waiters = self._jqueue, self._jwaiters
        self._jqueue, self._jwaiters = [], []
        return queued, waiters

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="cdpkit-redis")
        while True:
            with self._jlock:
                if not self._jqueue:
                    self._jflushing = False
                    return
            waiters, error = await loop.run_in_executor(self._writer, self._flush_queued)
            _settle(waiters, error)

    def _flush_queued(self) -> tuple[list, BaseException | None]:
        with self._jlock:
            queued, waiters = self._take()
            try:
                self._write_journal(queued)
            except BaseException as exc:
                return waiters, exc
        return waiters, None

    def _write_journal(self, items: list[tuple[bytes, bytes]]) -> None:
        if items:
            args: list[Any] = [self.prefix, self.journal_limit, self.journal_bytes]
            for field, raw in items:
                args += (field, raw)
            self._journal_script(args=args)

    # -- journal and counts ------------------------------------------------------------------------
    def journal_size(self) -> tuple[int, int]:
        pipe = self._redis.pipeline(transaction=True)
        pipe.llen(self._k("j"))
        pipe.get(self._k("jb"))
        n, size = pipe.execute()
        return n, int(size or 0)

    def journal(self, vendor: str | None = None, verdict: str | None = None, operation: str | None = None,
                limit: int | None = None, before: int | None = None) -> list[dict[str, Any]]:
        out = []
        for raw in self._redis.lrange(self._k("j"), 0, -1):
            entry = orjson.loads(raw)
            if before is not None and entry["id"] >= before:
                continue
            if (vendor and entry["vendor"] != vendor) or (verdict and entry["verdict"] != verdict) or (
                    operation and entry["operation"] != operation):
                continue
            out.append(entry)
            if limit and len(out) >= limit:
                break
        return out

    def counts(self) -> dict[tuple[str, str], int]:
        out = {}
        for field, n in self._redis.hgetall(self._k("c")).items():
            vendor, _, verdict = field.decode().partition(SEP)
            out[(vendor, verdict)] = int(n)
        return out

    def reset(self) -> None:
        with self._jlock:
            queued, waiters = self._take()
            try:
                self._write_journal(queued)
            finally:
                _settle(waiters, None)
            self._pending.clear()
            self._reset_script(args=[self.prefix])
        self._cache.clear()
        self._kcache.clear()

    def faults(self, seed: int | None = None) -> "RedisFaults":
        return RedisFaults(self, seed)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.shutdown(wait=True)
        with self._jlock:
            queued, waiters = self._take()
            error = None
            try:
                self._write_journal(queued)
            except BaseException as exc:
                error = exc
        _settle(waiters, error)
        self._redis.close()


class RedisScope(Scope):
    """A vendor's view; a request's (:meth:`for_request`) also records what it read, with versions."""

    __slots__ = ("reads",)

    def __init__(self, store: RedisStore, vendor: str, writes: Writes | None = None, reads: dict | None = None) -> None:
        super().__init__(store, vendor, writes)
        self.reads = reads

    def for_request(self) -> "RedisScope":
        return RedisScope(self.store, self.vendor, {}, {})

    def get(self, kind: str, key: str) -> Any | None:
        if self.reads is None:
            return super().get(kind, key)
        ns = f"{self.vendor}/{kind}"
        raw = self.writes.get((ns, key))
        if raw is None:
            raw = self.store._read(ns, key, self.reads)
        elif raw is _DELETED:
            return None
        return None if raw is None else orjson.loads(raw)

    def keys(self, kind: str) -> list[str]:
        if self.reads is None:
            return super().keys(kind)
        ns = self._ns(kind)
        return sorted(_overlay(set(self.store._read_keys(ns, self.reads)), ns, self.writes))


class RedisFaults(Faults):
    """The fault list in Redis: set on any process, applied by all. Each process keeps a copy and checks
    the list's version on every request (one GET); a fault with a count is taken atomically, so N uses are
    N across all processes."""

    def __init__(self, store: RedisStore, seed: int | None = None) -> None:
        super().__init__(seed)
        self.store = store
        self._r = store._redis
        self._version: bytes | None = None

    def _refresh(self) -> None:
        version = self._r.get(self.store._k("fv")) or b"0"
        if version != self._version:
            pipe = self._r.pipeline(transaction=True)
            pipe.hgetall(self.store._k("f"))
            pipe.get(self.store._k("fv"))
            stored, version = pipe.execute()
            faults = [Fault(**orjson.loads(raw)) for raw in stored.values()]
            self._faults = sorted(faults, key=lambda f: f.id)
            self._version = version or b"0"

    def add(self, fault: Fault) -> Fault:
        fault.id = int(self._r.incr(self.store._k("fid")))
        spec = asdict(fault)
        spec.pop("hits")
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(self.store._k("f"), fault.id, orjson.dumps(spec))
        if fault.count is not None:
            pipe.hset(self.store._k("fc"), fault.id, fault.count)
        pipe.incr(self.store._k("fv"))
        pipe.execute()
        return fault

    def clear(self) -> None:
        pipe = self._r.pipeline(transaction=True)
        pipe.delete(self.store._k("f"), self.store._k("fc"), self.store._k("fh"))
        pipe.incr(self.store._k("fv"))
        pipe.execute()
        self._faults = []

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
        self._refresh()
        if not self._faults:
            return None
        for fault in self._faults:
            if not fault.matches(method, path):
                continue
            if fault.percent < 100 and self._rng.uniform(0, 100) >= fault.percent:
                continue
            if fault.count is not None:
                if not self._take_fault(fault.id):
                    continue  # its last use went to another call meanwhile
            else:
                self._r.hincrby(self.store._k("fh"), fault.id, 1)
            return fault
        return None

    def _take_fault(self, fault_id: int) -> bool:
        return bool(self.store._take_fault(args=[self.store.prefix, fault_id]))
