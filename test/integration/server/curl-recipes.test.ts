// The README's curl recipes for the jobs API ("Operating Pulse"), run with curl as a user would
// against `pulse server`: each answers 2xx, and together they cover every route of the API.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'

import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { every, JOBS_API_ROUTES, JobQueue } from '../../../actors/jobs/index.js'
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.js'
import { redisUrl } from '../../helpers/servers.js'
import { type RunningServer, startServer } from './helpers.js'

const run = promisify(execFile)

function recipes(): string[] {
  const readme = readFileSync('README.md', 'utf8')
  const block = /<!-- curl-recipes:start -->([\s\S]*?)<!-- curl-recipes:end -->/.exec(readme)?.[1] ?? ''
  return block.split('\n').filter((line) => line.startsWith('curl '))
}

/** The route a recipe calls: its method (-X, else POST with -d, else GET) and its path with `:id`. */
function routeOf(recipe: string): string {
  const method = /-X (\w+)/.exec(recipe)?.[1] ?? (recipe.includes(' -d ') ? 'POST' : 'GET')
  const path = (/\$PULSE(\/[^"?\s]*)/.exec(recipe)?.[1] ?? '').replace(/\$\w+/g, ':id')
  return `${method} ${path}`
}

let db: TestDatabase
let server: RunningServer
let env: Record<string, string>

beforeAll(async () => {
  db = await createTestDatabase()
  server = await startServer({
    DATABASE_URL: db.url,
    REDIS_URL: redisUrl(),
    PULSE_BUS_NAMESPACES: 'recipes',
    PULSE_AUTH_USERS: 'ops:s3cret',
  })
  const queue = await JobQueue.connect({ pg: db.url })
  try {
    const id = await queue.enqueue('email', { to: 'b@example.com' })
    const dead = await queue.enqueue('email', {})
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    await client.query(`UPDATE pulse.jobs SET status = 'dead', event_seq = event_seq + 1 WHERE id = $1`, [dead])
    await client.end()
    const schedule = await queue.defineSchedule('rollup', {}, every(60_000))
    env = { PATH: process.env.PATH ?? '', PULSE: server.url, ID: id, DEAD_ID: dead, SCHEDULE: schedule.id }
  } finally {
    await queue.close()
  }
})

afterAll(async () => {
  expect(await server?.stop()).toBe(0)
  await db?.drop()
})

describe('README curl recipes', () => {
  it('cover every route of the jobs API, plus health and metrics', () => {
    const called = new Set(recipes().map(routeOf))
    for (const [method, path] of JOBS_API_ROUTES)
      expect(called, `${method} ${path}`).toContain(`${method} /api/v1${path}`)
    expect(called).toContain('GET /api/v1/openapi.json')
    expect(called).toContain('GET /healthz')
    expect(called).toContain('GET /metrics')
  })

  it('each answers 2xx, in the README’s order', async () => {
    const list = recipes()
    expect(list.length).toBeGreaterThanOrEqual(JOBS_API_ROUTES.length)
    for (const recipe of list) {
      const { stdout } = await run('bash', ['-c', `${recipe} -o /dev/null -w '%{http_code}'`], { env })
      expect(Number(stdout), recipe).toBeGreaterThanOrEqual(200)
      expect(Number(stdout), recipe).toBeLessThan(300)
    }
  })
})
