/**
 * The pool's own Lua scripts (PROTOCOL.md). Each one that writes a replicated map does the rmap
 * bookkeeping of `transports/redis/rmap/scripts.ts` (bump `=rev`, set `=kind`, publish the frame),
 * byte for byte, so every replica — Go or Node — sees the write. The other map writes of the pool use
 * rmap's scripts (`kMapScripts`) through `mapWrite`.
 *
 * - `poolClaimDispatch-4`: the dispatch claim, admission and enqueue in one step (PROTOCOL.md,
 *   "Dispatch").
 * - `poolClaimJob-3`: a worker's ownership claim before `start`: the key is appended to its `P:jobs`
 *   list only when the list of no other worker registered in `P:workers` holds it, active or not.
 * - `poolCleanupLock-2`: the per-member cleanup lock: set when absent or stale, refused when fresh.
 *
 * The keys of each script belong to one pool; in the `cluster` layout they all hold `{P}` (keys.ts), so
 * each script's keys share one hash slot.
 */
import type { Redis } from 'ioredis'

import { kMapScripts } from '../rmap/scripts.js'
import { kDecodeListLua } from '../rmap/lua-lists.js'
import { defineScript, type ScriptArg } from '../scripts.js'
import type { PulseRedis } from '../connection.js'
import type { KeyLayout } from '../key-layout.js'
import { mapKeys } from './keys.js'

/** The rmap helpers the scripts need (same frames as rmap's scripts). */
const kMapHelpers = `
local function publish_set(content, channel, key, value)
  local rev = tostring(redis.call('HINCRBY', content, '=rev', 1))
  redis.call('HSET', content, '=kind', 'set')
  redis.call('PUBLISH', channel, 'set:' .. struct.pack('ic0ic0ic0', #key, key, #value, value, #rev, rev))
  return rev
end

${kDecodeListLua}`

export const kPoolScripts = {
  claimDispatch: defineScript({
    name: 'poolClaimDispatch-4',
    numberOfKeys: 4,
    lua: `--[[
  poolClaimDispatch-4: claims a job key for one dispatch, admits it and enqueues its start event.
    KEYS[1] payloads hash      map:P:job-payloads:content
    KEYS[2] pending hash       map:P:pending-jobs:content
    KEYS[3] pending channel    map:P:pending-jobs:updates
    KEYS[4] pool stream        pulse:stream:P:pool
    ARGV[1] job key, ARGV[2] now (unix ns), ARGV[3] pending-until (unix ns), ARGV[4] maxQueuedJobs,
    ARGV[5] the encoded job (event j)
  Reply: {1, stream id} enqueued; {2, guard} an active guard; {3, ''} the payload exists (running);
         {4, guard} a malformed guard; {5, length} the queue is full (nothing written).
]]
${kMapHelpers}
local payloads, pending, channel, stream = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local key, now, pending_until, max_queued, job = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
if redis.call('HEXISTS', payloads, key) == 1 then return {3, ''} end
local guard = redis.call('HGET', pending, key)
if guard then
  if not string.match(guard, '^%d+$') then return {4, guard} end
  if #guard > #now or (#guard == #now and guard >= now) then return {2, guard} end
end
local length = redis.call('XLEN', stream)
if length >= max_queued then return {5, tostring(length)} end
redis.call('HSET', pending, key, pending_until)
publish_set(pending, channel, key, pending_until)
local id = redis.call('XADD', stream, '*', 'n', 'j', 'p', job)
return {1, id}
`,
  }),

  claimJob: defineScript({
    name: 'poolClaimJob-3',
    numberOfKeys: 3,
    lua: `--[[
  poolClaimJob-3: makes a worker the owner of a job key unless another registered worker's list holds it.
  A registered worker (in P:workers, leaving or not) counts whether it looks active or not: one that looks
  dead (a keep-alive lapse) may be alive and come back with its list; only a cleaner, a stop or a release
  takes a key off it. The list of a worker missing from P:workers does not count: a cleaner removed the
  worker, whose node stops its jobs when it reads that, and it never becomes active again.
    KEYS[1] jobs hash          map:P:jobs:content
    KEYS[2] jobs channel       map:P:jobs:updates
    KEYS[3] workers hash       map:P:workers:content
    ARGV[1] worker id, ARGV[2] job key
  Reply: 1 owned (appended, or already there); 0 another worker's list holds it (nothing written).
]]
${kMapHelpers}
local content, channel, workers = KEYS[1], KEYS[2], KEYS[3]
local wid, key = ARGV[1], ARGV[2]
local fields = redis.call('HGETALL', content)
for i = 1, #fields, 2 do
  local field = fields[i]
  if field ~= wid and string.sub(field, 1, 1) ~= '=' and redis.call('HEXISTS', workers, field) == 1 then
    for _, item in ipairs(decode_list(fields[i + 1])) do
      if tostring(item) == key then return 0 end
    end
  end
end
local items = decode_list(redis.call('HGET', content, wid))
for _, item in ipairs(items) do
  if tostring(item) == key then return 1 end
end
table.insert(items, key)
local encoded = cjson.encode(items)
redis.call('HSET', content, wid, encoded)
publish_set(content, channel, wid, encoded)
return 1
`,
  }),

  cleanupLock: defineScript({
    name: 'poolCleanupLock-2',
    numberOfKeys: 2,
    lua: `--[[
  poolCleanupLock-2: takes the cleanup lock of one member: set when absent, malformed or stale.
    KEYS[1] cleanup hash       map:P:cleanup:content
    KEYS[2] cleanup channel    map:P:cleanup:updates
    ARGV[1] field (worker id, or node:<id>), ARGV[2] now (unix ns), ARGV[3] staleness horizon (ns)
  Reply: 1 taken; 0 another cleaner holds a fresh lock.
]]
${kMapHelpers}
local content, channel = KEYS[1], KEYS[2]
local field, now, horizon = ARGV[1], ARGV[2], ARGV[3]
local current = redis.call('HGET', content, field)
if current and string.match(current, '^%-?%d+$') then
  if tonumber(now) - tonumber(current) <= tonumber(horizon) then return 0 end
end
redis.call('HSET', content, field, now)
publish_set(content, channel, field, now)
return 1
`,
  }),
} as const

type MapScript = keyof typeof kMapScripts

/** Runs one of rmap's write scripts on the map `name` (no TTL), as a replica's write would. */
export function mapWrite(
  redis: Redis | PulseRedis,
  script: MapScript,
  name: string,
  layout: KeyLayout,
  args: readonly ScriptArg[],
): Promise<unknown> {
  const keys = mapKeys(name, layout)
  return kMapScripts[script].run(redis, [keys.content, keys.updates], ['0', 'absolute', ...args])
}

/** The keys of `poolClaimDispatch-4`. */
export function claimDispatchKeys(
  payloadMap: string,
  pendingMap: string,
  poolStreamKey: string,
  layout: KeyLayout,
): string[] {
  const payloads = mapKeys(payloadMap, layout)
  const pending = mapKeys(pendingMap, layout)
  return [payloads.content, pending.content, pending.updates, poolStreamKey]
}
