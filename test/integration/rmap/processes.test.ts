/**
 * Two PROCESSES share a map: this test process and a child (test/fixtures/rmap/writer.ts) both write
 * 1,000 times at once, and their replicas end up equal to each other and to the hash.
 */
import { createHash } from 'node:crypto'

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Redis } from 'ioredis'

import { ReplicatedMap } from '../../../actors/rmap/index.js'
import { spawnTs } from '../../helpers/child.js'
import { redisUrl } from '../../helpers/servers.js'
import { dropMap, hashContent, mapName, plainClient, until } from './helpers.js'

const fixture = new URL('../../fixtures/rmap/writer.ts', import.meta.url).pathname

let raw: Redis

beforeAll(async () => {
  raw = plainClient(redisUrl())
  await raw.ping()
})

afterAll(async () => {
  await raw.quit()
})

function digest(content: Record<string, string>): string {
  const entries = Object.entries(content).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return createHash('sha256').update(JSON.stringify(entries)).digest('hex')
}

describe('two processes', () => {
  it('converge after 1,000 concurrent writes from each', async () => {
    const name = mapName('procs')
    const count = 1_000
    const map = await ReplicatedMap.join(redisUrl(), name)
    try {
      const child = spawnTs(fixture, [JSON.stringify({ url: redisUrl(), name, who: 'child', other: 'parent', count })])
      await child.waitForLine(/^joined$/, 30_000)
      await map.set('go', '1')
      // The same mix of writes as the child's, at the same time.
      let next = 0
      const worker = async () => {
        while (next < count) {
          const i = next++
          if (i % 4 === 0) await map.set(`parent-${i}`, String(i))
          else if (i % 4 === 1) await map.set(`shared-${i % 16}`, `parent-${i}`)
          else if (i % 4 === 2) await map.inc('counter')
          else await map.delete(`parent-${i - 3}`)
        }
      }
      await Promise.all(Array.from({ length: 16 }, worker))
      await map.setAndWait('done-parent', '1')
      await until(map, () => map.has('done-child'), 30_000, 'the child to finish')

      const line = await child.waitForLine(/^digest /, 30_000)
      expect(await child.exited, child.lines.join('\n')).toBe(0)
      const truth = await hashContent(raw, name)
      expect(truth.counter).toBe(String(2 * (count / 4)))
      expect(Object.keys(truth).filter((k) => k.startsWith('shared-'))).toHaveLength(4)
      expect(map.toObject()).toEqual(truth)
      expect(line).toBe(`digest ${digest(truth)} ${Object.keys(truth).length}`)
    } finally {
      await map.close()
      await dropMap(raw, name)
    }
  }, 60_000)
})
