/**
 * `pulse server` (the built binary) serves one registry at `/metrics`: the process's default metrics,
 * the job gauges read at scrape time, and the counters of the queue and the bus it opened; its
 * operational log is JSON lines (stdout is not a terminal), between the banner and the stop lines.
 */
import { randomUUID } from 'node:crypto'

import { afterAll, beforeAll, expect, it } from 'vitest'

import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.js'
import { redisUrl } from '../../helpers/servers.js'
import { request } from '../http/helpers.js'
import { startServer } from '../server/helpers.js'

let db: TestDatabase
beforeAll(async () => {
  db = await createTestDatabase()
})
afterAll(async () => {
  await db?.drop()
})

it('serves the default metrics, the job gauges and the library counters on one registry', async () => {
  const namespace = `m${randomUUID().slice(0, 8)}`
  const server = await startServer({ DATABASE_URL: db.url, REDIS_URL: redisUrl(), PULSE_BUS_NAMESPACES: namespace })
  try {
    const submitted = await request(`${server.url}/api/v1/jobs`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'scraped', args: {} }),
    })
    expect(submitted.status).toBe(201)
    const published = await request(`${server.url}/`, {
      method: 'POST',
      body: JSON.stringify({ subject: `${namespace}.x`, payload: 1 }),
    })
    expect(published.status).toBe(202)

    const { status, body } = await request(`${server.url}/metrics`)
    expect(status).toBe(200)
    expect(body).toMatch(/^process_cpu_user_seconds_total \d/m)
    expect(body).toMatch(/^pulse_jobs\{name="scraped",status="pending"\} 1$/m)
    expect(body).toMatch(/^pulse_jobs_enqueued_total\{name="scraped"\} 1$/m)
    expect(body).toMatch(new RegExp(`^pulse_bus_events_published_total\\{namespace="${namespace}"\\} 1$`, 'm'))
  } finally {
    expect(await server.stop()).toBe(0)
  }
  expect(server.lines.at(-1)).toBe('stopped')
  const logged = server.lines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { msg: string })
  expect(logged.map((entry) => entry.msg)).toEqual(expect.arrayContaining(['closing the job queue', 'closing the bus']))
})
