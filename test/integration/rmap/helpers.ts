/** Helpers of the rmap tests: event-driven waits on a replica, unique map names, cleanup. */
import { randomUUID } from 'node:crypto'

import { Redis } from 'ioredis'

import type { ReplicatedMap } from '../../../actors/rmap/index.js'
import { withTimeout } from '../../../runtime/lifecycle.js'
import { deleteByPrefix } from '../../helpers/redis.js'

/** A map name under the test's key prefix: its hash is `map:<prefix>…:content`. */
export function mapName(label = 'm'): string {
  return `t:${randomUUID().slice(0, 8)}:${label}`
}

/** Deletes a map's keys (`map:<name>:*`). */
export async function dropMap(client: Redis, name: string): Promise<void> {
  await deleteByPrefix(client, `map:${name}:`)
}

/** Resolves once `predicate()` holds, re-checking on each change of `map`; rejects after `ms`. */
export async function until(
  map: ReplicatedMap,
  predicate: () => boolean,
  ms = 10_000,
  what = 'the condition',
): Promise<void> {
  const feed = map.subscribe()
  try {
    if (predicate()) return
    const reached = (async () => {
      for await (const _ of feed) {
        if (predicate()) return
      }
      if (!predicate()) throw new Error(`the map closed before ${what}`)
    })()
    await withTimeout(
      reached,
      ms,
      () => new Error(`${what} did not hold within ${ms} ms (rev ${map.revision}, size ${map.size})`),
    )
  } finally {
    await feed.return()
  }
}

/** Runs `count` tasks with at most `concurrency` in flight. */
export async function runConcurrently(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < count) {
      const i = next++
      await task(i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
}

/** The user content of a map's hash (without `=rev`/`=kind`). */
export async function hashContent(client: Redis, name: string): Promise<Record<string, string>> {
  const raw = await client.hgetall(`map:${name}:content`)
  delete raw['=rev']
  delete raw['=kind']
  return raw
}

/** A plain ioredis client (no Pulse wrapper), for what a test does behind the map's back. */
export function plainClient(url: string): Redis {
  const client = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 })
  client.on('error', () => {})
  return client
}

/** Collects the raw Buffer payloads published on a channel, with a dedicated subscriber. */
export async function captureFrames(
  url: string,
  channel: string,
): Promise<{ frames: Buffer[]; next(count: number, ms?: number): Promise<Buffer[]>; close(): Promise<void> }> {
  const sub = plainClient(url)
  const frames: Buffer[] = []
  const waiters: { count: number; resolve: () => void }[] = []
  sub.on('messageBuffer', (ch: Buffer, payload: Buffer) => {
    if (ch.toString() !== channel) return
    frames.push(payload)
    for (const w of waiters.filter((x) => frames.length >= x.count)) {
      waiters.splice(waiters.indexOf(w), 1)
      w.resolve()
    }
  })
  await sub.subscribe(channel)
  let taken = 0
  return {
    frames,
    /** The next `count` frames after those already taken. */
    async next(count, ms = 5_000) {
      const target = taken + count
      if (frames.length < target) {
        await withTimeout(
          new Promise<void>((resolve) => waiters.push({ count: target, resolve })),
          ms,
          () => new Error(`expected ${target} frames on ${channel}, got ${frames.length}`),
        )
      }
      const out = frames.slice(taken, target)
      taken = target
      return out
    },
    async close() {
      await sub.quit().catch(() => sub.disconnect())
    },
  }
}
