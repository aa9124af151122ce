/**
 * Convergence under races: the join window, slow subscribers, and revision regressions (the hash
 * deleted behind the replicas' backs), which v1.6.5 replicas ignore until the counter catches up
 * (docs/redis-layout.md, "Revisions").
 */
import type { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'

import { ReplicatedMap } from '../../../actors/rmap/index.js'
import { redisUrl } from '../../helpers/servers.js'
import { dropMap, hashContent, mapName, plainClient, runConcurrently, until } from './helpers.js'

let raw: Redis
const names: string[] = []
const open: ReplicatedMap[] = []

function name(label?: string): string {
  const n = mapName(label)
  names.push(n)
  return n
}

async function join(n: string): Promise<ReplicatedMap> {
  const map = await ReplicatedMap.join(redisUrl(), n)
  open.push(map)
  return map
}

beforeAll(async () => {
  raw = plainClient(redisUrl())
  await raw.ping()
})

afterEach(async () => {
  await Promise.all(open.splice(0).map((m) => m.close()))
  await Promise.all(names.splice(0).map((n) => dropMap(raw, n)))
})

afterAll(async () => {
  await raw.quit()
})

describe('the join window', () => {
  it('loses no write that races a join', async () => {
    const n = name()
    const writer = await join(n)
    const total = 3_000
    const joined: Promise<ReplicatedMap>[] = []
    // Every key is written once: a frame lost in a join window would leave that key missing for good.
    await runConcurrently(total, 16, async (i) => {
      await writer.set(`k${i}`, String(i))
      if (i % 400 === 200) joined.push(join(n))
    })
    const replicas = await Promise.all(joined)
    expect(replicas.length).toBeGreaterThanOrEqual(7)
    await writer.setAndWait('done', '1')
    const expected = await hashContent(raw, n)
    expect(Object.keys(expected)).toHaveLength(total + 1)
    for (const replica of replicas) {
      await until(replica, () => replica.get('done') === '1')
      expect(replica.toObject()).toEqual(expected)
      expect(replica.stats.regressions).toBe(0)
    }
    expect(writer.toObject()).toEqual(expected)
    // The windows were hit: frames published before a snapshot arrived after it and were filtered out.
    expect(replicas.some((replica) => replica.stats.ignored > 0)).toBe(true)
  })
})

describe('notifications', () => {
  it('a subscriber that never reads stalls nobody and holds one notification', async () => {
    const n = name()
    const a = await join(n)
    const b = await join(n)
    const idle = a.subscribe()
    const slow = b.subscribe()
    const before = process.memoryUsage().heapUsed
    await runConcurrently(5_000, 32, (i) => b.set(`k${i % 50}`, String(i)))
    await b.setAndWait('done', '1')
    await a.setAndWait('done', '2')
    await until(b, () => b.get('done') === '2')
    // Everything was applied, and each feed holds one coalesced notification, not thousands.
    expect(a.stats.applied).toBeGreaterThanOrEqual(5_002)
    expect(idle.queued).toBe(1)
    expect(idle.pending).toBe('change')
    expect(slow.queued).toBe(1)
    expect(await slow.next()).toEqual({ done: false, value: 'change' })
    expect(slow.queued).toBe(0)
    // A generous bound: 5,000 queued notifications would not be caught this way, but 5,000 retained
    // frames plus promises would be several MB; the point is the queued === 1 above.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 1024 * 1024)
    await a.delete('k1')
    await until(a, () => !a.has('k1'))
    expect(idle.pending).toBe('delete')
    await a.reset()
    await until(a, () => a.size === 0)
    expect(idle.pending).toBe('reset')
    await a.set('x', '1')
    await until(a, () => a.has('x'))
    expect(idle.pending).toBe('reset') // the strongest kind stays
    expect(await idle.next()).toEqual({ done: false, value: 'reset' })
    await idle.return()
    await slow.return()
  })
})

describe('revision regression', () => {
  it('replicas resync after the hash is deleted behind their backs, then converge', async () => {
    const n = name()
    const a = await join(n)
    const b = await join(n)
    await runConcurrently(50, 8, (i) => a.set(`old${i}`, 'x'))
    await a.setAndWait('marker', 'old')
    await until(b, () => b.get('marker') === 'old')
    const feed = b.subscribe()
    expect(b.revision).toBe(51)

    await raw.del(`map:${n}:content`) // the counter restarts at 1 on the next write
    await a.set('fresh', '1')
    await until(b, () => b.get('fresh') === '1' && b.size === 1)
    await until(a, () => a.get('fresh') === '1' && a.size === 1)
    expect(b.toObject()).toEqual({ fresh: '1' })
    expect(a.toObject()).toEqual({ fresh: '1' })
    expect(b.stats.regressions).toBe(1)
    expect(b.revision).toBe(1)
    expect((await feed.next()).value).toBe('reset')
    await feed.return()

    // Later writes replicate normally, in both directions.
    await b.set('after', '2')
    await a.set('after2', '3')
    await until(a, () => a.get('after') === '2' && a.get('after2') === '3')
    await until(b, () => b.get('after') === '2' && b.get('after2') === '3')
    expect(a.toObject()).toEqual(await hashContent(raw, n))
    expect(b.toObject()).toEqual(await hashContent(raw, n))
  })

  it('setAndWait across a regression resolves once the local copy holds the write', async () => {
    const n = name()
    const a = await join(n)
    await runConcurrently(20, 4, (i) => a.set(`old${i}`, 'x'))
    await a.setAndWait('marker', 'old')
    await raw.del(`map:${n}:content`)
    // Committed at rev 1, while this replica already held rev 21.
    expect(await a.setAndWait('fresh', 'v')).toBeUndefined()
    expect(a.get('fresh')).toBe('v')
    expect(a.toObject()).toEqual({ fresh: 'v' })
  })

  it('a flushed-and-rewritten map with a higher count of writes still converges', async () => {
    const n = name()
    const a = await join(n)
    const b = await join(n)
    await a.setAndWait('k', 'v')
    await until(b, () => b.get('k') === 'v')
    await raw.del(`map:${n}:content`)
    // The new generation overtakes the old revision before anyone reads.
    await runConcurrently(10, 1, (i) => a.set(`g2-${i}`, String(i)))
    await a.setAndWait('done', '1')
    await until(b, () => b.get('done') === '1')
    expect(b.toObject()).toEqual(await hashContent(raw, n))
    expect(b.has('k')).toBe(false)
  })
})
