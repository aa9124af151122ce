// Every example runs in CI: each `examples/**/main.ts` must exit 0 against the run's servers.
import { readdirSync } from 'node:fs'
import { join, relative } from 'node:path'

import { describe, expect, it } from 'vitest'

import { spawnTs } from '../helpers/child.js'
import { databaseUrl, redisClusterUrl, redisUrl } from '../helpers/servers.js'

const root = new URL('../../examples/', import.meta.url).pathname
const mains = readdirSync(root, { recursive: true, encoding: 'utf8' })
  .filter((file) => file.endsWith('main.ts'))
  .map((file) => join('examples', file))
  .sort()

describe('examples', () => {
  it('there are examples to run', () => {
    expect(mains.length).toBeGreaterThan(0)
  })

  for (const main of mains) {
    it(`${relative('examples', main)} runs to completion`, async () => {
      const child = spawnTs(main, [], {
        ...process.env,
        REDIS_URL: redisUrl(),
        REDIS_CLUSTER_URL: redisClusterUrl(),
        DATABASE_URL: databaseUrl(),
      })
      const code = await child.exited
      expect(code, child.lines.join('\n')).toBe(0)
    }, 60_000)
  }
})
