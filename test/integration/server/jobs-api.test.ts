// The jobs API of `pulse server` (actors/jobs/http/api.ts) over fetch, against the built binary on the
// run's PostgreSQL and Redis: every endpoint, its bad-input paths, and the audit row with the user.
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { JOBS_API_ROUTES, JobQueue, jobsOpenApi } from '../../../actors/jobs/index.js'
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.js'
import { redisUrl } from '../../helpers/servers.js'
import { basic, type RunningServer, startServer } from './helpers.js'

let db: TestDatabase
let server: RunningServer
let queue: JobQueue
const alice = basic('alice', 'secret')

beforeAll(async () => {
  db = await createTestDatabase()
  server = await startServer({
    DATABASE_URL: db.url,
    REDIS_URL: redisUrl(),
    PULSE_BUS_NAMESPACES: 'apitest',
    PULSE_AUTH_USERS: 'alice:secret,viewer:look:ro',
  })
  queue = await JobQueue.connect({ pg: db.url })
})

afterAll(async () => {
  await queue?.close()
  expect(await server?.stop()).toBe(0)
  await db?.drop()
})

async function api(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = alice,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.url}/api/v1${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  })
  const text = await res.text()
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) }
}

async function lastAudit(): Promise<{ actor: string; action: string; target: string | undefined }> {
  const [entry] = await queue.auditLog({ limit: 1 })
  if (entry === undefined) throw new Error('no audit entry')
  return entry
}

/** Makes `id` dead as a worker's last failure would (SQL: no worker in this file). */
async function kill(id: string): Promise<void> {
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  try {
    await client.query(`UPDATE pulse.jobs SET status = 'dead', event_seq = event_seq + 1 WHERE id = $1`, [id])
  } finally {
    await client.end()
  }
}

describe('jobs API: submit, read, list', () => {
  it('submits a job with its options, reads it back with its history, and records the submit as the user', async () => {
    const runAt = new Date(Date.now() + 3_600_000).toISOString()
    const submitted = await api('POST', '/jobs', {
      name: 'email',
      args: { to: 'a@example.com' },
      priority: 5,
      runAt,
      maxAttempts: 3,
      idempotencyKey: 'k-1',
    })
    expect(submitted.status).toBe(201)
    const id = submitted.body.id as string
    const got = await api('GET', `/jobs/${id}`)
    expect(got.status).toBe(200)
    expect(got.body).toMatchObject({ id, name: 'email', args: { to: 'a@example.com' }, priority: 5, maxAttempts: 3 })
    expect(got.body.runAt).toBe(runAt)
    expect((got.body.history as { type: string }[])[0]?.type).toBe('enqueued')
    expect(await lastAudit()).toMatchObject({ actor: 'alice', action: 'job.submit', target: `job:${id}` })
    const again = await api('POST', '/jobs', { name: 'email', args: {}, idempotencyKey: 'k-1' })
    expect(again.body.id).toBe(id)
  })

  it('submits a batch in order and lists it by name and status with a cursor', async () => {
    const jobs = Array.from({ length: 5 }, (_, i) => ({ name: 'batch-list', args: { i } }))
    const { status, body } = await api('POST', '/jobs/batch', { jobs })
    expect(status).toBe(201)
    const ids = body.ids as string[]
    expect(ids).toHaveLength(5)
    const first = await api('GET', '/jobs?name=batch-list&status=pending&limit=3')
    expect((first.body.jobs as { id: string }[]).map((j) => j.id)).toEqual(ids.slice(2).reverse())
    const second = await api('GET', `/jobs?name=batch-list&limit=3&cursor=${first.body.cursor as string}`)
    expect((second.body.jobs as { id: string }[]).map((j) => j.id)).toEqual(ids.slice(0, 2).reverse())
    expect(second.body.cursor).toBeNull()
    expect((await api('GET', '/jobs/count?name=batch-list')).body).toEqual({ count: 5 })
  })

  it('filters by id, payload containment and creation time, for a list, a count and a bulk action', async () => {
    const [a, b] = await queue.enqueueMany([
      { name: 'match-api', args: { to: 'ada@example.com', n: 1 } },
      { name: 'match-api', args: { to: 'bob@example.com', n: 2 } },
    ])
    const args = encodeURIComponent(JSON.stringify({ to: 'ada@example.com' }))
    const listed = await api('GET', `/jobs?name=match-api&args=${args}`)
    expect((listed.body.jobs as { id: string }[]).map((j) => j.id)).toEqual([a])
    expect((await api('GET', `/jobs?id=${b}`)).body.jobs).toEqual([expect.objectContaining({ id: b })])
    const future = encodeURIComponent(new Date(Date.now() + 60_000).toISOString())
    expect((await api('GET', `/jobs/count?name=match-api&createdAfter=${future}`)).body).toEqual({ count: 0 })
    expect((await api('GET', `/jobs/count?name=match-api&args=${args}`)).body).toEqual({ count: 1 })
    const canceled = await api('POST', '/jobs/cancel', { name: 'match-api', args: { to: 'bob@example.com' } })
    expect(canceled.body).toEqual({ count: 1 })
    expect((await queue.getJob(a ?? ''))?.status).toBe('pending')
    expect((await queue.getJob(b ?? ''))?.status).toBe('canceled')
    expect(await api('GET', '/jobs?args={nope')).toMatchObject({ status: 400, body: { code: 'PULSE_ERR_INVALID_ARG' } })
    expect(await api('GET', '/jobs?createdAfter=yesterday')).toMatchObject({ status: 400 })
  })

  it('answers 404 with the code for an unknown id, and 400 for bad input, writing nothing', async () => {
    const before = await queue.countJobs()
    expect(await api('GET', '/jobs/99999999')).toMatchObject({ status: 404, body: { code: 'PULSE_ERR_JOB_NOT_FOUND' } })
    expect(await api('GET', '/jobs/not-an-id')).toMatchObject({ status: 404 })
    expect(await api('POST', '/jobs', '{"name": "x", ')).toMatchObject({
      status: 400,
      body: { code: 'PULSE_ERR_PROTOCOL' },
    })
    expect(await api('POST', '/jobs', { name: 'x', colour: 'red' })).toMatchObject({
      status: 400,
      body: { code: 'PULSE_ERR_INVALID_ARG' },
    })
    expect(await api('POST', '/jobs', { name: 'x', runAt: 'tomorrow' })).toMatchObject({ status: 400 })
    expect(await api('POST', '/jobs', { name: 'x', priority: 1.5 })).toMatchObject({ status: 400 })
    expect(await api('POST', '/jobs', [1, 2])).toMatchObject({ status: 400 })
    expect(await api('POST', '/jobs/batch', { jobs: [] })).toMatchObject({ status: 400 })
    expect(await api('GET', '/jobs?status=lost')).toMatchObject({
      status: 400,
      body: { code: 'PULSE_ERR_INVALID_ARG' },
    })
    expect(await api('GET', '/jobs?limit=ten')).toMatchObject({ status: 400 })
    expect(await queue.countJobs()).toBe(before)
  })

  it('refuses a body over the limit with 413 and keeps serving', async () => {
    const big = { name: 'big', args: { blob: 'x'.repeat(1024 * 1024 + 1) } }
    const res = await api('POST', '/jobs', big)
    expect(res).toMatchObject({ status: 413, body: { code: 'PULSE_ERR_HTTP_BODY_TOO_LARGE' } })
    expect((await api('GET', '/stats')).status).toBe(200)
  })

  it('answers 401 without credentials or with wrong ones, and writes nothing', async () => {
    const before = await queue.countJobs()
    const none = await api('POST', '/jobs', { name: 'x' }, {})
    expect(none).toMatchObject({ status: 401, body: { code: 'PULSE_ERR_HTTP_UNAUTHORIZED' } })
    const wrong = await api('POST', '/jobs', { name: 'x' }, basic('alice', 'guess'))
    expect(wrong.status).toBe(401)
    expect((await api('GET', '/jobs', undefined, basic('mallory', 'secret'))).status).toBe(401)
    expect(await queue.countJobs()).toBe(before)
  })
})

describe('jobs API: a read-only user', () => {
  it('reads, and is refused every action with 403, changing nothing', async () => {
    const viewer = basic('viewer', 'look')
    const id = await queue.enqueue('ro-target', {})
    expect((await api('GET', `/jobs/${id}`, undefined, viewer)).status).toBe(200)
    expect((await api('GET', '/stats', undefined, viewer)).status).toBe(200)
    const before = await queue.countJobs()
    expect(await api('POST', '/jobs', { name: 'x' }, viewer)).toMatchObject({
      status: 403,
      body: { code: 'PULSE_ERR_HTTP_FORBIDDEN' },
    })
    expect((await api('POST', `/jobs/${id}/cancel`, undefined, viewer)).status).toBe(403)
    expect((await api('POST', '/dispatch/pause', { reason: 'x' }, viewer)).status).toBe(403)
    expect((await api('DELETE', '/schedules/1', undefined, viewer)).status).toBe(403)
    expect(await queue.countJobs()).toBe(before)
    expect((await queue.getJob(id))?.status).toBe('pending')
    expect((await queue.dispatchStatus()).paused).toBe(false)
  })
})

describe('jobs API: operator actions', () => {
  it('cancels one job (409 when finished) and requeues a dead one (409 otherwise), as the user', async () => {
    const id = await queue.enqueue('cancel-me', {})
    expect(await api('POST', `/jobs/${id}/cancel`, { reason: 'not needed' })).toMatchObject({
      status: 200,
      body: { id, status: 'canceled' },
    })
    expect(await lastAudit()).toMatchObject({ actor: 'alice', action: 'job.cancel', target: `job:${id}` })
    expect(await api('POST', `/jobs/${id}/cancel`)).toMatchObject({
      status: 409,
      body: { code: 'PULSE_ERR_JOB_STATE' },
    })
    expect(await api('POST', `/jobs/${id}/requeue`)).toMatchObject({ status: 409 })
    const dead = await queue.enqueue('requeue-me', {})
    await kill(dead)
    expect(await api('POST', `/jobs/${dead}/requeue`)).toMatchObject({ status: 200, body: { status: 'pending' } })
    expect((await queue.getJob(dead))?.status).toBe('pending')
    expect(await api('POST', '/jobs/424242/cancel')).toMatchObject({ status: 404 })
  })

  it('requeues every dead job a filter matches, and only those', async () => {
    const ids = await queue.enqueueMany(Array.from({ length: 4 }, () => ({ name: 'dlq-bulk', args: {} })))
    const other = await queue.enqueue('dlq-other', {})
    for (const id of [...ids.slice(0, 3), other]) await kill(id)
    const res = await api('POST', '/jobs/requeue', { status: 'dead', name: 'dlq-bulk' })
    expect(res).toMatchObject({ status: 200, body: { count: 3 } })
    const pending = await queue.listJobs({ name: 'dlq-bulk', status: 'pending' })
    expect(pending.jobs.map((job) => job.id).sort()).toEqual([...ids].sort())
    expect((await queue.getJob(other))?.status).toBe('dead')
    expect(await lastAudit()).toMatchObject({ actor: 'alice', action: 'job.requeue_many' })
    expect(await api('POST', '/jobs/requeue', { status: 'pending' })).toMatchObject({ status: 400 })
    const canceled = await api('POST', '/jobs/cancel', { name: 'dlq-bulk' })
    expect(canceled.body).toEqual({ count: 4 })
  })

  it('pauses and resumes dispatch with a reason', async () => {
    expect(await api('POST', '/dispatch/pause', { reason: 'maintenance' })).toMatchObject({
      status: 200,
      body: { paused: true, reason: 'maintenance' },
    })
    expect((await queue.dispatchStatus()).paused).toBe(true)
    expect(await lastAudit()).toMatchObject({ actor: 'alice', action: 'dispatch.pause' })
    expect((await api('GET', '/dispatch')).body).toMatchObject({ paused: true })
    expect((await api('POST', '/dispatch/resume')).body).toMatchObject({ paused: false })
    expect((await queue.dispatchStatus()).paused).toBe(false)
  })

  it('adds a schedule, replaces it by name (200, created false), pauses, resumes and deletes it', async () => {
    const created = await api('POST', '/schedules', { jobName: 'rollup', cron: '0 * * * *', payload: { a: 1 } })
    expect(created).toMatchObject({ status: 201, body: { created: true } })
    const id = created.body.id as string
    const replaced = await api('POST', '/schedules', { jobName: 'rollup', every: '30s' })
    expect(replaced).toMatchObject({ status: 200, body: { id, created: false } })
    const listed = (await api('GET', '/schedules')).body.schedules as { id: string; spec: unknown }[]
    expect(listed.filter((s) => s.id === id)).toEqual([
      expect.objectContaining({ spec: { kind: 'every', everyMs: 30_000 } }),
    ])
    expect((await api('POST', `/schedules/${id}/pause`)).body).toEqual({ id, paused: true })
    expect((await queue.listSchedules()).find((s) => s.id === id)?.paused).toBe(true)
    expect((await api('POST', `/schedules/${id}/resume`)).body).toEqual({ id, paused: false })
    expect((await api('DELETE', `/schedules/${id}`)).status).toBe(204)
    expect(await lastAudit()).toMatchObject({ actor: 'alice', action: 'schedule.delete' })
    expect(await api('DELETE', `/schedules/${id}`)).toMatchObject({
      status: 404,
      body: { code: 'PULSE_ERR_JOB_SCHEDULE_NOT_FOUND' },
    })
    expect(await api('POST', `/schedules/${id}/pause`)).toMatchObject({ status: 404 })
  })

  it('refuses an invalid cron, a bad duration and two specs, creating nothing', async () => {
    const before = (await queue.listSchedules()).length
    expect(await api('POST', '/schedules', { jobName: 'x', cron: 'every tuesday' })).toMatchObject({
      status: 400,
      body: { code: 'PULSE_ERR_INVALID_ARG' },
    })
    expect(await api('POST', '/schedules', { jobName: 'x', every: '5 parsecs' })).toMatchObject({ status: 400 })
    expect(await api('POST', '/schedules', { jobName: 'x', every: 1000, cron: '* * * * *' })).toMatchObject({
      status: 400,
    })
    expect((await queue.listSchedules()).length).toBe(before)
  })

  it('serves stats and the audit log', async () => {
    const stats = await api('GET', '/stats')
    expect(stats.status).toBe(200)
    expect(stats.body.byName).toHaveProperty('email')
    const audit = await api('GET', '/audit?limit=2')
    expect((audit.body.entries as unknown[]).length).toBe(2)
    expect(await api('GET', '/audit?before=x')).toMatchObject({ status: 400 })
  })
})

describe('jobs API: the OpenAPI document', () => {
  it('is served and lists exactly the routes of the router, each with responses', async () => {
    const { status, body } = await api('GET', '/openapi.json')
    expect(status).toBe(200)
    expect(body).toEqual(JSON.parse(JSON.stringify(jobsOpenApi('/api/v1'))))
    expect(body.openapi).toBe('3.1.0')
    const documented = Object.entries(body.paths as Record<string, Record<string, { responses?: object }>>)
      .flatMap(([path, methods]) =>
        Object.entries(methods).map(([method, op]) => {
          expect(Object.keys(op.responses ?? {}).length).toBeGreaterThan(0)
          return `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`
        }),
      )
      .sort()
    const routed = JOBS_API_ROUTES.map(([method, path]) => `${method} /api/v1${path}`).sort()
    expect(documented).toEqual(routed)
  })

  it('every documented path is routed (no 404 "no route" for any of them)', async () => {
    for (const [method, path] of JOBS_API_ROUTES) {
      const res = await api(method, path.replace(':id', '1'), method === 'GET' || method === 'DELETE' ? undefined : {})
      expect(res.body.code, `${method} ${path}`).not.toBe('PULSE_ERR_HTTP_NO_ROUTE')
    }
    expect(await api('GET', '/nothing-here')).toMatchObject({ status: 404, body: { code: 'PULSE_ERR_HTTP_NO_ROUTE' } })
  })
})
