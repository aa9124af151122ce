// The durable job queue in one file: handlers, a retry whose side effect is keyed by (job id, attempt),
// priorities, a schedule, a long job kept alive by the watchdog, a CPU-bound handler on a thread, and pruning.
// Run: DATABASE_URL=postgres://… npx tsx examples/jobs/main.ts
import assert from 'node:assert/strict'

import pg from 'pg'
import { every, JobQueue } from 'pulse-runtime/jobs'

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const schema = `example_jobs_${process.pid}`
// Short lease and retry unit so that the example runs in seconds (defaults: 30 s lease, attempt² s backoff).
const q = await JobQueue.connect({ pg: url, schema, leaseTtlMs: 300, backoff: 50 })

try {
  // 1. A handler that fails once: the retry is a new attempt of the same job; an external side effect
  //    keyed by `${job.id}:${job.attempt}` is never applied twice for one attempt.
  const sent = new Set<string>()
  q.register<{ to: string }>('send-email', (args, job) => {
    sent.add(`${job.id}:${job.attempt}`)
    if (job.attempt === 1) throw new Error('SMTP timeout')
    console.log(`email to ${args.to} sent on attempt ${job.attempt}`)
  })

  // 2. Priorities: higher first, FIFO within a priority.
  const order: string[] = []
  q.register<{ label: string }>(
    'report',
    (args) => {
      order.push(args.label)
    },
    { concurrency: 1 },
  )

  // 3. A long job: it runs for more than 3 leases while the watchdog (on its own thread) renews it.
  q.register('long', async (_args, job) => {
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    return job.attempt
  })

  // 4. CPU-bound work on a handler-pool thread.
  q.register('fib', undefined, { thread: { module: new URL('./fib.handler.ts', import.meta.url) } })

  // 5. A schedule: its payload becomes each job's args.
  let ticks = 0
  q.register('tick', () => {
    ticks++
  })

  await q.pauseDispatch('queue the reports first', { actor: 'example' })
  for (const [label, priority] of [
    ['low', 0],
    ['high-1', 5],
    ['high-2', 5],
    ['urgent', 9],
  ] as const) {
    await q.enqueue('report', { label }, { priority })
  }
  await q.start({ concurrency: 4 })
  await q.resumeDispatch({ actor: 'example' })

  const emailId = await q.enqueue('send-email', { to: 'ada@example.com' }, { maxAttempts: 3 })
  const longId = await q.enqueue('long', {})
  const fibId = await q.enqueue('fib', { n: 25 })
  const scheduleId = await q.schedule('tick', { from: 'schedule' }, every(200))

  const done = new Set<string>()
  const allDone = new Promise<void>((resolve) => {
    q.events.on('completed', ({ id }: { id: string }) => {
      done.add(id)
      if ([emailId, longId, fibId].every((x) => done.has(x)) && order.length === 4 && ticks >= 2) resolve()
    })
  })
  await allDone

  assert.deepEqual(order, ['urgent', 'high-1', 'high-2', 'low'])
  assert.deepEqual([...sent].sort(), [`${emailId}:1`, `${emailId}:2`])
  const email = await q.getJob(emailId)
  console.log('email history:', email?.history.map((h) => h.type).join(' → '))
  const long = await q.getJob(longId)
  assert.equal(long?.attempt, 1, 'the long job kept its lease: one attempt')
  console.log(`report order: ${order.join(', ')}; schedule ticks so far: ${ticks}`)
  console.log('stats:', JSON.stringify((await q.stats()).byName))
  // Retention: finished jobs stay, with their history, until pruned. A deployment keeps a window
  // ({ olderThanMs: 7 * 86_400_000 }, say, from a schedule); the example clears what it completed.
  const { deleted } = await q.pruneJobs({ olderThanMs: 0, statuses: ['completed'], reason: 'example clean-up' })
  assert.equal(await q.getJob(emailId), undefined, 'the completed email job was pruned')
  console.log(`pruned ${deleted} completed jobs`)
  await q.deleteSchedule(scheduleId)
} finally {
  await q.close()
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  await admin.end()
}
