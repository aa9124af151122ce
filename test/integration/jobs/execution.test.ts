/**
 * Job execution in one process: the JobWorker and its actors (dispatcher, watchdog) against a real
 * PostgreSQL. Scenario numbers refer to docs/jobs-scenarios.md.
 */
import pg from 'pg'
import { describe, expect, it } from 'vitest'

import { type JobContext, JobWorker } from '../../../actors/jobs/worker.js'
import {
  ClosedError,
  InvalidArgumentError,
  JobTimeoutError,
  JobTooLargeError,
  LeaseLostError,
} from '../../../runtime/errors.js'
import {
  claimJobs,
  completeJobs,
  failJobs,
  reapExpiredLeases,
  renewLeases,
} from '../../../transports/postgres/jobs/hot-path.js'
import { connectionOf } from '../../../transports/postgres/jobs/actor-pool.js'
import {
  enqueue,
  gate,
  history,
  jobRow,
  nextEvents,
  q,
  uniq,
  useWorkerBench,
  waitUntil,
} from '../../fixtures/jobs/execution-support.js'

const bench = useWorkerBench()

describe('delivery and retries', () => {
  it('runs a job once: one started and one completed record (scenario 4)', async () => {
    const name = uniq('ok')
    const seen: { args: unknown; job: Pick<JobContext, 'id' | 'name' | 'attempt' | 'maxAttempts'> }[] = []
    const worker = await bench.startWorker({}, (w) =>
      w.register(name, (args, job) => {
        seen.push({ args, job: { id: job.id, name: job.name, attempt: job.attempt, maxAttempts: job.maxAttempts } })
      }),
    )
    const started = nextEvents(worker, 'started', 1)
    const completed = nextEvents(worker, 'completed', 1)
    const [id] = await enqueue(bench.pool, [{ name, args: { to: 'a@b.c' } }])
    expect(await completed).toEqual([{ id, name, attempt: 1 }])
    expect(await started).toEqual([{ id, name, attempt: 1 }])
    expect(seen).toEqual([{ args: { to: 'a@b.c' }, job: { id, name, attempt: 1, maxAttempts: 5 } }])
    expect((await history(bench.pool, id as string)).map((h) => [h.type, h.attempt])).toEqual([
      ['enqueued', 0],
      ['started', 1],
      ['completed', 1],
    ])
    expect((await jobRow(bench.pool, id as string)).status).toBe('completed')
  })

  it('passes byte args as a Buffer', async () => {
    const name = uniq('bytes')
    let got: unknown
    const worker = await bench.startWorker({}, (w) => w.register(name, (args) => void (got = args)))
    const completed = nextEvents(worker, 'completed', 1)
    await enqueue(bench.pool, [{ name, argsBytes: Buffer.from([1, 2, 255]) }])
    await completed
    expect(Buffer.isBuffer(got)).toBe(true)
    expect([...(got as Buffer)]).toEqual([1, 2, 255])
  })

  it('fails once, then succeeds: history started, failed, retrying, started, completed; not before the retry time (scenario 5)', async () => {
    const name = uniq('flaky')
    const calls: { attempt: number; at: number }[] = []
    const worker = await bench.startWorker({ backoff: 200 }, (w) =>
      w.register(name, (_args, job) => {
        calls.push({ attempt: job.attempt, at: Date.now() })
        if (job.attempt === 1) throw new Error('first try fails')
      }),
    )
    const retrying = nextEvents(worker, 'retrying', 1, (e) => e.name === name)
    const completed = nextEvents(worker, 'completed', 1)
    const [id] = (await enqueue(bench.pool, [{ name }])) as [string]
    const [retry] = await retrying
    expect(retry).toMatchObject({ id, name, attempt: 1, error: { name: 'Error', message: 'first try fails' } })
    expect(await completed).toEqual([{ id, name, attempt: 2 }])
    const h = await history(bench.pool, id)
    expect(h.map((e) => [e.type, e.attempt])).toEqual([
      ['enqueued', 0],
      ['started', 1],
      ['failed', 1],
      ['retrying', 1],
      ['started', 2],
      ['completed', 2],
    ])
    expect(h[2]?.data).toMatchObject({ error: { message: 'first try fails' } })
    const retryAt = new Date(h[3]?.data?.retryAt as string).getTime()
    expect(retryAt).toBe(retry?.retryAt?.getTime())
    expect(h[4]?.at.getTime()).toBeGreaterThanOrEqual(retryAt)
    expect(calls.map((c) => c.attempt)).toEqual([1, 2])
    expect((calls[1]?.at ?? 0) - (calls[0]?.at ?? 0)).toBeGreaterThanOrEqual(200)
  })

  it('backs off at least n² × unit after attempt n (scenario 6)', async () => {
    const name = uniq('backoff')
    const unit = 150
    const calls: number[] = []
    const worker = await bench.startWorker({ backoff: unit }, (w) =>
      w.register(name, () => {
        calls.push(Date.now())
        throw new Error('always')
      }),
    )
    const dead = nextEvents(worker, 'dead', 1, (e) => e.name === name)
    await enqueue(bench.pool, [{ name, maxAttempts: 3 }])
    await dead
    expect(calls).toHaveLength(3)
    const [a = 0, b = 0, c = 0] = calls
    expect(b - a).toBeGreaterThanOrEqual(1 * unit)
    expect(c - b).toBeGreaterThanOrEqual(4 * unit)
  })

  it('takes a backoff function', async () => {
    const name = uniq('backoff-fn')
    const asked: number[] = []
    const worker = await bench.startWorker(
      {
        backoff: (attempt) => {
          asked.push(attempt)
          return 10
        },
      },
      (w) =>
        w.register(name, () => {
          throw new Error('no')
        }),
    )
    const dead = nextEvents(worker, 'dead', 1, (e) => e.name === name)
    await enqueue(bench.pool, [{ name, maxAttempts: 3 }])
    await dead
    // The table for the watchdog (64 attempts) is built at construction; the failures ask again.
    expect(asked.slice(-2)).toEqual([1, 2])
  })

  it('delivers an always-failing job exactly maxAttempts times, then dead with the last error (scenario 7)', async () => {
    const name = uniq('doomed')
    const attempts: number[] = []
    const worker = await bench.startWorker({ backoff: 10 }, (w) =>
      w.register(name, (_args, job) => {
        attempts.push(job.attempt)
        throw new InvalidArgumentError(`fail ${job.attempt}`, { data: { attempt: job.attempt } })
      }),
    )
    const failed = nextEvents(worker, 'failed', 3, (e) => e.name === name)
    const dead = nextEvents(worker, 'dead', 1, (e) => e.name === name)
    const [id] = (await enqueue(bench.pool, [{ name, maxAttempts: 3 }])) as [string]
    const [last] = await dead
    expect(last).toMatchObject({
      id,
      name,
      attempt: 3,
      error: { code: 'PULSE_ERR_INVALID_ARG', message: 'fail 3', data: { attempt: 3 } },
    })
    expect((await failed).map((f) => [f.attempt, f.willRetry])).toEqual([
      [1, true],
      [2, true],
      [3, false],
    ])
    const row = await jobRow(bench.pool, id)
    expect(row).toMatchObject({
      status: 'dead',
      attempt: 3,
      last_error: { name: 'InvalidArgumentError', code: 'PULSE_ERR_INVALID_ARG', message: 'fail 3' },
    })
    // Dead is final: no claim can take it again (claims take pending and retrying rows only).
    expect(await claimJobs(bench.pool, q, { owner: 'probe', names: [name], limit: 10, leaseTtlMs: 1_000 })).toEqual([])
    expect(attempts).toEqual([1, 2, 3])
    expect((await history(bench.pool, id)).filter((e) => e.type === 'started')).toHaveLength(3)
  })

  it('fails an attempt that overruns timeoutMs with JobTimeoutError and aborts its signal', async () => {
    const name = uniq('slow')
    const reasons: unknown[] = []
    const worker = await bench.startWorker({}, (w) =>
      w.register(
        name,
        (_args, job) =>
          new Promise<void>((resolve) => {
            job.signal.addEventListener('abort', () => {
              reasons.push(job.signal.reason)
              resolve()
            })
          }),
        { timeoutMs: 150 },
      ),
    )
    const dead = nextEvents(worker, 'dead', 1, (e) => e.name === name)
    const started = Date.now()
    const [id] = (await enqueue(bench.pool, [{ name, maxAttempts: 1 }])) as [string]
    const [event] = await dead
    expect(Date.now() - started).toBeGreaterThanOrEqual(150)
    expect(event?.error).toMatchObject({ name: 'JobTimeoutError', code: 'PULSE_ERR_JOB_TIMEOUT' })
    expect(reasons).toHaveLength(1)
    expect(reasons[0]).toBeInstanceOf(JobTimeoutError)
    expect((await jobRow(bench.pool, id)).last_error).toMatchObject({ code: 'PULSE_ERR_JOB_TIMEOUT' })
  })

  it('stores progress (fenced by the lease) and fires progress events', async () => {
    const name = uniq('progress')
    const release = gate()
    const worker = await bench.startWorker({}, (w) =>
      w.register(name, async (_args, job) => {
        await job.progress(10)
        // The context's functions also work taken off it.
        const { progress, heartbeat } = job
        await heartbeat()
        await progress(50)
        await release.promise
      }),
    )
    const progress = nextEvents(worker, 'progress', 2)
    const completed = nextEvents(worker, 'completed', 1)
    const [id] = (await enqueue(bench.pool, [{ name }])) as [string]
    expect((await progress).map((p) => [p.id, p.attempt, p.progress])).toEqual([
      [id, 1, 10],
      [id, 1, 50],
    ])
    expect((await jobRow(bench.pool, id)).progress).toBe(50)
    release.open()
    await completed
  })

  it('dead-letters a job too large for the mailbox with JobTooLargeError; the jobs claimed with it run', async () => {
    const name = uniq('big')
    const seen: number[] = []
    const worker = await bench.startWorker({}, (w) =>
      w.register(name, (args: { s: string }) => void seen.push(args.s.length)),
    )
    const warned = nextEvents(worker, 'warning', 1)
    const completed = nextEvents(worker, 'completed', 2)
    // Before: the claim batch's one message was too large, so none of its jobs ran; they stayed leased for ever.
    const [big, ...small] = (await enqueue(bench.pool, [
      { name, args: { s: 'x'.repeat(2_000_000) } },
      { name, args: { s: 'a' } },
      { name, args: { s: 'bc' } },
    ])) as [string, string, string]
    expect((await completed).map((e) => e.id).sort()).toEqual([...small].sort())
    expect(seen.sort()).toEqual([1, 2])
    const [warning] = await warned
    expect(warning?.error).toBeInstanceOf(JobTooLargeError)
    expect(warning?.error.message).toContain(big)
    // Its failure is acked by the cycle after the claim: dead, with the error, kept for a requeue.
    await waitUntil(
      async () => (await jobRow(bench.pool, big)).status === 'dead',
      5_000,
      50,
      'the job to be dead-lettered',
    )
    expect((await jobRow(bench.pool, big)).last_error).toMatchObject({ code: 'PULSE_ERR_JOB_TOO_LARGE' })
    expect((await history(bench.pool, big)).map((e) => e.type)).toEqual(['enqueued', 'started', 'failed', 'dead'])
  })
})

describe('leases', () => {
  it('keeps the lease of a handler that blocks its event loop for 5 × leaseTtlMs, and of the job claimed meanwhile (scenario 12)', async () => {
    const name = uniq('block')
    const leaseTtlMs = 800
    let blocked = false
    const worker = await bench.startWorker(
      { leaseTtlMs, sweepIntervalMs: 100 },
      (w) =>
        w.register(name, () => {
          if (blocked) return
          blocked = true
          const until = Date.now() + 5 * leaseTtlMs
          while (Date.now() < until);
        }),
      { concurrency: 2 },
    )
    // Another worker's watchdog (its own runtime thread) would reap a lapsed lease too.
    await bench.startWorker({ leaseTtlMs, sweepIntervalMs: 100 })
    const completed = nextEvents(worker, 'completed', 2, () => true, 25_000)
    // The second job is claimed with the first or while the loop is blocked: it waits unseen for 5 TTLs.
    const ids = await enqueue(bench.pool, [{ name }, { name }])
    expect((await completed).map((e) => e.attempt)).toEqual([1, 1])
    for (const id of ids) {
      expect((await history(bench.pool, id)).map((e) => [e.type, e.attempt])).toEqual([
        ['enqueued', 0],
        ['started', 1],
        ['completed', 1],
      ])
    }
  }, 30_000)

  it('fences a stale worker: after a re-dispatch its heartbeat, completion and failure change nothing (scenarios 13, 14)', async () => {
    const name = uniq('fence')
    const entered = gate()
    const release = gate()
    let staleSignal: AbortSignal | undefined
    // One slot, which the stale handler keeps until released: this worker cannot take the job back.
    const stale = await bench.startWorker(
      { leaseTtlMs: 3_000 },
      (w) =>
        w.register(name, async (_args, job) => {
          staleSignal = job.signal
          entered.open()
          await release.promise
        }),
      { concurrency: 1 },
    )
    const [id] = (await enqueue(bench.pool, [{ name, maxAttempts: 5 }])) as [string]
    await entered.promise
    const { lease_token: staleToken } = await jobRow(bench.pool, id)
    expect(staleToken).not.toBeNull()
    const stale1 = { id, leaseToken: staleToken as string }
    // What a reaper does after a lapse: fail the old lease, retry at once.
    await failJobs(bench.pool, q, [{ ...stale1, error: { message: 'lease expired' }, retryAt: new Date() }])
    // Worker B takes it: attempt 2.
    const [claimed] = await claimJobs(bench.pool, q, { owner: 'worker-b', names: [name], limit: 1, leaseTtlMs: 60_000 })
    expect(claimed).toMatchObject({ id, attempt: 2 })
    const before = await bench.pool.query<{ lease_expires_at: Date }>(
      `SELECT lease_expires_at FROM ${q}.jobs WHERE id = $1`,
      [id],
    )

    // The stale worker's watchdog finds its lease gone: the handler's signal aborts with LeaseLostError.
    await waitUntil(() => staleSignal?.aborted === true, 20_000, 20, 'the stale signal aborts')
    expect(staleSignal?.reason).toBeInstanceOf(LeaseLostError)
    // Its heartbeat, completion and failure for the old lease change nothing.
    expect(await renewLeases(bench.pool, q, [stale1], 3_600_000)).toEqual([id])
    expect(await completeJobs(bench.pool, q, [stale1])).toEqual([])
    expect(await failJobs(bench.pool, q, [{ ...stale1, error: { message: 'late' }, retryAt: undefined }])).toEqual([])
    // And the worker itself reports nothing for it once the handler returns.
    const completions: unknown[] = []
    stale.events.on('completed', (e) => completions.push(e))
    release.open()
    await waitUntil(() => stale.load.held === 0, 5_000, 10, 'the stale handler settles')
    const row = await bench.pool.query<{
      status: string
      attempt: number
      lease_owner: string
      lease_expires_at: Date
    }>(`SELECT status, attempt, lease_owner, lease_expires_at FROM ${q}.jobs WHERE id = $1`, [id])
    expect(row.rows[0]).toMatchObject({ status: 'running', attempt: 2, lease_owner: 'worker-b' })
    expect(row.rows[0]?.lease_expires_at.getTime()).toBe(before.rows[0]?.lease_expires_at.getTime())
    // B completes it.
    expect(await completeJobs(bench.pool, q, [{ id, leaseToken: claimed?.leaseToken as string }])).toEqual([id])
    expect((await history(bench.pool, id)).map((e) => [e.type, e.attempt])).toEqual([
      ['enqueued', 0],
      ['started', 1],
      ['failed', 1],
      ['retrying', 1],
      ['started', 2],
      ['completed', 2],
    ])
    expect(completions).toEqual([])
  })

  it('recovers a job whose worker vanished after claiming it, once its lease lapses (scenario 15)', async () => {
    const name = uniq('orphan')
    const [id] = (await enqueue(bench.pool, [{ name }])) as [string]
    // A worker that claims and is never heard from again.
    const [orphan] = await claimJobs(bench.pool, q, { owner: 'vanished', names: [name], limit: 1, leaseTtlMs: 300 })
    expect(orphan).toMatchObject({ id, attempt: 1 })
    const worker = await bench.startWorker({ leaseTtlMs: 5_000, sweepIntervalMs: 100, backoff: 10 }, (w) =>
      w.register(name, () => undefined),
    )
    const retrying = nextEvents(worker, 'retrying', 1, (e) => e.name === name)
    const completed = nextEvents(worker, 'completed', 1)
    expect((await retrying)[0]).toMatchObject({ id, name, attempt: 1, error: { code: 'PULSE_ERR_JOB_LEASE_LOST' } })
    expect(await completed).toEqual([{ id, name, attempt: 2 }])
    expect((await history(bench.pool, id)).map((e) => [e.type, e.attempt])).toEqual([
      ['enqueued', 0],
      ['started', 1],
      ['failed', 1],
      ['retrying', 1],
      ['started', 2],
      ['completed', 2],
    ])
  })

  it('leaves alone a job that finished between the scan and the reap (scenario 16)', async () => {
    const name = uniq('late')
    const [id] = (await enqueue(bench.pool, [{ name }])) as [string]
    const [claimed] = await claimJobs(bench.pool, q, { owner: 'slowpoke', names: [name], limit: 1, leaseTtlMs: 50 })
    await waitUntil(async () => {
      const { rows } = await bench.pool.query<{ lapsed: boolean }>(
        `SELECT lease_expires_at < now() AS lapsed FROM ${q}.jobs WHERE id = $1`,
        [id],
      )
      return rows[0]?.lapsed === true
    })
    // The worker's late completion lands first (the scan saw the lapsed lease, the action comes after).
    expect(await completeJobs(bench.pool, q, [{ id, leaseToken: claimed?.leaseToken as string }])).toEqual([id])
    expect(await reapExpiredLeases(bench.pool, q, 100, () => new Date())).toEqual([])
    expect((await history(bench.pool, id)).map((e) => e.type)).toEqual(['enqueued', 'started', 'completed'])
  })
})

describe('lifecycle', () => {
  it('releases jobs still running at the close bound; they run again elsewhere', async () => {
    const name = uniq('stuck')
    const entered = gate()
    let reason: unknown
    const first = await bench.startWorker({}, (w) =>
      w.register(name, (_args, job) => {
        entered.open()
        // Ignores its signal past noting it.
        job.signal.addEventListener('abort', () => {
          reason = job.signal.reason
        })
        return new Promise(() => undefined)
      }),
    )
    const [id] = (await enqueue(bench.pool, [{ name }])) as [string]
    await entered.promise
    const started = Date.now()
    await first.close({ timeoutMs: 300 })
    expect(Date.now() - started).toBeLessThan(3_000)
    expect(reason).toBeInstanceOf(ClosedError)
    expect(await jobRow(bench.pool, id)).toMatchObject({
      status: 'retrying',
      attempt: 1,
      last_error: { message: 'released at shutdown' },
    })
    const second = await bench.startWorker({}, (w) => w.register(name, () => undefined))
    const completed = nextEvents(second, 'completed', 1)
    expect(await completed).toEqual([{ id, name, attempt: 2 }])
  })

  it('close() is idempotent and memoised; register and start refuse afterwards', async () => {
    const worker = await bench.startWorker()
    const a = worker.close()
    expect(worker.close()).toBe(a)
    await a
    expect(() => worker.register('x', () => undefined)).toThrow(ClosedError)
    await expect(worker.start()).rejects.toBeInstanceOf(ClosedError)
  })

  it('closes when its start signal aborts', async () => {
    const controller = new AbortController()
    const worker = await bench.startWorker({}, () => undefined, { signal: controller.signal })
    controller.abort()
    await worker.close()
    expect(() => worker.register('x', () => undefined)).toThrow(ClosedError)
  })

  it('validates its options and registrations', async () => {
    expect(() => new JobWorker({ pool: bench.pool, leaseTtlMs: -1 })).toThrow(/options.leaseTtlMs/)
    expect(() => new JobWorker({ pool: bench.pool, schema: 'Bad-Schema' })).toThrow(/options.schema/)
    expect(() => new JobWorker({ pool: {} as pg.Pool })).toThrow(/options.pool/)
    expect(() => new JobWorker({ pool: bench.pool, connection: { password: () => 'x' } })).toThrow(
      /options.connection.password/,
    )
    expect(() => new JobWorker({ pool: bench.pool, transactionPooler: 'yes' as never })).toThrow(
      /options.transactionPooler/,
    )
    expect(() => new JobWorker({ pool: bench.pool, listenConnection: { password: () => 'x' } })).toThrow(
      /options.listenConnection.password/,
    )
    const worker = new JobWorker({ pool: bench.pool })
    expect(() => worker.register('', () => undefined)).toThrow(/name/)
    expect(() => worker.register('x', undefined)).toThrow(/fn/)
    expect(() => worker.register('x', () => undefined, { concurrency: 0 })).toThrow(/options.concurrency/)
    worker.register('x', () => undefined)
    expect(() => worker.register('x', () => undefined)).toThrow(/registered already/)
    await worker.close()
    // A bench.pool whose config cannot cross to the jobs thread is refused at start, naming the way out.
    const callbackPool = new pg.Pool({ connectionString: bench.url, password: () => 'secret' })
    const refused = new JobWorker({ pool: callbackPool })
    await expect(refused.start()).rejects.toThrow(/options.pool.options.password .*options.connection/)
    await refused.close()
    await callbackPool.end()
    // A plain password is carried over, although pg-bench.pool hides it from enumeration.
    const passwordPool = new pg.Pool({ host: '127.0.0.1', user: 'u', password: 'pw', max: 7 })
    expect(connectionOf(passwordPool)).toEqual({ host: '127.0.0.1', user: 'u', password: 'pw' })
    await passwordPool.end()
  })
})
