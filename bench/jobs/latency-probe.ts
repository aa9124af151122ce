/**
 * Splits pulse's enqueue → handler-start latency at a light load (one job every 50 ms): the enqueue
 * statement (call → id returned, i.e. committed) and the dispatch (committed → handler start).
 *
 *   npx tsx bench/jobs/latency-probe.ts [jobs]
 */
import { JobQueue } from '../../actors/jobs/queue.js'
import { openServer } from './server.js'

const n = Number(process.argv[2] ?? 100)
const server = await openServer()
try {
  const url = await server.createDatabase('probe_latency')
  const q = await JobQueue.connect({ pg: url })
  const committed = new Map<string, number>()
  const started = new Map<string, number>()
  q.register('noop', (_args, job) => {
    started.set(job.id, performance.now())
  })
  await q.start({ concurrency: 50 })
  const calls: number[] = []
  const ids: string[] = []
  for (let i = 0; i < n; i++) {
    const t = performance.now()
    const id = await q.enqueue('noop', {})
    committed.set(id, performance.now())
    calls.push(t)
    ids.push(id)
    await new Promise((r) => setTimeout(r, 50))
  }
  await new Promise((r) => setTimeout(r, 2_000))
  const insert: number[] = []
  const dispatch: number[] = []
  ids.forEach((id, i) => {
    const c = committed.get(id) as number
    insert.push(c - (calls[i] as number))
    const s = started.get(id)
    if (s !== undefined) dispatch.push(s - c)
  })
  const pct = (xs: number[], p: number): string => {
    const s = [...xs].sort((a, b) => a - b)
    return (s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN).toFixed(2)
  }
  process.stdout.write(
    `jobs ${n}, started ${dispatch.length}\n` +
      `enqueue call → committed: p50 ${pct(insert, 50)} ms, p99 ${pct(insert, 99)} ms\n` +
      `committed → handler start: p50 ${pct(dispatch, 50)} ms, p90 ${pct(dispatch, 90)} ms, p99 ${pct(dispatch, 99)} ms, max ${pct(dispatch, 100)} ms\n`,
  )
  await q.close()
} finally {
  await server.close()
}
