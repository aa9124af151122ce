/**
 * The bus's Lua scripts (conventions in `../scripts.ts`). Keys: `keys.ts`; entry fields: `entry.ts`.
 */
import { defineScript } from '../scripts.js'

/**
 * Publishes one event or a batch into a namespace, atomically: either every event is appended or none.
 * Dedup keys live in a sorted set (member `<subject>\n<key>`, score = expiry in ms of the server's
 * clock), so they survive restarts and expire exactly; Redis 7.0 has no per-field TTL on hashes.
 *
 * Retention (the bus's `maxLen` / `maxAgeMs`): after appending, the call drops the oldest entries past
 * either bound, with their event ids, up to 64 more than it appended — so a stream that was larger when
 * retention was turned on comes down over the following puts, and no put does unbounded work.
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
]]
local ttl = tonumber(ARGV[1])
local n = tonumber(ARGV[4])
local kFirst = 7
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local seen = {}
local anyKey = false
for i = 0, n - 1 do
  local b = kFirst + i * 8
  local key = ARGV[b + 3]
  if key ~= '' then
    anyKey = true
    local member = ARGV[b + 1] .. '\\n' .. key
    local score = redis.call('ZSCORE', KEYS[4], member)
    if seen[member] or (score and tonumber(score) > now) then
      return redis.error_reply('DUPLICATE ' .. i .. ' ' .. ARGV[b + 1])
    end
    seen[member] = true
  end
end
if anyKey and ttl > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now) end
local reply = {}
local fields = { 'k', 't', 'r', 'p', 'x' }
for i = 0, n - 1 do
  local b = kFirst + i * 8
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
  reply[#reply + 1] = id
end
local want = tonumber(ARGV[2])
if want > 0 then
  redis.call('HSET', KEYS[5], 'want', want)
  redis.call('PEXPIRE', KEYS[5], tonumber(ARGV[3]))
end
reply[#reply + 1] = redis.call('INCRBY', KEYS[3], n)
local maxLen = tonumber(ARGV[5])
local maxAge = tonumber(ARGV[6])
if maxLen > 0 or maxAge > 0 then
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
return reply
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
