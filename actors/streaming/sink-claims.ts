/**
 * Redelivery of idle events, and how an instance keeps the events it holds.
 *
 * - `claimIdle`: XAUTOCLAIM of every entry idle for ≥ the grace period, to this instance, with their
 *   delivery counts (XPENDING, since XAUTOCLAIM does not return them). Only the holder of the sink's
 *   idle-check lease runs it, once per period, as in v1.6.5.
 * - `setHeldIdle`: while the caller's thread is busy (a handler blocking its event loop), the actor resets
 *   the idle time of the events this instance holds — only those still pending for THIS consumer, so an
 *   event another instance has already claimed is never taken back. `XCLAIM … JUSTID` does not bump the
 *   delivery count.
 */
import type { Redis } from 'ioredis'

import { defineScript } from '../../transports/redis/scripts.js'
import { parseEntries, type StreamBatch } from './cursor.js'

export interface ClaimedBatch extends StreamBatch {
  /** Delivery count per claimed entry id. */
  readonly deliveries: ReadonlyMap<string, number>
}

/** Claims up to `limit` entries idle for `graceMs` or more; `limit` 0 claims nothing. */
export async function claimIdle(
  client: Redis,
  key: string,
  sink: string,
  consumer: string,
  graceMs: number,
  limit: number,
): Promise<ClaimedBatch> {
  const rows: unknown[] = []
  let cursor = '0-0'
  while (rows.length < limit) {
    const reply = (await client.callBuffer(
      'XAUTOCLAIM',
      key,
      sink,
      consumer,
      graceMs,
      cursor,
      'COUNT',
      Math.min(100, limit - rows.length),
    )) as unknown[]
    const next = String(reply[0])
    if (Array.isArray(reply[1])) rows.push(...(reply[1] as unknown[]))
    if (next === '0-0') break
    cursor = next
  }
  const batch = parseEntries(key, rows)
  const ids = [...batch.entries.map((e) => e.id), ...batch.malformed]
  const deliveries = new Map<string, number>()
  if (ids.length > 0) {
    const pending = await client.xpending(key, sink, ids[0] ?? '-', ids.at(-1) ?? '+', ids.length, consumer)
    for (const row of pending) {
      if (Array.isArray(row)) deliveries.set(String(row[0]), Number(row[3]))
    }
  }
  return { ...batch, deliveries }
}

const kExtendHeld = defineScript({
  name: 'sinkExtendHeld-1',
  numberOfKeys: 1,
  lua: `--[[
  sinkExtendHeld-1: sets the idle time of the entries still pending for this consumer.
    KEYS[1] the stream   ARGV[1] group (sink)   ARGV[2] consumer   ARGV[3] idle ms   ARGV[4..] entry ids
  Reply: the ids still pending for this consumer (the others were acked or claimed by another).
]]
local key, group, consumer, idle = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local mine = {}
for i = 4, #ARGV do
  local row = redis.call('XPENDING', key, group, ARGV[i], ARGV[i], 1)[1]
  if row and row[2] == consumer then table.insert(mine, ARGV[i]) end
end
if #mine > 0 then
  local args = { key, group, consumer, 0 }
  for _, id in ipairs(mine) do table.insert(args, id) end
  table.insert(args, 'IDLE'); table.insert(args, idle); table.insert(args, 'JUSTID')
  redis.call('XCLAIM', unpack(args))
end
return mine
`,
})

/**
 * Sets the idle time of the entries of `ids` this consumer still holds: `0` keeps them here for another
 * grace period; a large value hands them over (the next idle check of any instance claims them).
 * Resolves the ids still held.
 */
export async function setHeldIdle(
  client: Redis,
  key: string,
  sink: string,
  consumer: string,
  ids: readonly string[],
  idleMs = 0,
): Promise<string[]> {
  if (ids.length === 0) return []
  const mine: string[] = []
  // Lua's unpack has a stack limit: a few thousand ids per call.
  for (let i = 0; i < ids.length; i += 2_000) {
    const reply = (await kExtendHeld.run(
      client,
      [key],
      [sink, consumer, idleMs, ...ids.slice(i, i + 2_000)],
    )) as string[]
    mine.push(...reply)
  }
  return mine
}
