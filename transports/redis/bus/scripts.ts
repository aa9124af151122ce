/**
 * The bus's Lua scripts (conventions in `../scripts.ts`). Keys: `keys.ts`; entry fields: `entry.ts`.
 */
import { defineScript } from '../scripts.js'

/**
 * Lua shared by `busPut-5` and `busAppend-4` (KEYS[1…4]: stream, event ids, counter, dedup keys, in that
 * order in both): the server's clock, the dedup check of one put's events, the append of one event, and
 * the trim to the retention. Dedup keys live in a sorted set (member `<subject>\n<key>`, score = expiry in
 * ms of the server's clock), so they survive restarts and expire exactly; Redis 7.0 has no per-field TTL
 * on hashes. Each event is 8 values of ARGV from its first: id, subject, created_at, key, trace id,
 * response subject, payload, trace context.
 *
 * Retention (the bus's `maxLen` / `maxAgeMs`): after appending n events, the call drops the oldest
 * entries past either bound, with their event ids, up to n + 64 — so a stream that was larger when
 * retention was turned on comes down over the following puts, and no call does unbounded work.
 */
const kPutLua = `
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The first of the n events from ARGV[first] whose key was published on its subject (0-based), or nil;
-- and whether any of them has a key.
local function duplicate(first, n, now)
  local seen = {}
  local anyKey = false
  for i = 0, n - 1 do
    local b = first + i * 8
    local key = ARGV[b + 3]
    if key ~= '' then
      anyKey = true
      local member = ARGV[b + 1] .. '\\n' .. key
      local score = redis.call('ZSCORE', KEYS[4], member)
      if seen[member] or (score and tonumber(score) > now) then return i, anyKey end
      seen[member] = true
    end
  end
  return nil, anyKey
end

local fields = { 'k', 't', 'r', 'p', 'x' }

-- Appends the event at ARGV[b], indexes its id and records its key; returns its entry id.
local function append(b, ttl, now)
  local args = { 'i', ARGV[b], 's', ARGV[b + 1], 'c', ARGV[b + 2] }
  for f = 1, 5 do
    local v = ARGV[b + 2 + f]
    if v ~= '' then
      args[#args + 1] = fields[f]
      args[#args + 1] = v
    end
  end
  local id = redis.call('XADD', KEYS[1], '*', unpack(args))
  redis.call('HSET', KEYS[2], ARGV[b], id)
  if ttl > 0 and ARGV[b + 3] ~= '' then
    redis.call('ZADD', KEYS[4], now + ttl, ARGV[b + 1] .. '\\n' .. ARGV[b + 3])
  end
  return id
end

-- Drops the oldest entries past maxLen / maxAge (0: no bound), at most n + 64.
local function trim(n, maxLen, maxAge, now)
  if maxLen <= 0 and maxAge <= 0 then return end
  local len = redis.call('XLEN', KEYS[1])
  local cutoff = now - maxAge
  local budget = n + 64
  local removed = 0
  local last = nil
  local from = '-'
  -- Under its length bound (and with no age bound) the stream is not read at all.
  while removed < budget and (maxAge > 0 or len - removed > maxLen) do
    local page = redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', 16)
    local kept = #page == 0
    for j = 1, #page do
      local entryId = page[j][1]
      local ms = tonumber(string.match(entryId, '^(%d+)'))
      if removed >= budget or not ((maxLen > 0 and len - removed > maxLen) or (maxAge > 0 and ms < cutoff)) then
        kept = true
        break
      end
      removed = removed + 1
      last = entryId
      local entry = page[j][2]
      for f = 1, #entry, 2 do
        if entry[f] == 'i' then
          -- A later event may have taken the same id: its index entry stays.
          if redis.call('HGET', KEYS[2], entry[f + 1]) == entryId then redis.call('HDEL', KEYS[2], entry[f + 1]) end
          break
        end
      end
    end
    if kept then break end
    from = '(' .. last
  end
  if last then
    local ms, seq = string.match(last, '^(%d+)-(%d+)$')
    redis.call('XTRIM', KEYS[1], 'MINID', ms .. '-' .. string.format('%d', tonumber(seq) + 1))
  end
end
`

/**
 * Publishes one event or a batch with confirmations wanted (the hash of its inbox is KEYS[5]),
 * atomically: either every event is appended or none.
 */
export const busPut = defineScript({
  name: 'busPut-5',
  numberOfKeys: 5,
  lua: `--[[
  busPut-5: appends events to a namespace's stream, refusing the whole call on a duplicate key, then
  trims the stream to its retention.
    KEYS[1]  stream          <prefix>{ns}:log
    KEYS[2]  event ids       <prefix>{ns}:ids      (hash: event id -> entry id)
    KEYS[3]  counter         <prefix>{ns}:seq
    KEYS[4]  dedup keys      <prefix>{ns}:dedup    (zset: subject\\nkey -> expiry ms)
    KEYS[5]  confirmations   <prefix>{ns}:confirm:<inbox>  (only used when ARGV[2] > 0)
    ARGV[1]  dedup TTL, ms (0: keys are not recorded)
    ARGV[2]  confirmations wanted (0: none)
    ARGV[3]  TTL of the confirmation hash, ms
    ARGV[4]  number of events n
    ARGV[5]  retention: most entries kept (0: no bound)
    ARGV[6]  retention: oldest age kept, ms, by the entry id's time (0: no bound)
    ARGV[7…] per event, 8 values: id, subject, created_at, key, trace id, response subject, payload,
             trace context
  Reply: { entry id 1, …, entry id n, counter after the last }.
  Errors: DUPLICATE <i> <subject> — event i (0-based) has a key already published on its subject.
]]${kPutLua}
local ttl = tonumber(ARGV[1])
local n = tonumber(ARGV[4])
local now = clock()
local dup, anyKey = duplicate(7, n, now)
if dup then return redis.error_reply('DUPLICATE ' .. dup .. ' ' .. ARGV[7 + dup * 8 + 1]) end
if anyKey and ttl > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now) end
local reply = {}
for i = 0, n - 1 do reply[#reply + 1] = append(7 + i * 8, ttl, now) end
local want = tonumber(ARGV[2])
if want > 0 then
  redis.call('HSET', KEYS[5], 'want', want)
  redis.call('PEXPIRE', KEYS[5], tonumber(ARGV[3]))
end
reply[#reply + 1] = redis.call('INCRBY', KEYS[3], n)
trim(n, tonumber(ARGV[5]), tonumber(ARGV[6]), now)
return reply
`,
})

/**
 * Publishes the puts of one tick into a namespace, in their order, each one (an event or a batch) all
 * or nothing on its own: a put with a duplicate key is refused and the others go on, as if each had been
 * its own `busPut-5` without confirmations. The stream is trimmed once, for all of them.
 */
export const busAppend = defineScript({
  name: 'busAppend-4',
  numberOfKeys: 4,
  lua: `--[[
  busAppend-4: appends several puts to a namespace's stream, each refused alone on a duplicate key, then
  trims the stream to its retention.
    KEYS[1]  stream          <prefix>{ns}:log
    KEYS[2]  event ids       <prefix>{ns}:ids      (hash: event id -> entry id)
    KEYS[3]  counter         <prefix>{ns}:seq
    KEYS[4]  dedup keys      <prefix>{ns}:dedup    (zset: subject\\nkey -> expiry ms)
    ARGV[1]  dedup TTL, ms (0: keys are not recorded)
    ARGV[2]  retention: most entries kept (0: no bound)
    ARGV[3]  retention: oldest age kept, ms, by the entry id's time (0: no bound)
    ARGV[4]  number of puts
    ARGV[5…] per put: its number of events n, then per event 8 values: id, subject, created_at, key,
             trace id, response subject, payload, trace context
  Reply: per put, in order, { counter after its last event, entry id 1, …, entry id n }, or
         { 'DUPLICATE', i } when its event i (0-based) has a key already published on its subject.
]]${kPutLua}
local ttl = tonumber(ARGV[1])
local puts = tonumber(ARGV[4])
local now = clock()
local replies = {}
local appended = 0
local pruned = false
local b = 5
for p = 1, puts do
  local n = tonumber(ARGV[b])
  local first = b + 1
  local dup, anyKey = duplicate(first, n, now)
  if dup then
    replies[p] = { 'DUPLICATE', dup }
  else
    if anyKey and ttl > 0 and not pruned then
      redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
      pruned = true
    end
    local ids = { 0 }
    for i = 0, n - 1 do ids[i + 2] = append(first + i * 8, ttl, now) end
    replies[p] = ids
    appended = appended + n
  end
  b = first + n * 8
end
if appended > 0 then
  local seq = redis.call('INCRBY', KEYS[3], appended)
  for p = puts, 1, -1 do
    local r = replies[p]
    if r[1] ~= 'DUPLICATE' then
      r[1] = seq
      seq = seq - (#r - 1)
    end
  end
  trim(appended, tonumber(ARGV[2]), tonumber(ARGV[3]), now)
end
return replies
`,
})

/**
 * Records that a consumer acked an event with a response subject (a \`confirm\` put, or a publisher
 * over HTTP doing its own confirm), once per consumer id, and the first time publishes the confirmation
 * record (\`key\` = the consumer id, no payload) on the inbox's channel. The channel is an argument, not
 * a key: it names no slot of its namespace, and a Redis Cluster refuses a script whose keys span slots.
 */
export const busConfirm = defineScript({
  name: 'busConfirm-1',
  numberOfKeys: 1,
  lua: `--[[
  busConfirm-1: records a consumer's ack of an event that has a response subject, once per consumer.
    KEYS[1]  confirmations   <prefix>{ns}:confirm:<inbox>   (hash: [want], then one field per consumer)
    ARGV[1]  consumer id
    ARGV[2]  the record to publish
    ARGV[3]  TTL of the hash when this call creates it, ms
    ARGV[4]  inbox channel   <prefix>inbox:_bus_.<name>     (with the client's key prefix)
  Reply: the number of distinct consumers that acked.
]]
if redis.call('HSETNX', KEYS[1], ARGV[1], '1') == 1 then
  if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3])) end
  redis.call('PUBLISH', ARGV[4], ARGV[2])
end
return redis.call('HLEN', KEYS[1]) - redis.call('HEXISTS', KEYS[1], 'want')
`,
})

/** Moves a durable consumer's cursor forward (never back). */
export const busCursor = defineScript({
  name: 'busCursor-1',
  numberOfKeys: 1,
  lua: `--[[
  busCursor-1: advances a durable consumer's cursor.
    KEYS[1]  durable   <prefix>{ns}:durable:<name>   (hash: cursor, pattern)
    ARGV[1]  entry id done
    ARGV[2]  the consumer's pattern
  Reply: the cursor after the call.
]]
local function parts(id)
  local dash = string.find(id, '-', 1, true)
  if not dash then return tonumber(id), 0 end
  return tonumber(string.sub(id, 1, dash - 1)), tonumber(string.sub(id, dash + 1))
end
local cur = redis.call('HGET', KEYS[1], 'cursor')
if cur then
  local cm, cs = parts(cur)
  local nm, ns = parts(ARGV[1])
  if nm < cm or (nm == cm and ns <= cs) then return cur end
end
redis.call('HSET', KEYS[1], 'cursor', ARGV[1], 'pattern', ARGV[2])
return ARGV[1]
`,
})
