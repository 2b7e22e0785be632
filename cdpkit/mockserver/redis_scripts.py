"""What the Redis store sends Redis: its Lua scripts (each one atomic in Redis), the ``--state`` URL's parsing and
the stored value's format. Kept apart from :mod:`cdpkit.mockserver.redis_store` so the store reads as Python and
the scripts can be read side by side with the key layout the store's docstring describes.
"""

from __future__ import annotations

import urllib.parse

# ARGV: prefix, version, n reads, (kind k|n, ns, key, version)*, n writes, (ns, key, JSON or "" to delete)*.
# The version the writes get is the committing process's own (``<process token>.<counter>``, never given twice),
# so a later request of that process can read a write still in flight together with the version it will have.
# Returns, when a read is stale, {index, current}* (1-based; nothing applied): for a key read its stored
# ``<version>:<JSON>`` or nil, for a collection read {version, {keys}}, so the reader's cache is brought up to date
# in the same round trip. Else 1.
COMMIT = """
local P, seq = ARGV[1], ARGV[2]
local i = 4
local stale = {}
for r = 1, tonumber(ARGV[3]) do
  local cur
  local v = false
  if ARGV[i] == 'k' then
    v = redis.call('HGET', P .. ':d:' .. ARGV[i + 1], ARGV[i + 2])
    if v then cur = string.sub(v, 1, string.find(v, ':', 1, true) - 1) else cur = '0' end
  else
    cur = redis.call('HGET', P .. ':nsver', ARGV[i + 1]) or '0'
  end
  if cur ~= ARGV[i + 3] then
    if ARGV[i] == 'n' then v = {cur, redis.call('HKEYS', P .. ':d:' .. ARGV[i + 1])} end
    stale[#stale + 1] = r
    stale[#stale + 1] = v
  end
  i = i + 4
end
if #stale > 0 then return stale end
local nw = tonumber(ARGV[i])
i = i + 1
if nw == 0 then return 1 end
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
return 1
"""

# ARGV: prefix, (ns, key, JSON)*: the start-up data. Forgets every value, the journal and the counts and writes
# the start-up data under one new version, in one step: another process sees the state before or after, never
# empty or half loaded. A value written again gets a version never given before (``P:seq`` is never reset, and a
# process's own versions hold a '.', these never) and a forgotten one reads as absent, so every process's cache
# learns of the change at its next check. ``UNLINK`` frees a large state in the background instead of holding
# Redis while it does.
RESET_TO = """
local P = ARGV[1]
for _, ns in ipairs(redis.call('SMEMBERS', P .. ':nss')) do redis.call('UNLINK', P .. ':d:' .. ns) end
redis.call('DEL', P .. ':nss', P .. ':nsver', P .. ':j', P .. ':jb', P .. ':c')
if #ARGV < 4 then return 0 end
local seq = redis.call('INCR', P .. ':seq')
for i = 2, #ARGV, 3 do
  redis.call('HSET', P .. ':d:' .. ARGV[i], ARGV[i + 1], seq .. ':' .. ARGV[i + 2])
  redis.call('SADD', P .. ':nss', ARGV[i])
  redis.call('HSET', P .. ':nsver', ARGV[i], seq)
end
return seq
"""

# ARGV: prefix, entry limit, byte budget, (counts field, entry JSON without its id)*.
JOURNAL = """
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

# ARGV: prefix, fault id. 1 when this call took one of the fault's remaining uses, 0 when none was left. The
# last use removes the fault and tells every process (the fault channel) so they stop trying it.
TAKE_FAULT = """
local P, id = ARGV[1], ARGV[2]
if redis.call('HEXISTS', P .. ':f', id) == 0 then return 0 end
local left = redis.call('HINCRBY', P .. ':fc', id, -1)
if left < 0 then return 0 end
redis.call('HINCRBY', P .. ':fh', id, 1)
if left == 0 then
  redis.call('HDEL', P .. ':f', id)
  redis.call('HDEL', P .. ':fc', id)
  redis.call('HDEL', P .. ':fh', id)
  local version = redis.call('INCR', P .. ':fv')
  redis.call('PUBLISH', P .. ':fchan', version .. ' -')
end
return 1
"""

SEP = "\x1f"  # between vendor and verdict in a counts field


def parse_url(url: str) -> tuple[str, str]:
    """``redis://HOST:PORT/DB[?prefix=NAME][&cache_bytes=N]`` -> (the URL Redis is reached at, the key prefix).
    Every parameter is checked here, so a bad one is a start-up error (``cdpkit mock`` checks the URL with this)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ValueError(f"--state redis://HOST:PORT/DB[?prefix=NAME], not {url!r}")
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    unknown = set(query) - {"prefix", "cache_bytes"}
    if unknown:
        raise ValueError(f"--state {url}: unknown parameter(s) {sorted(unknown)}; only prefix=NAME and "
                         "cache_bytes=N are taken")
    cache_bytes(url)
    prefix = query.get("prefix", ["cdpkit"])[-1]
    if not prefix or not all(c.isalnum() or c in "-_.:" for c in prefix):
        raise ValueError(f"--state {url}: prefix must be letters, digits, '-', '_', '.' or ':'")
    db = parts.path.strip("/") or "0"
    if not db.isdigit():
        raise ValueError(f"--state {url}: the database after the port is a number, not {db!r}")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/" + db, "", "")), prefix


def split_value(raw: bytes | None) -> tuple[bytes, bytes | None]:
    """A stored ``<version>:<JSON>`` as (version, JSON); an absent key is version ``0``."""
    if raw is None:
        return b"0", None
    version, _, value = raw.partition(b":")
    return version, value


def cache_bytes(url: str) -> int:
    """The bound in bytes of each process's view of the state (``?cache_bytes=N``; default 64 MiB): a
    parameter of the URL because the URL is what reaches every worker of a mock, and each worker has its own."""
    from cdpkit.mockserver.redis_cache import DEFAULT_CACHE_BYTES

    values = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query, keep_blank_values=True).get("cache_bytes")
    if not values:
        return DEFAULT_CACHE_BYTES
    if not values[-1].isdigit() or int(values[-1]) < 1:
        raise ValueError(f"--state {url}: cache_bytes is a positive number of bytes, not {values[-1]!r}")
    return int(values[-1])
