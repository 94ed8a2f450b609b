/**
 * The protocol's steps (`shared/model/README.md`, "the protocol as verified") as Lua scripts, one
 * atomic script per step, semantics identical to core's `memoryStore`.
 *
 * Per cache key: KEYS[1] the value, KEYS[2] the lease, KEYS[3] the mark (one hash slot).
 * - value: a string, `v<version>:<payload>` or `a<version>` (a cached absence); the version is read
 *   with one pattern match. PX = the entry's TTL.
 * - lease: a string, the lease token. PX = the lease TTL.
 * - mark: a hash; field `f` is the version floor (always present while the mark lives, so that a
 *   mark whose writers all left keeps its floor and its expiry, as memoryStore's does), and one field
 *   `w<token>` per writer in flight. Writers in flight = HLEN - 1.
 *
 * TTL arguments are whole milliseconds as decimal strings, `0` for no expiry. Versions and floors
 * travel as the decimal strings JS wrote and are compared with `tonumber` (exact below 2^53); Lua
 * never formats a number, so nothing is ever written in exponent notation.
 *
 * Keys and payloads only ever travel as KEYS/ARGV, never inside the script text.
 */

import { createHash } from 'node:crypto';

/** A script with its SHA1, for EVALSHA. */
export interface Script {
  readonly name: string;
  readonly lua: string;
  readonly sha: string;
  readonly numberOfKeys: number;
}

const PRELUDE = `
local function ver(s) return tonumber(string.match(s, '^[va](%d+)')) end
local function setval(k, v, ttl)
  if ttl > 0 then redis.call('SET', k, v, 'PX', ttl) else redis.call('SET', k, v) end
end
local function expire(k, ttl)
  if ttl > 0 then redis.call('PEXPIRE', k, ttl) end
end
-- Extends k to live at least ttl ms from now (0: forever); never shortens it.
local function extend(k, ttl)
  if ttl == 0 then redis.call('PERSIST', k) return end
  local cur = redis.call('PTTL', k)
  if cur >= 0 and cur < ttl then redis.call('PEXPIRE', k, ttl) end
end
-- floor = max(floor, version); a raised floor (or a new mark) lives at least floorTtl.
local function raisefloor(m, vs, v, floorttl)
  local floor = redis.call('HGET', m, 'f')
  if not floor then
    if redis.call('EXISTS', m) == 1 then floor = '0' else
      if v > 0 then
        redis.call('HSET', m, 'f', vs)
        expire(m, floorttl)
      end
      return
    end
  end
  if v <= tonumber(floor) then return end
  redis.call('HSET', m, 'f', vs)
  extend(m, floorttl)
end
-- Installs the entry if no cached entry has a version >= v.
local function installifnewer(k, entry, v, ttl)
  local cur = redis.call('GET', k)
  if cur and v <= ver(cur) then return 0 end
  setval(k, entry, ttl)
  return 1
end
-- The protocol's invalidate(v).
local function invalidatev(kv, kl, km, vs, v, floorttl)
  raisefloor(km, vs, v, floorttl)
  redis.call('DEL', kl)
  local cur = redis.call('GET', kv)
  if cur and ver(cur) < v then redis.call('DEL', kv) end
end
`;

/**
 * get: the value (HIT, returned as it is stored, starting with `v` or `a`); else `W` (writers in
 * flight); else `T` (another caller holds the lease); else a new lease with ARGV[1] as token: `L`.
 * ARGV[2] is the lease TTL; `-1` (an invalid TTL the caller refused to send) answers `X` instead of
 * granting, so that an invalid TTL is reported only when a lease would be granted, as memoryStore does.
 */
const GET_BODY = `
local function lookup(kv, kl, km, token, ttl)
  local v = redis.call('GET', kv)
  if v then return v end
  if redis.call('HLEN', km) > 1 then return 'W' end
  if redis.call('EXISTS', kl) == 1 then return 'T' end
  if ttl < 0 then return 'X' end
  setval(kl, token, ttl)
  return 'L'
end
`;

const GET = `${PRELUDE}${GET_BODY}
return lookup(KEYS[1], KEYS[2], KEYS[3], ARGV[1], tonumber(ARGV[2]))
`;

/**
 * getMany: `get` of n keys (KEYS: n triples, ARGV: n tokens then the lease TTL); answers the n
 * results in order. Standalone only, or Cluster with every key in one slot.
 */
const GET_MANY = `${PRELUDE}${GET_BODY}
local n = #KEYS / 3
local ttl = tonumber(ARGV[n + 1])
local out = {}
for i = 1, n do
  local b = (i - 1) * 3
  out[i] = lookup(KEYS[b + 1], KEYS[b + 2], KEYS[b + 3], ARGV[i], ttl)
end
return out
`;

/**
 * fill(token, entry): ARGV token, encoded entry, version, ttl, floorTtl. With the current lease:
 * consumes it, installs if no writer is in flight, version >= floor and newer than the cached entry
 * (1 / 0). Without it: invalidate(version), 0.
 */
const FILL = `${PRELUDE}
local v = tonumber(ARGV[3])
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
  local floor = redis.call('HGET', KEYS[3], 'f')
  if floor then
    if redis.call('HLEN', KEYS[3]) > 1 then return 0 end
    if v < tonumber(floor) then return 0 end
  end
  return installifnewer(KEYS[1], ARGV[2], v, tonumber(ARGV[4]))
end
invalidatev(KEYS[1], KEYS[2], KEYS[3], ARGV[3], v, tonumber(ARGV[5]))
return 0
`;

/**
 * beginWrite(token): removes the value and the lease, adds the writer, keeps the mark at least
 * markTtl. One function, run once by BEGIN_WRITE and once per key by BEGIN_WRITE_MANY.
 */
const BEGIN_BODY = `
local function beginwrite(kv, kl, km, token, ttl)
  redis.call('DEL', kv, kl)
  if redis.call('EXISTS', km) == 0 then
    redis.call('HSET', km, 'f', '0', 'w' .. token, '1')
    expire(km, ttl)
  else
    redis.call('HSET', km, 'w' .. token, '1')
    extend(km, ttl)
  end
end
`;

/** beginWrite(token): ARGV token, markTtl. */
const BEGIN_WRITE = `${PRELUDE}${BEGIN_BODY}
beginwrite(KEYS[1], KEYS[2], KEYS[3], ARGV[1], tonumber(ARGV[2]))
return 1
`;

/**
 * beginWriteMany: `beginWrite` of n keys in order (KEYS: n triples, ARGV: n tokens then the mark
 * TTL); answers n. Standalone only, or Cluster with every key in one slot.
 */
const BEGIN_WRITE_MANY = `${PRELUDE}${BEGIN_BODY}
local n = #KEYS / 3
local ttl = tonumber(ARGV[n + 1])
for i = 1, n do
  local b = (i - 1) * 3
  beginwrite(KEYS[b + 1], KEYS[b + 2], KEYS[b + 3], ARGV[i], ttl)
end
return n
`;

/**
 * commitWrite(token, entry): raises the floor, revokes the lease; with the token in flight removes
 * it and installs iff no writer is left and the version is the floor (and newer than the cached
 * entry); with the token missing, removes the value. Answers 1 when installed, else 0. One function,
 * run once by COMMIT_WRITE and once per key by COMMIT_WRITE_MANY.
 */
const COMMIT_BODY = `
local function commitwrite(kv, kl, km, token, entry, vs, ttl, floorttl)
  local v = tonumber(vs)
  raisefloor(km, vs, v, floorttl)
  redis.call('DEL', kl)
  if redis.call('HDEL', km, 'w' .. token) == 1 then
    if redis.call('HLEN', km) > 1 then return 0 end
    local floor = redis.call('HGET', km, 'f')
    if floor and v ~= tonumber(floor) then return 0 end
    return installifnewer(kv, entry, v, ttl)
  end
  redis.call('DEL', kv)
  return 0
end
`;

/** commitWrite(token, entry): ARGV token, encoded entry, version, ttl, floorTtl. */
const COMMIT_WRITE = `${PRELUDE}${COMMIT_BODY}
return commitwrite(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]))
`;

/**
 * commitWriteMany: `commitWrite` of n keys in order (KEYS: n triples, ARGV: token, encoded entry,
 * version, ttl of each key, then floorTtl); answers the n results in order.
 */
const COMMIT_WRITE_MANY = `${PRELUDE}${COMMIT_BODY}
local n = #KEYS / 3
local floorttl = tonumber(ARGV[4 * n + 1])
local out = {}
for i = 1, n do
  local b = (i - 1) * 3
  local a = (i - 1) * 4
  out[i] = commitwrite(KEYS[b + 1], KEYS[b + 2], KEYS[b + 3], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3],
    tonumber(ARGV[a + 4]), floorttl)
end
return out
`;

/** invalidate(version): ARGV version, floorTtl. */
const INVALIDATE = `${PRELUDE}
invalidatev(KEYS[1], KEYS[2], KEYS[3], ARGV[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
return 1
`;

/**
 * invalidateMany: `invalidate` of n keys in order (KEYS: n triples, ARGV: n versions, each `-` for
 * none, then floorTtl); answers n. Without a version a key's step is what the store's own
 * `invalidate(key)` runs: a DEL of the value and the lease.
 */
const INVALIDATE_MANY = `${PRELUDE}
local n = #KEYS / 3
local floorttl = tonumber(ARGV[n + 1])
for i = 1, n do
  local b = (i - 1) * 3
  if ARGV[i] == '-' then
    redis.call('DEL', KEYS[b + 1], KEYS[b + 2])
  else
    invalidatev(KEYS[b + 1], KEYS[b + 2], KEYS[b + 3], ARGV[i], tonumber(ARGV[i]), floorttl)
  end
end
return n
`;

function script(name: string, lua: string, numberOfKeys: number): Script {
  return { name, lua, numberOfKeys, sha: createHash('sha1').update(lua).digest('hex') };
}

/** Every script, by step. `numberOfKeys` -1: variable (the `…Many` scripts). */
export const SCRIPTS = {
  get: script('get', GET, 3),
  getMany: script('getMany', GET_MANY, -1),
  fill: script('fill', FILL, 3),
  beginWrite: script('beginWrite', BEGIN_WRITE, 3),
  beginWriteMany: script('beginWriteMany', BEGIN_WRITE_MANY, -1),
  commitWrite: script('commitWrite', COMMIT_WRITE, 3),
  commitWriteMany: script('commitWriteMany', COMMIT_WRITE_MANY, -1),
  invalidate: script('invalidate', INVALIDATE, 3),
  invalidateMany: script('invalidateMany', INVALIDATE_MANY, -1),
} as const;
