/**
 * The `set`s of one tick go to Redis together (actors/rmap/set-queue.ts): one `rmapSetMany-2` call, split
 * past `kMaxSets`, each set keeping its own revision, frame and previous value, and every write of the map
 * reaching Redis in the order it was made. The calls are counted with Redis's MONITOR.
 */
import type { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'

import { ReplicatedMap } from '../../../actors/rmap/index.js'
import { kMaxSets } from '../../../actors/rmap/set-queue.js'
import { scriptCallsOn } from '../../helpers/redis.js'
import { redisUrl } from '../../helpers/servers.js'
import { captureFrames, dropMap, hashContent, mapName, plainClient, until } from './helpers.js'

let raw: Redis
const names: string[] = []

beforeAll(async () => {
  raw = plainClient(redisUrl())
  await raw.ping()
})

afterEach(async () => {
  await Promise.all(names.splice(0).map((n) => dropMap(raw, n)))
})

afterAll(async () => {
  await raw.quit()
})

function frame(op: 'set' | 'del', ...fields: string[]): string {
  return `${op}:${fields.map((f) => `${Buffer.byteLength(f)}:${f}`).join('|')}`
}

/** A frame as `op:len:field|len:field…`, for readable comparisons. */
function readable(payload: Buffer): string {
  const op = payload.subarray(0, 3).toString()
  if (op !== 'set' && op !== 'del') return payload.toString()
  const fields: string[] = []
  for (let at = 4; at < payload.length;) {
    const length = payload.readUInt32LE(at)
    fields.push(payload.subarray(at + 4, at + 4 + length).toString())
    at += 4 + length
  }
  return frame(op, ...fields)
}

async function opened(options?: { slidingTtlMs?: number }): Promise<{ name: string; map: ReplicatedMap }> {
  const name = mapName()
  names.push(name)
  const map = await ReplicatedMap.join(redisUrl(), name, options)
  await map.set('warm', '0') // loads the script: the calls counted below are the writes only
  return { name, map }
}

describe('sets of one tick', () => {
  it('go in one script call, each with its own revision, frame and previous value', async () => {
    const { name, map } = await opened()
    const capture = await captureFrames(redisUrl(), `map:${name}:updates`)
    try {
      await map.set('a', 'old')
      let prevs: (string | undefined)[] = []
      const calls = await scriptCallsOn(`map:${name}:content`, async () => {
        prevs = await Promise.all([map.set('a', '1'), map.set('b', '2'), map.set('a', '3'), map.set('c', '')])
      })
      expect(calls).toBe(1)
      expect(prevs).toEqual(['old', undefined, '1', undefined])
      const frames = (await capture.next(5)).map(readable)
      expect(frames).toEqual([
        frame('set', 'a', 'old', '2'),
        frame('set', 'a', '1', '3'),
        frame('set', 'b', '2', '4'),
        frame('set', 'a', '3', '5'),
        frame('set', 'c', '', '6'),
      ])
      expect(await raw.hmget(`map:${name}:content`, '=rev', '=kind')).toEqual(['6', 'set'])
      expect(await hashContent(raw, name)).toEqual({ warm: '0', a: '3', b: '2', c: '' })
      await until(map, () => map.revision === 6)
      expect(map.toObject()).toEqual({ warm: '0', a: '3', b: '2', c: '' })
    } finally {
      await map.close()
      await capture.close()
    }
  })

  it('stay in order with the other writes of the tick', async () => {
    const { name, map } = await opened()
    // A script's first call on a server goes again after SCRIPT LOAD, behind the writes sent meanwhile:
    // load these first, so that the order seen is the queue's.
    await map.delete('missing')
    await map.inc('n', 0)
    const capture = await captureFrames(redisUrl(), `map:${name}:updates`)
    try {
      const [first, deleted, second, counted, third] = await Promise.all([
        map.set('k', 'a'),
        map.delete('k'),
        map.set('k', 'b'),
        map.inc('n', 2),
        map.setAndWait('k', 'c'),
      ])
      expect([first, deleted, second, counted, third]).toEqual([undefined, 'a', undefined, 2, 'b'])
      expect((await capture.next(5)).map(readable)).toEqual([
        frame('set', 'k', 'a', '3'),
        frame('del', 'k', '4'),
        frame('set', 'k', 'b', '5'),
        frame('set', 'n', '2', '6'),
        frame('set', 'k', 'c', '7'),
      ])
      expect(map.get('k')).toBe('c')
    } finally {
      await map.close()
      await capture.close()
    }
  })

  it('split past kMaxSets, in order, and keep the TTL', async () => {
    const { name, map } = await opened({ slidingTtlMs: 60_000 })
    try {
      const count = kMaxSets + 3
      let prevs: (string | undefined)[] = []
      const calls = await scriptCallsOn(`map:${name}:content`, async () => {
        prevs = await Promise.all(Array.from({ length: count }, (_, i) => map.set(`k${i % 7}`, String(i))))
      })
      expect(calls).toBe(2)
      expect(prevs).toEqual(Array.from({ length: count }, (_, i) => (i < 7 ? undefined : String(i - 7))))
      expect(await raw.hget(`map:${name}:content`, '=rev')).toBe(String(count + 1))
      const ttl = await raw.pttl(`map:${name}:content`)
      expect(ttl).toBeGreaterThan(0)
      expect(ttl).toBeLessThanOrEqual(60_000)
      await until(map, () => map.revision === count + 1)
      expect(map.get('k0')).toBe(String(count - 1 - ((count - 1) % 7)))
    } finally {
      await map.close()
    }
  })

  it('made before close() are sent', async () => {
    const { name, map } = await opened()
    const set = map.set('last', 'x')
    await map.close()
    await expect(set).resolves.toBeUndefined()
    expect(await raw.hget(`map:${name}:content`, 'last')).toBe('x')
    await expect(map.set('after', 'x')).rejects.toThrow(/after close/)
  })
})
