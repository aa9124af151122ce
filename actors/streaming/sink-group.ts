/**
 * A sink's membership in Redis, as v1.6.5 lays it out (docs/redis-layout.md, "Sinks"): the consumer
 * group named after the sink on each stream, one consumer per instance, the instance listed in the
 * stream's sinks map and its keep-alive in the sink's keep-alive map (both replicated maps, written with
 * the rmap scripts so replicas — Go ones too — hear of it).
 *
 * Stale consumers are removed more carefully than v1.6.5 does: only a consumer whose keep-alive is
 * older than 2 × the grace period (or missing while Redis saw it idle that long) AND that has nothing
 * pending. Deleting a consumer drops its pending entries (redis/redis#9745), so a dead consumer's
 * entries are first claimed by the idle check (after 1 × grace) and the consumer goes on a later pass.
 *
 * Every key is made with the sink's key layout (its streams'): in the `cluster` layout a stream and its
 * sinks map share a slot, and each script touches the keys of one map (its content and channel).
 */
import type { Redis } from 'ioredis'

import type { KeyLayout } from '../../transports/redis/key-layout.js'
import { classifyRedisError } from '../../transports/redis/errors.js'
import { contentKey, updatesChannel } from '../../transports/redis/rmap/keys.js'
import { kMapScripts } from '../../transports/redis/rmap/scripts.js'
import { keepAliveMapName, sinksMapName, streamKey } from '../../transports/redis/streaming/keys.js'

export interface StreamTtl {
  readonly ttlMs: number
  readonly mode: 'absolute' | 'sliding'
}

export interface SinkStartArgs {
  readonly sink: string
  /** This instance's consumer name (a ULID). */
  readonly consumer: string
  /** Streams and the id their group starts at when this instance creates it. */
  readonly streams: readonly { readonly name: string; readonly start: string; readonly ttl: StreamTtl }[]
  readonly ackGracePeriodMs: number
  /** The layout of the streams' and the sink's keys (every stream of a sink has the same). */
  readonly keyLayout: KeyLayout
}

function mapKeys(map: string, layout: KeyLayout): [string, string] {
  return [contentKey(map, layout), updatesChannel(map, layout)]
}

/** Creates the group (when missing), this instance's consumer, and lists it in the sinks map. */
export async function joinGroup(
  client: Redis,
  sink: string,
  consumer: string,
  stream: string,
  start: string,
  ttl: StreamTtl,
  layout: KeyLayout,
): Promise<void> {
  const key = streamKey(stream, layout)
  await createGroup(client, key, sink, start)
  if (ttl.ttlMs > 0 && ttl.mode === 'absolute') await client.pexpire(key, ttl.ttlMs, 'NX')
  await client.xgroup('CREATECONSUMER', key, sink, consumer)
  await kMapScripts.appendUnique.run(client, mapKeys(sinksMapName(stream, layout), layout), [
    String(ttl.ttlMs),
    ttl.mode,
    sink,
    consumer,
  ])
}

/** XGROUP CREATE … MKSTREAM; an existing group is kept as it is (its cursor too). */
export async function createGroup(client: Redis, key: string, sink: string, start: string): Promise<void> {
  try {
    await client.xgroup('CREATE', key, sink, start, 'MKSTREAM')
  } catch (error) {
    if (classifyRedisError(error).reply !== 'BUSYGROUP') throw error
  }
}

/** Unlists this instance from the stream; the last instance to leave destroys the group. */
export async function leaveGroup(
  client: Redis,
  sink: string,
  consumer: string,
  stream: string,
  ttl: StreamTtl,
  layout: KeyLayout,
): Promise<void> {
  const reply = (await kMapScripts.remove.run(client, mapKeys(sinksMapName(stream, layout), layout), [
    String(ttl.ttlMs),
    ttl.mode,
    sink,
    consumer,
  ])) as unknown[]
  const left = reply[0] === 0 || reply[0] === 3
  if (left) await client.xgroup('DESTROY', streamKey(stream, layout), sink)
}

/** `keepalive[consumer] = now` in unix nanoseconds, as v1.6.5 writes it. */
export async function writeKeepAlive(client: Redis, sink: string, consumer: string, layout: KeyLayout): Promise<void> {
  const nanos = (BigInt(Date.now()) * 1_000_000n).toString()
  await kMapScripts.set.run(client, mapKeys(keepAliveMapName(sink, layout), layout), ['0', 'sliding', consumer, nanos])
}

/** Removes this instance's keep-alive (when it closes). */
export async function dropKeepAlive(client: Redis, sink: string, consumer: string, layout: KeyLayout): Promise<void> {
  await kMapScripts.delete.run(client, mapKeys(keepAliveMapName(sink, layout), layout), ['0', 'sliding', consumer])
}

interface ConsumerInfo {
  readonly name: string
  readonly pending: number
  readonly idleMs: number
}

/** Deletes the stale consumers of other instances on `stream` (see the module comment); resolves how many. */
export async function removeStaleConsumers(
  client: Redis,
  sink: string,
  self: string,
  stream: string,
  graceMs: number,
  ttl: StreamTtl,
  layout: KeyLayout,
): Promise<number> {
  const key = streamKey(stream, layout)
  let consumers: ConsumerInfo[]
  try {
    consumers = parseConsumers(await client.xinfo('CONSUMERS', key, sink))
  } catch (error) {
    if (classifyRedisError(error).reply === 'NOGROUP') return 0
    throw error
  }
  const others = consumers.filter((c) => c.name !== self)
  if (others.length === 0) return 0
  const keepAlives = await client.hmget(
    contentKey(keepAliveMapName(sink, layout), layout),
    ...others.map((c) => c.name),
  )
  const now = Date.now()
  let removed = 0
  for (const [i, consumer] of others.entries()) {
    const seenMs = keepAliveMs(keepAlives[i])
    const ageMs = seenMs === undefined ? consumer.idleMs : now - seenMs
    if (ageMs <= 2 * graceMs || consumer.pending > 0) continue
    // Unlisted first, deleted last: whoever sees the consumer gone from the group sees it gone from the maps.
    await kMapScripts.remove.run(client, mapKeys(sinksMapName(stream, layout), layout), [
      String(ttl.ttlMs),
      ttl.mode,
      sink,
      consumer.name,
    ])
    if (keepAlives[i] !== null) await dropKeepAlive(client, sink, consumer.name, layout)
    await client.xgroup('DELCONSUMER', key, sink, consumer.name)
    removed++
  }
  return removed
}

/** A keep-alive value (unix nanoseconds as text) in ms; undefined when missing or not a number. */
function keepAliveMs(value: string | null | undefined): number | undefined {
  if (value === null || value === undefined || !/^\d{1,25}$/.test(value)) return undefined
  return Number(BigInt(value) / 1_000_000n)
}

function parseConsumers(reply: unknown): ConsumerInfo[] {
  if (!Array.isArray(reply)) return []
  return (reply as unknown[]).flatMap((row) => {
    if (!Array.isArray(row)) return []
    const fields = new Map<string, unknown>()
    for (let i = 0; i + 1 < row.length; i += 2) fields.set(String(row[i]), row[i + 1])
    const name = fields.get('name')
    if (typeof name !== 'string') return []
    return [{ name, pending: Number(fields.get('pending') ?? 0), idleMs: Number(fields.get('idle') ?? 0) }]
  })
}
