// `pulse submit`, `pulse jobs list | get | cancel | requeue` and `pulse stats`: the built binary as a
// child process against the run's PostgreSQL, in a schema of this file's own; each result is checked
// in the printed JSON and in the database, through the library.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'

import { describe, expect, it } from 'vitest'

import { cliEnv, kPulseBin, pulseJson, runPulse, useCliDatabase } from '../../helpers/cli.js'
import { uniqueName } from '../jobs/helpers.js'
import { deadJobs as deadJobsOf } from '../dashboard/job-fixtures.js'

const cli = useCliDatabase(uniqueName('cli_jobs'), 'ada')
const withQueue = cli.withQueue.bind(cli)

/** `n` jobs named `name`, dead-lettered without a worker (`job-fixtures.ts`). */
function deadJobs(name: string, n: number): Promise<string[]> {
  return withQueue((queue) => deadJobsOf(queue, name, n))
}

/** Every job of the schema as `id:status`, to show a refused command changed nothing. */
async function snapshot(): Promise<string[]> {
  return withQueue(async (queue) => (await queue.listJobs({ limit: 1_000 })).jobs.map((j) => `${j.id}:${j.status}`))
}

function expectError(run: { code: number | null; stderr: string; stdout: string }, code: number, text: string) {
  expect(run.code, run.stderr).toBe(code)
  expect(run.stdout).toBe('')
  expect(run.stderr).toContain(text)
}

describe('pulse submit', () => {
  it('enqueues with its options and prints {"id"}; the same --key returns the same job', async () => {
    const name = uniqueName('send')
    const args = ['submit', name, '{"to":"a@b.com"}', '--priority', '7', '--max-attempts', '3']
    const runAt = '2030-01-31T09:00:00Z'
    const { id } = await pulseJson<{ id: string }>([...args, '--run-at', runAt, '--key', 'k1'], { env: cli.env })
    expect(id).toMatch(/^\d+$/)
    const again = await pulseJson<{ id: string }>([...args, '--key', 'k1'], { env: cli.env })
    expect(again.id).toBe(id)
    const job = await withQueue((queue) => queue.getJob(id))
    expect(job).toMatchObject({
      name,
      args: { to: 'a@b.com' },
      status: 'pending',
      priority: 7,
      maxAttempts: 3,
      runAt: new Date(runAt),
      idempotencyKey: 'k1',
    })
  })

  it('refuses bad JSON, --priority, --max-attempts and --run-at with PULSE_ERR_INVALID_ARG, writing nothing', async () => {
    const before = await snapshot()
    const name = uniqueName('bad')
    for (const [args, text] of [
      [[name, '{"to":'], 'the JSON argument must be JSON'],
      [[name, '{}', '--priority', 'high'], '--priority must be an integer'],
      [[name, '{}', '--priority', '1.5'], '--priority must be an integer'],
      [[name, '{}', '--max-attempts', '0'], '--max-attempts must be an integer'],
      [[name, '{}', '--run-at', 'tomorrow'], '--run-at must be an ISO 8601 date'],
      [[name, '{}', '--run-at', '2030-13-45'], '--run-at must be an ISO 8601 date'],
    ] as const) {
      const run = await runPulse(['submit', ...args], { env: cli.env })
      expectError(run, 1, `pulse: PULSE_ERR_INVALID_ARG: ${text}`)
      expect(run.stderr.trim().split('\n')).toHaveLength(1)
    }
    expect(await snapshot()).toEqual(before)
  })
})

describe('pulse jobs list / get', () => {
  it('lists pages with a cursor (null on the last one), filters by name and status, and prints a table', async () => {
    const name = uniqueName('page')
    const ids = await withQueue((queue) => queue.enqueueMany([1, 2, 3].map((i) => ({ name, args: { i } }))))
    const first = await pulseJson<{ jobs: { id: string; name: string }[]; cursor: string | null }>(
      ['jobs', 'list', '--name', name, '--status', 'pending', '--limit', '2'],
      { env: cli.env },
    )
    expect(first.jobs.map((j) => j.id)).toEqual([ids[2], ids[1]])
    expect(first.cursor).not.toBeNull()
    const last = await pulseJson<{ jobs: { id: string }[]; cursor: string | null }>(
      ['jobs', 'list', '--name', name, '--limit', '2', '--cursor', first.cursor ?? ''],
      { env: cli.env },
    )
    expect(last).toMatchObject({ jobs: [{ id: ids[0] }], cursor: null })
    const table = await runPulse(['jobs', 'list', '--name', name], { env: cli.env })
    expect(table.code, table.stderr).toBe(0)
    expect(table.stdout).toContain('│ name')
    expect(table.stdout.split('\n').filter((line) => line.includes(name))).toHaveLength(3)
  })

  it('get prints the job with its history; an unknown id fails with PULSE_ERR_JOB_NOT_FOUND', async () => {
    const name = uniqueName('get')
    const id = await withQueue((queue) => queue.enqueue(name, { x: 1 }))
    const job = await pulseJson<{ id: string; name: string; args: unknown; history: { type: string }[] }>(
      ['jobs', 'get', id],
      { env: cli.env },
    )
    expect(job).toMatchObject({ id, name, args: { x: 1 }, status: 'pending', history: [{ seq: 1, type: 'enqueued' }] })
    const human = await runPulse(['jobs', 'get', id], { env: cli.env })
    expect(human.stdout).toMatch(new RegExp(`│ name +│ ${name} +│`))
    expect(human.stdout).toContain('enqueued')
    expectError(
      await runPulse(['jobs', 'get', '987654321'], { env: cli.env }),
      1,
      'pulse: PULSE_ERR_JOB_NOT_FOUND: no job has id',
    )
  })

  it('refuses an unknown status as a usage error (exit code 2)', async () => {
    const run = await runPulse(['jobs', 'list', '--status', 'sleeping'], { env: cli.env })
    expect(run.code).toBe(2)
    expect(run.stderr).toContain("argument 'sleeping' is invalid")
  })
})

describe('the dead-letter inbox: pulse jobs list --status dead, jobs requeue', () => {
  it('requeues every dead job of a name with --yes, only those, with one audit row per batch', async () => {
    const name = uniqueName('mail')
    const other = uniqueName('other')
    const dead = await deadJobs(name, 3)
    const [otherDead] = await deadJobs(other, 1)
    const inbox = await pulseJson<{ jobs: { id: string; status: string; lastError: unknown }[] }>(
      ['jobs', 'list', '--status', 'dead', '--name', name],
      { env: cli.env },
    )
    expect(inbox.jobs.map((j) => j.id).sort()).toEqual([...dead].sort())
    expect(inbox.jobs[0]).toMatchObject({ status: 'dead', lastError: { message: 'smtp down' } })

    const before = await snapshot()
    const refused = await runPulse(['jobs', 'requeue', '--status', 'dead', '--name', name], { env: cli.env })
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('needs --yes when standard input is not a terminal')
    expect(await snapshot()).toEqual(before)

    const result = await pulseJson(
      ['jobs', 'requeue', '--status', 'dead', '--name', name, '--yes', '-m', 'smtp back'],
      {
        env: cli.env,
      },
    )
    expect(result).toEqual({ count: 3 })
    await withQueue(async (queue) => {
      for (const id of dead) expect(await queue.getJob(id)).toMatchObject({ status: 'pending', attempt: 0 })
      expect(await queue.getJob(otherDead ?? '')).toMatchObject({ status: 'dead' })
      const [audit] = await queue.auditLog({ limit: 1 })
      expect(audit).toMatchObject({
        actor: 'cli:ada',
        action: 'job.requeue_many',
        reason: 'smtp back',
        data: { name, count: 3, statuses: ['dead'] },
      })
    })
    expect(await pulseJson(['jobs', 'requeue', '--status', 'dead', '--name', name, '--yes'], { env: cli.env })).toEqual(
      {
        count: 0,
      },
    )
  })

  it('requeues one job by id; refuses an id with a filter (exit 2) and an unknown id, changing nothing', async () => {
    const name = uniqueName('one')
    const [id, second] = (await deadJobs(name, 2)) as [string, string]
    const before = await snapshot()
    const both = await runPulse(['jobs', 'requeue', id, '--status', 'dead', '--yes'], { env: cli.env })
    expect(both.code).toBe(2)
    expect(both.stderr).toContain('give a job id or a filter')
    expectError(await runPulse(['jobs', 'requeue', '987654321'], { env: cli.env }), 1, 'PULSE_ERR_JOB_NOT_FOUND')
    expect(await snapshot()).toEqual(before)

    expect(await pulseJson(['jobs', 'requeue', id], { env: cli.env })).toEqual({ id, status: 'pending' })
    await withQueue(async (queue) => {
      expect(await queue.getJob(id)).toMatchObject({ status: 'pending' })
      expect(await queue.getJob(second)).toMatchObject({ status: 'dead' })
      const [audit] = await queue.auditLog({ limit: 1 })
      expect(audit).toMatchObject({ actor: 'cli:ada', action: 'job.requeue', target: `job:${id}` })
    })
    const again = await runPulse(['jobs', 'requeue', id], { env: cli.env })
    expectError(again, 1, 'pulse: PULSE_ERR_JOB_STATE: cannot requeue job')
  })

  it.skipIf(!existsSync('/usr/bin/script'))(
    'on a terminal, asks for confirmation with the count, then shows progress',
    async () => {
      const name = uniqueName('tty')
      const dead = await deadJobs(name, 2)
      const command = `${process.execPath} ${kPulseBin} jobs requeue --status dead --name ${name}`
      const child = spawn('/usr/bin/script', ['-qec', command, '/dev/null'], {
        env: cliEnv(cli.env),
        stdio: ['pipe', 'pipe', 'pipe'],
      })
      let screen = ''
      const prompted = new Promise<void>((resolve) => {
        child.stdout.on('data', (chunk: Buffer) => {
          screen += chunk.toString('utf8')
          if (screen.includes('[y/N]')) resolve()
        })
      })
      const closed = new Promise<number | null>((resolve) => child.on('close', resolve))
      await prompted
      expect(screen).toContain(`requeue 2 dead jobs named ${name}? [y/N]`)
      child.stdin.end('y\n')
      expect(await closed).toBe(0)
      expect(screen).toContain('2/2')
      expect(screen).toContain('requeued 2 dead jobs')
      await withQueue(async (queue) => {
        for (const id of dead) expect(await queue.getJob(id)).toMatchObject({ status: 'pending' })
      })
    },
  )
})

describe('pulse jobs cancel', () => {
  it('cancels one job, or every pending one of a name with --yes', async () => {
    const name = uniqueName('cancel')
    const ids = await withQueue((queue) => queue.enqueueMany([1, 2, 3].map((i) => ({ name, args: { i } }))))
    const [one, ...rest] = ids as [string, ...string[]]
    expect(await pulseJson(['jobs', 'cancel', one, '-m', 'wrong args'], { env: cli.env })).toEqual({
      id: one,
      status: 'canceled',
    })
    const human = await runPulse(['jobs', 'cancel', '--status', 'pending', '--name', name, '--yes'], { env: cli.env })
    expect(human.code, human.stderr).toBe(0)
    expect(human.stdout).toBe('canceled 2 pending jobs\n')
    await withQueue(async (queue) => {
      for (const id of [one, ...rest]) expect(await queue.getJob(id)).toMatchObject({ status: 'canceled' })
      const [bulk, single] = await queue.auditLog({ limit: 2 })
      expect(bulk).toMatchObject({ actor: 'cli:ada', action: 'job.cancel_many', data: { name, count: 2 } })
      expect(single).toMatchObject({
        actor: 'cli:ada',
        action: 'job.cancel',
        target: `job:${one}`,
        reason: 'wrong args',
      })
    })
  })

  it('refuses a filter that is not one it can cancel from, and no id nor filter (exit 2)', async () => {
    const before = await snapshot()
    const finished = await runPulse(['jobs', 'cancel', '--status', 'completed', '--yes'], { env: cli.env })
    expect(finished.code).toBe(2)
    expect(finished.stderr).toContain("argument 'completed' is invalid")
    const none = await runPulse(['jobs', 'cancel', '--yes'], { env: cli.env })
    expect(none.code).toBe(2)
    expect(none.stderr).toContain('give a job id, or --status / --name')
    expect(await snapshot()).toEqual(before)
  })
})

describe('pulse stats', () => {
  it('prints counts per name and status and the oldest waiting job\u2019s age', async () => {
    const name = uniqueName('stats')
    await deadJobs(name, 1)
    await withQueue((queue) => queue.enqueue(name, {}, { runAt: new Date(Date.now() - 60_000) }))
    const stats = await pulseJson<{ byName: Record<string, unknown>; oldestPendingAgeMs: number | null }>(['stats'], {
      env: cli.env,
    })
    expect(stats.byName[name]).toEqual({ pending: 1, running: 0, retrying: 0, completed: 0, dead: 1, canceled: 0 })
    expect(stats.oldestPendingAgeMs).toBeGreaterThanOrEqual(60_000)
    const human = await runPulse(['stats'], { env: cli.env })
    expect(human.stdout).toMatch(new RegExp(`│ ${name} +│ 1 +│ 0 +│ 0 +│ 0 +│ 1 +│ 0 +│`))
    expect(human.stdout).toMatch(/oldest job waiting to run: due \d+[mh] ago/)
  })
})

describe('an unreachable database', () => {
  it('fails within --timeout with one line naming the error, and no password', async () => {
    const t0 = performance.now()
    const run = await runPulse(['jobs', 'list', '--database', 'postgres://u:p@127.0.0.1:1/x', '--timeout', '2s'])
    expect(run.code).toBe(1)
    expect(performance.now() - t0).toBeLessThan(10_000)
    const lines = run.stderr.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^pulse: PULSE_ERR_(PG_CONNECTION|TIMEOUT): /)
    expect(run.stderr).not.toContain('u:p@')
  })
})
