// The overview, streams, pools, maps and runtime pages in headless Chromium: no serious accessibility
// violations, no console errors (the CSP lets the chart and the live updates run), and a live fragment
// swapped into the page after a change.
import { randomUUID } from 'node:crypto'

import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { JobQueue } from '../../actors/jobs/index.js'
import { PoolNode } from '../../actors/pool/index.js'
import { ReplicatedMap } from '../../actors/rmap/index.js'
import { Stream } from '../../actors/streaming/index.js'
import { seriousA11yViolations, useBrowser } from '../helpers/browser.js'
import { createTestDatabase, filePool, type TestDatabase } from '../helpers/postgres.js'
import { deleteByPrefix, useRawRedis } from '../helpers/redis.js'
import { redisUrl } from '../helpers/servers.js'
import { kFast, recorder } from '../integration/pool/helpers.js'
import { type RunningServer, startServer } from '../integration/server/helpers.js'

const browser = useBrowser()
const raw = useRawRedis()
const tag = `e2e${randomUUID().slice(0, 8)}`
let db: TestDatabase
let server: RunningServer
let queue: JobQueue
let pool: pg.Pool | undefined
let stream: Stream
let map: ReplicatedMap
let node: PoolNode
let workerId = ''

beforeAll(async () => {
  db = await createTestDatabase()
  pool = filePool(db.url)
  queue = await JobQueue.connect({ pg: pool })
  queue.register('e2e-report', () => 'ok')
  await queue.start({ concurrency: 2, schedules: false })
  const done = new Promise((resolve) => queue.events.once('completed', resolve))
  await queue.enqueue('e2e-report', {})
  await queue.enqueue('e2e-waiting', {}, { delayMs: 60_000 })
  // No worker takes it: the overview warns (and axe checks the warnings too).
  await queue.enqueue('e2e-orphan', {}, { runAt: new Date(Date.now() - 120_000) })
  await done
  stream = new Stream(redisUrl(), `${tag}-events`)
  await stream.add('created', '{"id":1}')
  map = await ReplicatedMap.join(redisUrl(), `${tag}-config`)
  await map.set('greeting', '<b>hello</b>')
  node = await PoolNode.join(redisUrl(), `${tag}-pool`, kFast)
  workerId = (await node.addWorker(recorder())).id
  server = await startServer({ DATABASE_URL: db.url, REDIS_URL: redisUrl() })
})

afterAll(async () => {
  expect(await server?.stop()).toBe(0)
  await node?.close()
  await map?.close()
  await stream?.close()
  await queue?.close()
  await pool?.end()
  await db?.drop()
  for (const prefix of [`pulse:stream:${tag}`, `map:${tag}`, `pulse:stream:worker:${workerId}`])
    await deleteByPrefix(raw, prefix)
})

describe('dashboard pages in a browser', () => {
  const pages = () => [
    '/ui/',
    '/ui/streams',
    `/ui/streams/${encodeURIComponent(stream.name)}`,
    '/ui/pools',
    `/ui/pools/${encodeURIComponent(`${tag}-pool`)}`,
    '/ui/maps',
    `/ui/maps/${encodeURIComponent(map.name)}`,
    '/ui/runtime',
  ]

  it('renders each page with one h1, no serious accessibility violation and no console error', async () => {
    const { page, errors } = await browser.open()
    for (const path of pages()) {
      await page.goto(`${server.url}${path}`)
      expect(await page.locator('h1').count(), path).toBe(1)
      expect(await seriousA11yViolations(page), path).toEqual([])
    }
    expect(errors).toEqual([])
  })

  it('draws the throughput chart and swaps a map’s live fragment in after a set', async () => {
    const { page, errors } = await browser.open()
    await page.goto(`${server.url}/ui/`)
    await expect.poll(() => page.locator('.chart canvas').count()).toBeGreaterThan(0)
    expect(await page.getByRole('list', { name: 'Warnings' }).textContent()).toContain('No worker for "e2e-orphan"')
    await page.goto(`${server.url}/ui/maps/${encodeURIComponent(map.name)}`)
    expect(await page.textContent('main')).toContain('<b>hello</b>')
    await map.set('colour', 'blue')
    await expect.poll(() => page.textContent('main'), { timeout: 10_000 }).toContain('colour')
    expect(errors).toEqual([])
  })
})
