/**
 * Payload probe: pulse+prefetch (concurrency 50, prefetch 450) drains 20,000 jobs whose args are an
 * 8-key payload (the suite's bulk phase enqueues `{}`): jobs/s end to end and this process's CPU per
 * job, in all and for its three busiest threads (the caller's thread and the jobs thread first), from
 * /proc. For A/B runs of two commits, run it alternately from two worktrees.
 *
 *   npx tsx bench/jobs/payload-probe.ts [rounds=3]     # DATABASE_URL or a LocalPostgres of its own
 */
import { JobQueue } from '../../actors/jobs/queue.js'
import { Runtime } from '../../runtime/runtime.js'
import { perJobList, threadCpu, threadCpuSince } from './backend-cpu.js'
import { exec, openServer } from './server.js'

const rounds = Number(process.argv[2] ?? 3)
const n = 20_000
const payload = {
  to: 'a@b.com',
  subject: 'Hello there',
  userId: 12345,
  tags: ['a', 'b', 'c'],
  locale: 'en-GB',
  template: 'welcome',
  retry: true,
  meta: { source: 'signup', campaign: 'x1' },
}

/** One drain from a clean store; the round's line. */
async function drain(url: string, runtime: Runtime): Promise<string> {
  await exec(url, 'TRUNCATE pulse.jobs, pulse.job_events RESTART IDENTITY')
  await exec(url, 'VACUUM ANALYZE pulse.jobs, pulse.job_events')
  const q = await JobQueue.connect({ pg: url })
  try {
    let completed = 0
    let resolve!: () => void
    const all = new Promise<void>((r) => (resolve = r))
    q.register('noop', () => undefined)
    q.events.on('completed', () => {
      if (++completed === n) resolve()
    })
    await q.start({ concurrency: 50, prefetch: 450, runtime })
    const items = Array.from({ length: 1000 }, () => ({ name: 'noop', args: payload }))
    const cpu0 = process.cpuUsage()
    const threads0 = threadCpu()
    const t0 = performance.now()
    for (let sent = 0; sent < n; sent += items.length) await q.enqueueMany(items)
    await all
    const ms = performance.now() - t0
    const cpu = process.cpuUsage(cpu0)
    const threads = perJobList(threadCpuSince(threads0), n, 1).slice(0, 3).join('; ')
    return `e2e ${((n * 1000) / ms).toFixed(0)} jobs/s; node ${((cpu.user + cpu.system) / n).toFixed(1)} µs per job (${threads})`
  } finally {
    await q.close()
  }
}

const server = await openServer()
const runtime = await Runtime.start()
try {
  const url = await server.createDatabase('probe_payload')
  await (await JobQueue.connect({ pg: url })).close()
  await drain(url, runtime)
  for (let round = 1; round <= rounds; round++) process.stdout.write(`round ${round}: ${await drain(url, runtime)}\n`)
} finally {
  await runtime.close()
  await server.close()
}
