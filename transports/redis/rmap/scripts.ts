/**
 * The Lua scripts of a replicated map: one per write. Each one mutates the hash, bumps `=rev`, sets
 * `=kind` and publishes the update frame, atomically, exactly as goa.design/pulse v1.6.5 does
 * (docs/redis-layout.md, "Maps"), so a Go replica reads what they publish and the other way round.
 *
 * Every script takes the same two keys and two leading arguments:
 *
 *     KEYS[1]  content hash   map:<name>:content
 *     KEYS[2]  update channel map:<name>:updates   (a channel, passed as a key like the reference does)
 *     ARGV[1]  TTL in ms, '0' for none
 *     ARGV[2]  'absolute' (PEXPIRE … NX: set once) or 'sliding' (PEXPIRE: refreshed by every write)
 *
 * then their own arguments from ARGV[3]. The TTL is applied inside the script, after a mutation only.
 * (v1.6.5 sends a separate EXPIRE [NX] after each script, which can be lost between the two; the hash
 * it leaves behind is the same. `PEXPIRE … NX` needs Redis 7.)
 *
 * Divergences from v1.6.5 that a v1.6.5 peer cannot see (the hash and the frames are the same): the
 * replies carry the committed revision where a caller can use it, `rmapRemove-2` compares items as
 * strings, and a failed `HINCRBY` is returned as its own error reply.
 */
import { defineScript } from '../scripts.js'
import type { RedisScript } from '../scripts.js'
import { kDecodeListLua } from './lua-lists.js'

/** Helpers every script starts with (after its header). */
const kPrologue = `
local content, channel = KEYS[1], KEYS[2]
local ttl_ms, ttl_mode = tonumber(ARGV[1]), ARGV[2]

local function expire()
  if ttl_ms > 0 then
    if ttl_mode == 'absolute' then
      redis.call('PEXPIRE', content, ttl_ms, 'NX')
    else
      redis.call('PEXPIRE', content, ttl_ms)
    end
  end
end

-- Bumps =rev, records the mutation in =kind and returns the new revision as text.
local function bump(kind)
  local rev = tostring(redis.call('HINCRBY', content, '=rev', 1))
  redis.call('HSET', content, '=kind', kind)
  return rev
end

-- After HSET key value: set:<ic0 key><ic0 value><ic0 rev>.
local function publish_set(key, value)
  local rev = bump('set')
  redis.call('PUBLISH', channel, 'set:' .. struct.pack('ic0ic0ic0', #key, key, #value, value, #rev, rev))
  expire()
  return rev
end

-- After HDEL key: del:<ic0 key><ic0 rev>.
local function publish_del(key)
  local rev = bump('del')
  redis.call('PUBLISH', channel, 'del:' .. struct.pack('ic0ic0', #key, key, #rev, rev))
  expire()
  return rev
end

-- Empties the map, leaving the tombstone {=rev, =kind} so that revisions keep increasing.
local function clear(kind)
  local rev = tostring(redis.call('HINCRBY', content, '=rev', 1))
  redis.call('DEL', content)
  redis.call('HSET', content, '=rev', rev, '=kind', kind)
  redis.call('PUBLISH', channel, kind .. ':' .. rev)
  expire()
  return rev
end

-- A list value: a JSON array, or a legacy comma-separated string.
${kDecodeListLua}`

/** The KEYS and leading ARGV every map script takes, stated in each header. */
const kCommonContract = `    KEYS[1] content hash   map:<name>:content
    KEYS[2] update channel map:<name>:updates
    ARGV[1] TTL in ms, '0' for none; ARGV[2] 'absolute' (PEXPIRE NX) or 'sliding' (PEXPIRE)`

function mapScript(name: string, header: string, body: string): RedisScript {
  const [summary = '', ...rest] = header.trim().split('\n')
  const lua = `--[[\n  ${name}: ${summary}\n${kCommonContract}\n${rest.join('\n')}\n]]\n${kPrologue}\n${body.trim()}\n`
  return defineScript({ name, numberOfKeys: 2, lua })
}

export const kMapScripts = {
  set: mapScript(
    'rmapSet-2',
    `sets a field.
    ARGV[3] key, ARGV[4] value
  Reply: {existed 0|1, previous value or '', revision}.`,
    `
local key, value = ARGV[3], ARGV[4]
local prev = redis.call('HGET', content, key)
redis.call('HSET', content, key, value)
local rev = publish_set(key, value)
if prev then return {1, prev, rev} end
return {0, '', rev}`,
  ),

  setMany: mapScript(
    'rmapSetMany-2',
    `sets n fields in order, as n rmapSet-2 calls would: one revision and one frame per write.
    ARGV[3..] key, value pairs (at most 512)
  Reply: {existed 0|1, previous value or '', revision} for each write, flattened, in order.`,
    `
local n = (#ARGV - 2) / 2
local fields = {}
for i = 1, n do fields[i] = ARGV[1 + 2 * i] end
local stored = redis.call('HMGET', content, unpack(fields))
local last = redis.call('HINCRBY', content, '=rev', n)
local current, set, reply = {}, {'=kind', 'set'}, {}
for i = 1, n do
  local key, value = ARGV[1 + 2 * i], ARGV[2 + 2 * i]
  local prev = current[key]
  if prev == nil then prev = stored[i] end
  current[key] = value
  set[#set + 1] = key
  set[#set + 1] = value
  local rev = tostring(last - n + i)
  redis.call('PUBLISH', channel, 'set:' .. struct.pack('ic0ic0ic0', #key, key, #value, value, #rev, rev))
  if prev then
    reply[#reply + 1] = 1
    reply[#reply + 1] = prev
  else
    reply[#reply + 1] = 0
    reply[#reply + 1] = ''
  end
  reply[#reply + 1] = rev
end
redis.call('HSET', content, unpack(set))
expire()
return reply`,
  ),

  setIfNotExists: mapScript(
    'rmapSetIfNotExists-2',
    `sets a field that does not exist.
    ARGV[3] key, ARGV[4] value
  Reply: the revision when set, nil when the field exists.`,
    `
local key, value = ARGV[3], ARGV[4]
if redis.call('HEXISTS', content, key) == 1 then return false end
redis.call('HSET', content, key, value)
return publish_set(key, value)`,
  ),

  testAndSet: mapScript(
    'rmapTestAndSet-2',
    `sets a field whose value equals a test value (a missing field never does).
    ARGV[3] key, ARGV[4] test, ARGV[5] value
  Reply: {existed 0|1, previous value or '', revision or '' when not set}.`,
    `
local key, test, value = ARGV[3], ARGV[4], ARGV[5]
local prev = redis.call('HGET', content, key)
if not prev then return {0, '', ''} end
if prev ~= test then return {1, prev, ''} end
redis.call('HSET', content, key, value)
return {1, prev, publish_set(key, value)}`,
  ),

  incr: mapScript(
    'rmapIncr-2',
    `adds to the integer in a field (a missing field counts as 0).
    ARGV[3] key, ARGV[4] delta
  Reply: {new value, revision}.
  Errors: HINCRBY's ('ERR hash value is not an integer', 'ERR increment or decrement would overflow').`,
    `
local key = ARGV[3]
local done = redis.pcall('HINCRBY', content, key, ARGV[4])
if type(done) == 'table' and done.err then return done end
local value = redis.call('HGET', content, key)
return {value, publish_set(key, value)}`,
  ),

  append: mapScript(
    'rmapAppend-2',
    `appends items to a list field (JSON array; a legacy comma-separated value is converted).
    ARGV[3] key, ARGV[4..] items
  Reply: the stored value (JSON), or the current one (maybe nil) when there is no item.`,
    `
local key = ARGV[3]
local current = redis.call('HGET', content, key)
if #ARGV < 4 then return current end
local items = decode_list(current)
for i = 4, #ARGV do table.insert(items, ARGV[i]) end
local encoded = cjson.encode(items)
redis.call('HSET', content, key, encoded)
publish_set(key, encoded)
return encoded`,
  ),

  appendUnique: mapScript(
    'rmapAppendUnique-2',
    `appends the items a list field does not hold yet, in order.
    ARGV[3] key, ARGV[4..] items
  Reply: the stored value (JSON), or the current one (maybe nil) when nothing changed.`,
    `
local key = ARGV[3]
local current = redis.call('HGET', content, key)
if #ARGV < 4 then return current end
local items = decode_list(current)
local present = {}
for _, item in ipairs(items) do present[tostring(item)] = true end
local changed = false
for i = 4, #ARGV do
  if not present[ARGV[i]] then
    table.insert(items, ARGV[i])
    present[ARGV[i]] = true
    changed = true
  end
end
if not changed then return current end
local encoded = cjson.encode(items)
redis.call('HSET', content, key, encoded)
publish_set(key, encoded)
return encoded`,
  ),

  remove: mapScript(
    'rmapRemove-2',
    `removes every occurrence of the items from a list field; deletes the field when it empties.
    ARGV[3] key, ARGV[4..] items
  Reply: {0} missing field; {1, value} nothing removed; {2, value, revision} removed, some left;
         {3, '', revision} removed, the field was deleted.`,
    `
local key = ARGV[3]
local current = redis.call('HGET', content, key)
if not current then return {0} end
local drop = {}
for i = 4, #ARGV do drop[ARGV[i]] = true end
local remaining, removed = {}, false
for _, item in ipairs(decode_list(current)) do
  if drop[tostring(item)] then removed = true else table.insert(remaining, item) end
end
if not removed then return {1, current} end
if #remaining == 0 then
  redis.call('HDEL', content, key)
  return {3, '', publish_del(key)}
end
local encoded = cjson.encode(remaining)
redis.call('HSET', content, key, encoded)
return {2, encoded, publish_set(key, encoded)}`,
  ),

  delete: mapScript(
    'rmapDelete-2',
    `deletes a field; a missing field is left alone (nothing published).
    ARGV[3] key
  Reply: the previous value, or nil.`,
    `
local key = ARGV[3]
local prev = redis.call('HGET', content, key)
if not prev then return false end
redis.call('HDEL', content, key)
publish_del(key)
return prev`,
  ),

  testAndDelete: mapScript(
    'rmapTestAndDelete-2',
    `deletes a field whose value equals a test value.
    ARGV[3] key, ARGV[4] test
  Reply: the previous value (deleted or not), or nil.`,
    `
local key, test = ARGV[3], ARGV[4]
local prev = redis.call('HGET', content, key)
if prev and prev == test then
  redis.call('HDEL', content, key)
  publish_del(key)
end
return prev`,
  ),

  reset: mapScript(
    'rmapReset-2',
    `empties the map; the hash keeps {=rev, =kind: reset}.
  Reply: the revision.`,
    `
return clear('reset')`,
  ),

  testAndReset: mapScript(
    'rmapTestAndReset-2',
    `empties the map if every key holds its test value (no key: unconditionally).
    ARGV[3] n, ARGV[4..3+n] keys, ARGV[4+n..3+2n] tests
  Reply: the revision when reset, nil otherwise.`,
    `
local n = tonumber(ARGV[3])
for i = 1, n do
  if redis.call('HGET', content, ARGV[3 + i]) ~= ARGV[3 + n + i] then return false end
end
return clear('reset')`,
  ),

  destroy: mapScript(
    'rmapDestroy-2',
    `deletes the map; the hash keeps the tombstone {=rev, =kind: destroy}.
  Reply: the revision.`,
    `
return clear('destroy')`,
  ),
} as const satisfies Record<string, RedisScript>

export type MapScriptName = keyof typeof kMapScripts
