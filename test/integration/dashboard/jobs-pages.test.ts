// The dashboard's job queue pages (jobs, job, bulk actions, schedules, dispatch, audit) over HTTP, as a
// browser without JavaScript uses them: the built `pulse server` with auth on, a signed-in session
// (cookie + CSRF token from the page), forms posted urlencoded. Each action is checked in the database
// and in the audit log, and each refusal (no CSRF token, a read-only user) for changing nothing.
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { every, JobQueue } from '../../../actors/jobs/index.js'
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.js'
import { uniqueName } from '../jobs/helpers.js'
import { type RunningServer, startServer } from '../server/helpers.js'
import { deadJobs, runningJob, setCreatedAt } from './job-fixtures.js'
import { Visitor } from './visitor.js'

let db: TestDatabase
let server: RunningServer
let queue: JobQueue
let ops: Visitor

beforeAll(async () => {
  db = await createTestDatabase()
  server = await startServer({ DATABASE_URL: db.url, PULSE_AUTH_USERS: 'ops:pw,viewer:pw:ro' })
  queue = await JobQueue.connect({ pg: db.url })
  ops = await Visitor.signIn(server.url, 'ops', 'pw')
})

afterAll(async () => {
  await queue?.close()
  expect(await server?.stop()).toBe(0)
  await db?.drop()
})

async function statusOf(id: string): Promise<string | undefined> {
  return (await queue.getJob(id))?.status
}

/** The ids the page's job table links to, in order. */
function listedIds(page: string): string[] {
  return [...page.matchAll(/<th scope="row"><a href="\/ui\/jobs\/(\d+)">/g)].map((m) => m[1] as string)
}

async function lastAudit() {
  const [entry] = await queue.auditLog({ limit: 1 })
  return entry
}

describe('jobs browser', () => {
  it('filters by status and name, by id, by payload containment and by creation time', async () => {
    const name = uniqueName('mail')
    const dead = await deadJobs(queue, name, 2, (i) => ({ to: i === 0 ? 'a@example.com' : 'b@example.com' }))
    const waiting = await queue.enqueue(name, { to: 'a@example.com', n: 1 })
    const byStatus = await ops.get(`/ui/jobs?status=dead&name=${name}`)
    expect(byStatus.status).toBe(200)
    expect(listedIds(byStatus.text)).toEqual([...dead].reverse())
    expect(byStatus.text).toContain('smtp down')
    expect(listedIds((await ops.get(`/ui/jobs?name=${name}`)).text)).toEqual([...dead, waiting].reverse())
    expect(listedIds((await ops.get(`/ui/jobs?id=${waiting}`)).text)).toEqual([waiting])

    const args = encodeURIComponent('{"to":"a@example.com"}')
    expect(listedIds((await ops.get(`/ui/jobs?name=${name}&args=${args}`)).text)).toEqual([waiting, dead[0]])
    const both = encodeURIComponent('{"to":"a@example.com","n":1}')
    expect(listedIds((await ops.get(`/ui/jobs?args=${both}`)).text)).toEqual([waiting])

    await setCreatedAt(queue, waiting, '2001-01-01T00:00:00Z')
    await setCreatedAt(queue, dead[0] as string, '2002-01-01T00:00:00Z')
    const range = await ops.get(`/ui/jobs?name=${name}&from=2001-06-01T00:00&to=2003-01-01T00:00:00`)
    expect(listedIds(range.text)).toEqual([dead[0]])
    const iso = await ops.get(`/ui/jobs?name=${name}&to=${encodeURIComponent('2001-01-01T00:00:01.000Z')}`)
    expect(listedIds(iso.text)).toEqual([waiting])
  })

  it('pages newest first by keyset, keeping the filter in the "Older" link', async () => {
    const name = uniqueName('page')
    const ids = await queue.enqueueMany(Array.from({ length: 60 }, (_, i) => ({ name, args: { i } })))
    const first = await ops.get(`/ui/jobs?name=${name}`)
    expect(listedIds(first.text)).toEqual(ids.slice(10).reverse())
    const older = Visitor.link(first.text, 'Older →')
    expect(older).toBe(`/ui/jobs?name=${name}&cursor=${ids[10]}`)
    const second = await ops.get(older)
    expect(listedIds(second.text)).toEqual(ids.slice(0, 10).reverse())
    expect(second.text).not.toContain('Older →')
  })

  it('answers a payload match that is not JSON with a 400 page naming it, and runs no search', async () => {
    const page = await ops.get(`/ui/jobs?status=dead&args=${encodeURIComponent('{"to":')}`)
    expect(page.status).toBe(400)
    expect(page.text).toContain('Payload match is not valid JSON')
    expect(listedIds(page.text)).toEqual([])
    expect((await ops.get('/ui/jobs?args=42')).text).toContain('Payload match must be a JSON object')
    expect((await ops.get('/ui/jobs?from=yesterday')).status).toBe(400)
  })

  it('says the search took too long when the database gives up on it (statement timeout)', async () => {
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    try {
      // A lock the search must wait for: the wait counts against its statement timeout.
      await client.query('BEGIN')
      await client.query('LOCK TABLE pulse.jobs IN ACCESS EXCLUSIVE MODE')
      const page = await ops.get('/ui/jobs?name=anything')
      expect(page.status).toBe(504)
      expect(page.text).toContain('The search took too long; narrow it by status, name or time.')
      await client.query('ROLLBACK')
    } finally {
      await client.end()
    }
    expect((await ops.get('/ui/jobs?name=anything')).status).toBe(200)
  })
})

describe('job page', () => {
  it('shows the args escaped, the attempts with their errors and stacks, and the history', async () => {
    const [id] = await deadJobs(queue, uniqueName('xss'), 1, () => ({ html: '<script>alert(1)</script>' }))
    const page = await ops.get(`/ui/jobs/${id}`)
    expect(page.status).toBe(200)
    expect(page.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
    expect(page.text).not.toContain('<script>alert')
    expect(page.text).toContain('Error: smtp down\n    at send (mail.js:1:1)')
    expect(page.text).toContain('worker-7')
    for (const type of ['enqueued', 'started', 'failed', 'dead']) expect(page.text).toContain(`<td>${type}</td>`)
    expect(page.text).toContain('Requeue job')
    expect(page.text).not.toContain('Cancel job')
  })

  it('shows who holds the lease of a running job', async () => {
    const name = uniqueName('running')
    const id = await runningJob(queue, name, 'host-9/worker')
    const page = await ops.get(`/ui/jobs/${id}`)
    expect(page.text).toMatch(/<dt>lease owner<\/dt>\s*<dd>host-9\/worker<\/dd>/)
    expect(page.text).toContain('Cancel job')
  })

  it('answers an unknown id with a 404 page', async () => {
    const page = await ops.get('/ui/jobs/999999999')
    expect(page.status).toBe(404)
    expect(page.text).toContain('No job has id')
  })

  it('cancels a job as the signed-in user, then shows a second cancel as the library refuses it', async () => {
    const id = await queue.enqueue(uniqueName('cancel'), {})
    const res = await ops.post(`/ui/jobs/${id}/cancel`, {})
    expect(res.status).toBe(303)
    expect(res.location).toBe(`/ui/jobs/${id}?done=canceled+job+${id}`)
    expect(await statusOf(id)).toBe('canceled')
    expect(await lastAudit()).toMatchObject({ actor: 'ops', action: 'job.cancel', target: `job:${id}` })
    expect((await ops.get(res.location)).text).toContain(`<p class="notice" role="status">canceled job ${id}</p>`)

    const again = await ops.post(`/ui/jobs/${id}/cancel`, {})
    expect(again.status).toBe(409)
    expect(again.text).toContain('PULSE_ERR_JOB_STATE')
  })

  it('requeues a dead job', async () => {
    const [id] = await deadJobs(queue, uniqueName('requeue'), 1)
    const res = await ops.post(`/ui/jobs/${id}/requeue`, {})
    expect(res.status).toBe(303)
    expect(await statusOf(id as string)).toBe('pending')
    expect(await lastAudit()).toMatchObject({ actor: 'ops', action: 'job.requeue', target: `job:${id}` })
  })
})

describe('bulk actions', () => {
  it('requeues every dead job of the filter through the confirmation page, which shows the count', async () => {
    const name = uniqueName('bulk')
    const dead = await deadJobs(queue, name, 3)
    const other = await queue.enqueue(name, {})
    const list = await ops.get(`/ui/jobs?status=dead&name=${name}`)
    const confirmPath = Visitor.link(list.text, 'Requeue all matching…')
    expect(confirmPath).toBe(`/ui/jobs/confirm?status=dead&name=${name}&action=requeue`)
    const confirm = await ops.get(confirmPath)
    expect(confirm.text).toContain('<strong>3 jobs</strong> match this filter now')
    const form = Visitor.form(confirm.text, '/ui/jobs/bulk')
    expect(form).toMatchObject({ action: 'requeue', total: '3', status: 'dead', name })
    const res = await ops.post('/ui/jobs/bulk', form)
    expect(res.status).toBe(303)
    expect(res.location).toBe(`/ui/jobs?status=dead&name=${name}&done=requeued+3+jobs`)
    for (const id of dead) expect(await statusOf(id)).toBe('pending')
    expect(await statusOf(other)).toBe('pending')
    expect(await lastAudit()).toMatchObject({ actor: 'ops', action: 'job.requeue_many' })
  })

  it('cancels only the jobs the payload filter matches', async () => {
    const name = uniqueName('bulkargs')
    const [hit, miss] = await queue.enqueueMany([
      { name, args: { tenant: 'acme', n: 1 } },
      { name, args: { tenant: 'other' } },
    ])
    const args = encodeURIComponent('{"tenant":"acme"}')
    const confirm = await ops.get(`/ui/jobs/confirm?action=cancel&status=pending&name=${name}&args=${args}`)
    expect(confirm.text).toContain('<strong>1 job</strong> match this filter now')
    const res = await ops.post('/ui/jobs/bulk', Visitor.form(confirm.text, '/ui/jobs/bulk'))
    expect(res.location).toContain('done=canceled+1+job')
    expect(await statusOf(hit as string)).toBe('canceled')
    expect(await statusOf(miss as string)).toBe('pending')
    expect(await lastAudit()).toMatchObject({ action: 'job.cancel_many', data: { argsContain: { tenant: 'acme' } } })
  })

  it('stops after the confirmed count, and refuses a status the action does not apply to', async () => {
    const name = uniqueName('bounded')
    const dead = await deadJobs(queue, name, 3)
    const res = await ops.post('/ui/jobs/bulk', { action: 'requeue', status: 'dead', name, total: '2' })
    expect(res.location).toContain('done=requeued+2+jobs')
    const statuses: (string | undefined)[] = []
    for (const id of dead) statuses.push(await statusOf(id))
    expect(statuses.filter((s) => s === 'pending')).toHaveLength(2)
    expect((await ops.get(`/ui/jobs/confirm?action=requeue&status=pending&name=${name}`)).status).toBe(400)
  })
})

describe('schedules, dispatch, audit', () => {
  it('pauses, resumes and deletes a schedule', async () => {
    const name = uniqueName('nightly')
    const id = await queue.schedule('rollup', { day: 1 }, every(60_000), { name })
    const page = await ops.get('/ui/schedules')
    expect(page.text).toContain(name)
    expect(page.text).toContain('every 1 minute')
    expect(page.text).toMatch(new RegExp(`action="/ui/schedules/${id}/delete"\\s+data-confirm="Delete schedule`))
    const paused = async () => (await queue.listSchedules()).find((s) => s.id === id)?.paused
    expect((await ops.post(`/ui/schedules/${id}/pause`, {})).location).toBe(`/ui/schedules?done=paused+schedule+${id}`)
    expect(await paused()).toBe(true)
    expect((await ops.get('/ui/schedules')).text).toContain(`Resume ${name}`)
    await ops.post(`/ui/schedules/${id}/resume`, {})
    expect(await paused()).toBe(false)
    expect((await ops.post(`/ui/schedules/${id}/delete`, {})).status).toBe(303)
    expect(await paused()).toBeUndefined()
    expect(await lastAudit()).toMatchObject({ actor: 'ops', action: 'schedule.delete', target: `schedule:${id}` })
    expect((await ops.post(`/ui/schedules/${id}/pause`, {})).status).toBe(404)
  })

  it('pauses dispatch with a reason and shows who did, then resumes it', async () => {
    try {
      const res = await ops.post('/ui/dispatch/pause', { reason: 'db maintenance' })
      expect(res.location).toBe('/ui/dispatch?done=paused+dispatch')
      expect(await queue.dispatchStatus()).toMatchObject({ paused: true, reason: 'db maintenance' })
      const page = await ops.get('/ui/dispatch')
      expect(page.text).toContain('db maintenance')
      expect(page.text).toMatch(/paused by <strong>ops<\/strong>/)
      expect(page.text).toContain('Resume dispatch')
      await ops.post('/ui/dispatch/resume', {})
      expect((await queue.dispatchStatus()).paused).toBe(false)
      expect((await ops.get('/ui/dispatch')).text).toMatch(/resumed by <strong>ops<\/strong>/)
    } finally {
      await queue.resumeDispatch()
    }
  })

  it('lists the audit log newest first and pages it with before', async () => {
    for (let i = 0; i < 30; i++) {
      await queue.pauseDispatch(`drill ${i}`, { actor: 'drill' })
      await queue.resumeDispatch({ actor: 'drill' })
    }
    const first = await ops.get('/ui/audit')
    expect(first.text).toContain('<td>drill</td>')
    expect(first.text).toContain('drill 29')
    const older = Visitor.link(first.text, 'Older →')
    expect(older).toMatch(/^\/ui\/audit\?before=\d+$/)
    const second = await ops.get(older)
    expect(second.status).toBe(200)
    expect(second.text).not.toContain('drill 29')
  })
})

describe('refusals', () => {
  it('refuses an action without the CSRF token (403) and changes nothing', async () => {
    const id = await queue.enqueue(uniqueName('csrf'), {})
    const res = await ops.post(`/ui/jobs/${id}/cancel`, {}, { csrf: false })
    expect(res.status).toBe(403)
    expect(await statusOf(id)).toBe('pending')
  })

  it("disables a read-only user's buttons and refuses their actions (403), changing nothing", async () => {
    const viewer = await Visitor.signIn(server.url, 'viewer', 'pw')
    const id = await queue.enqueue(uniqueName('ro'), {})
    const page = await viewer.get(`/ui/jobs/${id}`)
    expect(page.status).toBe(200)
    expect(page.text).toMatch(/<button\s+type="submit"\s+class="danger"\s+disabled/)
    const res = await viewer.post(`/ui/jobs/${id}/cancel`, {})
    expect(res.status).toBe(403)
    expect(await statusOf(id)).toBe('pending')
    expect((await viewer.post('/ui/dispatch/pause', { reason: 'no' })).status).toBe(403)
    expect((await queue.dispatchStatus()).paused).toBe(false)
  })
})
